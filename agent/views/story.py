"""Pure: trace events (and the files they point to, already parsed) -> the view models.

No I/O here: `agent/views/load.py` reads the run folder and hands the contents in, so everything a
view shows can be rebuilt from fixed inputs in a test.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from agent.views.model import (
    Call,
    Candidate,
    Change,
    CounterexampleView,
    Discarded,
    Heldout,
    NeuronRow,
    NeuronStory,
    ProbeGroup,
    RunSummary,
    Step,
    TokenRow,
)
from graphs.trace import (
    AnswersDiscarded,
    CandidateJudged,
    CounterexamplesFound,
    Decided,
    ExplanationsProposed,
    Finalized,
    HeldoutResult,
    ModelCalled,
    NeuronStarted,
    ProbeBatch,
    Scored,
    SpanEnded,
    SpanStarted,
    StepFailed,
    TraceEvent,
)
from tools.evaluate import ExplanationScore
from tools.probes.types import Counterexample, ProbeResult

STOP_DECISIONS = ("converged", "target", "budget", "max_iters", "failed", "error", "skipped")
HELDOUT_SPLIT = "test"


def _real(values: Sequence[float]) -> list[float]:
    # Four significant digits: activations differ by orders of magnitude between models, and the
    # report embeds every value, so full float precision would only inflate the page.
    return [float(f"{v:.4g}") for v in values]


def _simulated(values: Sequence[float] | None) -> list[float] | None:
    return None if values is None else [round(v, 2) for v in values]


def _r(value: float | None) -> float | None:
    """Correlations to 6 decimals: far below any difference that matters, and above float noise
    between platforms, so goldens and JSON diffs stay stable."""
    return None if value is None else round(value, 6)


def _ci(ci: tuple[float, float] | None) -> tuple[float, float] | None:
    return None if ci is None else (round(ci[0], 6), round(ci[1], 6))


def split_open(events: Sequence[TraceEvent]) -> tuple[list[TraceEvent], SpanStarted | None]:
    """Events of spans that ended (as `read_trace(completed_only=True)`), and the last span still open."""
    ended = {e.span_id for e in events if isinstance(e, SpanEnded)}
    completed = [e for e in events if e.span_id is None or e.span_id in ended]
    open_spans = [e for e in events if isinstance(e, SpanStarted) and e.span_id not in ended]
    return completed, (open_spans[-1] if open_spans else None)


def _failed(result: HeldoutResult | None) -> int | None:
    return None if result is None or result.n_records is None else len(result.failed_records)


def finished_row(final: Finalized, error: str | None = None, stop_reason: str | None = None) -> NeuronRow:
    oneshot = _r(final.oneshot.heldout_score) if final.oneshot else None
    refined = _r(final.refined.heldout_score) if final.refined else None
    if final.paired is not None:
        gain = _r(final.paired.gain)
    else:  # a result written before the gain was paired
        gain = _r(refined - oneshot) if refined is not None and oneshot is not None else None
    chosen = final.refined or final.oneshot or final.baseline
    return NeuronRow(
        layer=final.layer, neuron=final.neuron, status=final.status, stop=final.stop,
        stop_reason=stop_reason, error=error, problems=final.problems, method=final.method, oneshot=oneshot, refined=refined,
        gain=gain, baseline=_r(final.baseline.heldout_score) if final.baseline else None,
        heldout_records=final.paired.n_records if final.paired else None,
        paired_records=final.paired.n_paired if final.paired else None,
        oneshot_failed=_failed(final.oneshot), refined_failed=_failed(final.refined),
        ci=_ci(final.refined.heldout_ci) if final.refined else None, explanation=chosen.explanation if chosen else None,
        iterations=final.iterations, probes=final.probes, counterexamples=final.counterexamples, tokens=final.tokens,
        cost_usd=final.cost_usd, seconds=final.seconds,
    )


def result_row(result: Mapping[str, Any]) -> NeuronRow:
    """A row from results/L/N.json (the Finalized event plus `error` and `stop_reason`)."""
    return finished_row(Finalized.model_validate(result), result.get("error"), result.get("stop_reason"))


def running_row(layer: int, neuron: int, events: Sequence[TraceEvent]) -> NeuronRow:
    """A neuron without a final result: progress so far from its completed steps, and the step it is in."""
    completed, open_span = split_open(events)
    started = [e for e in completed if isinstance(e, NeuronStarted)]
    calls = [e for e in completed if isinstance(e, ModelCalled) and not e.cached]
    decided = [e for e in completed if isinstance(e, Decided)]
    adopted = [e for e in decided if e.decision == "adopted"]
    best = [e.best_score for e in decided if e.best_score is not None]
    return NeuronRow(
        layer=layer, neuron=neuron, status="running",
        method=started[-1].backend.get("simulator") if started else None,
        best_selection=_r(best[-1]) if best else None, explanation=adopted[-1].explanation if adopted else None,
        iterations=max((e.iteration for e in completed if e.iteration is not None), default=0),
        probes=sum(e.n_texts for e in completed if isinstance(e, ProbeBatch)),
        counterexamples=sum(len(e.items) for e in completed if isinstance(e, CounterexamplesFound)),
        tokens=sum(e.prompt_tokens + e.completion_tokens for e in calls), cost_usd=round(sum(e.cost_usd for e in calls), 6),
        now=f"{open_span.node}, iteration {open_span.iteration}" if open_span else None,
    )


def summarize_run(run: str, rows: Sequence[NeuronRow], config: dict[str, Any] | None,
                  ledger: dict[str, Any] | None) -> RunSummary:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    return RunSummary(
        run=run, neurons=sorted(rows, key=lambda r: (r.layer, r.neuron)), counts=counts,
        tokens=sum(r.tokens for r in rows), cost_usd=round(sum(r.cost_usd for r in rows), 6),
        backend=(config or {}).get("backend"), config=config, ledger=ledger,
    )


def score_rows(score: ExplanationScore) -> list[TokenRow]:
    return [
        TokenRow(tokens=sim.tokens, real=_real(true), simulated=_simulated(sim.expected) if sim.ok else None,
                 score=_r(r), error=sim.error)
        for true, sim, r in zip(score.true_activations, score.simulations, score.per_record, strict=True)
    ]


def probe_row(probe: ProbeResult) -> TokenRow:
    return TokenRow(tokens=probe.tokens, real=_real(probe.real), simulated=_simulated(probe.predicted),
                    error=probe.simulation_error, label=probe.source)


def counterexample_view(item: Counterexample) -> CounterexampleView:
    return CounterexampleView(kind=item.kind, generator=item.generator, error=item.error, text=TokenRow(
        tokens=item.tokens, real=_real(item.real), simulated=_simulated(item.predicted), offending=item.offending))


def call_view(event: ModelCalled, node: str | None) -> Call:
    return Call(node=node, **event.model_dump(include=set(Call.model_fields) - {"node"}))


def _count_discarded(step: Step, event: AnswersDiscarded) -> None:
    """Add an event's discarded answers to the step's counts, one entry per purpose and reason, in order of first appearance."""
    for reason in event.reasons:
        found = next((d for d in step.discarded if d.purpose == event.purpose and d.reason == reason), None)
        if found is None:
            step.discarded.append(Discarded(purpose=event.purpose, reason=reason, count=1))
        else:
            found.count += 1


def neuron_story(
    run: str, row: NeuronRow, events: Sequence[TraceEvent], final: Finalized | None,
    scores: Mapping[str, ExplanationScore], probes: Mapping[str, Sequence[ProbeResult]],
) -> NeuronStory:
    """The neuron's story from its completed trace events.

    `scores` and `probes` map the paths recorded in held-out `scored` and `probe_batch` events to
    their parsed files; a path missing from them becomes a note instead of a silent gap."""
    nodes = {e.span_id: e.node for e in events if isinstance(e, SpanStarted)}
    steps: dict[int, Step] = {}
    notes: list[str] = []
    backend: dict[str, Any] = {}
    params: dict[str, Any] = {}
    stop = stop_reason = None
    heldout_events: list[Scored] = []
    final_calls: list[Call] = []
    for event in events:
        node = nodes.get(event.span_id)
        if isinstance(event, NeuronStarted):
            backend, params = event.backend, event.params
            continue
        if node == "finalize":
            if isinstance(event, Scored):
                heldout_events.append(event)
            elif isinstance(event, ModelCalled):
                final_calls.append(call_view(event, node))
            elif isinstance(event, SpanEnded) and event.status == "error":
                notes.append(f"the held-out scoring failed: {event.error}")
            continue
        if isinstance(event, SpanStarted) or (isinstance(event, SpanEnded) and event.status == "ok"):
            continue  # structure, not content: every step is a span
        if isinstance(event, Decided) and event.decision in STOP_DECISIONS:
            stop, stop_reason = event.decision, event.reason
            continue
        step = steps.setdefault(event.iteration or 0, Step(iteration=event.iteration or 0))
        match event:
            case ExplanationsProposed():
                step.source = event.source
            case Scored():
                step.candidates.append(Candidate(explanation=event.explanation, score=_r(event.score),
                                                 score_reason=event.score_reason, n_records=event.n_records,
                                                 n_failed=event.n_failed))
            case Decided():
                step.top, step.decision, step.reason = event.explanation, event.decision, event.reason
                step.best_score = _r(event.best_score)
            case ProbeBatch():
                if event.path in probes:
                    texts = [probe_row(p) for p in probes[event.path] if p.generator == event.generator]
                    step.probe_groups.append(ProbeGroup(generator=event.generator, texts=texts))
                elif f"probe file not found: {event.path}" not in notes:
                    notes.append(f"probe file not found: {event.path}")
            case CounterexamplesFound():
                step.probed = event.explanation
                step.counterexamples.extend(counterexample_view(c) for c in event.items)
            case ModelCalled():
                step.calls.append(call_view(event, node))
            case AnswersDiscarded():
                _count_discarded(step, event)
            case SpanEnded(status="error"):
                step.errors.append(f"{event.node}: {event.error}")
            case StepFailed():
                step.errors.append(f"{event.step}: {event.reason}")
                if event.step != "probe":
                    step.source = step.source or ("explainer" if event.step == "explain" else "reviser")
            case _:
                pass
    heldout = _heldout(final, heldout_events, scores, notes)
    shown = [v for h in heldout for r in h.records for v in r.real]
    shown += [v for s in steps.values() for g in s.probe_groups for t in g.texts for v in t.real]
    shown += [v for s in steps.values() for c in s.counterexamples for v in c.text.real]
    top = max(shown, default=0.0)
    return NeuronStory(
        run=run, row=row, backend=backend, params=params, steps=[steps[k] for k in sorted(steps)],
        stop=row.stop or stop, stop_reason=row.stop_reason or stop_reason, heldout=heldout, final_calls=final_calls,
        max_real=top if top > 0 else 1.0, notes=notes, output=final.output if final else None,
    )


def _heldout(final: Finalized | None, events: Sequence[Scored], scores: Mapping[str, ExplanationScore],
             notes: list[str]) -> list[Heldout]:
    if final is None:
        return []
    out: list[Heldout] = []
    pairs: tuple[tuple[Literal["oneshot", "refined"], HeldoutResult | None], ...] = (
        ("oneshot", final.oneshot), ("refined", final.refined))
    for role, result in pairs:
        if result is None or (role == "oneshot" and final.refined and result.explanation == final.refined.explanation):
            continue  # the one-shot explanation won: its held-out score is the refined one
        event = next((e for e in events if e.split == HELDOUT_SPLIT and e.explanation == result.explanation), None)
        records: list[TokenRow] = []
        if event is None or event.path is None:
            notes.append(f"the trace names no file with the {role} explanation's held-out simulations")
        elif event.path in scores:
            records = score_rows(scores[event.path])
        else:
            notes.append(f"held-out simulation file not found: {event.path}")
        out.append(Heldout(role=role, explanation=result.explanation, score=_r(result.heldout_score),
                           ci=_ci(result.heldout_ci), reason=result.reason, records=records, failed=result.failed_records,
                           scorers=result.scorers, value_mass=result.value_mass))
    if final.baseline is not None:
        base = final.baseline
        records = score_rows(scores[base.path]) if base.path is not None and base.path in scores else []
        if base.path is not None and base.path not in scores:
            notes.append(f"held-out simulation file not found: {base.path}")
        failed = [i for i, row in enumerate(records) if row.simulated is None]
        out.append(Heldout(role="baseline", explanation=base.explanation, score=_r(base.heldout_score),
                           ci=_ci(base.heldout_ci), records=records, failed=failed))
    return out


def adopted_changes(events: Sequence[TraceEvent]) -> list[Change]:
    """The revisions that replaced the explanation, in order, each with the counterexamples it answers."""
    return [Change(iteration=e.iteration or 0, explanation=e.explanation, delta=e.delta, p_better=e.p_better, answers=e.answers)
            for e in events if isinstance(e, CandidateJudged) and e.adopted and (e.iteration or 0) > 0]
