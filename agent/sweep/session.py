"""One sweep from settings to summary: environment, executor, scheduling, outputs."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from agent.budget import Estimator
from agent.refine_job import refine_neuron
from agent.refine_setup import open_refine_environment
from agent.settings import Settings
from agent.sweep.runner import SweepState, run_sweep
from agent.sweep.select import Selection
from agent.sweep.summary import row, totals, write_summary
from tools.llm.protocol import LLM


async def sweep(
    settings: Settings, selection: Selection, one_shot_first: bool = False, below: float | None = None,
    order: str = "given", on_progress: Callable[[SweepState], None] | None = None, llm: LLM | None = None,
    estimator: Estimator | None = None,
) -> dict[str, Any]:
    """Run the sweep and write summary.json/.csv; returns the report printed by the CLI.

    `llm` and `estimator` replace the configured endpoint and its cost estimate (scripted models in
    tests and benchmarks); with the Ray executor they are shipped to every worker."""
    candidates = selection.candidates
    keys = [(c.layer, c.neuron) for c in candidates]
    async with open_refine_environment(settings, keys, llm=llm, estimator=estimator) as env:
        if settings.executor == "ray":
            from agent.sweep.ray_executor import RayRunner

            runner = RayRunner(settings, env, llm=llm, estimator=estimator)
        else:
            runner = partial(refine_neuron, env)  # type: ignore[assignment]
        try:
            state = await run_sweep(runner, env.run, candidates, settings.concurrency, one_shot_first, below, order, on_progress)
        finally:
            if settings.executor == "ray":
                runner.close()  # type: ignore[union-attr]
        rows = []
        unfinished = set(state.unfinished)
        for c in candidates:
            key = (c.layer, c.neuron)
            if key in state.errors:
                rows.append(row(None, c.layer, c.neuron, "failed", c.existing_score, error=state.errors[key]))
                continue
            final = env.run.result(c.layer, c.neuron)
            status = "unfinished" if final is None or key in unfinished else None
            rows.append(row(final, c.layer, c.neuron, status, c.existing_score))
        report = {
            "run": settings.run, "outputs": str(env.run.root), "budget_stop": state.budget_stop,
            "unfinished": [f"{layer}/{neuron}" for layer, neuron in sorted(unfinished)],
            "failed": [{"neuron": f"{r['layer']}/{r['neuron']}", "reason": r["error"]} for r in rows if r["status"] == "failed"],
            "skipped": [{"neuron": f"{layer}/{neuron}", "reason": reason} for (layer, neuron), reason in selection.skipped],
        }
        write_summary(env.run.root, rows, report)
        return report | {"totals": totals(rows)}
