"""Run the refinement graph for one neuron, resumably, with its trace, journal and budget wired in."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import structlog
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph

from agent.runstore import RunStore
from agent.traced_llm import TracedLLM
from graphs.context import NeuronContext, RefineParams
from graphs.refine import build_graph, recursion_limit
from graphs.state import RefineInput, RefineState
from graphs.trace import AnswersDiscarded, NeuronStarted, TraceEvent, TraceWriter, trace_path
from tools.builtin.explainer import BuiltinExplainer
from tools.builtin.reviser import BuiltinReviser
from tools.builtin.simulator import BuiltinSimulator
from tools.builtin.vocab import VocabIndex
from tools.explainers.base import Explainer
from tools.explainers.llm_explainer import LLMExplainer
from tools.llm.budget import Budget, BudgetedLLM, BudgetLimits, Estimator, ParentBudget
from tools.llm.journal import CallJournal, JournaledLLM
from tools.llm.protocol import LLM, LLMRequest, PromptScoreRequest, Purpose
from tools.probes.generators import ProbeMaterial
from tools.probes.llm_prober import LLMProber
from tools.probes.pool import CorpusPool
from tools.probes.types import Prober
from tools.records.neuron_data import NeuronData
from tools.records.store import RecordStore
from tools.revisers.base import Reviser
from tools.revisers.llm_reviser import LLMReviser
from tools.simulators.base import Simulator
from tools.simulators.memo import MemoizedSimulator
from tools.simulators.select import LLMSimulatorMethod, choose_llm_simulator
from tools.subject.service import ActivationService

log = structlog.get_logger(__name__)


RefineGraph = CompiledStateGraph[RefineState, NeuronContext, RefineInput, RefineState]


@dataclass
class RefineEnvironment:
    """What every neuron of a run shares."""

    run: RunStore
    store: RecordStore
    service: ActivationService
    excerpts: np.ndarray
    vocab: VocabIndex | None
    params: RefineParams
    checkpointer: BaseCheckpointSaver[str]
    journal: CallJournal
    backend_name: str
    backend_description: dict[str, Any]
    llm: LLM | None = None
    simulator_method: LLMSimulatorMethod | Literal["builtin"] = "auto"
    prompt_logprobs: bool = False
    estimator: Estimator | None = None
    records_per_split: int | None = None
    neuron_limits: BudgetLimits | None = None
    global_budget: ParentBudget | None = None
    command_limits: BudgetLimits | None = None
    """A one-neuron command's own budget (`refine`): folded into the neuron's limits instead of a
    parent, so it stops the loop and leaves room for the held-out score like a per-neuron budget."""
    on_event: Callable[[TraceEvent], None] | None = None
    models: dict[Purpose, str] = field(default_factory=dict)
    """The model answering each purpose's calls (empty for an injected LLM)."""
    endpoint: str | None = None
    """Who answers the calls: the endpoint's host, "local", or the injected model's type."""
    pool: CorpusPool | None = None
    graphs: dict[bool, RefineGraph] = field(default_factory=dict)
    """Compiled graphs by `stop_before_probe`: compiling inspects every node's source (~50 ms), once per run is enough."""


def thread_config(layer: int, neuron: int, params: RefineParams) -> RunnableConfig:
    return {"configurable": {"thread_id": f"{layer}/{neuron}"}, "recursion_limit": recursion_limit(params.max_iters)}


def call_identity(env: RefineEnvironment) -> Callable[[Purpose], str]:
    """Who answers a purpose's calls, as the journal and the simulation memo key them: model, endpoint
    host and, for simulations, the simulator method."""
    def identity(purpose: Purpose) -> str:
        method = f"/{env.simulator_method}" if purpose == "simulator" else ""
        return f"{env.models.get(purpose, '')}@{env.endpoint}{method}"

    return identity


def _neuron_budget(env: RefineEnvironment, layer: int, neuron: int, seconds_done: float) -> Budget:
    usd, tokens, calls = env.journal.spent(f"{layer}/{neuron}/")
    limits = env.neuron_limits or BudgetLimits()
    if env.command_limits is not None:
        # The command's budget counts what this command spends: on a resumed neuron, from here on.
        limits = limits.tightest(env.command_limits.after(usd, tokens, seconds_done))
    budget = Budget(limits, parent=env.global_budget)
    budget.spent_usd, budget.spent_tokens, budget.calls = usd, tokens, calls
    budget.started -= seconds_done
    return budget


