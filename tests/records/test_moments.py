import numpy as np
import pytest

from tools.records.moments import StreamingMoments


@pytest.mark.parametrize("chunks", [1, 3, 17])
def test_streaming_moments_match_numpy(chunks: int) -> None:
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.gamma(2.0, 3.0, size=(4000, 5)) + 50.0, rng.normal(size=(1000, 5))])
    moments = StreamingMoments(5)
    for part in np.array_split(x, chunks):
        moments.update(part)
    assert_moments(moments.result(), x, rtol=(1e-12, 1e-10, 1e-8, 1e-8))


def assert_moments(got: dict[str, np.ndarray], x: np.ndarray, rtol: tuple[float, float, float, float]) -> None:
    """`got` against numpy's mean, variance, skewness and excess kurtosis of x (float64), per column."""
    x = x.astype(np.float64)
    centred = x - x.mean(axis=0)
    var = (centred**2).mean(axis=0)
    expected = (x.mean(axis=0), var, (centred**3).mean(axis=0) / var**1.5, (centred**4).mean(axis=0) / var**2 - 3.0)
    for name, want, tolerance in zip(("mean", "variance", "skewness", "kurtosis"), expected, rtol, strict=True):
        np.testing.assert_allclose(got[name], want, rtol=tolerance, err_msg=name)


def test_constant_neuron_has_undefined_shape_moments() -> None:
    moments = StreamingMoments(2)
    moments.update(np.ones((10, 2)))
    got = moments.result()
    assert got["variance"].tolist() == [0.0, 0.0]
    assert np.isnan(got["skewness"]).all() and np.isnan(got["kurtosis"]).all()


def test_float32_input_keeps_float64_accuracy_of_its_values() -> None:
    # float32 batches are centred in float32 and summed in float64: the result must match float64
    # moments of the same (float32-rounded) values, offset mean included.
    rng = np.random.default_rng(1)
    x = (rng.gamma(2.0, 3.0, size=(6000, 4)) + 20.0).astype(np.float32)
    moments = StreamingMoments(4)
    for part in np.array_split(x, 7):
        moments.update(part)
    assert_moments(moments.result(), x, rtol=(1e-9, 1e-5, 1e-4, 1e-4))
