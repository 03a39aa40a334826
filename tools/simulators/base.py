"""The simulator seam and its result types.

A simulator sees only an explanation and token strings, never activations. Each returns, per
record, expected values on the 0-10 scale (`simulated_normalized_activations`) or an explicit
failure: a record whose simulation failed is reported as failed and is left out of scores, never
replaced by zeros. Every simulation carries the name of the method that produced it, because
scores from different methods are not comparable.
"""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Literal, Protocol, TypeVar, cast, runtime_checkable

import structlog
from pydantic import BaseModel, Field

from tools.llm.protocol import LLMError
from tools.science.expected_value import ValueDistribution

log = structlog.get_logger(__name__)

T = TypeVar("T")
Records = Sequence[Sequence[str]]

LEXICAL_METHOD = "builtin-lexical"
"""The method of the builtin simulator (tools/builtin/simulator.py), which reads an explanation without an LLM."""


def is_free(method: str) -> bool:
    """Whether simulating with `method` calls no LLM, so a loop can afford to simulate many more records."""
    return method == LEXICAL_METHOD


class RecordSimulation(BaseModel):
    """One record's simulation (0-10 scale) or the reason it failed."""

    method: str = Field(description="Simulator method, e.g. 'chat-logprob', 'chat-json', 'prompt-logprob', 'builtin-lexical'.")
    tokens: list[str]
    status: Literal["ok", "failed"] = "ok"
    error: str | None = None
    expected: list[float] | None = Field(None, description="Expected value per token, 0-10 scale; None when failed.")
    distribution_values: list[list[float]] | None = Field(None, description="Per token, the values with probability mass (0-10).")
    distribution_probabilities: list[list[float]] | None = None
    notes: list[str] = Field(default_factory=list, description="Caveats, e.g. slots with no digit candidate (EV fell back to 0).")
    value_mass: float | None = Field(
        None, description="Median over the record's slots of the probability (0-1) the model put on value tokens among its "
                          "top candidates, before renormalizing; None for a method that reads no logprobs. Near 0, the "
                          "values come from what another token (a placeholder) left: a weak reading.")

    @classmethod
    def failed(cls, method: str, tokens: Sequence[str], error: str) -> RecordSimulation:
        return cls(method=method, tokens=list(tokens), status="failed", error=error)

    @classmethod
    def from_slots(cls, method: str, tokens: Sequence[str], slots: Sequence[ValueDistribution],
                   notes: Sequence[str] = ()) -> RecordSimulation:
        """A record's simulation from the value distribution at each of its token slots.

        A slot without any value candidate counts as EV 0, the reference rule (docs/science.md#expected-value), and is
        noted; a record with no value candidate at any slot fails instead: that answer had no usable
        logprobs, and zeros would be a made-up prediction."""
        empty = sum(slot.kept_candidates == 0 for slot in slots)
        if slots and empty == len(slots):
            return cls.failed(method, tokens, f"no value candidate among the top logprobs at any of {len(slots)} slots")
        # Built from typed slots, so unvalidated: validating every per-token list cost more than the reading.
        return cls.model_construct(
            method=method,
            tokens=list(tokens),
            expected=[slot.expected_value for slot in slots],
            distribution_values=[[float(v) for v in slot.values] for slot in slots],
            distribution_probabilities=[list(slot.probabilities) for slot in slots],
            notes=[*notes, *([f"{empty} of {len(slots)} slots had no value candidate (EV 0)"] if empty else [])],
            value_mass=float(statistics.median(slot.value_mass for slot in slots)) if slots else None,
        )

    @property
    def ok(self) -> bool:
        return self.status == "ok" and self.expected is not None


@runtime_checkable
class Simulator(Protocol):
    @property
    def method(self) -> str: ...

    async def simulate(self, explanation: str, records: Sequence[Sequence[str]]) -> list[RecordSimulation]:
        """One RecordSimulation per record (same order, same token count when ok)."""
        ...


async def gather_all(awaitables: Iterable[Awaitable[T]]) -> list[T]:
    """`asyncio.gather`, except that when one fails (a budget refusal), the others still run to
    their end before its error is raised. Plain `gather` raises at the first error and leaves the
    others running unobserved: the answers of calls already sent, paid for, would then reach no
    journal or ledger once the caller has moved on (a stopped sweep closes its databases)."""
    results = await asyncio.gather(*awaitables, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return cast(list[T], results)


async def simulate_in_groups(
    method: str,
    records: Records,
    records_per_request: int,
    ask: Callable[[Records], Awaitable[T]],
    read: Callable[[Records, T], list[RecordSimulation]],
) -> list[RecordSimulation]:
    """The request/failure path every LLM simulator shares: `records` in groups of
    `records_per_request`, one `ask` per group (all at once), each answer `read` into one simulation
    per record of its group, in order. A request that fails with `LLMError` fails every record of
    its group with the reason (never zeros); any other error, a budget refusal, is raised."""

    async def one_group(group: Records) -> list[RecordSimulation]:
        try:
            answer = await ask(group)
        except LLMError as err:
            log.warning("simulator_request_failed", method=method, records=len(group), error=str(err))
            return [RecordSimulation.failed(method, tokens, f"LLM request failed: {err}") for tokens in group]
        return read(group, answer)

    size = records_per_request
    groups = [records[start : start + size] for start in range(0, len(records), size)]
    results = await gather_all(one_group(group) for group in groups)
    return [simulation for group in results for simulation in group]