async def refine_neuron(
    env: RefineEnvironment, layer: int, neuron: int, seed_explanation: str | None = None,
    stop_before_probe: bool = False, skip_reason: str | None = None, baseline: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The neuron's final summary: from the checkpoint if it already finished, else by (re)running the graph.

    `stop_before_probe` runs only the one-shot part, if it has not run yet, and returns the graph's
    state (it holds `oneshot`); `skip_reason` ends a neuron paused there without refining it (it is
    finalized as it stands, `skipped`), or a neuron not started yet without any LLM call (a triage
    found it explained for free). `baseline` (a `BaselineResult` as a dict) is that free explanation's
    scores, reported in the result next to the LLM's."""
    graph = env.graphs.get(stop_before_probe)
    if graph is None:
        graph = env.graphs[stop_before_probe] = build_graph().compile(
            checkpointer=env.checkpointer, interrupt_before=["probe"] if stop_before_probe else None)
    config = thread_config(layer, neuron, env.params)
    snapshot = await graph.aget_state(config)
    values: dict[str, Any] = snapshot.values or {}
    if stop_before_probe and ("oneshot" in values or values.get("final") is not None):
        # The one-shot part already ran (the neuron may be further on, or finished): its state is all
        # a sweep's one-shot pass needs, and the rest of the neuron waits for the refinement pass.
        return values
    if values.get("final") is not None and not snapshot.next:
        done: dict[str, Any] = values["final"]
        return done
    if skip_reason is not None and snapshot.next == ("probe",):
        await graph.aupdate_state(config, {"stop": "skipped", "stop_reason": skip_reason}, as_node="score")
        snapshot = await graph.aget_state(config)
    resumed = bool(values)
    data = NeuronData(layer, neuron, env.store.read(layer, neuron), env.records_per_split)
    trace = TraceWriter(trace_path(env.run.root, layer, neuron), layer, neuron, on_event=env.on_event)
    budget = _neuron_budget(env, layer, neuron, float(values.get("seconds", 0.0)))
    budget.final_reserve.usd, budget.final_reserve.tokens = values.get("final_reserve", (0.0, 0))
    journal = budgeted = None
    if env.llm is not None:
        budgeted = BudgetedLLM(env.llm, budget, env.estimator or (lambda r: (0.0, 0)))
        journal = JournaledLLM(budgeted, env.journal, f"{layer}/{neuron}", call_identity(env))
        chain: LLM = TracedLLM(journal, trace)
        words = env.params.max_explanation_words
        def discarded(purpose: Purpose, reasons: list[str]) -> None:
            trace.emit(AnswersDiscarded(purpose=purpose, reasons=reasons, **trace.base()))

        explainer: Explainer = LLMExplainer(chain, max_words=words, on_discarded=discarded)
        reviser: Reviser = LLMReviser(chain, max_words=words, on_discarded=discarded)
        prober: Prober | None = LLMProber(chain)
        if env.simulator_method == "builtin":
            assert env.vocab is not None
            simulator: Simulator = BuiltinSimulator(env.vocab)
        else:
            simulator = choose_llm_simulator(chain, env.simulator_method, prompt_logprobs_supported=env.prompt_logprobs)
    else:
        assert env.vocab is not None
        words = env.params.max_explanation_words
        explainer, reviser, prober = BuiltinExplainer(env.vocab, words), BuiltinReviser(env.vocab, words), None
        simulator = BuiltinSimulator(env.vocab)
    simulator = MemoizedSimulator(simulator, identity=call_identity(env)("simulator"))
    record = data.record
    record_excerpts = {r.excerpt_index for r in record.most_positive_activation_records + record.random_sample
                       if r.excerpt_index is not None}
    ctx = NeuronContext(
        data=data, explainer=explainer, simulator=simulator, reviser=reviser, prober=prober, service=env.service,
        probe_material=ProbeMaterial(env.service.subject, env.excerpts, env.vocab), trace=trace,
        files=env.run.neuron(layer, neuron), params=env.params, budget=budget, journal=journal, budgeted=budgeted,
        record_excerpts=record_excerpts, pool=env.pool,
    )
    with trace:  # the trace file stays open while the graph runs
        trace.emit(NeuronStarted(run=env.run.name, backend=env.backend_description | {"simulator": simulator.method},
                                 params=env.params.model_dump(), resumed=resumed, **trace.base()))
        log.info("refine_neuron", layer=layer, neuron=neuron, resumed=resumed)
        start: RefineInput = {"layer": layer, "neuron": neuron}
        if seed_explanation:
            start["seed_explanation"] = seed_explanation
        if skip_reason:
            start["skip_reason"] = skip_reason
        if baseline:
            start["baseline"] = baseline
        out: dict[str, Any] = await graph.ainvoke(None if snapshot.next else start, config, context=ctx, durability="sync")
    if stop_before_probe:
        return out
    final: dict[str, Any] = out["final"]
    return final


MESSAGE_OVERHEAD_TOKENS = 8
"""Tokens a chat format adds per message and to prime the reply (OpenAI counts 3 each; ChatML-style
templates about 5): 8 is above all of them."""


def prompt_tokens_bound(texts: Iterable[str]) -> int:
    """An upper bound of the tokens of `texts` as one prompt: their UTF-8 bytes, plus the chat format's
    overhead. Every byte-level BPE tokenizer (GPT-2, OpenAI's cl100k/o200k, Llama 3, Qwen, SmolLM2) and
    every SentencePiece one with byte fallback spends at least one byte per token, so no tokenizer of
    these families counts more. Characters / 3 is not a bound: the `token<TAB>value` lines of our
    prompts run at about 2 characters per token (tests/agent/test_estimate.py measures it)."""
    pieces = list(texts)
    return sum(len(text.encode("utf-8")) for text in pieces) + MESSAGE_OVERHEAD_TOKENS * (len(pieces) + 1)


def estimator_for(prices: Callable[[str, int, int], float], model_for: Callable[[Purpose], str]) -> Estimator:
    """Upper bound of a call's (usd, tokens): `prompt_tokens_bound` in, the output cap out.

    Loose for prose (about 4 bytes a token), and that costs only headroom: a reservation is released
    when its call settles at the real usage, so only a budget's last few calls are refused early."""

    def estimate(request: LLMRequest | PromptScoreRequest) -> tuple[float, int]:
        if isinstance(request, LLMRequest):
            prompt = prompt_tokens_bound(m.content for m in request.messages)
            completion = request.max_tokens
        else:
            prompt, completion = prompt_tokens_bound([request.prompt]), 1
        return prices(model_for(request.purpose), prompt, completion), prompt + completion

    return estimate
