"""The refinement graph's nodes: thin steps that call `tools/` and return state updates.

Each node runs in a trace span and under its own call-journal scope (neuron, node, iteration), so
a node re-run after a kill replays its completed LLM calls from the journal instead of paying
again. A budget that would be crossed by the next call stops the loop at the node it happens in.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import numpy as np
from langgraph.runtime import Runtime

from graphs.context import NeuronContext
from graphs.policy import decide, heldout_problems, should_stop
from graphs.state import Candidate, RefineState, Round
from graphs.trace import (
    BaselineResult,
    CandidateJudged,
    CounterexamplesFound,
    Decided,
    ExplanationsProposed,
    Finalized,
    HeldoutResult,
    NeuronStatus,
    PairedGain,
    ProbeBatch,
    Scored,
    StepFailed,
)
from tools.compare import outpaced
from tools.evaluate import ExplanationScore, score_explanation
from tools.explainers.base import NoExplanationError, UnchangedExplanation, word_count
from tools.formats.openai import ActivationRecord, NeuronId, NeuronSimulationResults
from tools.llm.budget import BudgetExhausted
from tools.llm.protocol import LLMError
from tools.probes import generators
from tools.probes.counterexamples import top_counterexamples
from tools.probes.llm_prober import UnreadableProbeAnswer
from tools.probes.pool import NeuronPool, SelectionSet, enlarged_selection, pool_records, top_like
from tools.probes.runner import run_probes, simulate_known
from tools.probes.types import Generator, ProbeRequest, ProbeResult, ProbeText
from tools.revisers.base import ProbeFindings, RevisionContext
from tools.revisers.ranking import SHOWN_RECORDS, rank_by_error
from tools.science.normalize import normalize_records
from tools.scorers import FieldScores, field_scores, with_llm_judge
from tools.simulators.base import gather_all, is_free
from tools.subject.output_side import OutputSide, ablation_windows

CONTINUATION_TOKENS = 16

class Node(Protocol):
    """A graph node; a Protocol, not a Callable alias, so LangGraph sees its `runtime` parameter by name."""

    def __call__(self, state: RefineState, runtime: Runtime[NeuronContext]) -> Awaitable[dict[str, Any]]: ...


def traced(name: str) -> Callable[[Node], Node]:
    """Run the node in a trace span and journal scope; a crossed budget becomes `stop="budget"`."""

    def wrap(fn: Node) -> Node:
        @functools.wraps(fn)
        async def node(state: RefineState, runtime: Runtime[NeuronContext]) -> dict[str, Any]:
            ctx = runtime.context
            iteration = state.get("iteration", 0)
            if ctx.journal is not None:
                ctx.journal.set_scope(f"{ctx.data.layer}/{ctx.data.neuron}/{name}/{iteration}")
            started = time.monotonic()
            with ctx.trace.span(name, iteration):
                try:
                    if ctx.budget is not None and name != "finalize":
                        await ctx.budget.check_time()
                    update = await fn(state, runtime)
                except BudgetExhausted as err:
                    if err.scope == "global":
                        raise  # the sweep is out of budget: leave the neuron resumable where it stands
                    ctx.trace.emit(Decided(decision="budget", reason=str(err), **ctx.trace.base()))
                    update = {"stop": "budget", "stop_reason": str(err), "pending": [], "scored": []}
            # Active seconds survive a resume, so a wall-time budget counts work, not downtime.
            return update | {"seconds": state.get("seconds", 0.0) + time.monotonic() - started}

        return node

    return wrap


@traced("propose")
async def propose(state: RefineState, runtime: Runtime[NeuronContext]) -> dict[str, Any]:
    ctx = runtime.context
    if state.get("skip_reason"):
        reason = state["skip_reason"]
        ctx.trace.emit(Decided(decision="skipped", reason=reason, **ctx.trace.base()))
        return {"iteration": 0, "stop": "skipped", "stop_reason": reason}
    if state.get("seed_explanation"):
        texts = [state["seed_explanation"]]
        ctx.trace.emit(ExplanationsProposed(source="explainer", explanations=texts, **ctx.trace.base()))
        return {"iteration": 0, "pending": texts, "scored": []}
    try:
        texts = await ctx.explainer.explain(ctx.data.train(), ctx.params.n_explanations)
    except (NoExplanationError, LLMError) as err:
        ctx.trace.emit(StepFailed(step="explain", reason=str(err), **ctx.trace.base()))
        ctx.trace.emit(Decided(decision="failed", reason=f"no explanation: {err}", **ctx.trace.base()))
        return {"stop": "failed", "stop_reason": f"no explanation: {err}"}
    ctx.trace.emit(ExplanationsProposed(source="explainer", explanations=texts, words=[word_count(t) for t in texts],
                                        **ctx.trace.base()))
    return {"iteration": 0, "pending": texts, "scored": []}


@traced("simulate")
async def simulate(state: RefineState, runtime: Runtime[NeuronContext]) -> dict[str, Any]:
    """Score the pending candidates: the one-shot ones on the selection split (raced when simulating costs a call);
    revisions on the valid split alone (the loop learns from the calibration split), enlarged with fresh pool
    excerpts when the simulator is free.
    The incumbent is rescored on a new set of records once, so candidates and incumbent share their records."""
    ctx = runtime.context
    iteration = state.get("iteration", 0)
    selection = await _selection_set(ctx, refining=iteration > 0)
    scored: list[Candidate] = []
    pending = state.get("pending", [])
    answers = state.get("pending_answers") or [[] for _ in pending]
    spent_before = (ctx.budget.spent_usd, ctx.budget.spent_tokens) if ctx.budget else (0.0, 0)
    started = time.monotonic()
    raced = iteration == 0 and len(pending) > 2 and not is_free(ctx.simulator.method)
    dropped = await _race(ctx, pending) if raced else set()
    for number, text in enumerate(pending):
        if number in dropped:
            continue
        result, path = await _score_selection(ctx, text, selection, f"iter{iteration}-{number}")
        scored.append(Candidate(explanation=text, score=result.score, iteration=iteration, path=path, words=word_count(text),
                                records=selection.key, answers=answers[number]))
    update: dict[str, Any] = {"pending": [], "pending_answers": [], "scored": scored}
    best = state.get("best")
    if best is not None and best.get("records", "selection") != selection.key:
        result, path = await _score_selection(ctx, best["explanation"], selection, f"iter{iteration}-incumbent")
        update["best"] = best | {"score": result.score, "path": path, "records": selection.key}
    if iteration == 0 and ctx.budget is not None and pending and "final_reserve" not in state:
        # Keep back what scoring two explanations on the held-out split will cost in money, tokens and
        # wall time (it is about the size of the selection split), with a margin, so finalize can always
        # run. An LLM judge reads the same texts once more for each (detection and fuzzing, 5 texts a
        # prompt): at most about one more held-out simulation each. A candidate dropped in the race
        # read half the selection split.
        whole = len(pending) - len(dropped) / 2
        usd = (ctx.budget.spent_usd - spent_before[0]) / whole
        tokens = (ctx.budget.spent_tokens - spent_before[1]) / whole
        seconds = (time.monotonic() - started) / whole
        margin = 3.5 if ctx.judge is not None else 2.5
        reserve = (margin * usd, int(margin * tokens), round(margin * seconds, 3))
        ctx.budget.final_reserve.usd, ctx.budget.final_reserve.tokens, ctx.budget.final_seconds = reserve
        update["final_reserve"] = reserve
    return update


async def _race(ctx: NeuronContext, pending: list[str]) -> set[int]:
    """With a simulator that costs a call per record, the one-shot candidates are first simulated on the valid
    split (half the selection records); those its leader beats with the adoption confidence go no further,
    and the calibration records are simulated for the others only. Returns the numbers of the dropped."""
    top, rand = ctx.data.judging_parts()
    valid = SelectionSet(top + rand, None, [0] * len(top) + [1] * len(rand), "valid")
    results = [(await _score_selection(ctx, text, valid, f"iter0-{number}-valid"))[0] for number, text in enumerate(pending)]
    beaten = outpaced(results, ctx.params.adopt_confidence, seed=ctx.params.seed)
    for number, verdict in beaten.items():
        delta = None if verdict.delta is None else -verdict.delta
        p_better = None if verdict.p_better is None else round(1.0 - verdict.p_better, 4)
        ctx.trace.emit(CandidateJudged(
            explanation=pending[number], words=word_count(pending[number]), score=verdict.incumbent_score, adopted=False,
            reason=f"dropped after the valid split ({verdict.n_records} records), not simulated on the calibration split: "
                   f"the leader there beats it ({verdict.reason})", delta=delta, p_better=p_better,
            failed_records=results[number].n_failed, **ctx.trace.base()))
    return set(beaten)


async def _neuron_pool(ctx: NeuronContext) -> NeuronPool | None:
    if ctx.pool is None:
        return None
    if "pool" not in ctx.cache:
        excluded = ctx.record_excerpts | ctx.data.heldout_excerpts()
        ctx.cache["pool"] = await ctx.pool.neuron(ctx.data.layer, ctx.data.neuron, excluded, ctx.params.selection_pool)
    pool: NeuronPool = ctx.cache["pool"]
    return pool


async def _selection_set(ctx: NeuronContext, refining: bool) -> SelectionSet:
    if not refining:
        top, rand = ctx.data.selection_parts()
        return SelectionSet(top + rand, None, [0] * len(top) + [1] * len(rand), "selection")
    top, rand = ctx.data.judging_parts()
    if not ctx.params.enlarged_selection(ctx.simulator.method):
        return SelectionSet(top + rand, None, [0] * len(top) + [1] * len(rand), "valid")
    if "valid+pool" not in ctx.cache:
        pool = await _neuron_pool(ctx)
        extra = pool_records(pool, pool.selection, ctx.service.subject.token_strings) if pool is not None else []
        reach = top_like(pool.activations[pool.selection], ctx.data.top_threshold).tolist() if pool is not None else []
        ctx.cache["valid+pool"] = enlarged_selection(top, rand, extra, reach, "valid+pool")
    chosen: SelectionSet = ctx.cache["valid+pool"]
    return chosen


async def _score_selection(ctx: NeuronContext, text: str, selection: SelectionSet, name: str) -> tuple[ExplanationScore, str]:
    result = await score_explanation(text, selection.records, ctx.simulator, "valid", weights=selection.weights,
                                     strata=selection.strata)
    path = ctx.files.write_score(name, result)
    ctx.trace.emit(_scored_event(result, path, ctx))
    return result, path


def _scored_event(result: ExplanationScore, path: str | None, ctx: NeuronContext) -> Scored:
    return Scored(
        explanation=result.explanation, split=result.split, method=result.method, score=result.score,
        score_reason=result.score_reason, ci=result.ci, n_records=result.n_records, n_failed=result.n_failed,
        per_record=result.per_record, path=path, **ctx.trace.base(),
    )


@traced("score")
async def score(state: RefineState, runtime: Runtime[NeuronContext]) -> dict[str, Any]:
    """Adopt the round's best candidate if it beats the incumbent beyond noise; decide whether the loop goes on."""
    ctx = runtime.context
    iteration = state.get("iteration", 0)
    scored = state.get("scored", [])
    best = state.get("best")
    results = [_read_score(ctx, c["path"]) for c in scored]
    best_result = _read_score(ctx, best["path"]) if iteration > 0 and best is not None and best.get("path") else None
    d = decide(best, best_result, scored, results, iteration, state.get("stale_rounds", 0), ctx.params)
    answers = {c["explanation"]: c.get("answers", []) for c in scored}
    for v in d.verdicts:
        ctx.trace.emit(CandidateJudged(explanation=v.explanation, words=word_count(v.explanation), score=v.score,
                                       adopted=v.adopted, reason=v.reason, delta=v.delta, p_better=v.p_better,
                                       failed_records=v.failed_records, answers=answers.get(v.explanation, []),
                                       **ctx.trace.base()))
    best_score = d.best["score"] if d.best else None
    ctx.trace.emit(Decided(decision=d.decision, reason=d.reason, explanation=d.top["explanation"] if d.top else None,
                           score=d.top["score"] if d.top else None, best_score=best_score, **ctx.trace.base()))
    update: dict[str, Any] = {"scored": [], "best": d.best, "stale_rounds": d.stale_rounds, "rounds": [
        *state.get("rounds", []),
        Round(iteration=iteration, source="explainer" if iteration == 0 else "reviser", candidates=scored,
              decision=d.decision, reason=d.reason, best_score=best_score, counterexamples=state.get("counterexamples_found", 0)),
    ]}
    if iteration == 0:
        update["oneshot"] = d.top
    if d.decision == "failed":
        return update | {"stop": "failed", "stop_reason": d.reason}
    stop, stop_reason = should_stop(d.best, iteration, d.stale_rounds, ctx.params)
    if stop is not None:
        ctx.trace.emit(Decided(decision=stop, reason=stop_reason, explanation=d.best["explanation"] if d.best else None,
                               best_score=best_score, **ctx.trace.base()))
        update |= {"stop": stop, "stop_reason": stop_reason}
    return update


