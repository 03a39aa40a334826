"""Typed trace events: what the agent did for a neuron, one JSONL file per neuron.

Events form a discriminated union on `type`. Every node execution is a span (`span_started` /
`span_ended`); events emitted inside a span that never ended belong to an attempt that was
interrupted (a killed process), and `read_trace(..., completed_only=True)` drops them, so a trace
rebuilt after a resume tells each step once. Logs are separate (structlog); the trace is data.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Literal, TextIO, TypedDict

from pydantic import BaseModel, Field, TypeAdapter

from tools.errors import RecordFileError
from tools.evaluate import ExplanationScore, compare_on, failed_records, score_on
from tools.probes.types import Counterexample
from tools.scorers import FieldScores
from tools.subject.output_side import OutputSide


class EventBase(TypedDict):
    """The fields every event of one neuron's trace shares; a TypedDict so `**base` type-checks."""

    layer: int
    neuron: int


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


class _Event(BaseModel):
    ts: str = Field(default_factory=_now)
    layer: int
    neuron: int
    span_id: str | None = None
    iteration: int | None = None


class NeuronStarted(_Event):
    type: Literal["neuron_started"] = "neuron_started"
    run: str
    backend: dict[str, Any]
    params: dict[str, Any]
    resumed: bool = False


class SpanStarted(_Event):
    type: Literal["span_started"] = "span_started"
    node: str


class SpanEnded(_Event):
    type: Literal["span_ended"] = "span_ended"
    node: str
    status: Literal["ok", "error"]
    duration_s: float
    error: str | None = None


class ModelCalled(_Event):
    type: Literal["model_called"] = "model_called"
    purpose: str
    model: str
    messages: list[dict[str, str]]
    response: str | None = None
    logprobs: dict[str, Any] | None = Field(None, description="Summary: tokens with logprobs, mean top-1 probability.")
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latency_s: float = 0.0
    retries: int = 0
    cached: bool = Field(False, description="Answered from the run's call journal (not paid again).")
    finish_reason: str | None = Field(None, description='Why the answer ended: "stop", or "length" when cut at max_tokens.')
    error: str | None = None


class ExplanationsProposed(_Event):
    type: Literal["explanations_proposed"] = "explanations_proposed"
    source: Literal["explainer", "reviser"]
    explanations: list[str]
    words: list[int] = Field(default_factory=list, description="Word count of each explanation.")
    answers: list[list[str]] = Field(default_factory=list, description="Per revision, the counterexamples it answers.")
    notes: list[str | None] = Field(default_factory=list, description="Per revision, how it was made.")


class AnswersDiscarded(_Event):
    """Answers of an explain or revise step that gave no candidate, one reason each: a failed call, an
    empty or absurdly long answer, the current explanation repeated, or another sample's repeated."""

    type: Literal["answers_discarded"] = "answers_discarded"
    purpose: str
    reasons: list[str]


class Scored(_Event):
    type: Literal["scored"] = "scored"
    explanation: str
    split: str
    method: str
    score: float | None
    score_reason: str | None = None
    ci: tuple[float, float] | None = None
    n_records: int
    n_failed: int
    per_record: list[float | None] = Field(default_factory=list)
    path: str | None = Field(None, description="File with the full simulations (tokens, real and simulated values).")


class CandidateJudged(_Event):
    """Why a candidate was or was not adopted: its like-with-like score, and the paired test against the incumbent."""

    type: Literal["candidate_judged"] = "candidate_judged"
    explanation: str
    words: int
    score: float | None = Field(description="Pooled r on the records every candidate of the round was simulated on.")
    adopted: bool
    reason: str
    delta: float | None = Field(None, description="Score minus the incumbent's, on the same records.")
    p_better: float | None = Field(None, description="Share of paired bootstrap resamples in which it beat the incumbent.")
    failed_records: int = 0
    answers: list[str] = Field(default_factory=list)


class ProbeBatch(_Event):
    type: Literal["probe_batch"] = "probe_batch"
    generator: str
    n_texts: int
    texts: list[str]
    path: str = Field(description="JSONL with each probe's tokens, real activations and simulated values.")
    max_real: float
    max_predicted: float


class CounterexamplesFound(_Event):
    type: Literal["counterexamples_found"] = "counterexamples_found"
    explanation: str
    items: list[Counterexample]


