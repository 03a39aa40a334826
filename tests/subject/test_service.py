"""The subject service merges concurrent requests of one kind into one forward or decoding loop,
and each caller gets exactly what it would have got alone."""

from __future__ import annotations

import asyncio

import numpy as np

from tools.subject.bridge import BridgeSubject
from tools.subject.service import ActivationService

TEXTS = ["def area(radius):", "return None", "for item in sequence:"]


def test_concurrent_activation_requests_share_a_forward(tiny_subject: BridgeSubject) -> None:
    service = ActivationService(tiny_subject)
    ids = [t.ids for t in tiny_subject.tokenize(TEXTS)]
    wanted = [[3], [7, 3], [100]]

    async def main() -> list[list[np.ndarray]]:
        return await asyncio.gather(*(service.activations([s], 1, n) for s, n in zip(ids, wanted, strict=True)))

    got = asyncio.run(main())
    # The first request runs alone; the two that queued behind it share the next forward.
    assert service.forwards == 2
    for [values], sequence, neurons in zip(got, ids, wanted, strict=True):
        np.testing.assert_array_equal(values, tiny_subject.activations([sequence], 1, neurons)[0])


def test_concurrent_continuations_share_a_decoding_loop(tiny_subject: BridgeSubject) -> None:
    service = ActivationService(tiny_subject)
    ids = [t.ids for t in tiny_subject.tokenize(TEXTS)]

    async def main() -> list[list[int] | None]:
        return await asyncio.gather(*(service.generate(p, 8, 1.0, seed) for seed, p in enumerate(ids)))

    got = asyncio.run(main())
    assert service.samplings == 2
    assert got == [tiny_subject.generate([p], 8, 1.0, [seed])[0] for seed, p in enumerate(ids)]


def test_an_error_reaches_every_caller_of_the_batch(tiny_subject: BridgeSubject) -> None:
    service = ActivationService(tiny_subject)
    [ok] = [t.ids for t in tiny_subject.tokenize(["x"])]

    async def main() -> list[object]:
        return await asyncio.gather(service.activations([ok], 1, [0]), service.activations([ok], 1, [10**6]),
                                    service.activations([ok], 1, [1]), return_exceptions=True)

    first, bad, merged = asyncio.run(main())
    assert isinstance(first, list)
    # The bad neuron index shares its forward with the third request: both get the error.
    assert isinstance(bad, Exception) and "neuron" in str(bad)
    assert type(merged) is type(bad)
