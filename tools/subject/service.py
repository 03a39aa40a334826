"""Async access to a subject model shared by many concurrent neurons.

Forwards run in a worker thread (torch releases the GIL), one at a time: the bridge installs hooks
on the shared model for each forward, so two forwards must never overlap. Requests that arrive
while a forward runs are merged into the next one when they read the same layer (micro-batching):
one forward serves the probes of every neuron waiting on that layer. Sampling goes through the same
lock for the same reason.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from tools.subject.base import SubjectInfo, SubjectModel, TextGenerator


@dataclass
class _Request:
    sequences: list[list[int]]
    neurons: list[int]
    future: asyncio.Future[list[np.ndarray]]


@dataclass
class ActivationService:
    subject: SubjectModel
    forwards: int = 0
    """Forward batches run (a request merged into another's batch does not add one)."""
    sequences: int = 0
    _queues: dict[int, list[_Request]] = field(default_factory=dict)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def info(self) -> SubjectInfo:
        return self.subject.info

    async def activations(self, sequences: Sequence[Sequence[int]], layer: int, neurons: Sequence[int]) -> list[np.ndarray]:
        """Like `SubjectModel.activations`, for the given neurons, possibly batched with other callers."""
        loop = asyncio.get_running_loop()
        request = _Request([list(s) for s in sequences], list(neurons), loop.create_future())
        self._queues.setdefault(layer, []).append(request)
        async with self._lock:
            batch = self._queues.pop(layer, [])
            if batch:
                await self._run(layer, batch)
        return await request.future

    async def generate(self, prompt_ids: Sequence[int], max_new_tokens: int, temperature: float, seed: int) -> list[int] | None:
        """A sampled continuation, or None when the subject cannot generate; never overlaps a forward."""
        if not isinstance(self.subject, TextGenerator):
            return None
        async with self._lock:
            return await asyncio.to_thread(self.subject.generate, prompt_ids, max_new_tokens, temperature, seed)

    async def _run(self, layer: int, batch: list[_Request]) -> None:
        neurons = sorted({n for r in batch for n in r.neurons})
        column = {n: i for i, n in enumerate(neurons)}
        sequences = [s for r in batch for s in r.sequences]
        try:
            values = await asyncio.to_thread(self.subject.activations, sequences, layer, neurons)
        except Exception as err:  # every waiting caller gets the same error
            for r in batch:
                if not r.future.done():
                    r.future.set_exception(err)
            return
        self.forwards += 1
        self.sequences += len(sequences)
        start = 0
        for r in batch:
            cols = [column[n] for n in r.neurons]
            part = values[start : start + len(r.sequences)]
            start += len(r.sequences)
            if not r.future.done():
                r.future.set_result([v[:, cols] for v in part])