class StepFailed(_Event):
    """An LLM step that produced nothing usable (every call failed or every answer was unusable)."""

    type: Literal["step_failed"] = "step_failed"
    step: Literal["explain", "revise", "probe"]
    reason: str


class Decided(_Event):
    type: Literal["decided"] = "decided"
    decision: Literal["adopted", "rejected", "converged", "target", "budget", "max_iters", "failed", "error", "skipped"]
    reason: str
    explanation: str | None = None
    score: float | None = None
    best_score: float | None = None


class HeldoutResult(BaseModel):
    explanation: str
    heldout_score: float | None
    heldout_ci: tuple[float, float] | None
    reason: str | None = None
    n_records: int | None = Field(None, description="Held-out records simulated (None in results written before it was kept).")
    failed_records: list[int] = Field(default_factory=list, description="Indices of the held-out records whose simulation failed.")
    scorers: FieldScores | None = Field(None, description="Detection, fuzzing, F1/IoU and AUPRC on the same held-out simulation.")
    value_mass: float | None = Field(
        None, description="Median probability (0-1) the simulator put on values at the held-out slots before renormalizing "
                          "(ExplanationScore.value_mass); None for the builtin and methods without logprobs.")

    @classmethod
    def of(cls, score: ExplanationScore, scorers: FieldScores | None = None) -> HeldoutResult:
        return cls(explanation=score.explanation, heldout_score=score.score, heldout_ci=score.ci, reason=score.score_reason,
                   n_records=score.n_records, failed_records=failed_records(score), scorers=scorers,
                   value_mass=score.value_mass)


class PairedGain(BaseModel):
    """The one-shot and the refined explanation compared on the same held-out records: those both
    simulations read. A record that failed for either is left out of both scores."""

    n_records: int = Field(description="Held-out records.")
    n_paired: int = Field(description="Records both simulations read: the two scores and the gain are over these.")
    failed_oneshot: list[int] = Field(default_factory=list, description="Record indices the one-shot simulation failed.")
    failed_refined: list[int] = Field(default_factory=list, description="Record indices the refined simulation failed.")
    oneshot_score: float | None
    refined_score: float | None
    gain: float | None = Field(description="refined_score - oneshot_score, when both are defined.")
    gain_ci: tuple[float, float] | None = Field(
        None, description="95% paired bootstrap interval of the gain over the paired records (None in older results).")
    p_better: float | None = Field(None, description="Share of paired bootstrap resamples in which the refined one scored higher.")

    @classmethod
    def of(cls, oneshot: ExplanationScore, refined: ExplanationScore) -> PairedGain:
        """The two held-out scores (of the same records, in the same order) restricted to the records both read."""
        if oneshot.true_activations != refined.true_activations:
            raise ValueError("a paired gain needs both explanations scored on the same records")
        failed_o, failed_r = failed_records(oneshot), failed_records(refined)
        both = [i for i in range(refined.n_records) if i not in {*failed_o, *failed_r}]
        o, r = (score_on(oneshot, both), score_on(refined, both)) if both else (None, None)
        paired = compare_on(oneshot, refined, both) if both else None
        return cls(n_records=refined.n_records, n_paired=len(both), failed_oneshot=failed_o, failed_refined=failed_r,
                   oneshot_score=o, refined_score=r, gain=r - o if o is not None and r is not None else None,
                   gain_ci=paired.ci if paired else None, p_better=paired.p_better if paired else None)


class BaselineResult(BaseModel):
    """The free builtin explanation (builtin explainer and simulator) of a sweep's triage."""

    explanation: str
    method: str
    selection_score: float | None = Field(description="Pooled r on the selection split: what the triage decided on.")
    heldout_score: float | None = Field(description="Pooled r on the held-out split: reported only, never decided on.")
    heldout_ci: tuple[float, float] | None = None
    path: str | None = Field(None, description="File with the held-out simulations (an ExplanationScore).")


NeuronStatus = Literal["ok", "degraded", "failed", "skipped"]
"""ok: refined and scored; degraded: scored, but an LLM step failed on the way, the one-shot
explanation has no held-out score, or more than 20% of a held-out simulation's records failed
(`problems` says which); failed: nothing usable (no explanation, or no refined held-out score,
e.g. a constant simulation); skipped: finished without refinement."""


