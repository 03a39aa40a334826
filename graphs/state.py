"""The refinement loop's state: JSON-native, small; arrays and probe batches live on disk (paths here)."""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict

Stop = Literal["converged", "target", "budget", "max_iters", "failed", "error", "skipped"]
"""Why the loop ended. `error`: an LLM step failed (the neuron ends degraded); `skipped`: finished
without refinement (a sweep's triage or --below decided so)."""


class Candidate(TypedDict):
    explanation: str
    score: float | None
    """Pooled r on the selection records (weighted when the set holds pool excerpts)."""
    iteration: int
    path: str | None
    """File with the full selection simulation (per-record r, tokens, values)."""
    words: NotRequired[int]
    records: NotRequired[str]
    """Which selection records `path` holds: `selection` (the valid and calibration splits: the one-shot
    choice), `valid` (the valid split alone: the refinement loop's), or `valid+pool` (the valid split
    enlarged with fresh corpus excerpts)."""
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
    skip_reason: NotRequired[str]
    """Finish the neuron at once, without an LLM call (a sweep's triage found it explained for free)."""
    baseline: NotRequired[dict[str, object]]
    """The free builtin explanation's scores (a `BaselineResult`), reported next to the LLM's."""


class RefineState(TypedDict, total=False):
    layer: int
    neuron: int
    seed_explanation: str
    skip_reason: str
    baseline: dict[str, object]
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
    final_reserve: tuple[float, int, float]
    """(usd, tokens, wall-time seconds) kept back from the loop for the held-out scoring (a checkpoint from
    before the seconds were kept holds the first two)."""
    problems: list[str]
    """Reasons of LLM steps that failed (revise, probe): the neuron ends degraded."""
