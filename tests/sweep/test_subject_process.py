"""`refinery sweep --subject-process`, end to end through the real client and the loopback server:
the subject in a child process finds what the subject in the sweep's process finds, and a child
killed mid-sweep stops the sweep with its reason; the rerun finishes it."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from agent.cli.main import main
from bench.support.brain import brain_behaviour
from bench.support.chat_server import Behaviour, ChatServer, Respond, Slow
from bench.support.faults import finished_neurons, sweep_args
from tests.sweep.conftest import EXPLANATION, summary_rows

NEURONS = "0-5"
ALL_DONE = {0, 1}  # exit codes of a finished sweep: 1 when a neuron failed or ended degraded
TIMING_FIELDS = {"seconds"}


def _slow_brain(body: Any) -> Behaviour:
    # A few ms per answer, so neurons are surely still in flight when the first one finishes.
    return Slow(0.01, then=brain_behaviour(EXPLANATION)(body))


def _rows(root: Path) -> dict[tuple[int, int], dict[str, Any]]:
    return {key: {k: v for k, v in row.items() if k not in TIMING_FIELDS} for key, row in summary_rows(root).items()}


def test_the_subject_in_a_child_process_finds_what_it_finds_in_the_sweep_s_process(
        tmp_path: Path, session_cache: Path, sweep_records: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    runs = tmp_path / "runs"
    with ChatServer(default=Respond(brain_behaviour(EXPLANATION))) as server:
        here = main(sweep_args(runs, session_cache, sweep_records, server.base_url, run="here", neurons=NEURONS, concurrency=2))
        child = main([*sweep_args(runs, session_cache, sweep_records, server.base_url, run="child", neurons=NEURONS, concurrency=2),
                      "--subject-process"])
    assert here == child and here in ALL_DONE
    rows = _rows(runs / "here")
    assert len(rows) == 6 and any(row["status"] == "ok" for row in rows.values())
    assert _rows(runs / "child") == rows
    assert not [p for p in multiprocessing.active_children() if p.name == "refinery-subject"], "the child outlived its sweep"


def test_a_subject_process_killed_mid_sweep_stops_the_sweep_with_its_reason_and_the_rerun_finishes_it(
        tmp_path: Path, session_cache: Path, sweep_records: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    runs, root = tmp_path / "runs", tmp_path / "runs" / "s"
    with ChatServer(default=Respond(_slow_brain)) as server:
        args = [*sweep_args(runs, session_cache, sweep_records, server.base_url, neurons=NEURONS, concurrency=2), "--subject-process"]
        codes: list[int] = []
        sweep = threading.Thread(target=lambda: codes.append(main(args)))
        sweep.start()
        deadline = time.monotonic() + 120
        while sweep.is_alive() and not finished_neurons(root) and time.monotonic() < deadline:
            time.sleep(0.01)
        [child] = [p for p in multiprocessing.active_children() if p.name == "refinery-subject"]
        assert child.pid is not None
        os.kill(child.pid, signal.SIGKILL)
        sweep.join(120)
        assert codes == [2]
        error = capsys.readouterr().err
        assert f"the subject process (pid {child.pid}) exited with code -9" in error
        stopped = finished_neurons(root)
        assert 1 <= len(stopped) < 6, "the sweep went on without its subject"
        assert not (root / "summary.json").exists()

        assert main(args) in ALL_DONE
    assert len(finished_neurons(root)) == 6
    assert {k: v for k, v in finished_neurons(root).items() if k in stopped} == stopped  # finished work stayed done


def test_the_subject_process_is_refused_with_the_ray_executor(tmp_path: Path, session_cache: Path, sweep_records: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    args = sweep_args(tmp_path / "runs", session_cache, sweep_records, "http://127.0.0.1:9/v1", neurons=NEURONS)
    assert main([*args, "--subject-process", "--executor", "ray"]) == 2
    assert "--subject-process is for the in-process executor" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()
