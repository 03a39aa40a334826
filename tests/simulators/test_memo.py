"""A neuron's simulator asks once per (explanation, record) it has read; failures are asked again.
The inner simulator is a counting fake: the LLM's answers are not what is tested here."""

from __future__ import annotations

from collections.abc import Sequence

from tools.simulators.base import RecordSimulation
from tools.simulators.memo import MemoizedSimulator


class Counting:
    """Simulates every token as 1.0, except records holding "bad", which fail."""

    method = "counting"

    def __init__(self) -> None:
        self.asked: list[tuple[str, list[str]]] = []

    async def simulate(self, explanation: str, records: Sequence[Sequence[str]]) -> list[RecordSimulation]:
        self.asked += [(explanation, list(r)) for r in records]
        return [RecordSimulation.failed(self.method, r, "unreadable") if "bad" in r
                else RecordSimulation(method=self.method, tokens=list(r), expected=[1.0] * len(r)) for r in records]


async def test_a_record_is_simulated_once_per_explanation_and_failures_are_asked_again() -> None:
    inner = Counting()
    memo = MemoizedSimulator(inner)
    a, b, bad = ["a", " b"], ["c"], ["bad"]
    first = await memo.simulate("e1", [a, b, a, bad])
    assert inner.asked == [("e1", a), ("e1", b), ("e1", bad)]
    assert [s.ok for s in first] == [True, True, True, False] and first[0].tokens == first[2].tokens == a
    second = await memo.simulate("e1", [b, bad, a])
    assert inner.asked[3:] == [("e1", bad)]
    assert [s.tokens for s in second] == [b, bad, a] and [s.ok for s in second] == [True, False, True]
    await memo.simulate("e2", [a])
    assert inner.asked[4:] == [("e2", a)] and memo.method == "counting"
