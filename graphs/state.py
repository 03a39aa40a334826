"""The refinement loop's state: JSON-native, small; arrays and probe batches live on disk (paths here)."""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict

Stop = Literal["converged", "target", "budget", "max_iters", "failed"]


class Candidate(TypedDict):
    explanation: str
    score: float | None
    """Pooled r on the selection records (weighted when the set holds pool excerpts)."""
    iteration: int
    path: str | None
    """File with the full selection simulation (per-record r, tokens, values)."""
    words: NotRequired[int]
    records: NotRequired[str]
    """Which selection records `path` holds: `selection`, or `selection+pool` (enlarged with fresh excerpts)."""
    answers: NotRequired[list[str]]
    """The counterexamples a revision was written to answer."""


class Round(TypedDict):
    iteration: int
    source: Literal["explainer", "reviser"]
    candidates: list[Candidate]
    decision: str
    reason: str
    best_score: float | None
    counterexamples: int


class RefineInput(TypedDict):
    layer: int
    neuron: int
    seed_explanation: NotRequired[str]
    """An existing explanation (e.g. from OpenAI's files) to start from instead of proposing anew."""


class RefineState(TypedDict, total=False):
    layer: int
    neuron: int
    seed_explanation: str
    iteration: int
    """0 for the one-shot proposal, then one per probe-and-revise round."""
    pending: list[str]
    """Explanations written but not yet scored on the selection split."""
    pending_answers: list[list[str]]
    """Per pending explanation, the counterexamples it answers (revisions)."""
    scored: list[Candidate]
    """The pending explanations after simulation, waiting for the decision."""
    best: Candidate | None
    oneshot: Candidate | None
    rounds: list[Round]
    stale_rounds: int
    probes_run: int
    counterexamples_found: int
    probe_files: list[str]
    counterexample_file: str | None
    used_excerpts: list[int]
    stop: Stop | None
    stop_reason: str | None
    final: dict[str, object] | None
    seconds: float
    """Active seconds spent on this neuron, across resumes (for the wall-time budget)."""
    final_reserve: tuple[float, int]
    """(usd, tokens) kept back from the loop for the held-out scoring."""
