"""One-shot explanation of a neuron: best-of-n on the selection split, then the held-out score.

`refinery explain` runs it as the refinement graph stopped after its one-shot part (`explain_in_run`):
the same run folder, call journal, trace, budgets and preflight as `refine`, so a rerun resumes and
never pays twice. `explain_neuron` is the same science without a run folder (the offline demo), with
the roles of the same backend factory (`agent/backends.py`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypedDict

from pydantic import BaseModel, Field

from agent.backends import Backend, Roles
from tools.evaluate import score_explanation
from tools.explainers.base import NoExplanationError
from tools.llm.ledger import UsageTotals
from tools.llm.protocol import LLMError
from tools.propose import best_of, propose
from tools.records.neuron_data import NeuronData

if TYPE_CHECKING:
    from agent.refine_job import RefineEnvironment

ONE_SHOT_ONLY = "explain: the one-shot explanation only"
"""Why an `explain` neuron ends without refinement (its trace's `skipped` decision)."""


class CandidateSummary(BaseModel):
    explanation: str
    selection_score: float | None


class ExplainOutcome(BaseModel):
    layer: int
    neuron: int
    status: str = Field(description="ok | degraded | failed (as a refined neuron's, docs/cli.md#statuses)")
    error: str | None = None
    explanation: str | None = None
    method: str = Field(description="Simulator method that produced every score here.")
    backend: str
    selection_score: float | None = Field(None, description="Pooled r on the selection (valid) split that chose it.")
    heldout_score: float | None = Field(None, description="Pooled r on the held-out (test) split no step looked at.")
    heldout_ci: tuple[float, float] | None = None
    heldout_reason: str | None = None
    tokens: int = 0
    cost_usd: float = 0.0
    candidates: list[CandidateSummary] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list, description="Why the outcome is degraded.")
    trace: str | None = Field(None, description="The neuron's trace file (a run's explain).")


async def explain_in_run(env: RefineEnvironment, layer: int, neuron: int) -> ExplainOutcome:
    """The one-shot part of the refinement graph, then its finalize (held-out score) without any round:
    through the run's journal, trace and budgets. A neuron this run already refined keeps its result;
    its one-shot part is what is reported."""
    from agent.refine_job import refine_neuron
    from graphs.trace import trace_path

    state = await refine_neuron(env, layer, neuron, stop_before_probe=True)
    final = await refine_neuron(env, layer, neuron, skip_reason=ONE_SHOT_ONLY)
    return outcome_of(state, final, env.backend.name, str(trace_path(env.run.root, layer, neuron)))


def outcome_of(state: dict[str, Any], final: dict[str, Any], backend: str, trace: str | None = None) -> ExplainOutcome:
    """An `explain` outcome from the graph's one-shot state and its final summary."""
    rounds = state.get("rounds") or []
    candidates = [CandidateSummary(explanation=c["explanation"], selection_score=c["score"])
                  for c in (rounds[0]["candidates"] if rounds else [])]
    chosen, heldout = state.get("oneshot") or {}, final.get("oneshot") or {}
    status = "failed" if final["status"] == "failed" else "degraded" if final.get("problems") else "ok"
    return ExplainOutcome(
        layer=final["layer"], neuron=final["neuron"], status=status, error=final.get("error"), method=final["method"],
        backend=backend, explanation=heldout.get("explanation") or chosen.get("explanation"),
        selection_score=chosen.get("score"), heldout_score=heldout.get("heldout_score"), heldout_ci=heldout.get("heldout_ci"),
        heldout_reason=heldout.get("reason"), tokens=final["tokens"], cost_usd=final["cost_usd"], candidates=candidates,
        problems=final.get("problems", []), trace=trace,
    )


async def explain_neuron(data: NeuronData, backend: Backend, n: int, seed: int = 0, roles: Roles | None = None) -> ExplainOutcome:
    """Best-of-`n` with the backend's roles (or `roles`), then the held-out score of the best."""
    roles = roles or backend.roles()
    before = backend.ledger.total
    base: _Identity = {"layer": data.layer, "neuron": data.neuron, "method": roles.simulator.method, "backend": backend.name}
    try:
        candidates = await propose(roles.explainer, roles.simulator, data.train(), data.selection(), n)
    except (NoExplanationError, LLMError) as err:
        return ExplainOutcome(status="failed", error=str(err), **base, **_spend(backend, before))
    best = best_of(candidates)
    final = await score_explanation(best.explanation, data.final_heldout(), roles.simulator, "test", with_ci=True, seed=seed)
    return ExplainOutcome(
        status="ok", explanation=best.explanation, selection_score=best.score, heldout_score=final.score,
        heldout_ci=final.ci, heldout_reason=final.score_reason,
        candidates=[CandidateSummary(explanation=c.explanation, selection_score=c.score) for c in candidates],
        **base, **_spend(backend, before),
    )


class _Identity(TypedDict):
    layer: int
    neuron: int
    method: str
    backend: str


class _Spend(TypedDict):
    tokens: int
    cost_usd: float


def _spend(backend: Backend, before: UsageTotals) -> _Spend:
    now = backend.ledger.total
    tokens = (now.prompt_tokens + now.completion_tokens) - (before.prompt_tokens + before.completion_tokens)
    return {"tokens": tokens, "cost_usd": round(now.cost_usd - before.cost_usd, 6)}
