"""The refinement graph for one neuron:

    propose -> simulate -> score -> probe -> revise -> simulate -> score -> ... -> finalize

`score` routes to `probe` while the loop should go on, and to `finalize` once it converged, hit
its target, its round limit or its budget (or failed). One checkpointer thread per neuron.
"""

from __future__ import annotations

from typing import Literal

from langgraph.graph import END, START, StateGraph

from graphs import nodes
from graphs.context import NeuronContext
from graphs.state import RefineInput, RefineState


def after_score(state: RefineState) -> Literal["probe", "finalize"]:
    return "finalize" if state.get("stop") else "probe"


def after_step(state: RefineState) -> Literal["continue", "finalize"]:
    """Any node may stop the loop (a crossed budget, a failure): then go straight to finalize."""
    return "finalize" if state.get("stop") else "continue"


def build_graph() -> StateGraph[RefineState, NeuronContext, RefineInput, RefineState]:
    graph = StateGraph(RefineState, context_schema=NeuronContext, input_schema=RefineInput)
    graph.add_node("propose", nodes.propose)
    graph.add_node("simulate", nodes.simulate)
    graph.add_node("score", nodes.score)
    graph.add_node("probe", nodes.probe)
    graph.add_node("revise", nodes.revise)
    graph.add_node("finalize", nodes.finalize)
    graph.add_edge(START, "propose")
    graph.add_conditional_edges("propose", after_step, {"continue": "simulate", "finalize": "finalize"})
    graph.add_conditional_edges("simulate", after_step, {"continue": "score", "finalize": "finalize"})
    graph.add_conditional_edges("score", after_score)
    graph.add_conditional_edges("probe", after_step, {"continue": "revise", "finalize": "finalize"})
    graph.add_conditional_edges("revise", after_step, {"continue": "simulate", "finalize": "finalize"})
    graph.add_edge("finalize", END)
    return graph


def recursion_limit(max_iters: int) -> int:
    """Steps the graph may take: 3 to the first decision, 4 per round, finalize, and a margin."""
    return 3 + 4 * max_iters + 1 + 5


graph = build_graph().compile()
"""The compiled graph without a checkpointer (for inspection, `langgraph.json`)."""
