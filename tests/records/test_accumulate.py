"""The streaming top-k against a brute-force ranking, on values with many ties."""

import numpy as np
import pytest

from tools.records.accumulate import LayerAccumulator


@pytest.mark.parametrize("dense", [False, True], ids=["entrants-moved", "all-slots-rewritten"])
@pytest.mark.parametrize("batch_size", [1, 7, 64])
def test_top_k_with_ties_matches_brute_force_in_pass_order(batch_size: int, dense: bool) -> None:
    rng = np.random.default_rng(3)
    n_excerpts, length, n = 150, 4, 6
    # Small integers: most maxima are tied, so the tie rule (first seen in the pass stays) decides.
    acts = rng.integers(0, 5, size=(n_excerpts, length, n)).astype(np.float32)
    acc = LayerAccumulator(list(range(n)), n_excerpts, length, top_k=10, n_random=5, calibration_excerpts=20, seed=1,
                           dense_updates=dense)
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


@pytest.mark.parametrize("batch_size", [1, 9, 200])
def test_both_update_strategies_keep_the_same_samples(batch_size: int) -> None:
    """Moving only the entrants (the CPU) and rewriting every slot (accelerators: no host sync) agree exactly."""
    rng = np.random.default_rng(4)
    acts = (rng.integers(-4, 8, size=(400, 6, 7)) * 0.25).astype(np.float32)

    def run(dense: bool) -> LayerAccumulator:
        acc = LayerAccumulator([3, 1, 4, 15, 9, 2, 6], 400, 6, top_k=8, n_random=5, n_per_quantile=3,
                               calibration_excerpts=100, seed=2, dense_updates=dense)
        for batch in acc.batches(batch_size):
            acc.update(batch, acts[batch])
        return acc

    sparse, dense = run(False), run(True)
    for j in range(7):
        a, b = sparse.summary(j), dense.summary(j)
        for x, y in [(a.top, b.top), (a.random, b.random), *zip(a.by_quantile, b.by_quantile, strict=True)]:
            np.testing.assert_array_equal(x.excerpts, y.excerpts)
            np.testing.assert_array_equal(x.activations, y.activations)
        assert a.quantile_boundaries == b.quantile_boundaries and a.moments == b.moments
