"""A records pass that dies part-way resumes from its checkpoint and ends with the same records."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.support.records import make_manifest
from tools.records.builder import build_layer_records
from tools.records.store import RecordStore
from tools.subject.bridge import BridgeSubject

NEURONS = [3, 9, 44]


class Stop(Exception):
    pass


def _same(a: RecordStore, b: RecordStore, layer: int) -> None:
    for neuron in NEURONS:
        ra, rb = a.read(layer, neuron), b.read(layer, neuron)
        assert [r.excerpt_index for r in ra.most_positive_activation_records] == [r.excerpt_index for r in rb.most_positive_activation_records]
        assert [r.excerpt_index for r in ra.random_sample] == [r.excerpt_index for r in rb.random_sample]
        assert ra.mean == pytest.approx(rb.mean, rel=1e-6, abs=1e-9)


def test_interrupted_pass_resumes_from_checkpoint(tiny_subject: BridgeSubject, tiny_excerpts: np.ndarray, tmp_path: Path) -> None:
    manifest = make_manifest(tiny_subject, tiny_excerpts)
    calls = {"n": 0}

    def die_after_five(done: int, total: int) -> None:
        calls["n"] += 1
        if calls["n"] == 5:
            raise Stop

    store = RecordStore(tmp_path / "interrupted")
    with pytest.raises(Stop):
        build_layer_records(tiny_subject, tiny_excerpts, 1, NEURONS, store, manifest, "pydoc-test", batch_size=10,
                            checkpoint_seconds=0, calibration_excerpts=100, progress=die_after_five)
    assert not any(store.has(1, n) for n in NEURONS), "no record may exist before the pass completes"
    assert (store.root / ".partial" / "layer1.npz").is_file()

    report = build_layer_records(tiny_subject, tiny_excerpts, 1, NEURONS, store, manifest, "pydoc-test", batch_size=10,
                                 calibration_excerpts=100)
    assert report.resumed_from == 40  # four batches were checkpointed before the fifth raised
    assert not (store.root / ".partial" / "layer1.npz").exists()

    clean = RecordStore(tmp_path / "clean")
    build_layer_records(tiny_subject, tiny_excerpts, 1, NEURONS, clean, manifest, "pydoc-test", batch_size=10, calibration_excerpts=100)
    _same(store, clean, 1)

    again = build_layer_records(tiny_subject, tiny_excerpts, 1, NEURONS, store, manifest, "pydoc-test")
    assert again.written == [] and again.skipped == NEURONS


def test_kill_9_mid_pass_then_rerun(tmp_path: Path) -> None:
    """A real `refinery records` process killed with SIGKILL, then the same command again."""
    env = {**os.environ, "REFINERY_CACHE_DIR": str(tmp_path / "cache"), "REFINERY_CHECKPOINT_SECONDS": "0"}
    args = [sys.executable, "-m", "agent.cli.main", "records", "--model", "tiny-llama", "--corpus", "pydoc", "--layer", "2",
            "--neurons", "0-7", "--excerpt-tokens", "32", "--batch-size", "4", "--max-excerpts", "400", "--json"]
    killed = tmp_path / "killed"
    partial = killed / ".partial" / "layer2.npz"
    proc = subprocess.Popen([*args, "--out", str(killed)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not partial.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert partial.exists(), f"the pass never checkpointed: {proc.communicate()[1].decode()[-2000:]}"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (killed / "2").exists() or not list((killed / "2").glob("*.json"))
    assert not list(killed.rglob("*.tmp")), "a killed pass must not leave temp files that look like records"

    resumed = subprocess.run([*args, "--out", str(killed)], env=env, capture_output=True, check=True)
    fresh = subprocess.run([*args, "--out", str(tmp_path / "fresh")], env=env, capture_output=True, check=True)
    a, b = json.loads(resumed.stdout), json.loads(fresh.stdout)
    assert a["written"] == b["written"] == 8
    assert a["tokens"] < b["tokens"], "the rerun should only have processed what was left"
    assert [n["top_tokens"] for n in a["neurons"]] == [n["top_tokens"] for n in b["neurons"]]
    for neuron in range(8):
        ra = json.loads((killed / "2" / f"{neuron}.json").read_text())
        rb = json.loads((tmp_path / "fresh" / "2" / f"{neuron}.json").read_text())
        assert [r["excerpt_index"] for r in ra["most_positive_activation_records"]] == [r["excerpt_index"] for r in rb["most_positive_activation_records"]]
