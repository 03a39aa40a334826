"""A small run folder written from the trace schema with fixed content, for golden and XSS tests.

Five neurons: 0/1 finished (two iterations, LLM calls, discarded answers, probes, counterexamples,
held-out simulations, one of which failed on a record, and the free builtin baseline of a triage), 0/2 failed
at the proposal, 1/7 still running (its simulate step has not ended), 1/8 degraded (its prober and
then its reviser failed), 2/3 skipped (the free triage explained it, no LLM call).
Hostile strings sit where corpus, probe and LLM text goes. Timestamps and span ids are whatever
the writer makes: no view shows them, so the renderings are deterministic without normalizing.
"""

from __future__ import annotations

import json
from pathlib import Path

from graphs.trace import (
    AnswersDiscarded,
    BaselineResult,
    CounterexamplesFound,
    Decided,
    ExplanationsProposed,
    Finalized,
    HeldoutResult,
    ModelCalled,
    NeuronStarted,
    PairedGain,
    ProbeBatch,
    Scored,
    SpanStarted,
    StepFailed,
    TraceWriter,
    trace_path,
)
from tools.atomic import atomic_write_json, atomic_write_text
from tools.evaluate import score_simulations
from tools.formats.openai import ActivationRecord
from tools.llm_judge import LLMJudged
from tools.probes.runner import write_probe_batch
from tools.probes.types import Counterexample, ProbeResult
from tools.scorers import field_scores
from tools.simulators.base import RecordSimulation
from tools.subject.output_side import OutputSide, TokenChange, TokenValue, VocabProjection

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
BREAKOUT = "</script><script>alert(2)</script>"
HOSTILE = (SCRIPT, IMG, BREAKOUT)

ONESHOT = 'the token " object"'
REFINED = 'the token " object" or "' + SCRIPT + '"'
METHOD = "chat-logprob"
BASELINE = '" object" (10), " objects" (6)'
"""The free builtin explanation of the triage."""
DISCARDED_REPEAT = "repeated the current explanation"
DISCARDED_HOSTILE = "unusable explanation (" + SCRIPT + ")"
"""Reasons of the reviser answers of 0/1 that gave no candidate (the explainer discarded one empty answer)."""
BACKEND = {"backend": "llm", "endpoint": "http://127.0.0.1:9/v1", "simulator": METHOD}
PARAMS = {"max_iters": 2, "epsilon": 0.01, "patience": 2, "target": None, "n_explanations": 2, "n_revisions": 1,
          "probes_per_generator": 1, "counterexamples": 8, "fresh_per_round": None, "seed": 0}

HELDOUT = [
    ActivationRecord(tokens=["The", " object", " is", " here", "\n"], activations=[0.0, 2.0, 0.1, -0.05, 0.0]),
    ActivationRecord(tokens=[SCRIPT, " and", IMG, " object"], activations=[0.3, 0.0, 0.0, 1.5]),
    ActivationRecord(tokens=[BREAKOUT, "\t", " done"], activations=[0.0, 0.0, 0.2]),
]


def _simulation(tokens: list[str], values: list[float] | None) -> RecordSimulation:
    if values is None:
        return RecordSimulation.failed(METHOD, tokens, "the reply had no logprobs for this record")
    return RecordSimulation(method=METHOD, tokens=tokens, expected=values)


def _call(purpose: str, user: str, response: str | None, latency: float, **extra: object) -> ModelCalled:
    return ModelCalled(purpose=purpose, model="gpt-4o-mini", layer=0, neuron=1,
                       messages=[{"role": "system", "content": "You predict things."}, {"role": "user", "content": user}],
                       response=response, prompt_tokens=120, completion_tokens=8, cost_usd=0.00002, latency_s=latency,
                       **extra)  # type: ignore[arg-type]


