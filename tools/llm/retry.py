"""Bounded retries with exponential backoff and full jitter, one deadline per attempt.

Vendor-neutral: the caller supplies the attempt and a `classify` function that turns an exception
into an `AttemptFailure` (or None for exceptions that are bugs and must propagate unchanged).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Literal, TypeVar

import structlog

from tools.llm.config import LLMConfig
from tools.llm.protocol import LLMError
from tools.llm.ratelimit import CallLimits, Sleep

log = structlog.get_logger(__name__)

T = TypeVar("T")

FailureKind = Literal["status", "timeout", "connection", "malformed", "unusable", "api"]


@dataclass(frozen=True)
class AttemptFailure:
    """Why one attempt failed. `detail` must already be safe to log (truncated, no secrets)."""

    kind: FailureKind
    retryable: bool
    detail: str
    status: int | None = None
    retry_after_s: float | None = None
    cause: BaseException | None = None

    def describe(self) -> str:
        head = f"HTTP {self.status}" if self.status is not None else self.kind
        return f"{head}: {self.detail}" if self.detail else head


def backoff_s(retry_index: int, config: LLMConfig, rng: random.Random, retry_after_s: float | None = None) -> float:
    """Wait before retry number `retry_index` (0-based).

    A server's Retry-After wins (it knows its own quota), capped so a hostile or confused header
    cannot stall a run; otherwise full jitter, which spreads synchronized clients apart better than
    a fixed exponential schedule.
    """
    if retry_after_s is not None:
        return max(0.0, min(retry_after_s, config.backoff_max_s))
    ceiling = min(config.backoff_max_s, config.backoff_base_s * 2.0**retry_index)
    return rng.uniform(0.0, ceiling)


async def run_with_retries(
    attempt: Callable[[], Awaitable[T]],
    classify: Callable[[Exception], AttemptFailure | None],
    *,
    config: LLMConfig,
    limits: CallLimits,
    log_fields: Mapping[str, object],
    rng: random.Random,
    sleep: Sleep = asyncio.sleep,
) -> tuple[T, int, float]:
    """Run `attempt` until it succeeds; returns (value, failed attempts before it, its latency in s).

    Raises `LLMError` when a failure is not retryable or after `config.max_retries` retries.
    """
    index = 0
    while True:
        async with limits.slot():
            started = time.perf_counter()
            try:
                async with asyncio.timeout(config.timeout_s):
                    value = await attempt()
            except Exception as exc:
                failure = classify(exc)
                if failure is None:
                    raise
            else:
                return value, index, time.perf_counter() - started
        if not failure.retryable or index == config.max_retries:
            raise _final_error(failure, index + 1, log_fields) from failure.cause
        delay = backoff_s(index, config, rng, failure.retry_after_s)
        log.info("llm_retry", **log_fields, attempt=index + 1, status=failure.status, error=failure.kind, delay_s=round(delay, 3))
        await sleep(delay)
        index += 1


def _final_error(failure: AttemptFailure, attempts: int, log_fields: Mapping[str, object]) -> LLMError:
    outcome = f"after {attempts} attempt{'' if attempts == 1 else 's'}" if failure.retryable else "(not retryable)"
    log.warning("llm_failed", **log_fields, attempts=attempts, status=failure.status, error=failure.describe())
    context = ", ".join(f"{key}={value}" for key, value in log_fields.items())
    return LLMError(f"LLM call failed {outcome} ({context}): {failure.describe()}", retryable=failure.retryable, status=failure.status)
