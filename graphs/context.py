"""Run-time dependencies of the refinement graph (LangGraph `context_schema`): never checkpointed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field

from graphs.trace import TraceWriter
from tools.evaluate import ExplanationScore
from tools.explainers.base import Explainer
from tools.formats.openai import NeuronSimulationResults
from tools.llm.budget import Budget, BudgetedLLM
from tools.llm.journal import JournaledLLM
from tools.llm.protocol import LLM
from tools.probes.generators import ProbeMaterial
from tools.probes.pool import CorpusPool
from tools.probes.types import Counterexample, Prober, ProbeResult
from tools.records.neuron_data import NeuronData
from tools.revisers.base import Reviser
from tools.simulators.base import Simulator, is_free
from tools.subject.service import ActivationService


class RefineParams(BaseModel):
    max_iters: int = Field(6, ge=0, description="Probe-and-revise rounds at most.")
    epsilon: float = Field(0.01, ge=0, description="An improvement of the selection score this small or smaller counts as none.")
    patience: int = Field(3, ge=1, description="Stop after this many rounds in a row without improvement above epsilon.")
    target: float | None = Field(None, description="Stop as soon as the selection score reaches this.")
    n_explanations: int = Field(5, ge=1, description="Best-of-n at the one-shot proposal.")
    n_revisions: int = Field(3, ge=1, description="Revised candidates written per round.")
    probes_per_generator: int = Field(4, ge=0, description="Probe texts per generator per round.")
    counterexamples: int = Field(8, ge=1, description="Counterexamples shown to the reviser.")
    fresh_per_round: int | None = Field(
        None, ge=0, description="Fresh corpus excerpts probed per round; default 2 per probe slot, 32 with the free builtin simulator.")
    max_explanation_words: int = Field(30, ge=3, le=200, description="Longest explanation, in words, any explainer or reviser may write.")
    adopt_confidence: float = Field(
        0.95, ge=0.5, lt=1.0, description="A revision replaces the incumbent only when a paired bootstrap over the selection "
                                          "records gives it at least this probability of scoring higher.")
    pool_size: int = Field(1024, ge=0, description="Fresh corpus excerpts read per layer, shared by every neuron of the command.")
    selection_pool: int = Field(
        320, ge=0, description="Pool excerpts added to the selection set when the simulator is the free builtin one "
                               "(random excerpts, weighted so the set keeps its top-vs-random mixture).")
    output_side: bool = Field(True, description="At finalize, read what the neuron does to the output (VocabProj, TokenChange) "
                                                 "where the subject's weights are at hand.")
    explain_digest: bool = Field(True, description="The LLM explainer's prompt sums up its records (tokens the neuron responds to "
                                                    "most, how often, what precedes them); the builtin explainer ignores it.")
    explain_output_hint: bool = Field(False, description="The LLM explainer's prompt names the tokens the neuron's output weights "
                                                         "promote (one hint line); the builtin explainer ignores it.")
    judge: Literal["auto", "builtin", "llm"] = Field(
        "auto", description="Who answers the held-out detection and fuzzing besides the thresholded simulation: llm adds the "
                            "simulator model's answers (more calls); auto and builtin add none.")
    seed: int = 0

    def fresh_excerpts(self, k: int, simulator_method: str) -> int:
        """Fresh excerpts cost a simulation each: plenty when simulating is free."""
        if self.fresh_per_round is not None:
            return self.fresh_per_round
        return 32 * k if is_free(simulator_method) else 2 * k

    def enlarged_selection(self, simulator_method: str) -> bool:
        """Only a free simulator can afford to score every candidate on hundreds of extra excerpts."""
        return is_free(simulator_method) and self.selection_pool > 0


class NeuronStore(Protocol):
    """A neuron's files in its run folder (`agent/runstore.py`): what the nodes write and read back. The
    state refers to files by the paths these methods return."""

    def write_score(self, name: str, result: ExplanationScore) -> str:
        """Keep a scored simulation under `name` (e.g. `iter2-0`, `heldout-refined`); its path."""
        ...

    def read_score(self, path: str) -> ExplanationScore:
        """A scored simulation kept at `path`, by this process or before a resume."""
        ...

    def evidence_score(self, explanation: str) -> ExplanationScore | None:
        """The explanation's simulation on the evidence split, if one was kept."""
        ...

    def keep_evidence_score(self, explanation: str, result: ExplanationScore) -> None: ...

    def write_probes(self, iteration: int, results: Sequence[ProbeResult]) -> str:
        """Keep a round's probe results; the batch's path."""
        ...

    def read_probes(self, paths: Sequence[str]) -> list[ProbeResult]: ...

    def write_counterexamples(self, iteration: int, found: Sequence[Counterexample]) -> str: ...

    def read_counterexamples(self, path: str) -> list[Counterexample]: ...

    def write_result(self, summary: dict[str, Any]) -> None:
        """The neuron's final summary."""
        ...

    def write_explanations(self, results: NeuronSimulationResults) -> None:
        """The neuron's explanations in the OpenAI format."""
        ...


@dataclass
class NeuronContext:
    data: NeuronData
    explainer: Explainer
    simulator: Simulator
    reviser: Reviser
    prober: Prober | None
    service: ActivationService
    probe_material: ProbeMaterial
    """What the probe generators that need no LLM draw from."""
    trace: TraceWriter
    files: NeuronStore
    params: RefineParams
    budget: Budget | None = None
    journal: JournaledLLM | None = None
    budgeted: BudgetedLLM | None = None
    judge: LLM | None = None
    """`--judge llm`: the LLM that answers the held-out detection and fuzzing beside the simulation."""
    record_excerpts: set[int] = field(default_factory=set)
    """Excerpts of the neuron's records (never probed again: probes must be new text)."""
    pool: CorpusPool | None = None
    cache: dict[str, Any] = field(default_factory=dict)
    """What a node computed once for this neuron and later nodes reuse (the pool, the enlarged selection set)."""
