"""Usage accounting: calls, tokens, cost, retries and failures, per purpose and per model."""

from __future__ import annotations

import threading
from typing import Any

from pydantic import BaseModel

from tools.llm.protocol import Purpose, Usage


class UsageTotals(BaseModel):
    calls: int = 0
    cached_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latency_s: float = 0.0
    retries: int = 0
    failures: int = 0

    def add(self, usage: Usage) -> None:
        if usage.cached:
            # Replayed from the journal: it was paid for in an earlier run, not this one.
            self.cached_calls += 1
            return
        self.calls += 1
        self.prompt_tokens += usage.prompt_tokens
        self.completion_tokens += usage.completion_tokens
        self.cost_usd += usage.cost_usd
        self.latency_s += usage.latency_s
        self.retries += usage.retries


class FailureRecord(BaseModel):
    purpose: Purpose
    model: str
    error: str


class UsageLedger:
    """Totals of every recorded call. Safe to share between asyncio tasks and threads.

    A `Usage` object is counted once even if recorded twice (say by the client and by a caller
    that also records), so wiring a ledger in at more than one layer cannot double the bill.
    """

    _MAX_ERROR_CHARS = 300

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[int, Usage] = {}  # keeps the objects alive so their ids stay unique
        self._total = UsageTotals()
        self._by_purpose: dict[str, UsageTotals] = {}
        self._by_model: dict[str, UsageTotals] = {}
        self._failures: list[FailureRecord] = []

    def record(self, purpose: Purpose, usage: Usage) -> bool:
        """Add one call; returns False (and changes nothing) if this exact object was recorded before."""
        with self._lock:
            if id(usage) in self._seen:
                return False
            self._seen[id(usage)] = usage
            for totals in self._buckets(purpose, usage.model):
                totals.add(usage)
            return True

    def record_failure(self, purpose: Purpose, model: str, error: BaseException | str) -> None:
        """A call that failed for good (after its retries); its attempts cost nothing we can count."""
        with self._lock:
            for totals in self._buckets(purpose, model):
                totals.failures += 1
            self._failures.append(FailureRecord(purpose=purpose, model=model, error=str(error)[: self._MAX_ERROR_CHARS]))

    @property
    def total(self) -> UsageTotals:
        with self._lock:
            return self._total.model_copy()

    def by_purpose(self, purpose: Purpose) -> UsageTotals:
        with self._lock:
            return self._by_purpose.get(purpose, UsageTotals()).model_copy()

    def by_model(self, model: str) -> UsageTotals:
        with self._lock:
            return self._by_model.get(model, UsageTotals()).model_copy()

    def summary(self) -> dict[str, Any]:
        """JSON-ready totals: overall, per purpose, per model, and the failures in order."""
        with self._lock:
            return {
                "total": self._total.model_dump(),
                "by_purpose": {name: totals.model_dump() for name, totals in sorted(self._by_purpose.items())},
                "by_model": {name: totals.model_dump() for name, totals in sorted(self._by_model.items())},
                "failures": [failure.model_dump() for failure in self._failures],
            }

    def _buckets(self, purpose: Purpose, model: str) -> tuple[UsageTotals, UsageTotals, UsageTotals]:
        return (
            self._total,
            self._by_purpose.setdefault(purpose, UsageTotals()),
            self._by_model.setdefault(model, UsageTotals()),
        )
