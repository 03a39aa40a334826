"""One neuron's simulations remembered: the same explanation is never simulated twice on the same tokens.

Within a neuron the loop meets the same (explanation, record) again: the current explanation is
re-scored beside the revision candidates on records it already read, a reviser may hand back the
explanation unchanged, and probe records repeat. Each repeat was a paid LLM call whose answer a
deterministic (temperature 0) simulator gives anyway. Only readable simulations are kept: a failed
record is asked again, so a timeout is never remembered as the explanation's failure.
"""

from __future__ import annotations

from collections.abc import Sequence

from tools.simulators.base import RecordSimulation, Simulator


class MemoizedSimulator:
    """A `Simulator` that asks `inner` only for the (explanation, tokens) it has not read yet."""

    def __init__(self, inner: Simulator, identity: str = "") -> None:
        self.inner = inner
        self.identity = identity
        """Who simulates (model, endpoint host, method): part of every key, like the call journal's."""
        self._read: dict[tuple[str, str, tuple[str, ...]], RecordSimulation] = {}

    @property
    def method(self) -> str:
        return self.inner.method

    async def simulate(self, explanation: str, records: Sequence[Sequence[str]]) -> list[RecordSimulation]:
        keys = [(self.identity, explanation, tuple(tokens)) for tokens in records]
        missing = list(dict.fromkeys(key for key in keys if key not in self._read))
        fresh = dict(zip(missing, await self.inner.simulate(explanation, [list(t) for _, _, t in missing]) if missing else [],
                         strict=True))
        for key, simulation in fresh.items():
            if simulation.ok:
                self._read[key] = simulation
        return [self._read.get(key) or fresh[key] for key in keys]