def _finished_neuron(run: Path) -> None:
    writer = TraceWriter(trace_path(run, 0, 1), 0, 1)
    base = writer.base()
    writer.emit(NeuronStarted(run=run.name, backend=BACKEND, params=PARAMS, **base))
    scores_dir, probes_dir = run / "scores" / "0" / "1", run / "probes" / "0" / "1"
    with writer.span("propose", 0):
        writer.emit(_call("explainer", "Explain these records: " + SCRIPT, ONESHOT, 0.5))
        writer.emit(ExplanationsProposed(source="explainer", explanations=[ONESHOT, "words about things"], **base))
        writer.emit(AnswersDiscarded(purpose="explainer", reasons=["empty answer"], **base))
    with writer.span("simulate", 0):
        writer.emit(_call("simulator", "Simulate: " + IMG, "0 10 0", 0.25, retries=1))
        for number, (text, score) in enumerate(((ONESHOT, 0.41), ("words about things", None))):
            writer.emit(Scored(explanation=text, split="valid", method=METHOD, score=score,
                               score_reason=None if score is not None else "simulated values are constant",
                               n_records=4, n_failed=0, per_record=[score, score], path=str(scores_dir / f"iter0-{number}.json"),
                               **base))
    with writer.span("score", 0):
        writer.emit(Decided(decision="adopted", reason="best of the one-shot candidates", explanation=ONESHOT, score=0.41,
                            best_score=0.41, **base))
    with writer.span("probe", 0):
        probes = [
            ProbeResult(generator="llm-should-fire", text="an object " + SCRIPT, token_ids=[1, 2, 3],
                        tokens=["an", " object", " " + SCRIPT], real=[0.0, 1.8, 0.0], predicted=[0.0, 10.0, 0.0], source="prober"),
            ProbeResult(generator="corpus-fresh", text="plain " + IMG, token_ids=[4, 5], tokens=["plain", " " + IMG],
                        real=[0.0, 1.2], predicted=[0.0, 0.0], source="excerpt 812"),
            ProbeResult(generator="corpus-fresh", text="broken", token_ids=[6], tokens=["broken"], real=[0.1],
                        predicted=None, simulation_error="reply was not JSON", source="excerpt 9"),
        ]
        batch = probes_dir / "iter1.jsonl"
        write_probe_batch(batch, probes)
        writer.emit(_call("prober", "Write probes for: " + ONESHOT, '{"should_fire": ["an object ' + BREAKOUT + '"]}', 1.0))
        for generator in ("corpus-fresh", "llm-should-fire"):
            group = [p for p in probes if p.generator == generator]
            writer.emit(ProbeBatch(generator=generator, n_texts=len(group), texts=[p.text for p in group], path=str(batch),
                                   max_real=max(max(p.real) for p in group), max_predicted=10.0, **base))
        found = [Counterexample(kind="false_negative", generator="corpus-fresh", text="plain " + IMG,
                                tokens=["plain", " " + IMG], real=[0.0, 1.2], predicted=[0.0, 0.0], offending=[1], error=6.0)]
        atomic_write_json(probes_dir / "iter1-counterexamples.json", [c.model_dump() for c in found])
        writer.emit(CounterexamplesFound(explanation=ONESHOT, items=found, **base))
    with writer.span("revise", 1):
        writer.emit(_call("reviser", "Revise: " + IMG, REFINED, 0.75))
        writer.emit(ExplanationsProposed(source="reviser", explanations=[REFINED], **base))
        writer.emit(AnswersDiscarded(purpose="reviser", reasons=[DISCARDED_REPEAT, DISCARDED_HOSTILE, DISCARDED_REPEAT], **base))
    with writer.span("simulate", 1):
        writer.emit(Scored(explanation=REFINED, split="valid", method=METHOD, score=0.58, n_records=4, n_failed=1,
                           per_record=[0.6, None], path=str(scores_dir / "iter1-0.json"), **base))
    with writer.span("score", 1):
        writer.emit(Decided(decision="adopted", reason="selection score up by 0.1700", explanation=REFINED, score=0.58,
                            best_score=0.58, **base))
        writer.emit(Decided(decision="max_iters", reason="1 probe-and-revise rounds done", explanation=REFINED, best_score=0.58,
                            **base))
    with writer.span("finalize", 1):
        writer.emit(_call("simulator", "Simulate held-out: " + BREAKOUT, None, 0.5, error="HTTP 503: overloaded"))
        results, scores = {}, {}
        for role, text, values in (
            ("refined", REFINED, [[0.0, 9.0, 1.0, 0.0, 0.0], [8.0, 0.0, 1.0, 9.0], None]),
            ("oneshot", ONESHOT, [[0.0, 10.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 10.0], [0.0, 0.0, 1.0]]),
        ):
            sims = [_simulation(r.tokens, v) for r, v in zip(HELDOUT, values, strict=True)]
            score = score_simulations(text, HELDOUT, sims, "test", METHOD)
            score.ci = (0.2, 0.9) if role == "refined" else (0.1, 0.8)
            path = scores_dir / f"heldout-{role}.json"
            atomic_write_text(path, score.model_dump_json())
            writer.emit(Scored(explanation=text, split="test", method=METHOD, score=score.score, ci=score.ci,
                               n_records=score.n_records, n_failed=score.n_failed, per_record=score.per_record, path=str(path),
                               **base))
            scorers = field_scores(score, 2, 2.0)
            if role == "refined":  # as `--judge llm` leaves it
                scorers.llm = LLMJudged(model="judge-model", detection=0.75, fuzzing=0.5, texts=3, calls=2, prompt_tokens=300,
                                        completion_tokens=20, cost_usd=0.0001)
            results[role], scores[role] = HeldoutResult.of(score, scorers), score
        final = Finalized(status="ok", stop="max_iters", method=METHOD, oneshot=results["oneshot"], refined=results["refined"],
                          iterations=1, probes=3, counterexamples=1, tokens=640, cost_usd=0.0001, seconds=4.2,
                          paired=PairedGain.of(scores["oneshot"], scores["refined"]), baseline=_baseline(run, 0, 1),
                          output=_output_side(), **base)
        writer.emit(final)
    summary = json.loads(final.model_dump_json()) | {"error": None, "stop_reason": "1 probe-and-revise rounds done"}
    atomic_write_json(run / "results" / "0" / "1.json", summary, indent=2)
    writer.close()


