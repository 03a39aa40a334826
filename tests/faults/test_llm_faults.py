"""LLM faults at the sweep level, through the real HTTP client against the loopback server.

Every kind of failed attempt is retried a bounded number of times (counted at the server), a call
that never succeeds fails its neuron with the reason in summary.json and the manifest, the sweep
goes on with the other neurons, and every answer the server sent is one paid call in the ledger.
Answers that arrive but are useless (no logprobs, no digit candidates, empty or absurd
explanations) are paid, never retried, and degrade or fail only what they touch.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from agent.sweep.select import select
from agent.sweep.session import sweep
from bench.support.faults import (
    MAX_ATTEMPTS,
    MAX_RETRIES,
    TRANSPORT_FAULTS,
    Account,
    Fault,
    FaultPlan,
    RunView,
    TransportFault,
    read_run,
)
from graphs.trace import AnswersDiscarded, ModelCalled, read_trace, trace_path
from tests.faults.conftest import NEURONS, Serve, http_settings
from tests.sweep.conftest import EXPLANATION

# How the reason of a call that never succeeded names each fault.
SIGNATURES: dict[TransportFault, str] = {
    "429-retry-after": "HTTP 429", "429": "HTTP 429", "500": "HTTP 500", "reset": "connection", "hang": "timeout",
    "truncated": "connection", "non-json": "malformed",
}


def assert_accounted(run: RunView, plan: FaultPlan) -> Account:
    """The server's account of the sweep matches the run's: paid calls, retries, calls given up."""
    account = plan.account(MAX_ATTEMPTS)
    assert account.unfinished == 0, "a call was left mid-retry"
    # Every answer the server sent is one paid call: in the journal (ledger "paid") and in the client's count.
    assert run.paid["calls"] == run.this_process["calls"] == account.paid
    # Every failed attempt that a retry recovered from is a retry the client counted and traced ...
    assert run.this_process["retries"] == run.traced_retries == account.recovered
    # ... and every call whose attempts all failed is one failure, counted and traced.
    assert run.this_process["failures"] == run.traced_failures == account.gave_up
    return account


def assert_outcomes(report: dict, run: RunView, failed: dict[str, str], degraded: dict[str, str] | None = None) -> None:
    """The neurons in `failed` failed with a reason containing the given text, those in `degraded`
    ended degraded with such a reason (and a refined explanation); all others are ok. Nothing is left
    unfinished, and the manifest holds every neuron with the same reasons."""
    degraded = degraded or {}
    assert report["budget_stop"] is None and report["unfinished"] == []
    assert set(run.rows) == {f"{layer}/{neuron}" for layer, neuron in NEURONS}
    for key, row in run.rows.items():
        if key in failed:
            assert row["status"] == "failed" and failed[key] in row["error"], row
        elif key in degraded:
            assert row["status"] == "degraded" and degraded[key] in row["problems"] and row["refined_explanation"], row
        else:
            assert row["status"] == "ok" and row["error"] is None and row["refined_explanation"], row
    assert run.manifest == {key: row["status"] for key, row in run.rows.items()}
    assert run.manifest_errors == {key: run.rows[key]["error"] or run.rows[key]["problems"] for key in {*failed, *degraded}}
    assert report["failed"] == [{"neuron": key, "reason": run.rows[key]["error"]} for key in sorted(failed)]
    assert report["degraded"] == [{"neuron": key, "reason": run.rows[key]["problems"]} for key in sorted(degraded)]


async def _sweep(tmp_path: Path, cache: Path, records: Path, serve: Serve, faults: list[Fault],
                 **overrides: Any) -> tuple[dict, RunView, FaultPlan]:
    server, plan = serve(faults)
    report = await sweep(http_settings(tmp_path, cache, records, server.base_url, **overrides), select(NEURONS))
    return report, read_run(tmp_path / "runs" / "s"), plan


@pytest.mark.parametrize("kind", [k for k in TRANSPORT_FAULTS if k != "hang"])
async def test_failed_attempts_are_retried_a_bounded_number_of_times(
    kind: TransportFault, serve: Serve, tmp_path: Path, session_cache: Path, sweep_records: Path,
) -> None:
    recovers = Fault(kind, "explain", nth=0, times=MAX_RETRIES)  # neuron 1: succeeds on the last attempt allowed
    never = Fault(kind, "explain", nth=1, times=MAX_ATTEMPTS + 1)  # neuron 2: every attempt fails
    once = Fault(kind, "simulate", nth=2, times=1)  # a simulation of neuron 1's
    report, run, plan = await _sweep(tmp_path, session_cache, sweep_records, serve, [recovers, never, once])

    calls = {log.fault: log.outcomes for log in plan.targeted()}
    assert calls[recovers][:MAX_ATTEMPTS] == [kind] * MAX_RETRIES + ["answer"]
    assert calls[once][:2] == [kind, "answer"]
    # The client stopped at its limit: the last fault scripted for this call was never asked for.
    assert calls[never] == [kind] * MAX_ATTEMPTS
    assert_outcomes(report, run, {"1/2": f"after {MAX_ATTEMPTS} attempts"})
    assert SIGNATURES[kind] in run.rows["1/2"]["error"]
    account = assert_accounted(run, plan)
    assert account.gave_up == 1 and account.recovered == MAX_RETRIES + 1


async def test_replies_hanging_past_the_timeout_are_retried(
    serve: Serve, tmp_path: Path, session_cache: Path, sweep_records: Path,
) -> None:
    hang = Fault("hang", "simulate", nth=2, times=1)
    report, run, plan = await _sweep(tmp_path, session_cache, sweep_records, serve, [hang])
    assert [log.outcomes[:2] for log in plan.targeted()] == [["hang", "answer"]]
    assert_outcomes(report, run, {})
    assert assert_accounted(run, plan).recovered == 1


@pytest.mark.faults_slow
async def test_a_reply_that_always_hangs_fails_its_neuron_after_every_attempt_timed_out(
    serve: Serve, tmp_path: Path, session_cache: Path, sweep_records: Path,
) -> None:
    never = Fault("hang", "explain", nth=1, times=MAX_ATTEMPTS + 1)
    report, run, plan = await _sweep(tmp_path, session_cache, sweep_records, serve, [never])
    assert [log.outcomes for log in plan.targeted()] == [["hang"] * MAX_ATTEMPTS]
    assert_outcomes(report, run, {"1/2": f"after {MAX_ATTEMPTS} attempts"})
    assert "timeout" in run.rows["1/2"]["error"]
    assert assert_accounted(run, plan).gave_up == 1


def _simulations(run_root: Path, neuron: int) -> list[dict]:
    """The records of neuron `neuron`'s one-shot selection score."""
    return json.loads((run_root / "scores" / "1" / str(neuron) / "iter0-0.json").read_text())["simulations"]


