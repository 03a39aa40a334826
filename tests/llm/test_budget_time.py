"""A wall-time budget keeps back the held-out scoring's time: the loop stops early, the scoring is not cut."""

from __future__ import annotations

import pytest

from tools.llm.budget import Budget, BudgetExhausted, BudgetLimits


async def test_the_loop_stops_before_the_time_kept_back_and_the_heldout_scoring_runs_past_it() -> None:
    now = [0.0]
    budget = Budget(BudgetLimits(seconds=100), clock=lambda: now[0])
    budget.final_seconds = 30
    now[0] = 69
    await budget.reserve(0.0, 1)
    now[0] = 71
    with pytest.raises(BudgetExhausted, match="71 s used, the last 30 s kept for the held-out score") as stop:
        await budget.reserve(0.0, 1)
    assert stop.value.kind == "seconds" and stop.value.scope == "neuron"
    with pytest.raises(BudgetExhausted):
        await budget.check_time()  # the next node does not start either
    await budget.reserve(0.0, 1, use_final_reserve=True)
    now[0] = 150  # the estimate was short: the held-out score still completes
    await budget.reserve(0.0, 1, use_final_reserve=True)


async def test_the_sweeps_clock_still_stops_a_neurons_heldout_scoring() -> None:
    now = [0.0]
    parent = Budget(BudgetLimits(seconds=120), scope="global", clock=lambda: now[0])
    neuron = Budget(BudgetLimits(seconds=100), parent=parent, clock=lambda: now[0])
    now[0] = 110
    await neuron.reserve(0.0, 1, use_final_reserve=True)
    now[0] = 130
    with pytest.raises(BudgetExhausted) as stop:
        await neuron.reserve(0.0, 1, use_final_reserve=True)
    assert stop.value.scope == "global"  # the sweep stops; the neuron stays resumable