class Finalized(_Event):
    type: Literal["finalized"] = "finalized"
    status: NeuronStatus
    stop: str
    method: str
    oneshot: HeldoutResult | None
    refined: HeldoutResult | None
    iterations: int
    probes: int
    counterexamples: int
    tokens: int
    cost_usd: float
    seconds: float
    problems: list[str] = Field(default_factory=list, description="Why a degraded neuron is degraded, one reason per failed step.")
    paired: PairedGain | None = None
    baseline: BaselineResult | None = None
    output: OutputSide | None = Field(None, description="What the neuron does to the output; None when not read.")


TraceEvent = Annotated[
    NeuronStarted | SpanStarted | SpanEnded | ModelCalled | ExplanationsProposed | AnswersDiscarded | Scored | CandidateJudged
    | ProbeBatch | CounterexamplesFound | StepFailed | Decided | Finalized,
    Field(discriminator="type"),
]
_ADAPTER: TypeAdapter[TraceEvent] = TypeAdapter(TraceEvent)


def trace_path(run_dir: Path, layer: int, neuron: int) -> Path:
    return run_dir / "traces" / str(layer) / f"{neuron}.jsonl"


class TraceWriter:
    """Appends events for one neuron; each line is flushed so a crash loses at most the event being written.

    Flushed, not fsynced: a killed process loses nothing the OS already has, and an fsync per event
    would block the event loop on the disk for every event of every neuron in flight. After a power
    loss the trace may lose its tail, like the run's WAL databases (synchronous=NORMAL). The file
    stays open until `close()`: a neuron writes many events, and opening the file for each would
    cost several system calls every time."""

    def __init__(self, path: Path, layer: int, neuron: int, on_event: Callable[[TraceEvent], None] | None = None) -> None:
        self.path, self.layer, self.neuron = path, layer, neuron
        self.on_event = on_event
        path.parent.mkdir(parents=True, exist_ok=True)
        self._span: str | None = None
        self._iteration: int | None = None
        self._handle: TextIO | None = None

    def emit(self, event: TraceEvent) -> None:
        if event.span_id is None:
            event.span_id = self._span
        if event.iteration is None:
            event.iteration = self._iteration
        if self._handle is None:
            self._handle = self.path.open("a", encoding="utf-8")
        self._handle.write(event.model_dump_json(exclude_none=False) + "\n")
        self._handle.flush()
        if self.on_event is not None:
            self.on_event(event)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def base(self) -> EventBase:
        return {"layer": self.layer, "neuron": self.neuron}

    @contextmanager
    def span(self, node: str, iteration: int | None) -> Iterator[str]:
        span_id = uuid.uuid4().hex[:12]
        previous = (self._span, self._iteration)
        self._span, self._iteration = span_id, iteration
        started = time.monotonic()
        self.emit(SpanStarted(node=node, **self.base()))
        try:
            yield span_id
        except BaseException as err:
            self.emit(SpanEnded(node=node, status="error", error=f"{type(err).__name__}: {err}"[:500],
                                duration_s=round(time.monotonic() - started, 4), **self.base()))
            raise
        else:
            self.emit(SpanEnded(node=node, status="ok", duration_s=round(time.monotonic() - started, 4), **self.base()))
        finally:
            self._span, self._iteration = previous


def parse_event(line: str) -> TraceEvent:
    return _ADAPTER.validate_json(line)


def read_trace(path: Path, completed_only: bool = True) -> list[TraceEvent]:
    """Events of a trace file. With `completed_only`, events of spans that never ended
    (interrupted attempts, re-run after a resume) are dropped; a torn last line is ignored."""
    if not path.is_file():
        raise RecordFileError(path, "no trace for this neuron")
    events: list[TraceEvent] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            events.append(parse_event(line))
        except ValueError as err:
            if number == len(lines):
                break  # the process died while writing this line
            raise RecordFileError(path, f"line {number} is not a trace event: {str(err)[:200]}") from None
    if not completed_only:
        return events
    ended = {e.span_id for e in events if isinstance(e, SpanEnded)}
    return [e for e in events if e.span_id is None or e.span_id in ended]
