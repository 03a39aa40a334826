"""Async access to a subject model shared by many concurrent neurons.

Forwards run in a worker thread (torch releases the GIL), one at a time: the bridge installs hooks
on the shared model for each forward, so two forwards must never overlap. Requests that arrive
while a forward runs are merged into the next one of their kind (micro-batching): one forward
serves the probes of every neuron waiting on that layer, and one decoding loop samples the
continuations of every neuron waiting for one (each from its own seed, so the batch it lands in
does not change what it gets).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tools.subject.base import OutputReader, SubjectInfo, SubjectModel, TextGenerator
from tools.subject.output_side import OutputSide

KEPT_OUTPUT_SIDES = 256
"""Kept output sides at most (a sweep's neurons in flight): the oldest goes first."""


@dataclass
class _Request:
    payload: Any
    future: asyncio.Future[Any]


@dataclass
class ActivationService:
    subject: SubjectModel
    forwards: int = 0
    """Forward batches run (a request merged into another's batch does not add one)."""
    samplings: int = 0
    """Decoding loops run (continuations sampled together count once)."""
    _queues: dict[Hashable, list[_Request]] = field(default_factory=dict)
    _output_sides: dict[Hashable, OutputSide] = field(default_factory=dict)
    """Output sides read with `keep`, by neuron and sequences, until asked for again (at most `KEPT_OUTPUT_SIDES`)."""
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def info(self) -> SubjectInfo:
        return self.subject.info

    async def activations(self, sequences: Sequence[Sequence[int]], layer: int, neurons: Sequence[int]) -> list[np.ndarray]:
        """Like `SubjectModel.activations`, for the given neurons, possibly batched with other callers."""
        result: list[np.ndarray] = await self._batched(
            ("activations", layer), ([list(s) for s in sequences], list(neurons)),
            lambda batch: self._forward(layer, batch),
        )
        return result

    async def generate(self, prompt_ids: Sequence[int], max_new_tokens: int, temperature: float, seed: int) -> list[int] | None:
        """A sampled continuation, or None when the subject cannot generate; never overlaps a forward."""
        subject = self.subject
        if not isinstance(subject, TextGenerator):
            return None

        def sample(batch: list[tuple[list[int], int]]) -> list[list[int]]:
            self.samplings += 1
            return subject.generate([p for p, _ in batch], max_new_tokens, temperature, [s for _, s in batch])

        result: list[int] = await self._batched(("generate", max_new_tokens, temperature), (list(prompt_ids), seed), sample)
        return result

    async def output_side(self, layer: int, neuron: int, sequences: Sequence[Sequence[int]], keep: bool = False) -> OutputSide | None:
        """What the neuron does to the output (`OutputReader`), or None when the subject cannot say; never
        overlaps a forward (its hooks sit on the shared model while it runs). `keep`: the same question asked
        again later (the explainer's hint early, the neuron's end later) is answered without reading it again."""
        subject = self.subject
        if not isinstance(subject, OutputReader):
            return None
        key = (layer, neuron, tuple(tuple(s) for s in sequences))
        if key in self._output_sides:
            return self._output_sides.pop(key)

        def read(batch: list[tuple[int, int, list[list[int]]]]) -> list[OutputSide]:
            return [subject.output_side(l_, n, seqs) for l_, n, seqs in batch]

        result: OutputSide = await self._batched(("output_side", layer, neuron), (layer, neuron, [list(s) for s in sequences]), read)
        if keep:
            self._output_sides[key] = result
            while len(self._output_sides) > KEPT_OUTPUT_SIDES:
                self._output_sides.pop(next(iter(self._output_sides)))
        return result

    async def _batched(self, key: Hashable, payload: Any, run: Callable[[list[Any]], list[Any]]) -> Any:
        """`payload`'s share of `run` over every payload queued under `key` when the lock comes free;
        `run` gets the payloads in order and returns one result each, in a worker thread."""
        request = _Request(payload, asyncio.get_running_loop().create_future())
        self._queues.setdefault(key, []).append(request)
        async with self._lock:
            batch = self._queues.pop(key, [])
            if batch:
                try:
                    results = await asyncio.to_thread(run, [r.payload for r in batch])
                except Exception as err:  # every waiting caller gets the same error
                    for r in batch:
                        if not r.future.done():
                            r.future.set_exception(err)
                else:
                    for r, value in zip(batch, results, strict=True):
                        if not r.future.done():
                            r.future.set_result(value)
        return await request.future

    def _forward(self, layer: int, batch: list[tuple[list[list[int]], list[int]]]) -> list[list[np.ndarray]]:
        """One forward for every request's sequences, over the union of their neurons; each request
        gets its own sequences and neurons back."""
        neurons = sorted({n for _, wanted in batch for n in wanted})
        column = {n: i for i, n in enumerate(neurons)}
        values = self.subject.activations([s for sequences, _ in batch for s in sequences], layer, neurons)
        self.forwards += 1
        out, start = [], 0
        for sequences, wanted in batch:
            cols = [column[n] for n in wanted]
            out.append([v[:, cols] for v in values[start : start + len(sequences)]])
            start += len(sequences)
        return out
