"""Run the refinement graph for one neuron, resumably, with the roles, trace, journal and budget the backend builds for it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import structlog
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph

from agent.backends import Backend, RunBooks
from agent.runstore import RunStore
from graphs.context import NeuronContext, RefineParams
from graphs.refine import build_graph, recursion_limit
from graphs.state import RefineInput, RefineState
from graphs.trace import NeuronStarted
from tools.explainers.output_hint import promoted_tokens
from tools.probes.generators import ProbeMaterial
from tools.probes.pool import CorpusPool
from tools.records.neuron_data import NeuronData
from tools.records.store import RecordStore
from tools.subject.service import ActivationService

log = structlog.get_logger(__name__)


RefineGraph = CompiledStateGraph[RefineState, NeuronContext, RefineInput, RefineState]


@dataclass
class RefineEnvironment:
    """What every neuron of a run shares: its folder, records, subject, backend and books."""

    run: RunStore
    store: RecordStore
    service: ActivationService
    excerpts: np.ndarray
    params: RefineParams
    checkpointer: BaseCheckpointSaver[str]
    backend: Backend
    books: RunBooks
    records_per_split: int | None = None
    pool: CorpusPool | None = None
    graphs: dict[bool, RefineGraph] = field(default_factory=dict)
    """Compiled graphs by `stop_before_probe`: compiling inspects every node's source, once per run is enough."""


def thread_config(layer: int, neuron: int, params: RefineParams) -> RunnableConfig:
    return {"configurable": {"thread_id": f"{layer}/{neuron}"}, "recursion_limit": recursion_limit(params.max_iters)}


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
    hint = (lambda: promoted_tokens(env.service, data)) if env.params.explain_output_hint else None
    mine = env.backend.for_neuron(env.books, layer, neuron, float(values.get("seconds", 0.0)),
                                  values.get("final_reserve", (0.0, 0, 0.0)), promoted=hint)
    roles, trace = mine.roles, mine.trace
    record = data.record
    record_excerpts = {r.excerpt_index for r in record.most_positive_activation_records + record.random_sample
                       if r.excerpt_index is not None}
    ctx = NeuronContext(
        data=data, explainer=roles.explainer, simulator=roles.simulator, reviser=roles.reviser, prober=roles.prober,
        service=env.service, probe_material=ProbeMaterial(env.service.subject, env.excerpts, env.backend.vocab),
        trace=trace, files=env.run.neuron(layer, neuron), params=env.params, budget=mine.budget, journal=mine.journal,
        budgeted=mine.budgeted, judge=mine.chain if env.params.judge == "llm" else None,
        record_excerpts=record_excerpts, pool=env.pool,
    )
    with trace:  # the trace file stays open while the graph runs
        trace.emit(NeuronStarted(run=env.run.name, backend=env.backend.description | {"simulator": roles.simulator.method},
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
