"""bench/sweep at tiny size: every level measured against its ideal, and the budget phase stops."""

from __future__ import annotations

import pytest

from tests.bench.conftest import RunBench

pytestmark = pytest.mark.slow


def test_sweep_smoke(run_bench: RunBench) -> None:
    result = run_bench("bench.sweep", "--waves", "2", "--neurons", "5", "--concurrency", "1,3", "--latency", "0.01")
    assert result["benchmark"] == "sweep" and (result["waves"], result["max_neurons"]) == (2, 5)
    levels = {level["concurrency"]: level for level in result["levels"]}
    assert set(levels) == {1, 3}
    for c, level in levels.items():
        # Two waves of c neurons, at most 5.
        assert level["neurons"] == min(5, 2 * c)
        assert level["ok"] + level["failed"] == level["neurons"] and level["unattributed_calls"] == 0
        assert level["ideal_neurons_per_s"] == pytest.approx(c / (level["cp_mean"] * 0.01))
        assert level["ratio"] == pytest.approx(level["neurons_per_s"] / level["ideal_neurons_per_s"])
        # Every neuron's wall time holds its critical path of calls, each at least the latency.
        assert 0 < level["occupancy"] <= 1 and level["non_llm_s_mean"] >= 0
        assert level["ratio_slots_busy"] == pytest.approx(level["ratio"] / level["occupancy"])
        assert level["neuron_s_mean"] >= level["cp_mean"] * 0.01
    # The levels run the subject in a child process and count its CPU apart; the baseline, in a thread.
    assert {level["subject"] for level in levels.values()} == {"process"}
    assert all(level["subject_cpu_s_per_neuron"] > 0 for level in levels.values())
    thread = result["thread_subject"]
    assert (thread["subject"], thread["concurrency"], thread["subject_cpu_s_per_neuron"]) == ("thread", 3, None)
    assert thread["neurons"] == levels[3]["neurons"]
    budget = result["budget"]
    assert budget["overshoot_calls"] <= 1 and budget["budget_stop"] is not None
