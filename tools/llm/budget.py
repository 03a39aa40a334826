"""Budgets: dollars, tokens and wall time, checked before every LLM call.

Before a call, its cost is bounded from above (the prompt's UTF-8 bytes plus a per-message
overhead, and the output cap, at the model's price: `agent.refine_job.estimator_for`) and
reserved; the call is refused if the reservation would cross a limit, so concurrent calls cannot
jointly overshoot, and a spend never passes a limit. A per-neuron budget can have a parent (the sweep's global budget, possibly in another
process): a call must fit both. `final_reserve` keeps part of a neuron's budget back for its
held-out scoring, and `final_seconds` part of its wall time: the loop stops that much before the
limit, and the held-out scoring (`use_final_reserve`) is not cut by the neuron's own clock.

A refusal by the neuron's own budget ends that neuron's loop (it is finalized); a refusal by the
parent (`scope="global"`) aborts the neuron where it stands, resumable once more budget is given.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol, TypeVar

from pydantic import BaseModel, Field

from tools.llm.protocol import (
    LLM,
    LLMRequest,
    LLMResponse,
    PromptScorer,
    PromptScoreRequest,
    PromptScoreResponse,
    Usage,
)


class BudgetExhausted(Exception):
    """The next call would cross a budget; `kind` is usd, tokens or seconds."""

    def __init__(self, kind: str, message: str, scope: Literal["neuron", "global"] = "neuron") -> None:
        super().__init__(message)
        self.kind = kind
        self.scope = scope


class BudgetLimits(BaseModel):
    usd: float | None = Field(None, ge=0, description="Dollars.")
    tokens: int | None = Field(None, ge=0, description="Prompt + completion tokens.")
    seconds: float | None = Field(None, gt=0, description="Wall time.")

    def after(self, usd: float, tokens: int, seconds: float) -> BudgetLimits:
        """These limits counted from a point where `usd`, `tokens` and `seconds` were already spent."""
        return BudgetLimits(usd=None if self.usd is None else self.usd + usd,
                            tokens=None if self.tokens is None else self.tokens + tokens,
                            seconds=None if self.seconds is None else self.seconds + seconds)

    def tightest(self, other: BudgetLimits) -> BudgetLimits:
        """Each limit the lower of the two (unset = unlimited)."""
        def low(a: float | None, b: float | None) -> float | None:
            return b if a is None else a if b is None else min(a, b)

        tokens = low(self.tokens, other.tokens)
        return BudgetLimits(usd=low(self.usd, other.usd), tokens=None if tokens is None else int(tokens),
                            seconds=low(self.seconds, other.seconds))


@dataclass
class Reservation:
    usd: float
    tokens: int


class ParentBudget(Protocol):
    """What a neuron's budget needs from the sweep's: reserve, settle, time check (maybe remote)."""

    async def reserve(self, usd: float, tokens: int, use_final_reserve: bool = False) -> Reservation: ...

    async def settle(self, reservation: Reservation, usage: Usage | None) -> None: ...

    async def check_time(self) -> None: ...


@dataclass
class Budget:
    limits: BudgetLimits
    parent: ParentBudget | None = None
    scope: Literal["neuron", "global"] = "neuron"
    clock: Callable[[], float] = time.monotonic
    spent_usd: float = 0.0
    spent_tokens: int = 0
    calls: int = 0
    reserved_usd: float = 0.0
    reserved_tokens: int = 0
    final_reserve: Reservation = field(default_factory=lambda: Reservation(0.0, 0))
    final_seconds: float = 0.0
    """Wall-time seconds kept back for the held-out scoring: the loop stops this long before `limits.seconds`."""
    started: float = field(default=-1.0)

    def __post_init__(self) -> None:
        if self.started < 0:
            self.started = self.clock()

    @property
    def elapsed(self) -> float:
        return self.clock() - self.started

    def _time_left(self, finalizing: bool = False) -> None:
        # A neuron's held-out scoring runs on the time kept back for it: stopping it at the limit
        # would throw away the work the limit was spent on. A parent's clock still stops it.
        if self.limits.seconds is None or (finalizing and self.scope == "neuron"):
            return
        if self.elapsed >= self.limits.seconds - self.final_seconds:
            if self.final_seconds:
                message = (f"wall-time budget of {self.limits.seconds:g} s: {self.elapsed:.0f} s used, the last "
                           f"{self.final_seconds:.0f} s kept for the held-out score")
            else:
                message = f"wall-time budget of {self.limits.seconds:g} s used up"
            raise BudgetExhausted("seconds", message, self.scope)

    async def check_time(self) -> None:
        self._time_left()
        if self.parent is not None:
            await self.parent.check_time()

    def _check(self, usd: float, tokens: int, use_final_reserve: bool) -> None:
        keep_usd = 0.0 if use_final_reserve else self.final_reserve.usd
        keep_tokens = 0 if use_final_reserve else self.final_reserve.tokens
        if self.limits.usd is not None and self.spent_usd + self.reserved_usd + usd > self.limits.usd - keep_usd:
            raise BudgetExhausted("usd", f"the next call (~${usd:.4f}) would cross the ${self.limits.usd:g} {self.scope} budget "
                                         f"(spent ${self.spent_usd:.4f})", self.scope)
        if self.limits.tokens is not None and self.spent_tokens + self.reserved_tokens + tokens > self.limits.tokens - keep_tokens:
            raise BudgetExhausted("tokens", f"the next call (~{tokens:,} tokens) would cross the {self.limits.tokens:,}-token "
                                            f"{self.scope} budget (spent {self.spent_tokens:,})", self.scope)

    async def reserve(self, usd: float, tokens: int, use_final_reserve: bool = False) -> Reservation:
        self._time_left(finalizing=use_final_reserve)
        self._check(usd, tokens, use_final_reserve)
        # Held before awaiting the parent: a remote parent (a Ray actor) really suspends here, and
        # concurrent calls of this neuron must not all pass the check above in the meantime.
        self.reserved_usd += usd
        self.reserved_tokens += tokens
        if self.parent is not None:
            try:
                await self.parent.reserve(usd, tokens, use_final_reserve=True)
            except BaseException:
                self.reserved_usd -= usd
                self.reserved_tokens -= tokens
                raise
        return Reservation(usd, tokens)

    async def settle(self, reservation: Reservation, usage: Usage | None) -> None:
        """Release a reservation and book what the call really cost (nothing for a cached or failed call)."""
        self.reserved_usd -= reservation.usd
        self.reserved_tokens -= reservation.tokens
        if usage is not None and not usage.cached:
            self.spent_usd += usage.cost_usd
            self.spent_tokens += usage.total_tokens
            self.calls += 1
        if self.parent is not None:
            await self.parent.settle(reservation, usage)


Q = TypeVar("Q", LLMRequest, PromptScoreRequest)
R = TypeVar("R", LLMResponse, PromptScoreResponse)

Estimator = Callable[[LLMRequest | PromptScoreRequest], tuple[float, int]]
"""Upper estimate of a call's (usd, tokens) before it is made."""


class BudgetedLLM:
    """Checks the budget before each call and books its usage after."""

    def __init__(self, inner: LLM, budget: Budget, estimate: Estimator) -> None:
        self.inner, self.budget, self.estimate = inner, budget, estimate
        self.final_phase = False

    async def complete(self, request: LLMRequest) -> LLMResponse:
        return await self._booked(request, self.inner.complete)

    async def score_prompt(self, request: PromptScoreRequest) -> PromptScoreResponse:
        if not isinstance(self.inner, PromptScorer):
            raise TypeError(f"{type(self.inner).__name__} cannot score prompts")
        return await self._booked(request, self.inner.score_prompt)

    async def _booked(self, request: Q, call: Callable[[Q], Awaitable[R]]) -> R:
        """`call(request)` within a reservation of its estimate, settled with its usage (none if it failed)."""
        usd, tokens = self.estimate(request)
        reservation = await self.budget.reserve(usd, tokens, use_final_reserve=self.final_phase)
        response: R | None = None
        try:
            response = await call(request)
            return response
        finally:
            await self.budget.settle(reservation, response.usage if response is not None else None)
