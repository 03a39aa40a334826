"""The `refine` graph as LangGraph's own server serves it (`langgraph dev`, LangGraph Studio; see langgraph.json).

The refinement loop (graphs/refine.py) runs on live objects in its context (the subject, the
simulator, the trace writer), which a server cannot send over HTTP. This graph takes what
`refinery refine` takes on its command line, builds everything from `Settings` (environment, .env,
refinery.toml, as the CLI does) and runs the neuron with `refine_neuron`: the same run folder,
the same checkpoints, so a neuron started here resumes under the CLI and the other way round.
"""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from pydantic import BaseModel, Field

from agent.cli.cmd_refine import summary
from agent.logs import quiet_libraries
from agent.refine_job import refine_neuron
from agent.refine_setup import open_refine_environment
from agent.settings import Backend, Settings
from graphs.trace import trace_path
from tools.errors import BadInputError


class NeuronRun(BaseModel):
    """A run's input: one neuron, and the settings the command line would give."""

    layer: int = Field(ge=0, description="Layer index (0-based).")
    neuron: int = Field(ge=0, description="Neuron index within the layer.")
    run: str | None = Field(None, description="Run name: outputs go to RUNS_DIR/RUN; unset = the settings' run.")
    backend: Backend | None = Field(None, description="Who explains and simulates; unset = the settings' backend.")
    settings: dict[str, Any] = Field(
        default_factory=dict, description="Any other setting by its name in refinery.toml (e.g. max_iters, runs_dir, "
                                          "per_neuron_usd); like a command-line flag, it wins over the environment and the file.")


class NeuronRunState(NeuronRun):
    result: dict[str, Any] | None = Field(None, description="The neuron's summary, as `refinery refine --json` prints it.")


class NeuronRunResult(BaseModel):
    result: dict[str, Any]


def settings_for(request: NeuronRun) -> Settings:
    unknown = sorted(set(request.settings) - set(Settings.model_fields))
    if unknown:
        raise BadInputError(f"unknown settings {unknown}: use the names of refinery.toml")
    given = request.settings | {key: value for key, value in (("run", request.run), ("backend", request.backend))
                                if value is not None}
    return Settings(**given)


async def refine_one(settings: Settings, layer: int, neuron: int) -> dict[str, Any]:
    """Exactly `refinery refine`'s work: the run folder locked, the command's budget the neuron's."""
    async with open_refine_environment(settings, [(layer, neuron)], one_neuron=True) as env:
        final = await refine_neuron(env, layer, neuron)
        return summary(final | {"trace": str(trace_path(env.run.root, layer, neuron))})


async def refine(state: NeuronRunState) -> dict[str, Any]:
    settings = settings_for(state)
    # The CLI's entry point does this before any model loads; here the first run is the earliest moment
    # the settings (allow_hub) are known. The server configured logging itself: left alone.
    quiet_libraries(settings.allow_hub)
    # refine_neuron gives the loop its own `configurable` (thread "layer/neuron"), which replaces this
    # run's: its checkpoints stay in the run folder (the CLI resumes them), not the server's. Callbacks
    # still pass down, so `events` streams and LangSmith traces show the loop's nodes nested in this run.
    return {"result": await refine_one(settings, state.layer, state.neuron)}


def build_app() -> StateGraph[NeuronRunState, None, NeuronRun, NeuronRunResult]:
    app = StateGraph(NeuronRunState, input_schema=NeuronRun, output_schema=NeuronRunResult)
    app.add_node("refine", refine)
    app.add_edge(START, "refine")
    app.add_edge("refine", END)
    return app


graph: CompiledStateGraph[NeuronRunState, None, NeuronRun, NeuronRunResult] = build_app().compile(name="refine")
"""What langgraph.json names: the server adds its own checkpointer for its threads."""
