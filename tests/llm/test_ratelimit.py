import asyncio

import pytest

from tools.llm.ratelimit import CallLimits, RateLimiter


class FakeClock:
    """Time that moves only when someone sleeps: a minute of schedule runs instantly."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


async def test_requests_are_spaced_evenly_at_the_configured_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(60, clock=clock, sleep=clock.sleep)  # one per second
    granted = []
    for _ in range(5):
        await limiter.acquire()
        granted.append(clock.now)
    assert granted == pytest.approx([0.0, 1.0, 2.0, 3.0, 4.0])


async def test_burst_allows_back_to_back_requests_then_paces() -> None:
    clock = FakeClock()
    limiter = RateLimiter(120, burst=3, clock=clock, sleep=clock.sleep)  # one per 0.5 s
    waits = [await limiter.acquire() for _ in range(5)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3:] == pytest.approx([0.5, 0.5])


async def test_idle_time_refills_the_bucket_but_not_beyond_burst() -> None:
    clock = FakeClock()
    limiter = RateLimiter(60, burst=2, clock=clock, sleep=clock.sleep)
    await limiter.acquire()
    await limiter.acquire()
    clock.now += 100.0  # long idle: only `burst` tokens come back
    assert [await limiter.acquire() for _ in range(3)] == pytest.approx([0.0, 0.0, 1.0])


async def test_concurrent_waiters_are_served_one_interval_apart() -> None:
    clock = FakeClock()
    limiter = RateLimiter(30, clock=clock, sleep=clock.sleep)  # one per 2 s
    granted: list[float] = []

    async def take() -> None:
        await limiter.acquire()
        granted.append(clock.now)

    await asyncio.gather(*(take() for _ in range(4)))
    assert sorted(granted) == pytest.approx([0.0, 2.0, 4.0, 6.0])


@pytest.mark.parametrize("kwargs", [{"per_minute": 0}, {"per_minute": 10, "burst": 0}])
def test_rejects_nonsense_limits(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RateLimiter(**kwargs)  # type: ignore[arg-type]


async def test_call_limits_cap_concurrency() -> None:
    limits = CallLimits(concurrency=3)
    in_flight = 0
    peak = 0

    async def work() -> None:
        nonlocal in_flight, peak
        async with limits.slot():
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.001)
            in_flight -= 1

    await asyncio.gather(*(work() for _ in range(12)))
    assert peak == 3


async def test_call_limits_take_a_rate_token_inside_the_slot() -> None:
    clock = FakeClock()
    limits = CallLimits(concurrency=2, rate=RateLimiter(60, clock=clock, sleep=clock.sleep))
    started: list[float] = []

    async def work() -> None:
        async with limits.slot():
            started.append(clock.now)

    await asyncio.gather(*(work() for _ in range(3)))
    assert sorted(started) == pytest.approx([0.0, 1.0, 2.0])
