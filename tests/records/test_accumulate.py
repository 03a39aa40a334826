"""The streaming top-k against a brute-force ranking, on values with many ties."""

import numpy as np
import pytest

from tools.records.accumulate import LayerAccumulator


@pytest.mark.parametrize("batch_size", [1, 7, 64])
def test_top_k_with_ties_matches_brute_force_in_pass_order(batch_size: int) -> None:
    rng = np.random.default_rng(3)
    n_excerpts, length, n = 150, 4, 6
    # Small integers: most maxima are tied, so the tie rule (first seen in the pass stays) decides.
    acts = rng.integers(0, 5, size=(n_excerpts, length, n)).astype(np.float32)
    acc = LayerAccumulator(list(range(n)), n_excerpts, length, top_k=10, n_random=5, calibration_excerpts=20, seed=1)
    for batch in acc.batches(batch_size):
        acc.update(batch, acts[batch])
    arrival = np.argsort(acc.order)
    for j in range(n):
        maxes = acts[:, :, j].max(axis=1)
        expected = sorted(range(n_excerpts), key=lambda e: (-maxes[e], arrival[e]))[:10]
        top = acc.summary(j).top
        assert top.excerpts.tolist() == expected
        np.testing.assert_array_equal(top.activations, acts[expected, :, j])


def test_fewer_excerpts_than_k_keeps_them_all() -> None:
    acts = np.arange(3 * 2 * 2, dtype=np.float32).reshape(3, 2, 2)
    acc = LayerAccumulator([0, 1], 3, 2, top_k=10, n_random=2, calibration_excerpts=2, seed=0)
    for batch in acc.batches(2):
        acc.update(batch, acts[batch])
    assert acc.summary(0).top.excerpts.tolist() == [2, 1, 0]