def _output_side() -> OutputSide:
    def tokens(*pairs: tuple[str, float]) -> list[TokenValue]:
        return [TokenValue(token=t, value=v) for t, v in pairs]

    vocab = VocabProjection(promoted=tokens((" src", 0.31), ("=", 0.2)), suppressed=tokens((" the", -0.25)),
                            promoted_normed=tokens((" src", 0.52), (" alt", 0.4)), suppressed_normed=tokens((" the", -0.3)))
    changes = {key: TokenChange(factor=factor, loss_clean=3.2, loss_changed=3.2 + delta, delta_loss=delta,
                                risen=tokens(("=", abs(delta) / 10)), fallen=tokens((" src", -abs(delta) / 10)), positions=40)
               for key, factor, delta in (("zeroed", 0.0, 0.0125), ("doubled", 2.0, -0.008))}
    return OutputSide(vocab=vocab, changes=changes, records=5, seconds=1.5)


def _failed_neuron(run: Path) -> None:
    writer = TraceWriter(trace_path(run, 0, 2), 0, 2)
    base = writer.base()
    writer.emit(NeuronStarted(run=run.name, backend=BACKEND, params=PARAMS, **base))
    reason = "no explanation: the endpoint answered 401 " + IMG
    with writer.span("propose", 0):
        writer.emit(Decided(decision="failed", reason=reason, **base))
    with writer.span("finalize", 0):
        final = Finalized(status="failed", stop="failed", method=METHOD, oneshot=None, refined=None, iterations=0, probes=0,
                          counterexamples=0, tokens=0, cost_usd=0.0, seconds=0.3, **base)
        writer.emit(final)
    atomic_write_json(run / "results" / "0" / "2.json", json.loads(final.model_dump_json()) | {"error": reason, "stop_reason": reason})
    writer.close()


def _baseline(run: Path, layer: int, neuron: int) -> BaselineResult:
    """The triage's free explanation, with its held-out simulations written where the triage writes them."""
    sims = [RecordSimulation(method="builtin-lexical", tokens=r.tokens, expected=[10.0 if t == " object" else 0.0 for t in r.tokens])
            for r in HELDOUT]
    score = score_simulations(BASELINE, HELDOUT, sims, "test", "builtin-lexical")
    path = run / "scores" / str(layer) / str(neuron) / "baseline-heldout.json"
    atomic_write_text(path, score.model_dump_json())
    return BaselineResult(explanation=BASELINE, method="builtin-lexical", selection_score=0.35, heldout_score=score.score,
                          heldout_ci=(0.1, 0.7), path=str(path))


