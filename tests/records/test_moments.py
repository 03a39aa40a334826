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
