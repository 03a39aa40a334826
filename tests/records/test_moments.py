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
    got = moments.result()
    centred = x - x.mean(axis=0)
    var = (centred**2).mean(axis=0)
    np.testing.assert_allclose(got["mean"], x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(got["variance"], var, rtol=1e-10)
    np.testing.assert_allclose(got["skewness"], (centred**3).mean(axis=0) / var**1.5, rtol=1e-8)
    np.testing.assert_allclose(got["kurtosis"], (centred**4).mean(axis=0) / var**2 - 3.0, rtol=1e-8)


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
    got = moments.result()
    exact = x.astype(np.float64)
    centred = exact - exact.mean(axis=0)
    var = (centred**2).mean(axis=0)
    np.testing.assert_allclose(got["mean"], exact.mean(axis=0), rtol=1e-9)
    np.testing.assert_allclose(got["variance"], var, rtol=1e-5)
    np.testing.assert_allclose(got["skewness"], (centred**3).mean(axis=0) / var**1.5, rtol=1e-4)
    np.testing.assert_allclose(got["kurtosis"], (centred**4).mean(axis=0) / var**2 - 3.0, rtol=1e-4)