def _degraded_neuron(run: Path) -> None:
    writer = TraceWriter(trace_path(run, 1, 8), 1, 8)
    base = writer.base()
    writer.emit(NeuronStarted(run=run.name, backend=BACKEND, params=PARAMS, **base))
    with writer.span("propose", 0):
        writer.emit(ExplanationsProposed(source="explainer", explanations=[ONESHOT], **base))
    with writer.span("simulate", 0):
        writer.emit(Scored(explanation=ONESHOT, split="valid", method=METHOD, score=0.3, n_records=4, n_failed=0,
                           per_record=[0.3, 0.3], **base))
    with writer.span("score", 0):
        writer.emit(Decided(decision="adopted", reason="best of the one-shot candidates", explanation=ONESHOT, score=0.3,
                            best_score=0.3, **base))
    probe_failure = "unreadable probe answer: no JSON object in the answer " + SCRIPT
    revise_failure = "no usable reviser answer from 1 samples: HTTP 500: internal error"
    with writer.span("probe", 1):
        writer.emit(StepFailed(step="probe", reason=probe_failure, **base))
    reason = f"revision failed in round 1: {revise_failure}"
    with writer.span("revise", 1):
        writer.emit(StepFailed(step="revise", reason=revise_failure, **base))
        writer.emit(Decided(decision="error", reason=reason, explanation=ONESHOT, best_score=0.3, **base))
    with writer.span("finalize", 1):
        # A weak reading: the values had a median of 0.4% of the simulator's probability at each slot.
        sims = [_simulation(r.tokens, [0.0] * (len(r.tokens) - 1) + [10.0]).model_copy(update={"value_mass": 0.004})
                for r in HELDOUT]
        score = score_simulations(ONESHOT, HELDOUT, sims, "test", METHOD)
        path = run / "scores" / "1" / "8" / "heldout-refined.json"
        atomic_write_text(path, score.model_dump_json())
        writer.emit(Scored(explanation=ONESHOT, split="test", method=METHOD, score=score.score, n_records=score.n_records,
                           n_failed=score.n_failed, per_record=score.per_record, path=str(path), **base))
        held = HeldoutResult.of(score)
        problems = [f"probe writing failed in round 1: {probe_failure}", reason]
        final = Finalized(status="degraded", stop="error", method=METHOD, oneshot=held, refined=held, iterations=1, probes=0,
                          counterexamples=0, tokens=300, cost_usd=0.00005, seconds=2.0, problems=problems,
                          paired=PairedGain.of(score, score), **base)
        writer.emit(final)
    atomic_write_json(run / "results" / "1" / "8.json", json.loads(final.model_dump_json()) | {"error": None, "stop_reason": reason})
    writer.close()


def _skipped_neuron(run: Path) -> None:
    writer = TraceWriter(trace_path(run, 2, 3), 2, 3)
    base = writer.base()
    writer.emit(NeuronStarted(run=run.name, backend=BACKEND, params=PARAMS, **base))
    reason = "the free builtin explanation scores 0.812 on the selection split, at or above the target 0.8: finished without an LLM"
    with writer.span("propose", 0):
        writer.emit(Decided(decision="skipped", reason=reason, **base))
    with writer.span("finalize", 0):
        final = Finalized(status="skipped", stop="skipped", method=METHOD, oneshot=None, refined=None, iterations=0, probes=0,
                          counterexamples=0, tokens=0, cost_usd=0.0, seconds=0.1, baseline=_baseline(run, 2, 3), **base)
        writer.emit(final)
    atomic_write_json(run / "results" / "2" / "3.json", json.loads(final.model_dump_json()) | {"error": None, "stop_reason": reason})
    writer.close()


def _running_neuron(run: Path) -> None:
    writer = TraceWriter(trace_path(run, 1, 7), 1, 7)
    base = writer.base()
    writer.emit(NeuronStarted(run=run.name, backend=BACKEND, params=PARAMS, **base))
    with writer.span("propose", 0):
        writer.emit(ModelCalled(purpose="explainer", model="gpt-4o-mini", messages=[{"role": "user", "content": "explain"}],
                                response=SCRIPT, prompt_tokens=50, completion_tokens=5, cost_usd=0.00001, latency_s=0.4, **base))
        writer.emit(ExplanationsProposed(source="explainer", explanations=[SCRIPT], **base))
    # The simulate step is under way: started, not ended.
    writer.emit(SpanStarted(node="simulate", span_id="open0", iteration=0, **base))
    writer.close()


def write_fixture_run(runs_dir: Path, name: str = "fixture") -> Path:
    run = runs_dir / name
    run.mkdir(parents=True)
    atomic_write_json(run / "config.json", {"settings": {"model": "tiny-llama", "corpus": SCRIPT, "run": name},
                                            "backend": "llm", "params": PARAMS}, indent=2)
    atomic_write_json(run / "ledger.json", {
        "paid": {"total": {"calls": 6, "prompt_tokens": 670, "completion_tokens": 45, "cost_usd": 0.00011},
                 "by_purpose": {"explainer": {"calls": 2, "prompt_tokens": 170, "completion_tokens": 13, "cost_usd": 0.00003},
                                "simulator": {"calls": 2, "prompt_tokens": 240, "completion_tokens": 16, "cost_usd": 0.00004}},
                 "by_model": {"gpt-4o-mini": {"calls": 6, "prompt_tokens": 670, "completion_tokens": 45, "cost_usd": 0.00011}}},
    }, indent=2)
    _finished_neuron(run)
    _failed_neuron(run)
    _running_neuron(run)
    _degraded_neuron(run)
    _skipped_neuron(run)
    return run
