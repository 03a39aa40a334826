"""The records pass on the subject's device: the same records as the host path, provenance that says
where and in what dtype they were computed, and directories that stay in one dtype."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.support.records import make_manifest
from tests.support.subjects import PlainSubject
from tools.errors import BadInputError
from tools.formats.openai import read_neuron_record
from tools.records.accumulate import LayerAccumulator, hash_priority
from tools.records.builder import build_layer_records
from tools.records.store import RecordsManifest, RecordStore
from tools.subject.base import SubjectModel, TensorSubject
from tools.subject.bridge import BridgeSubject
from tools.subject.registry import load_subject

NEURONS = [1, 8, 30, 127]


def _build(subject: SubjectModel, excerpts: np.ndarray, root: Path, manifest: RecordsManifest, neurons: list[int] = NEURONS) -> RecordStore:
    store = RecordStore(root)
    build_layer_records(subject, excerpts, 2, neurons, store, manifest, "pydoc-test", batch_size=16, calibration_excerpts=100)
    return store


def test_device_path_writes_the_records_of_the_host_path(tiny_subject: BridgeSubject, tiny_excerpts: np.ndarray, tmp_path: Path) -> None:
    host = PlainSubject(tiny_subject)
    assert not isinstance(host, TensorSubject) and isinstance(tiny_subject, TensorSubject)
    manifest = make_manifest(tiny_subject, tiny_excerpts)
    a = _build(host, tiny_excerpts, tmp_path / "host", manifest)
    b = _build(tiny_subject, tiny_excerpts, tmp_path / "device", manifest)
    for neuron in NEURONS:
        ra, rb = a.read(2, neuron), b.read(2, neuron)
        assert ra.model_dump(exclude={"provenance"}) == rb.model_dump(exclude={"provenance"})


def test_provenance_names_device_and_dtype(tiny_subject: BridgeSubject, tiny_excerpts: np.ndarray, tmp_path: Path) -> None:
    store = _build(tiny_subject, tiny_excerpts, tmp_path, make_manifest(tiny_subject, tiny_excerpts), [5])
    provenance = read_neuron_record(store.path(2, 5)).provenance
    assert provenance is not None and (provenance.device, provenance.dtype) == ("cpu", "float32")
    assert json.loads(store.manifest_path.read_text())["dtype"] == "float32"


def test_a_directory_is_never_extended_in_another_dtype(tiny_subject: BridgeSubject, tiny_excerpts: np.ndarray, tmp_path: Path) -> None:
    manifest = make_manifest(tiny_subject, tiny_excerpts)
    _build(tiny_subject, tiny_excerpts, tmp_path, manifest, [5])
    half = load_subject("tiny-llama", device="cpu", dtype="bfloat16")
    other = manifest.model_copy(update={"dtype": "bfloat16"})
    with pytest.raises(BadInputError, match="dtype: has 'float32', asked 'bfloat16'.*pass --dtype float32"):
        _build(half, tiny_excerpts, tmp_path, other, [5, 6])
    # Reading what is there needs no new records: any dtype may use them.
    report = build_layer_records(half, tiny_excerpts, 2, [5], RecordStore(tmp_path), other, "pydoc-test")
    assert report.written == [] and report.skipped == [5]


def test_manifests_from_before_the_dtype_field_are_float32(tmp_path: Path, tiny_subject: BridgeSubject, tiny_excerpts: np.ndarray) -> None:
    old = make_manifest(tiny_subject, tiny_excerpts).model_dump()
    del old["dtype"]
    (tmp_path / "manifest.json").write_text(json.dumps(old))
    manifest = RecordStore(tmp_path).manifest()
    assert manifest is not None and manifest.dtype == "float32"


def test_bfloat16_records_hold_float32_values_of_the_bfloat16_model(tiny_excerpts: np.ndarray, tmp_path: Path) -> None:
    half = load_subject("tiny-llama", device="cpu", dtype="bfloat16")
    manifest = make_manifest(half, tiny_excerpts).model_copy(update={"dtype": "bfloat16"})
    store = _build(half, tiny_excerpts, tmp_path, manifest, [8])
    record = store.read(2, 8)
    assert record.provenance is not None and record.provenance.dtype == "bfloat16"
    top = record.most_positive_activation_records[0]
    assert top.token_ids is not None
    expected = half.activations([top.token_ids], 2, [8])[0][:, 0]
    np.testing.assert_allclose(top.activations, expected, atol=1e-6)


def test_hash_priority_is_splitmix64_of_the_unsigned_arithmetic() -> None:
    """Against the same hash in Python's unbounded integers, masked to 64 bits."""

    def reference(seed: int, neuron: int, excerpt: int) -> int:
        mask = (1 << 64) - 1
        x = ((neuron * 0x9E3779B97F4A7C15) & mask) ^ ((excerpt * 0xBF58476D1CE4E5B9 + seed * 0x94D049BB133111EB) & mask)
        x ^= x >> 30
        x = (x * 0xBF58476D1CE4E5B9) & mask
        x ^= x >> 27
        x = (x * 0x94D049BB133111EB) & mask
        x ^= x >> 31
        return x >> 11

    neurons, excerpts = [0, 1, 17, 6399, 2**20], [0, 3, 1_000_003, 2**33]
    for seed in (0, 7, 2**31 - 1):
        got = hash_priority(seed, torch.tensor(neurons), torch.tensor(excerpts))
        assert got.tolist() == [[reference(seed, n, e) for n in neurons] for e in excerpts]


def test_accumulator_state_round_trips_through_the_host(tiny_subject: BridgeSubject) -> None:
    rng = np.random.default_rng(2)
    acts = rng.normal(size=(60, 5, 3)).astype(np.float32)
    whole = LayerAccumulator([0, 1, 2], 60, 5, top_k=6, n_random=4, n_per_quantile=2, calibration_excerpts=20, seed=3)
    for batch in whole.batches(8):
        whole.update(batch, acts[batch])
    first = LayerAccumulator([0, 1, 2], 60, 5, top_k=6, n_random=4, n_per_quantile=2, calibration_excerpts=20, seed=3)
    for batch in first.batches(8)[:4]:
        first.update(batch, torch.from_numpy(acts[batch]))
    resumed = LayerAccumulator([0, 1, 2], 60, 5, top_k=6, n_random=4, n_per_quantile=2, calibration_excerpts=20, seed=3)
    resumed.load_state(first.state())
    for batch in resumed.batches(8):
        resumed.update(batch, acts[batch])
    for j in range(3):
        a, b = whole.summary(j), resumed.summary(j)
        assert a.top.excerpts.tolist() == b.top.excerpts.tolist() and a.random.excerpts.tolist() == b.random.excerpts.tolist()
        assert [s.excerpts.tolist() for s in a.by_quantile] == [s.excerpts.tolist() for s in b.by_quantile]
        assert a.moments == pytest.approx(b.moments, rel=1e-12)
