"""The global budget under faults: with retries, calls that fail for good and answers that are paid
but useless, a sweep still stops within one call of its budget, counts every paid call once, and a
rerun with more budget finishes the rest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.sweep.select import select
from agent.sweep.session import sweep
from bench.support.brain import brain_response
from bench.support.faults import MAX_ATTEMPTS, Fault, read_run
from graphs.trace import ModelCalled, read_trace
from tests.faults.conftest import Serve, http_settings
from tests.sweep.conftest import EXPLANATION, LAYER
from tools.llm.budget import Budget, BudgetedLLM, BudgetExhausted, BudgetLimits
from tools.llm.fake import ScriptedLLM
from tools.llm.journal import CallJournal, JournaledLLM
from tools.simulators.chat_logprob import ChatLogprobSimulator

NEURONS = [(LAYER, n) for n in (1, 2, 3, 4)]
FAULTS = [
    Fault("429", "simulate", nth=1, times=2), Fault("500", "explain", nth=1, times=MAX_ATTEMPTS + 1),
    Fault("reset", "simulate", nth=6, times=3), Fault("missing-logprobs", "simulate", nth=4),
    Fault("non-json", "revise", nth=0), Fault("truncated", "probe", nth=0, times=2),
]
PRICE = (1.0, 4.0)
"""Dollars per million prompt and completion tokens, for the dollar budget."""
# A neuron spends about 11k tokens (~$0.012 at PRICE) here: both budgets stop the sweep within its second neuron pair.
LIMITS = {"tokens": 15_000, "usd": 0.018}


def _largest_call(run_root: Path, kind: str) -> float:
    """The most one paid call of the run cost, in the budget's unit."""
    calls = [e for path in run_root.glob("traces/*/*.jsonl") for e in read_trace(path, completed_only=False)
             if isinstance(e, ModelCalled) and e.error is None and not e.cached]
    return max(c.prompt_tokens + c.completion_tokens if kind == "tokens" else c.cost_usd for c in calls)


@pytest.mark.parametrize("kind", list(LIMITS))
async def test_the_global_budget_holds_under_faults_and_a_rerun_finishes(
    kind: str, serve: Serve, tmp_path: Path, session_cache: Path, sweep_records: Path,
) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"gpt-4o-mini": PRICE}))
    server, plan = serve(FAULTS)
    limit = {"budget_tokens": LIMITS[kind]} if kind == "tokens" else {"budget_usd": LIMITS[kind]}
    # Two neurons at a time: their reservations compete for what is left of the budget.
    settings = http_settings(tmp_path, session_cache, sweep_records, server.base_url, concurrency=2, llm_prices=prices)
    report = await sweep(settings.model_copy(update=limit), select(NEURONS))

    run_root = tmp_path / "runs" / "s"
    run = read_run(run_root)
    assert report["budget_stop"] is not None and report["unfinished"], report
    assert run.paid["calls"] == plan.account(MAX_ATTEMPTS).paid  # every answer sent is one paid call
    spent = run.paid["prompt_tokens"] + run.paid["completion_tokens"] if kind == "tokens" else run.paid["cost_usd"]
    assert spent <= LIMITS[kind] + _largest_call(run_root, kind)
    # A budget stop is not a failure: stopped neurons are unfinished, with no result and no manifest entry.
    statuses = {key: row["status"] for key, row in run.rows.items()}
    assert set(statuses.values()) <= {"ok", "failed", "unfinished"}
    assert {key for key, status in statuses.items() if status == "unfinished"} == set(report["unfinished"])
    assert set(run.manifest) == {key for key, status in statuses.items() if status != "unfinished"}

    report = await sweep(settings, select(NEURONS))
    run = read_run(run_root)
    assert report["budget_stop"] is None and report["unfinished"] == []
    # One neuron's explainer never answered; every other neuron finished.
    (failed,) = [row for row in run.rows.values() if row["status"] == "failed"]
    assert f"after {MAX_ATTEMPTS} attempts" in failed["error"] and "HTTP 500" in failed["error"]
    assert sum(row["status"] == "ok" for row in run.rows.values()) == len(NEURONS) - 1
    # Across both sweeps, every answer the server sent is in the journal exactly once.
    assert run.paid["calls"] == plan.account(MAX_ATTEMPTS).paid


async def test_a_refused_call_lets_the_calls_in_flight_finish_and_be_journaled(tmp_path: Path) -> None:
    # The budget admits one simulation call of two: the second is refused while the first is in flight.
    scripted = ScriptedLLM([brain_response(EXPLANATION)] * 2, latency_s=0.01)
    budget = Budget(BudgetLimits(tokens=150))
    journal = CallJournal(tmp_path / "journal.sqlite")
    llm = JournaledLLM(BudgetedLLM(scripted, budget, lambda request: (0.0, 100)), journal, "1/1/simulate/0")
    with pytest.raises(BudgetExhausted):
        await ChatLogprobSimulator(llm).simulate(EXPLANATION, [["The", " object"], ["An", " object"]])
    # The refusal was raised only after the first call was answered, paid and journaled, not left running.
    assert len(scripted.requests) == 1 and budget.calls == 1 and journal.count() == 1
    journal.close()
