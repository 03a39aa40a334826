"""Score any explanation of a neuron on its held-out split: r with its interval, the field's scorers beside it,
and what the neuron does to the output.

With an LLM backend every call goes through a call journal (`SCORE_JOURNAL` under the runs directory), keyed
like a run's by the model, the endpoint's host and the simulator method: scoring the same explanation again
pays for nothing."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

from pydantic import BaseModel, Field

from agent.backends import Backend, SimulatorMethod
from agent.settings import Settings
from tools.errors import BadInputError
from tools.evaluate import score_explanation
from tools.llm.journal import CallJournal, JournaledLLM
from tools.llm.protocol import LLM, LLMError
from tools.records.neuron_data import NeuronData
from tools.scorers import FieldScores, field_scores, with_llm_judge
from tools.simulators.base import Simulator
from tools.subject.base import OutputReader
from tools.subject.output_side import OutputSide, ablation_windows

SCORE_JOURNAL = "score-journal.sqlite"
"""`refinery score`'s call journal, under --runs-dir (beside the run folders, shared by every score command)."""
Judge = Literal["builtin", "llm"]


class ScoreOutcome(BaseModel):
    layer: int
    neuron: int
    explanation: str
    method: str = Field(description="Simulator method that produced every score here.")
    heldout_score: float | None = Field(description="Pooled r on the held-out (test) split.")
    heldout_ci: tuple[float, float] | None
    heldout_reason: str | None = None
    scorers: FieldScores
    judge: Judge = Field("builtin", description="Who answered detection and fuzzing beside the simulation: builtin (only the "
                                                "thresholded simulation) or llm (`scorers.llm` holds the LLM's answers and cost).")
    judge_error: str | None = Field(None, description="Why the LLM judge gave no score (its endpoint failed): no LLM score, never a guessed one.")
    journal: str | None = Field(None, description="The call journal the LLM calls went through (a rerun is answered from it).")
    output: OutputSide | None = Field(None, description="None when not asked for or the subject cannot say.")
    simulate_seconds: float = Field(description="Wall time to simulate the held-out records and correlate.")
    scorers_seconds: float = Field(description="Wall time of the field's scorers on that simulation (the LLM judge's calls included).")


def resolve_judge(settings: Settings, backend: Backend) -> Judge:
    """`--judge auto` for `score`: the LLM where the backend has one, else the thresholded simulation."""
    if settings.judge == "llm" and backend.llm is None:
        raise BadInputError("--judge llm needs an LLM to ask: use --backend llm (an endpoint) or --backend local")
    if settings.judge == "auto":
        return "llm" if backend.llm is not None else "builtin"
    return settings.judge


@dataclass
class ScoreTools:
    simulator: Simulator
    judge: LLM | None
    journal: Path | None


@asynccontextmanager
async def score_tools(settings: Settings, backend: Backend, layer: int, neuron: int) -> AsyncIterator[ScoreTools]:
    """The simulator and judge of a `score` command: the backend's, their LLM calls through the score journal."""
    judge = resolve_judge(settings, backend)
    if backend.llm is None:
        yield ScoreTools(backend.simulator(), None, None)
        return
    # `auto` resolved here (score runs no preflight), so the journal keys name the method that reads.
    backend.simulator_method = cast(SimulatorMethod, backend.simulator().method)
    path = settings.runs_dir / SCORE_JOURNAL
    journal = CallJournal(path)
    try:
        llm = JournaledLLM(backend.llm, journal, f"{layer}/{neuron}", backend.identity)
        llm.set_scope(f"score/{layer}/{neuron}")
        yield ScoreTools(backend.simulator(llm=llm), llm if judge == "llm" else None, path)
    finally:
        journal.close()


async def score_neuron(data: NeuronData, explanation: str, simulator: Simulator, reader: OutputReader | None,
                       seed: int = 0, judge: LLM | None = None, journal: Path | None = None) -> ScoreOutcome:
    """`reader` (the subject, when it can) reads the output side; None skips it. `judge`, an LLM, answers detection
    and fuzzing beside the simulation; an endpoint failure leaves `judge_error` and no LLM score."""
    started = time.monotonic()
    result = await score_explanation(explanation, data.final_heldout(), simulator, "test", with_ci=True, seed=seed)
    simulated = time.monotonic()
    scorers = field_scores(result, data.heldout_top_count, data.max_activation, seed)
    judge_error = None
    if judge is not None:
        try:
            scorers = await with_llm_judge(scorers, result, judge, seed)
        except LLMError as err:
            judge_error = f"the LLM judge's endpoint failed: {err}"
    scored = time.monotonic()
    output = None
    if reader is not None:
        tops = data.record.most_positive_activation_records
        windows = ablation_windows([(r.token_ids or [], r.activations) for r in tops])
        output = reader.output_side(data.layer, data.neuron, windows) if windows else None
    return ScoreOutcome(layer=data.layer, neuron=data.neuron, explanation=explanation, method=result.method,
                        heldout_score=result.score, heldout_ci=result.ci, heldout_reason=result.score_reason, scorers=scorers,
                        judge="llm" if judge is not None else "builtin", judge_error=judge_error,
                        journal=str(journal) if journal is not None else None, output=output,
                        simulate_seconds=round(simulated - started, 4), scorers_seconds=round(scored - simulated, 4))
