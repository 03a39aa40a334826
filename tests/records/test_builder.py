"""The record builder on the tiny model, checked against brute force over every excerpt."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.support.records import make_manifest
from tools.formats.openai import read_neuron_record
from tools.records.builder import build_layer_records
from tools.records.store import RecordStore
from tools.subject.bridge import BridgeSubject

LAYER = 2
NEURONS = [0, 5, 17, 100, 127]


@pytest.fixture(scope="module")
def brute(tiny_subject: BridgeSubject, tiny_excerpts: np.ndarray) -> np.ndarray:
    """Activations of every excerpt for NEURONS: (excerpts, tokens, neurons)."""
    return np.stack(tiny_subject.activations(tiny_excerpts.tolist(), LAYER, NEURONS))


@pytest.fixture(scope="module")
def built(tiny_subject: BridgeSubject, tiny_excerpts: np.ndarray, tmp_path_factory: pytest.TempPathFactory) -> RecordStore:
    store = RecordStore(tmp_path_factory.mktemp("records"))
    build_layer_records(
        tiny_subject, tiny_excerpts, LAYER, NEURONS, store, make_manifest(tiny_subject, tiny_excerpts), "pydoc-test",
        batch_size=7, calibration_excerpts=100,
    )
    return store


def test_top_k_matches_brute_force(built: RecordStore, brute: np.ndarray) -> None:
    for j, neuron in enumerate(NEURONS):
        record = built.read(LAYER, neuron)
        maxes = brute[:, :, j].max(axis=1)
        expected = np.argsort(-maxes, kind="stable")[:12]
        got = [r.excerpt_index for r in record.most_positive_activation_records]
        assert got == expected.tolist()
        for r in record.most_positive_activation_records:
            np.testing.assert_allclose(r.activations, brute[r.excerpt_index, :, j], atol=1e-5)
        ranked = [max(r.activations) for r in record.most_positive_activation_records]
        assert ranked == sorted(ranked, reverse=True)


def test_moments_match_numpy_over_all_activations(built: RecordStore, brute: np.ndarray) -> None:
    for j, neuron in enumerate(NEURONS):
        record = built.read(LAYER, neuron)
        values = brute[:, :, j].astype(np.float64).ravel()
        centred = values - values.mean()
        var = (centred**2).mean()
        assert record.mean == pytest.approx(values.mean(), rel=1e-5, abs=1e-7)
        assert record.variance == pytest.approx(var, rel=1e-5)
        assert record.skewness == pytest.approx((centred**3).mean() / var**1.5, rel=1e-4)
        assert record.kurtosis == pytest.approx((centred**4).mean() / var**2 - 3, rel=1e-4)


def test_random_and_quantile_samples_hold_real_activations(built: RecordStore, brute: np.ndarray, tiny_excerpts: np.ndarray, tiny_subject: BridgeSubject) -> None:
    samples = []
    for j, neuron in enumerate(NEURONS):
        record = built.read(LAYER, neuron)
        assert len(record.random_sample) == 9
        indices = [r.excerpt_index for r in record.random_sample]
        assert len(set(indices)) == 9
        samples.append(tuple(indices))
        for r in record.random_sample:
            np.testing.assert_allclose(r.activations, brute[r.excerpt_index, :, j], atol=1e-5)
            assert r.token_ids == tiny_excerpts[r.excerpt_index].tolist()
            assert r.tokens == tiny_subject.token_strings(r.token_ids)
        bounds = record.quantile_boundaries
        assert bounds is not None and len(bounds) == 5 and bounds == sorted(bounds)
        assert record.random_sample_by_quantile is not None and len(record.random_sample_by_quantile) == 4
        for b, records in enumerate(record.random_sample_by_quantile):
            if b < 2:  # the two rare bins may legitimately be empty on 200 excerpts
                assert records, f"bin {b} of neuron {neuron} is empty"
            for r in records:
                assert bounds[b] - 1e-5 <= max(r.activations) < bounds[b + 1] + 1e-5
    # Random samples are drawn independently per neuron.
    assert len(set(samples)) == len(samples)


def test_records_are_openai_files_with_provenance(built: RecordStore) -> None:
    path = built.path(LAYER, NEURONS[0])
    text = path.read_text()
    assert text.startswith('{"dataclass_name":"NeuronRecord"')
    record = read_neuron_record(path)
    assert record.provenance is not None and record.provenance.model_id == "tiny-llama"
    assert record.provenance.prepend_bos is True


def test_batching_does_not_change_results(tiny_subject: BridgeSubject, tiny_excerpts: np.ndarray, built: RecordStore, tmp_path: Path) -> None:
    other = RecordStore(tmp_path)
    build_layer_records(
        tiny_subject, tiny_excerpts, LAYER, NEURONS[:2], other, make_manifest(tiny_subject, tiny_excerpts), "pydoc-test",
        batch_size=64, calibration_excerpts=100,
    )
    for neuron in NEURONS[:2]:
        a, b = other.read(LAYER, neuron), built.read(LAYER, neuron)
        for name in ("most_positive_activation_records", "random_sample"):
            assert [r.excerpt_index for r in getattr(a, name)] == [r.excerpt_index for r in getattr(b, name)]
        assert a.random_sample_by_quantile is not None and b.random_sample_by_quantile is not None
        for bin_a, bin_b in zip(a.random_sample_by_quantile, b.random_sample_by_quantile, strict=True):
            assert [r.excerpt_index for r in bin_a] == [r.excerpt_index for r in bin_b]
        np.testing.assert_allclose(
            [v for r in a.most_positive_activation_records for v in r.activations],
            [v for r in b.most_positive_activation_records for v in r.activations], atol=1e-5,
        )
