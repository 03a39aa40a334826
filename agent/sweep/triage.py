"""Free triage before paid work: every neuron's builtin explanation, scored by the builtin simulator.

The decision reads the selection split only: a neuron whose free explanation scores at or above
the target there is finished without any LLM call (`skipped`, its free explanation exported as
its result). The held-out split is opened only to report the free explanation's held-out r next
to the LLM's, never to decide. The other neurons go to the LLM worst first (lowest free selection
score first, undefined ones before all). Scores are kept in scores/L/N/baseline-*.json and read
back when the sweep is rerun.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import structlog

from agent.refine_job import RefineEnvironment
from agent.sweep.select import Candidate
from graphs.trace import BaselineResult
from tools.atomic import atomic_write_text
from tools.errors import RefineryError
from tools.evaluate import ExplanationScore, score_explanation
from tools.explainers.base import NoExplanationError
from tools.propose import best_of, propose
from tools.records.neuron_data import NeuronData

log = structlog.get_logger(__name__)


def _read(path: Path) -> ExplanationScore:
    return ExplanationScore.model_validate_json(path.read_text(encoding="utf-8"))


async def baseline(env: RefineEnvironment, layer: int, neuron: int) -> BaselineResult:
    """The free explanation of a neuron and its scores (computed once, then read from the run)."""
    folder = env.run.root / "scores" / str(layer) / str(neuron)
    selection_path, heldout_path = folder / "baseline-selection.json", folder / "baseline-heldout.json"
    if selection_path.is_file() and heldout_path.is_file():
        chosen, heldout = _read(selection_path), _read(heldout_path)
    else:
        data = NeuronData(layer, neuron, env.store.read(layer, neuron), env.records_per_split)
        free = env.backend.builtin_roles()
        simulator = free.simulator
        chosen = best_of(await propose(free.explainer, simulator, data.train(), data.selection(), env.params.n_explanations))
        heldout = await score_explanation(chosen.explanation, data.final_heldout(), simulator, "test", with_ci=True,
                                          seed=env.params.seed)
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(selection_path, chosen.model_dump_json())
        atomic_write_text(heldout_path, heldout.model_dump_json())
    return BaselineResult(explanation=chosen.explanation, method=chosen.method, selection_score=chosen.score,
                          heldout_score=heldout.score, heldout_ci=heldout.ci, path=str(heldout_path))


def skip_reason(result: BaselineResult, target: float | None) -> str | None:
    score = result.selection_score
    if target is None or score is None or score < target:
        return None
    return (f"the free builtin explanation scores {score:.3f} on the selection split, at or above the target "
            f"{target:g}: finished without an LLM")


async def triage(env: RefineEnvironment, candidates: Sequence[Candidate], target: float | None) -> list[Candidate]:
    """Score every candidate's free explanation; mark those it already explains; the rest worst first.

    A neuron whose records cannot be read, or that has no free explanation, gets no baseline: the
    refinement pass reports its failure as usual."""
    for item in candidates:
        try:
            result = await baseline(env, item.layer, item.neuron)
        except NoExplanationError as err:
            log.info("triage_no_explanation", layer=item.layer, neuron=item.neuron, reason=str(err))
            continue
        except RefineryError as err:
            log.info("triage_unreadable", layer=item.layer, neuron=item.neuron, reason=str(err)[:200])
            continue
        item.baseline = result.model_dump(mode="json")
        item.skip_reason = skip_reason(result, target)
        await asyncio.sleep(0)  # CPU work: let the progress display and signals through between neurons
    free = [c for c in candidates if c.skip_reason is not None]
    paid = [c for c in candidates if c.skip_reason is None]
    paid.sort(key=lambda c: (c.baseline is not None and c.baseline["selection_score"] is not None,
                             (c.baseline or {}).get("selection_score") or 0.0, c.layer, c.neuron))
    return free + paid