def _read_score(ctx: NeuronContext, path: str | None) -> ExplanationScore:
    if path is None:
        raise ValueError("a scored candidate has no simulation file")
    return ctx.files.read_score(path)


@traced("probe")
async def probe(state: RefineState, runtime: Runtime[NeuronContext]) -> dict[str, Any]:
    ctx = runtime.context
    data = ctx.data
    iteration = state.get("iteration", 0) + 1
    best = state.get("best")
    assert best is not None
    explanation = best["explanation"]
    k = ctx.params.probes_per_generator
    excluded = data.heldout_excerpts() | ctx.record_excerpts | set(state.get("used_excerpts", []))
    src = ctx.probe_material.sources(excluded, np.random.default_rng([ctx.params.seed, data.layer, data.neuron, iteration]))
    train = sorted(data.train(), key=lambda r: -max(r.activations))
    # Generators that draw from `src` run first, in a fixed order (their texts depend on its random
    # state); the LLM's probes, the pool and the subject's continuations then run together, so the
    # subject's sampling waits behind the LLM's round-trip instead of after it.
    own = generators.builtin_targeted(explanation, src, k) + generators.record_edits(train, src, k, offset=(iteration - 1) * k)
    fresh = ctx.params.fresh_excerpts(k, ctx.simulator.method)
    if ctx.pool is None:
        own += generators.fresh_corpus(explanation, src, fresh)
    # Sampling is the slowest probe (a full forward per new token): half as many.
    prompts = generators.continuation_prompts(train, src, (k + 1) // 2, offset=(iteration - 1) * k)
    jobs: list[Awaitable[Any]] = [_written_probes(ctx, explanation, train, k, iteration), _neuron_pool(ctx),
                                  gather_all(ctx.service.generate(prefix, CONTINUATION_TOKENS, temperature=1.0, seed=seed)
                                             for prefix, seed, _ in prompts)]
    (written, problems), pool, continuations = await gather_all(jobs)
    texts: list[ProbeText] = [*written, *own]
    for (prefix, _, source), more in zip(prompts, continuations, strict=True):
        if more is not None:
            texts.append(src.probe("subject-continuation", prefix + more, source))
    batches = [run_probes(texts, ctx.service, data.layer, data.neuron, ctx.simulator, explanation)]
    if pool is not None:
        # Fresh text the pool already read through the subject: this round's share of it, simulated in
        # the same LLM round-trip as the probe texts.
        revealed = pool.evidence[(iteration - 1) * fresh : iteration * fresh]
        batches.append(simulate_known(pool_records(pool, revealed, ctx.service.subject.token_strings), "corpus-fresh",
                                      ctx.simulator, explanation))
    results = [result for batch in await gather_all(batches) for result in batch]
    found = top_counterexamples(results, data.max_activation, ctx.params.counterexamples)
    # What the reviser wants tested on new text before a revision may rest on it (the builtin reviser's gates).
    findings = ProbeFindings(counterexamples=found, train=train, evidence=data.evidence(),
                             probes=[*ctx.files.read_probes(state.get("probe_files", [])), *results],
                             mixture=_mixture(ctx), top_threshold=data.top_threshold)
    tests = ctx.reviser.test_probes(findings, src, k)
    if tests:
        results += await run_probes(tests, ctx.service, data.layer, data.neuron, ctx.simulator, explanation)
    batch_path = ctx.files.write_probes(iteration, results)
    _trace_batches(ctx, results, batch_path)
    cx_path = ctx.files.write_counterexamples(iteration, found)
    ctx.trace.emit(CounterexamplesFound(explanation=explanation, items=found, **ctx.trace.base()))
    return {
        "iteration": iteration,
        "probes_run": state.get("probes_run", 0) + len(results),
        "counterexamples_found": state.get("counterexamples_found", 0) + len(found),
        "probe_files": list(state.get("probe_files", [])) + [batch_path],
        "counterexample_file": cx_path,
        "used_excerpts": sorted(set(state.get("used_excerpts", [])) | src.used),
        "problems": [*state.get("problems", []), *problems],
    }


def _trace_batches(ctx: NeuronContext, results: list[ProbeResult], path: str) -> None:
    """One `probe_batch` event per generator."""
    for generator in sorted({r.generator for r in results}):
        group = [r for r in results if r.generator == generator]
        ctx.trace.emit(ProbeBatch(
            generator=generator, n_texts=len(group), texts=[r.text for r in group], path=path,
            max_real=max((max(r.real, default=0.0) for r in group), default=0.0),
            max_predicted=max((max(r.predicted or [0.0], default=0.0) for r in group), default=0.0), **ctx.trace.base(),
        ))


async def _written_probes(ctx: NeuronContext, explanation: str, train: list[ActivationRecord], k: int,
                          iteration: int) -> tuple[list[ProbeText], list[str]]:
    """The LLM prober's texts and the problems met writing them: a failing prober is a trace event and
    a problem (the neuron ends degraded, with this reason), and the other generators still probe."""
    if ctx.prober is None:
        return [], []
    try:
        return await _llm_probes(ctx, explanation, train, k), []
    except (LLMError, UnreadableProbeAnswer) as err:
        ctx.trace.emit(StepFailed(step="probe", reason=str(err), **ctx.trace.base()))
        return [], [f"probe writing failed in round {iteration}: {err}"]


async def _llm_probes(ctx: NeuronContext, explanation: str, train: list[ActivationRecord], k: int) -> list[ProbeText]:
    assert ctx.prober is not None
    examples = [(r.tokens, q) for r, q in zip(train[:2], normalize_records([r.activations for r in train[:2]]), strict=True)]
    written = await ctx.prober.write(ProbeRequest(explanation=explanation, examples=examples, per_kind=k))
    kinds: dict[str, Generator] = {"should_fire": "llm-should-fire", "should_not_fire": "llm-should-not-fire",
                                   "near_miss": "llm-near-miss"}
    out = []
    for key, generator in kinds.items():
        for text in written.get(key, [])[:k]:
            tok = ctx.service.subject.tokenize([text])[0]
            if tok.ids:
                out.append(ProbeText(generator=generator, text=text, token_ids=tok.ids[:96], tokens=tok.tokens[:96], source="prober"))
    return out


@traced("revise")
async def revise(state: RefineState, runtime: Runtime[NeuronContext]) -> dict[str, Any]:
    ctx = runtime.context
    best = state.get("best")
    assert best is not None
    # The records the reviser is shown come from the evidence split, never from the records that judge it.
    evidence = ctx.data.evidence()
    scored = await _evidence_score(ctx, best["explanation"], evidence)
    # Records where the neuron is active, by how far the predictions miss them (tools/revisers/ranking.py):
    # the worst ones shown with their predictions, the best ones (never the same) as what to keep.
    ranked = rank_by_error(scored, ctx.data.max_activation)
    worst = ranked[:SHOWN_RECORDS]
    well = [i for i in reversed(ranked) if i not in worst][:SHOWN_RECORDS]
    cx_file = state.get("counterexample_file")
    counterexamples = ctx.files.read_counterexamples(cx_file) if cx_file else []
    history = [(c["explanation"], c["score"]) for r in state.get("rounds", []) for c in r["candidates"]]
    context = RevisionContext(
        explanation=best["explanation"], score=best["score"], best_records=[evidence[i] for i in well],
        worst_records=[evidence[i] for i in worst], worst_predictions=[scored.simulations[i].expected or [] for i in worst],
        counterexamples=counterexamples, train=ctx.data.train(),
        evidence=evidence, probes=ctx.files.read_probes(state.get("probe_files", [])), max_activation=ctx.data.max_activation,
        history=history, mixture=_mixture(ctx), top_threshold=ctx.data.top_threshold,
    )
    try:
        revisions = await ctx.reviser.revise(context, ctx.params.n_revisions)
    except UnchangedExplanation:
        revisions = []  # the reviser answered and keeps the explanation as it is: a round with nothing new
    except (NoExplanationError, LLMError) as err:
        # Not an empty round: that would count as "no improvement" and end as converged. The loop
        # stops here (another round would pay for probes no revision can use) and ends degraded.
        reason = f"revision failed in round {state.get('iteration', 0)}: {err}"
        ctx.trace.emit(StepFailed(step="revise", reason=str(err), **ctx.trace.base()))
        ctx.trace.emit(Decided(decision="error", reason=reason, explanation=best["explanation"], best_score=best["score"],
                               **ctx.trace.base()))
        return {"pending": [], "scored": [], "stop": "error", "stop_reason": reason,
                "problems": [*state.get("problems", []), reason]}
    texts = [r.text for r in revisions]
    ctx.trace.emit(ExplanationsProposed(source="reviser", explanations=texts, words=[word_count(t) for t in texts],
                                        answers=[r.answers for r in revisions], notes=[r.note for r in revisions],
                                        **ctx.trace.base()))
    return {"pending": texts, "pending_answers": [r.answers for r in revisions], "scored": []}


async def _evidence_score(ctx: NeuronContext, explanation: str, evidence: list[ActivationRecord]) -> ExplanationScore:
    """The explanation simulated on the evidence split, kept on disk: an incumbent is simulated there once."""
    kept = ctx.files.evidence_score(explanation)
    if kept is not None:
        return kept
    result = await score_explanation(explanation, evidence, ctx.simulator, "calibration")
    ctx.files.keep_evidence_score(explanation, result)
    return result


def _mixture(ctx: NeuronContext) -> dict[str, float]:
    """How many top and random records the explanation is judged on (the selection split's counts)."""
    top, rand = ctx.data.selection_parts()
    return {"top": float(len(top)), "random": float(len(rand))}


@traced("finalize")
async def finalize(state: RefineState, runtime: Runtime[NeuronContext]) -> dict[str, Any]:
    """Score the best and the one-shot explanation on the held-out split, which nothing before touched,
    and compare them on the records both simulations read."""
    ctx = runtime.context
    data = ctx.data
    if ctx.budgeted is not None:
        ctx.budgeted.final_phase = True
    best, oneshot = state.get("best"), state.get("oneshot")
    stop = state.get("stop") or "converged"
    baseline = BaselineResult.model_validate(state["baseline"]) if state.get("baseline") else None
    results: dict[str, HeldoutResult | None] = {"oneshot": None, "refined": None}
    paired: PairedGain | None = None
    exported: list[ExplanationScore] = []
    scoring_problems: list[str] = []
    error = state.get("stop_reason") if stop == "failed" or (best is None and stop != "skipped") else None
    if best is not None and oneshot is not None and stop != "failed":
        heldout = data.final_heldout()
        try:
            # Both at once: one LLM round-trip, not two.
            texts = list(dict.fromkeys([best["explanation"], oneshot["explanation"]]))
            scored = await gather_all(score_explanation(text, heldout, ctx.simulator, "test", with_ci=True, seed=ctx.params.seed)
                                      for text in texts)
            refined, first = scored[0], scored[-1]
        except BudgetExhausted as err:
            if err.scope == "global":
                raise
            error = f"budget exhausted during held-out scoring: {err}"
        else:
            for name, result in (("refined", refined), ("oneshot", first)):
                # The full held-out simulations, so reports can show real vs simulated per token.
                path = ctx.files.write_score(f"heldout-{name}", result)
                ctx.trace.emit(_scored_event(result, path, ctx))
                results[name] = HeldoutResult.of(result, await _field_scores(ctx, result, name, scoring_problems))
            paired = PairedGain.of(first, refined)
            exported = [refined] + ([first] if first is not refined else [])
            error, found = heldout_problems(refined, first)
            scoring_problems += found
    elif stop == "skipped" and baseline is not None and baseline.path:
        # Finished by the free triage: its explanation is the neuron's, exported like any other.
        exported = [ctx.files.read_score(baseline.path)]
    output = await _output_side(ctx) if ctx.params.output_side and stop != "failed" else None
    problems = [*state.get("problems", []), *scoring_problems]
    spend = ctx.budget
    final = Finalized(
        status=_status(stop, error, problems), stop=stop, method=ctx.simulator.method, oneshot=results["oneshot"],
        refined=results["refined"], iterations=state.get("iteration", 0), probes=state.get("probes_run", 0),
        counterexamples=state.get("counterexamples_found", 0), tokens=spend.spent_tokens if spend else 0,
        cost_usd=round(spend.spent_usd, 6) if spend else 0.0, seconds=round(spend.elapsed, 2) if spend else 0.0,
        problems=problems, paired=paired, baseline=baseline, output=output, **ctx.trace.base(),
    )
    ctx.trace.emit(final)
    summary = json.loads(final.model_dump_json()) | {"error": error, "stop_reason": state.get("stop_reason")}
    ctx.files.write_result(summary)
    if exported:
        ctx.files.write_explanations(NeuronSimulationResults(
            neuron_id=NeuronId(layer_index=data.layer, neuron_index=data.neuron),
            scored_explanations=[e.to_openai() for e in exported],
            # Our extra field (readers of the format ignore it): what the neuron does.
            **({"output_side": output.model_dump()} if output is not None else {}),
        ))
    return {"final": summary}


async def _field_scores(ctx: NeuronContext, result: ExplanationScore, name: str, problems: list[str]) -> FieldScores:
    """The field's scorers of a held-out score; with `--judge llm`, the LLM's detection and fuzzing beside the
    simulation's. A judge that did not answer (its endpoint, the neuron's budget) leaves a problem, no LLM score."""
    scores = field_scores(result, ctx.data.heldout_top_count, ctx.data.max_activation, ctx.params.seed)
    if ctx.judge is None:
        return scores
    try:
        return await with_llm_judge(scores, result, ctx.judge, ctx.params.seed)
    except (LLMError, BudgetExhausted) as err:
        if isinstance(err, BudgetExhausted) and err.scope == "global":
            raise
        problems.append(f"the LLM judge gave no detection or fuzzing for the {name} explanation: {err}")
        return scores


async def _output_side(ctx: NeuronContext) -> OutputSide | None:
    """What the neuron does to the output, read on its top records (not a score: no split is opened)."""
    tops = ctx.data.record.most_positive_activation_records
    windows = ablation_windows([(r.token_ids or [], r.activations) for r in tops])
    return await ctx.service.output_side(ctx.data.layer, ctx.data.neuron, windows) if windows else None


def _status(stop: str, error: str | None, problems: list[str]) -> NeuronStatus:
    if error is not None:
        return "failed"
    if stop == "skipped":
        return "skipped"
    return "degraded" if problems else "ok"

