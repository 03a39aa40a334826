"""Client-side limits around each request attempt: in-flight concurrency and requests per minute.

Pure asyncio. The clock and the sleep are injectable so tests can run minutes of schedule in
microseconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class RateLimiter:
    """Token bucket: `per_minute` requests per minute on average, at most `burst` back to back.

    With the default burst of 1 it spaces requests evenly, which is what per-minute server quotas
    reward: a full bucket after idling would otherwise release a burst the server may reject.
    """

    def __init__(
        self,
        per_minute: float,
        *,
        burst: int = 1,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if per_minute <= 0:
            raise ValueError(f"per_minute must be positive, got {per_minute}")
        if burst < 1:
            raise ValueError(f"burst must be at least 1, got {burst}")
        self._rate_per_s = per_minute / 60.0
        self._burst = float(burst)
        self._tokens = float(burst)
        self._clock = clock
        self._sleep = sleep
        self._updated = clock()
        # Waiters queue on the lock in arrival order, so the bucket is served first come, first served.
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._updated) * self._rate_per_s)
        self._updated = now

    async def acquire(self) -> float:
        """Take one token, waiting for it if needed; returns the seconds waited."""
        async with self._lock:
            self._refill()
            waited = 0.0
            if self._tokens < 1.0:
                waited = (1.0 - self._tokens) / self._rate_per_s
                await self._sleep(waited)
                self._refill()
            # May dip a hair below zero from float rounding; the next caller's wait absorbs it.
            self._tokens -= 1.0
            return waited


class CallLimits:
    """Both limits together: a concurrency slot first, then a rate token, then the attempt."""

    def __init__(self, concurrency: int, rate: RateLimiter | None = None) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        self._slots = asyncio.Semaphore(concurrency)
        self._rate = rate

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        # The rate token is taken while holding the slot: taken before it, tokens granted on time
        # could pile up behind the semaphore and then fire together, breaking the spacing.
        async with self._slots:
            if self._rate is not None:
                await self._rate.acquire()
            yield
