"""Process faults on a real `refinery sweep` process: `kill -9` at seeded moments then a rerun, and a
second sweep started on the same run folder while the first is working.

A kill moment is the n-th request the LLM server receives, n drawn from a seeded RNG over the
requests an uninterrupted sweep makes: the server kills the process while that request is in
flight, so the moment is exact and repeatable, not a matter of timing.
"""

from __future__ import annotations

import random
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agent.cli.main import main
from bench.support.chat_server import ChatServer, Respond
from bench.support.faults import (
    MAX_ATTEMPTS,
    NEURON_CALLS,
    FaultPlan,
    KillAt,
    final_outputs,
    finished_neurons,
    finished_outputs,
    journaled_calls,
    start_sweep,
    sweep_args,
)
from tests.sweep.conftest import EXPLANATION

NEURONS = "0-4"  # neuron 0 fails its one-shot scoring: a failed neuron must survive a kill as well
CONCURRENCY = 2
LLM_CONCURRENCY = 8
"""The client's default: at most this many answers can be in flight when the process dies."""
SEEDS = [0, 1]
SLOW_SEEDS = range(2, 12)
WAIT_S = 300
"""A safety net for a hung subprocess, far above a sweep's few seconds; never what a test measures."""


@dataclass(frozen=True)
class Reference:
    """The uninterrupted sweep: what every interrupted one must end up as."""

    requests: int
    paid: int
    exit_code: int
    outputs: dict[str, Any]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, session_cache: Path, sweep_records: Path) -> Reference:
    tmp = tmp_path_factory.mktemp("reference")
    plan = FaultPlan(EXPLANATION)
    with pytest.MonkeyPatch.context() as env, ChatServer(default=Respond(plan)) as server:
        env.delenv("OPENAI_API_KEY", raising=False)
        code = main(sweep_args(tmp / "runs", session_cache, sweep_records, server.base_url, neurons=NEURONS, concurrency=CONCURRENCY))
    outputs = final_outputs(tmp / "runs" / "s")
    assert {row["status"] for row in outputs["summary.json"]["neurons"]} == {"ok", "failed"}
    return Reference(plan.requests, plan.account(MAX_ATTEMPTS, NEURON_CALLS).paid, code, outputs)


@pytest.mark.parametrize("seed", [*SEEDS, *(pytest.param(s, marks=pytest.mark.faults_slow) for s in SLOW_SEEDS)])
def test_kill_9_at_a_seeded_moment_then_rerun(seed: int, reference: Reference, tmp_path: Path, session_cache: Path,
                                              sweep_records: Path) -> None:
    killer = KillAt(random.Random(seed).randint(1, reference.requests))
    killed, rerun = FaultPlan(EXPLANATION, before=killer), FaultPlan(EXPLANATION)
    run_root = tmp_path / "runs" / "s"
    with ChatServer(default=Respond(killed)) as server:
        args = sweep_args(tmp_path / "runs", session_cache, sweep_records, server.base_url, neurons=NEURONS, concurrency=CONCURRENCY)
        process = killer.process = start_sweep(args)
        assert process.wait(timeout=WAIT_S) == -signal.SIGKILL, "the sweep ended before its kill moment"
        finished = finished_neurons(run_root)
        before = finished_outputs(run_root, list(finished))
        journaled = journaled_calls(run_root)
        server.default = Respond(rerun)
        assert main(args) == reference.exit_code

    # Every neuron finished before the kill was kept as it was, not run again; none was lost, and the
    # outputs (results, exports, scores, probes, summary, manifest, paid calls) are the uninterrupted ones.
    assert finished_outputs(run_root, list(finished)) == before
    assert final_outputs(run_root) == reference.outputs
    # Resumed, not restarted: the rerun asked only for the calls its journal did not hold ...
    assert rerun.account(MAX_ATTEMPTS, NEURON_CALLS).paid == reference.paid - journaled
    # ... and the only answers paid for twice are those the killed process was still receiving.
    assert 0 <= killed.account(MAX_ATTEMPTS, NEURON_CALLS).paid - journaled <= LLM_CONCURRENCY


def test_a_second_sweep_on_the_same_run_is_refused_and_the_first_is_unharmed(
    reference: Reference, tmp_path: Path, session_cache: Path, sweep_records: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    working, release = threading.Event(), threading.Event()

    def hold(number: int) -> None:
        # The first sweep's fifth request waits until the second sweep has been turned away.
        if number == 5:
            working.set()
            release.wait(timeout=WAIT_S)

    run_root = tmp_path / "runs" / "s"
    with ChatServer(default=Respond(FaultPlan(EXPLANATION, before=hold))) as server:
        args = sweep_args(tmp_path / "runs", session_cache, sweep_records, server.base_url, neurons=NEURONS, concurrency=CONCURRENCY)
        first = start_sweep(args)
        try:
            assert working.wait(timeout=WAIT_S), "the first sweep never got going"
            capsys.readouterr()
            assert main(args) == 2
        finally:
            release.set()
        assert first.wait(timeout=WAIT_S) == reference.exit_code
    message = capsys.readouterr().err
    assert f"run 's' ({run_root}) is in use by another refinery process (pid {first.pid})" in message
    assert "Traceback" not in message
    assert final_outputs(run_root) == reference.outputs
