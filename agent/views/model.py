"""What the views show, as typed data: the one contract behind `refinery trace`, `--json` and the report.

Everything here is derived from a run folder's trace events, results and the files the events point
to; nothing here is read from anywhere else. Scores are Pearson r; `real` values are raw neuron
activations; `simulated` values are the simulator's 0-10 scale.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from tools.scorers import FieldScores
from tools.subject.output_side import OutputSide

Status = Literal["ok", "degraded", "failed", "skipped", "running", "unreadable"]
"""`degraded`: finished and scored, but an LLM step failed on the way (`problems` says which);
`failed`: nothing usable (`error` says why); `skipped`: finished without refinement (a sweep's triage or
--below); `running`: a trace but no final result yet (a sweep still working on it, or a killed run not
resumed); `unreadable`: its files could not be parsed (the row says why in `error`)."""


class NeuronRow(BaseModel):
    """One neuron in the run table."""

    layer: int
    neuron: int
    status: Status
    stop: str | None = Field(None, description="Why the loop stopped: converged, target, budget, max_iters, failed, error, skipped.")
    stop_reason: str | None = None
    error: str | None = None
    problems: list[str] = Field(default_factory=list, description="Why a degraded neuron is degraded: one reason per failed LLM step.")
    method: str | None = Field(None, description="Simulator method (scores of different methods are not comparable).")
    oneshot: float | None = Field(None, description="Held-out r of the best one-shot explanation.")
    refined: float | None = Field(None, description="Held-out r of the refined explanation.")
    gain: float | None = Field(None, description="refined - oneshot over the held-out records both simulations read, when both are defined.")
    baseline: float | None = Field(None, description="Held-out r of the free builtin explanation (a sweep's triage); reported, never decided on.")
    heldout_records: int | None = Field(None, description="Held-out records.")
    paired_records: int | None = Field(None, description="Held-out records both the one-shot and refined simulations read (the gain's).")
    oneshot_failed: int | None = Field(None, description="Held-out records the one-shot simulation failed.")
    refined_failed: int | None = Field(None, description="Held-out records the refined simulation failed.")
    ci: tuple[float, float] | None = Field(None, description="95% bootstrap interval of the refined held-out r.")
    best_selection: float | None = Field(None, description="Best selection-split r so far (running neurons).")
    explanation: str | None = Field(None, description="The refined explanation, or the best so far.")
    iterations: int = 0
    probes: int = 0
    counterexamples: int = 0
    tokens: int = 0
    cost_usd: float = 0.0
    seconds: float | None = None
    now: str | None = Field(None, description="The step a running neuron is in, e.g. 'probe, iteration 2'.")


class RunSummary(BaseModel):
    run: str
    neurons: list[NeuronRow]
    counts: dict[str, int] = Field(description="Neurons per status.")
    tokens: int
    cost_usd: float
    backend: str | None = None
    config: dict[str, Any] | None = Field(None, description="The resolved config.json (secrets are never saved there).")
    ledger: dict[str, Any] | None = None


class TokenRow(BaseModel):
    """A text with real and simulated values per token (a heatmap row pair)."""

    tokens: list[str]
    real: list[float]
    simulated: list[float] | None = Field(None, description="0-10; None when the simulation failed.")
    score: float | None = Field(None, description="Per-record r, where one was computed.")
    error: str | None = Field(None, description="Why the simulation failed.")
    offending: list[int] = Field(default_factory=list, description="Token positions where prediction and reality disagree most.")
    label: str | None = Field(None, description="Where the text came from, e.g. 'excerpt 812'.")


class Candidate(BaseModel):
    explanation: str
    score: float | None = Field(description="Selection-split r; None when undefined.")
    score_reason: str | None = None
    n_records: int
    n_failed: int


class ProbeGroup(BaseModel):
    generator: str
    texts: list[TokenRow]


class CounterexampleView(BaseModel):
    kind: str
    generator: str
    error: float = Field(description="Largest disagreement on the 0-10 scale.")
    text: TokenRow


class Call(BaseModel):
    """One LLM call as traced (prompt, response, usage, latency)."""

    node: str | None
    purpose: str
    model: str
    messages: list[dict[str, str]]
    response: str | None
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    latency_s: float
    retries: int
    cached: bool
    error: str | None
    logprobs: dict[str, Any] | None


class Discarded(BaseModel):
    """Answers of an explain or revise step that gave no candidate, for one reason."""

    purpose: str = Field(description="explainer or reviser.")
    reason: str = Field(description="e.g. 'empty answer', 'repeated the current explanation', a failed call's error.")
    count: int


class Step(BaseModel):
    """One iteration: candidates proposed and scored, the decision, then the probes of the adopted explanation."""

    iteration: int
    source: str | None = Field(None, description="explainer (iteration 0) or reviser.")
    candidates: list[Candidate] = Field(default_factory=list)
    top: str | None = Field(None, description="The round's best candidate, the one the decision is about.")
    decision: str | None = None
    reason: str | None = None
    best_score: float | None = Field(None, description="Best selection r after this decision.")
    probed: str | None = Field(None, description="The explanation the probes of this iteration tested.")
    probe_groups: list[ProbeGroup] = Field(default_factory=list)
    counterexamples: list[CounterexampleView] = Field(default_factory=list)
    calls: list[Call] = Field(default_factory=list)
    discarded: list[Discarded] = Field(default_factory=list, description="Answers that gave no candidate, counted per reason.")
    errors: list[str] = Field(default_factory=list, description="Steps that raised, as 'node: error'.")


class Heldout(BaseModel):
    """A final score on the held-out split, with its per-record simulations when the trace points to them."""

    role: Literal["refined", "oneshot", "baseline"]
    explanation: str
    score: float | None
    ci: tuple[float, float] | None
    reason: str | None = None
    records: list[TokenRow] = Field(default_factory=list)
    failed: list[int] = Field(default_factory=list, description="Indices of the records whose simulation failed.")
    scorers: FieldScores | None = Field(None, description="Detection, fuzzing, F1/IoU, AUPRC beside r (None in older results).")
    value_mass: float | None = Field(None, description="HeldoutResult.value_mass: probability (0-1) the simulator put on values.")


class NeuronStory(BaseModel):
    """Everything the trace of one neuron tells, in order."""

    run: str
    row: NeuronRow
    backend: dict[str, Any] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict)
    steps: list[Step]
    stop: str | None = None
    stop_reason: str | None = None
    heldout: list[Heldout] = Field(default_factory=list)
    final_calls: list[Call] = Field(default_factory=list, description="LLM calls of the held-out scoring.")
    max_real: float = Field(description="Largest real activation shown: the heatmaps' full-colour value.")
    notes: list[str] = Field(default_factory=list, description="What could not be shown and why (e.g. a missing file).")
    output: OutputSide | None = Field(None, description="What the neuron does to the output (None when not read).")


class Change(BaseModel):
    """A revision the loop adopted, and the counterexamples it was written to answer."""

    iteration: int
    explanation: str
    delta: float | None = Field(description="Selection r gained over the incumbent, on the same records.")
    p_better: float | None = Field(description="Share of paired bootstrap resamples in which it beat the incumbent.")
    answers: list[str] = Field(default_factory=list, description="Labels of the counterexamples it answers.")
