"""The simulator seam and its result types.

A simulator sees only an explanation and token strings, never activations. Each returns, per
record, expected values on the 0-10 scale (`simulated_normalized_activations`) or an explicit
failure: a record whose simulation failed is reported as failed and is left out of scores, never
replaced by zeros. Every simulation carries the name of the method that produced it, because
scores from different methods are not comparable.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, Sequence
from typing import Literal, Protocol, TypeVar, cast, runtime_checkable

from pydantic import BaseModel, Field

T = TypeVar("T")


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

    @classmethod
    def failed(cls, method: str, tokens: Sequence[str], error: str) -> RecordSimulation:
        return cls(method=method, tokens=list(tokens), status="failed", error=error)

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
