"""Probe texts and their outcomes."""

from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, Field

Generator = Literal[
    "llm-should-fire", "llm-should-not-fire", "llm-near-miss",
    "builtin-insert", "builtin-near-miss", "builtin-remove",
    "edit-remove", "edit-swap",
    "corpus-fresh", "subject-continuation",
    "gate-with", "gate-without",
]


class ProbeText(BaseModel):
    """A text to run through the subject; `token_ids` are the subject's (no BOS)."""

    generator: Generator
    text: str
    token_ids: list[int]
    tokens: list[str]
    source: str | None = Field(None, description="What it was made from, e.g. 'train record 3' or 'excerpt 812'.")


class ProbeResult(ProbeText):
    real: list[float] = Field(description="Raw activations of the neuron, one per token.")
    predicted: list[float] | None = Field(None, description="Simulated values of the probed explanation, 0-10; None if simulation failed.")
    simulation_error: str | None = None


class Counterexample(BaseModel):
    kind: Literal["false_positive", "false_negative"]
    generator: str
    text: str
    tokens: list[str]
    real: list[float] = Field(description="Raw activations.")
    predicted: list[float] = Field(description="Simulated values, 0-10 scale.")
    offending: list[int] = Field(description="Token positions where prediction and reality disagree most.")
    error: float = Field(description="Largest |predicted - real normalized to 0-10| over the tokens.")

    @property
    def label(self) -> str:
        """A short name a person can match to the trace: kind, the offending tokens, the probe that found it."""
        shown = ", ".join(repr(self.tokens[i]) for i in self.offending[:3]) + (" ..." if len(self.offending) > 3 else "")
        return f"{self.kind.replace('_', ' ')} on {shown} ({self.generator})"


class ProbeRequest(BaseModel):
    """What an LLM prober is asked for: texts the explanation says should and should not fire, and near misses."""

    explanation: str
    examples: list[tuple[list[str], list[int]]] = Field(
        default_factory=list, description="A few top records as (tokens, 0-10 values) to ground the prober.")
    per_kind: int = 3


@runtime_checkable
class Prober(Protocol):
    """Writes probe texts from an explanation (generator (a))."""

    async def write(self, request: ProbeRequest) -> dict[str, list[str]]:
        """Texts per kind: keys 'should_fire', 'should_not_fire', 'near_miss' (any may be empty).

        Raises `LLMError` when the call failed, or a `ValueError` when the answer held no readable texts."""
        ...