async def test_useless_answers_are_paid_once_and_fail_only_what_they_touch(
    serve: Serve, tmp_path: Path, session_cache: Path, sweep_records: Path,
) -> None:
    # Neuron 1 gets an empty explanation, neuron 2 a degenerate one (no word to cap): both fail, with the reason.
    # Neuron 3's first two simulations come back without logprobs and without digit candidates, and
    # its reviser answers nothing: it still finishes, degraded, with the reason.
    faults = [Fault("empty-explanation", "explain", nth=0), Fault("long-explanation", "explain", nth=1),
              Fault("missing-logprobs", "simulate", nth=0), Fault("no-digit-logprobs", "simulate", nth=1),
              Fault("empty-explanation", "revise", nth=0)]
    # One request at a time, so the two useless simulations are those of the first two records. Asked
    # at once, they could be the only two records the explanation names; the neuron would then end
    # `failed` (its other predictions are constant: no defined score), rightly, before any revision.
    report, run, plan = await _sweep(tmp_path, session_cache, sweep_records, serve, faults, llm_concurrency=1)

    # Each was answered once, not retried: a well-formed answer is not a failed attempt.
    assert [log.outcomes[:1] for log in plan.targeted()] == [[f.kind] for f in faults]
    assert all(log.outcomes[1:] in ([], ["answer"]) for log in plan.targeted())
    assert_outcomes(report, run, {"1/1": "empty answer", "1/2": "unusable explanation (200000 characters, cut at the output cap)"},
                    {"1/3": "revision failed in round 1: no usable reviser answer from 1 samples: empty answer"})
    simulations = _simulations(tmp_path / "runs" / "s", 3)
    # Neither is scored as zeros: both records fail, each with its reason.
    failed = sorted(s["error"] for s in simulations if s["status"] == "failed")
    assert len(failed) == 2 and "no logprobs" in failed[1] and failed[0].startswith("no value candidate"), failed
    account = assert_accounted(run, plan)
    assert account.faults == Counter(f.kind for f in faults) and account.recovered == account.gave_up == 0
    # Every discarded answer is in its neuron's trace with its reason; the cut one says so in its call too.
    root = tmp_path / "runs" / "s"
    discarded = {n: [(e.purpose, e.reasons) for e in read_trace(trace_path(root, 1, n)) if isinstance(e, AnswersDiscarded)]
                 for n in (1, 2, 3)}
    assert discarded == {1: [("explainer", ["empty answer"])],
                         2: [("explainer", ["unusable explanation (200000 characters, cut at the output cap)"])],
                         3: [("reviser", ["empty answer"])]}
    [cut] = [e for e in read_trace(trace_path(root, 1, 2)) if isinstance(e, ModelCalled) and e.purpose == "explainer"]
    assert cut.finish_reason == "length"


def test_a_replayed_plan_serves_each_fault_to_the_same_call_in_any_order() -> None:
    """bench/faults' budget phase: faults follow their calls (request bodies), not the order of arrival."""
    def explain(text: str) -> dict:
        return {"messages": [{"role": "system", "content": "We are studying neurons"}, {"role": "user", "content": text}],
                "max_tokens": 80}

    first, second = explain("records of neuron 1"), explain("records of neuron 2")
    plan = FaultPlan(EXPLANATION, [Fault("500", "explain", nth=1, times=1)])
    plan(first), plan(second)
    replay = FaultPlan.replaying(plan, EXPLANATION)
    replay(second), replay(first)  # the other order: as two neurons in flight may send them
    assert {log.key: log.outcomes for log in replay.calls} == {log.key: log.outcomes for log in plan.calls}
    assert [log.outcomes for log in replay.targeted()] == [["500"]]
