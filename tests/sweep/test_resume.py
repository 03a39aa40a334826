"""Kill a real `refinery sweep` process mid-sweep, rerun the same command: nothing finished is redone,
nothing is lost, and the summary is the one an uninterrupted sweep writes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from agent.cli.main import main
from bench.support.brain import brain_behaviour
from bench.support.chat_server import Behaviour, ChatServer, Respond, Slow
from bench.support.faults import NEURON_CALLS, call_kind, finished_neurons, finished_outputs
from tests.sweep.conftest import EXPLANATION, LAYER, summary_rows

NEURONS = "0-3"  # neuron 0 fails its one-shot scoring here: a failed neuron must survive the kill as well
LLM_CONCURRENCY = 4
EXIT_SOME_FAILED = 1  # neuron 0's failure; a budget stop would be 3

# Wall time, so it differs between any two runs; every other field (spend included: a call answered
# before the kill is replayed from the journal, not paid again) must be identical.
TIMING_FIELDS = {"seconds"}


def _args(tmp_path: Path, cache: Path, records: Path, base_url: str, run: str) -> list[str]:
    return ["sweep", "--run", run, "--runs-dir", str(tmp_path / "runs"),
            "--layers", str(LAYER), "--neurons", NEURONS, "--below", "0.99", "--order", "lowest",
            "--model", "tiny-llama", "--corpus", "pydoc", "--cache-dir", str(cache), "--excerpt-tokens", "32",
            "--max-excerpts", "200", "--top-k", "20", "--n-random", "15", "--records", str(records),
            "--max-iters", "1", "--n-explanations", "1", "--n-revisions", "1", "--probes-per-generator", "1",
            "--records-per-split", "2", "--concurrency", "2", "--llm-base-url", base_url,
            "--llm-concurrency", str(LLM_CONCURRENCY), "--json"]


def _neuron_calls(server: ChatServer) -> int:
    """Requests for the neurons' work; each command pays its own preflight, so a rerun pays that again by design."""
    return sum(call_kind(body) in NEURON_CALLS for body in server.bodies)


def _slow_brain(body: Any) -> Behaviour:
    # A few ms per answer, so other neurons are surely in flight when the manifest shows two finished.
    return Slow(0.005, then=brain_behaviour(EXPLANATION)(body))


def test_kill_9_mid_sweep_then_rerun(tmp_path: Path, session_cache: Path, sweep_records: Path,
                                    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # the loopback server is the only LLM
    with ChatServer(default=Respond(_slow_brain)) as server:
        # The uninterrupted run and the rerun go in this process (faster); only the killed one needs its own.
        assert main(_args(tmp_path, session_cache, sweep_records, server.base_url, "clean")) == EXIT_SOME_FAILED
        uninterrupted_calls = _neuron_calls(server)

        killed_root = tmp_path / "runs" / "killed"
        command = [sys.executable, "-m", "agent.cli.main", *_args(tmp_path, session_cache, sweep_records, server.base_url, "killed")]
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline and len(finished_neurons(killed_root)) < 2:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL, "the sweep ended before it could be killed"
        finished = finished_neurons(killed_root)
        assert 2 <= len(finished) < 4, finished
        before = finished_outputs(killed_root, list(finished))
        killed_calls = _neuron_calls(server) - uninterrupted_calls

        capsys.readouterr()
        assert main(_args(tmp_path, session_cache, sweep_records, server.base_url, "killed")) == EXIT_SOME_FAILED
        resumed_calls = _neuron_calls(server) - uninterrupted_calls - killed_calls

    assert json.loads(capsys.readouterr().out)["budget_stop"] is None
    # No finished neuron redone: its trace and result are untouched, and calls answered before the kill
    # are not made again (only those in flight at the kill can be). The preflight is not a neuron's call.
    assert finished_outputs(killed_root, list(finished)) == before
    assert killed_calls + resumed_calls <= uninterrupted_calls + LLM_CONCURRENCY
    # None lost, and the summary is the uninterrupted one.
    expected, got = summary_rows(tmp_path / "runs" / "clean"), summary_rows(killed_root)
    assert set(got) == set(expected) == {(LAYER, n) for n in range(4)}
    assert {row["status"] for row in got.values()} == {"ok", "failed"}
    for key, row in expected.items():
        assert {k: v for k, v in got[key].items() if k not in TIMING_FIELDS} == \
               {k: v for k, v in row.items() if k not in TIMING_FIELDS}, key
    assert finished_neurons(killed_root) == finished_neurons(tmp_path / "runs" / "clean")
