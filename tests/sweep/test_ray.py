"""`--executor ray` on a local Ray with 2 worker processes: the same summary as in-process, and one
global budget that holds across the workers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.sweep.select import select
from agent.sweep.session import sweep
from tests.sweep.conftest import COST, LAYER, brain_llm, estimate, paid, summary_rows, sweep_settings

ray = pytest.importorskip("ray")

NEURONS = [(LAYER, n) for n in range(0, 5)]
# Wall time of each neuron: it differs between any two runs. Everything else, spend included, is the
# same: each neuron gets the same scripted answers wherever it runs.
TIMING_FIELDS = {"seconds"}


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """Two CPUs, so the executor starts two worker processes; the sweep uses this Ray and leaves it running."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.mark.slow
async def test_ray_gives_the_in_process_summary(local_ray: None, tmp_path: Path, session_cache: Path, sweep_records: Path) -> None:
    reports = {}
    for executor in ("inprocess", "ray"):
        settings = sweep_settings(tmp_path, session_cache, sweep_records, run=executor, executor=executor, concurrency=4)
        reports[executor] = await sweep(settings, select(NEURONS), llm=brain_llm())
    assert reports["ray"]["totals"] == reports["inprocess"]["totals"]
    expected, got = summary_rows(tmp_path / "runs" / "inprocess"), summary_rows(tmp_path / "runs" / "ray")
    assert set(got) == set(expected) == set(NEURONS)
    assert {row["status"] for row in got.values()} == {"ok", "failed"}  # neuron 0 fails its one-shot scoring
    for key, row in expected.items():
        assert {k: v for k, v in got[key].items() if k not in TIMING_FIELDS} == \
               {k: v for k, v in row.items() if k not in TIMING_FIELDS}, key
    for layer, neuron in NEURONS:  # the workers exported what the in-process run exported
        ours = tmp_path / "runs" / "ray" / "explanations" / str(layer) / f"{neuron}.jsonl"
        theirs = tmp_path / "runs" / "inprocess" / "explanations" / str(layer) / f"{neuron}.jsonl"
        assert ours.is_file() == theirs.is_file()


@pytest.mark.slow
async def test_one_global_budget_holds_across_workers(local_ray: None, tmp_path: Path, session_cache: Path, sweep_records: Path) -> None:
    budget = 0.06  # about a neuron and a half: neurons on both workers are stopped mid-way
    settings = sweep_settings(tmp_path, session_cache, sweep_records, executor="ray", concurrency=4, budget_usd=budget)
    report = await sweep(settings, select(NEURONS[1:]), llm=brain_llm(cost=COST, latency_s=0.005), estimator=estimate)
    # Refused in a worker, the global BudgetExhausted reached the driver's scheduler as such.
    assert report["budget_stop"] is not None and "global budget" in report["budget_stop"]
    rows = summary_rows(settings.runs_dir / "s")
    assert {row["status"] for row in rows.values()} <= {"ok", "unfinished"} and report["unfinished"]
    # The journal has every call any worker completed.
    assert paid(settings.runs_dir / "s")["cost_usd"] <= budget + COST + 1e-9
