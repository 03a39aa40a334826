"""One sweep from settings to summary: environment, executor, scheduling, outputs."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from agent.refine_job import refine_neuron
from agent.refine_setup import open_refine_environment
from agent.settings import Settings
from agent.sweep.runner import Manifest, NeuronRunner, SweepState, run_sweep
from agent.sweep.select import Selection
from agent.sweep.summary import row, totals, write_summary
from agent.sweep.triage import triage
from tools.errors import BadInputError, RefineryError
from tools.llm.budget import Estimator
from tools.llm.protocol import LLM


def uses_triage(settings: Settings, selection: Selection, backend: str) -> bool:
    """`--triage auto`: the free triage whenever an LLM would be paid and no --from gave existing scores."""
    if settings.triage == "auto":
        return backend != "builtin" and selection.source is None
    return settings.triage == "builtin"


async def sweep(
    settings: Settings, selection: Selection, one_shot_first: bool = False, below: float | None = None,
    order: str = "given", on_progress: Callable[[SweepState], None] | None = None, llm: LLM | None = None,
    estimator: Estimator | None = None,
) -> dict[str, Any]:
    """Run the sweep and write summary.json/.csv; returns the report printed by the CLI.

    `llm` and `estimator` replace the configured endpoint and its cost estimate (scripted models in
    tests and benchmarks); with the Ray executor they are shipped to every worker."""
    if settings.subject_process and settings.executor == "ray":
        raise BadInputError("--subject-process is for the in-process executor: each Ray worker loads its own subject")
    candidates = selection.candidates
    keys = [(c.layer, c.neuron) for c in candidates]
    async with open_refine_environment(settings, keys, llm=llm, estimator=estimator) as env:
        triaged = uses_triage(settings, selection, env.backend.name)
        if triaged:
            manifest = Manifest(env.run)
            fresh = [c for c in candidates if not manifest.finished(c.layer, c.neuron)]
            ordered = await triage(env, fresh, settings.target)
            candidates = ordered + [c for c in candidates if manifest.finished(c.layer, c.neuron)]
        ray_runner = None
        if settings.executor == "ray":
            from agent.sweep.ray_executor import RayRunner

            ray_runner = RayRunner(settings, env, llm=llm, estimator=estimator)
        runner: NeuronRunner = ray_runner if ray_runner is not None else partial(refine_neuron, env)
        try:
            state = await run_sweep(runner, env.run, candidates, settings.concurrency, one_shot_first, below, order, on_progress)
        finally:
            if ray_runner is not None:
                ray_runner.close()
        rows = []
        unfinished = set(state.unfinished)
        for c in selection.candidates:  # the selection's order (the triage only changes the refinement order)
            key = (c.layer, c.neuron)
            if key in state.errors:
                rows.append(row(None, c.layer, c.neuron, "failed", c.existing_score, error=state.errors[key], baseline=c.baseline))
                continue
            try:
                final = env.run.result(c.layer, c.neuron)
            except RefineryError as err:  # a damaged result file: this neuron's row says so, the others are kept
                rows.append(row(None, c.layer, c.neuron, "failed", c.existing_score, error=str(err), baseline=c.baseline))
                continue
            status = "unfinished" if final is None or key in unfinished else None
            rows.append(row(final, c.layer, c.neuron, status, c.existing_score, baseline=c.baseline))
        report = {
            "run": settings.run, "outputs": str(env.run.root), "budget_stop": state.budget_stop,
            "unfinished": [f"{layer}/{neuron}" for layer, neuron in sorted(unfinished)],
            "failed": [{"neuron": f"{r['layer']}/{r['neuron']}", "reason": r["error"]} for r in rows if r["status"] == "failed"],
            "degraded": [{"neuron": f"{r['layer']}/{r['neuron']}", "reason": r["problems"]} for r in rows if r["status"] == "degraded"],
            "skipped": [{"neuron": f"{layer}/{neuron}", "reason": reason} for (layer, neuron), reason in selection.skipped],
            "triage": "builtin" if triaged else "none",
        }
        write_summary(env.run.root, rows, report)
        return report | {"totals": totals(rows)}
