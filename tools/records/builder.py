"""Build NeuronRecords for many neurons of one layer in a single streaming pass over the corpus.

One forward per batch serves every requested neuron, and the accumulators run on the subject's
device, on the activations as the forward left them there. The accumulator's state is
checkpointed to `{root}/.partial/` every `checkpoint_seconds`, so a killed pass resumes where it
stopped (on any device: the checkpoint is host arrays); record files are written atomically at
the end, and neurons that already have a file are skipped.
"""

from __future__ import annotations

import contextlib
import gc
import io
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import structlog
import torch

from tools.atomic import atomic_write_bytes
from tools.formats.openai import ActivationRecord, NeuronId, NeuronRecord, RecordProvenance
from tools.records.accumulate import LayerAccumulator, NeuronSample
from tools.records.store import RecordsManifest, RecordStore
from tools.subject.base import SubjectModel, TensorSubject, check_layer, check_neurons
from tools.subject.device import DEFAULT_CPU_BATCH

log = structlog.get_logger(__name__)

Progress = Callable[[int, int], None]
"""Called after each batch with (tokens done, tokens total) of the pass."""


@dataclass(frozen=True)
class BuildReport:
    layer: int
    written: list[int]
    skipped: list[int]
    tokens: int
    seconds: float
    """Wall time of the pass (forward and accumulators), before any file is written."""
    resumed_from: int
    cpu_seconds: float = 0.0
    """CPU time this process spent in the pass, all its threads (on a shared machine, steadier than wall time)."""


def _partial_path(store: RecordStore, layer: int) -> Path:
    return store.root / ".partial" / f"layer{layer}.npz"


def _save_partial(path: Path, acc: LayerAccumulator, neurons: list[int]) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, neurons=np.asarray(neurons), **acc.state())  # type: ignore[arg-type]  # stub: ** could reach allow_pickle; state() holds arrays only
    atomic_write_bytes(path, buffer.getvalue())


def _load_partial(path: Path, acc: LayerAccumulator, neurons: list[int]) -> bool:
    if not path.is_file():
        return False
    try:
        with np.load(path) as data:
            if not np.array_equal(data["neurons"], np.asarray(neurons)):
                return False
            acc.load_state({k: data[k] for k in data.files if k != "neurons"})
    except (ValueError, KeyError, OSError) as err:
        log.warning("discard_partial", path=str(path), reason=str(err))
        return False
    return True


def _records(sample: NeuronSample, excerpts: np.ndarray, pieces: _PieceTable) -> list[ActivationRecord]:
    values = np.round(sample.activations.astype(np.float64), 6)
    if not np.isfinite(values).all():
        raise ValueError("the subject produced non-finite activations; the model weights are broken")
    rows = np.asarray(excerpts[sample.excerpts])
    # Built without re-validation: shapes and finiteness are guaranteed here, and this runs per record.
    return [
        ActivationRecord.model_construct(tokens=tokens, activations=acts, token_ids=ids, excerpt_index=int(e))
        for tokens, acts, ids, e in zip(pieces(rows), values.tolist(), rows.tolist(), sample.excerpts, strict=True)
    ]


def build_layer_records(
    subject: SubjectModel,
    excerpts: np.ndarray,
    layer: int,
    neurons: Sequence[int],
    store: RecordStore,
    manifest: RecordsManifest,
    corpus_id: str,
    batch_size: int | None = None,
    checkpoint_seconds: float = 60.0,
    calibration_excerpts: int = 2048,
    progress: Progress | None = None,
) -> BuildReport:
    """Write `{store}/{layer}/{neuron}.json` for every neuron in `neurons` that has no file yet.

    `batch_size` None: the subject's choice for its device (32 on the CPU, from free memory on a GPU).
    """
    check_layer(subject.info, layer)
    check_neurons(subject.info, neurons)
    todo = sorted({n for n in neurons if not store.has(layer, n)})
    store.claim(manifest, building=bool(todo))
    skipped = sorted(set(neurons) - set(todo))
    if not todo:
        return BuildReport(layer, [], skipped, 0, 0.0, 0)
    n_excerpts, length = excerpts.shape
    forward, device, auto_batch = _forward_for(subject, layer, todo, length)
    batch_size = batch_size or auto_batch
    acc = LayerAccumulator(
        todo, n_excerpts, length, manifest.top_k, manifest.n_random, manifest.n_per_quantile,
        calibration_excerpts=calibration_excerpts, seed=manifest.seed, device=device,
    )
    partial = _partial_path(store, layer)
    resumed_from = acc.processed if _load_partial(partial, acc, todo) else 0
    if resumed_from:
        log.info("resume_pass", layer=layer, excerpts_done=resumed_from, of=n_excerpts)
    started, cpu_started = time.monotonic(), time.process_time()
    last_checkpoint = started
    total_tokens = n_excerpts * length
    log.info("records_pass", layer=layer, neurons=len(todo), device=subject.info.device, dtype=subject.info.dtype,
             batch_size=batch_size)
    for batch in acc.batches(batch_size):
        acc.update(batch, forward(np.asarray(excerpts[batch])))
        if progress is not None:
            progress(acc.processed * length, total_tokens)
        if time.monotonic() - last_checkpoint > checkpoint_seconds and acc.processed < n_excerpts:
            _save_partial(partial, acc, todo)
            last_checkpoint = time.monotonic()
    acc.finish()
    seconds, cpu_seconds = time.monotonic() - started, time.process_time() - cpu_started

    provenance = RecordProvenance(
        model_id=manifest.model_id, corpus_id=corpus_id, corpus_sha256=manifest.corpus_sha256,
        excerpt_tokens=length, prepend_bos=manifest.prepend_bos, n_excerpts=n_excerpts, seed=manifest.seed,
        device=subject.info.device, dtype=subject.info.dtype,
    )
    pieces = _PieceTable(subject)
    with _without_cyclic_gc():
        _write_records(store, acc, todo, layer, excerpts, pieces, provenance)
    partial.unlink(missing_ok=True)
    tokens = (n_excerpts - resumed_from) * length
    log.info("records_written", layer=layer, neurons=len(todo), skipped=len(skipped), tokens=tokens, seconds=round(seconds, 1))
    return BuildReport(layer, todo, skipped, tokens, seconds, resumed_from, cpu_seconds)


def _forward_for(subject: SubjectModel, layer: int, todo: list[int], length: int
                 ) -> tuple[Callable[[np.ndarray], torch.Tensor], str, int]:
    """(token ids (b, T) -> activations (b, T, len(todo)), the device they are on, the batch size that suits it)."""
    if isinstance(subject, TensorSubject):
        # The whole layer needs no neuron selection in the forward.
        wanted = None if todo == list(range(subject.info.d_mlp)) else todo
        # Not every torch version has the accumulators' int64 kernels (top-k over 50+ keys, shifts)
        # on Apple's MPS; with its unified memory, handing the batch to the CPU is cheap.
        device = "cpu" if subject.info.device == "mps" else subject.info.device
        return (lambda ids: subject.activations_tensor(ids, layer, wanted)), device, subject.batch_size(length, len(todo))
    return (lambda ids: torch.from_numpy(np.stack(subject.activations(ids.tolist(), layer, todo)))), "cpu", DEFAULT_CPU_BATCH


@contextlib.contextmanager
def _without_cyclic_gc() -> Iterator[None]:
    """Records are freed by reference counting; the cyclic collector, triggered by their many
    allocations, would rescan the whole heap (the model included) again and again."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _write_records(store: RecordStore, acc: LayerAccumulator, todo: list[int], layer: int, excerpts: np.ndarray,
                   pieces: _PieceTable, provenance: RecordProvenance) -> None:
    """Each neuron's NeuronRecord file, from the finished pass."""
    for position, neuron in enumerate(todo):
        summary = acc.summary(position)
        # Unvalidated like its records (validating would check every record again); moments are
        # already None where undefined.
        record = NeuronRecord.model_construct(
            neuron_id=NeuronId(layer_index=layer, neuron_index=neuron),
            random_sample=_records(summary.random, excerpts, pieces),
            random_sample_by_quantile=[_records(s, excerpts, pieces) for s in summary.by_quantile],
            quantile_boundaries=summary.quantile_boundaries,
            most_positive_activation_records=_records(summary.top, excerpts, pieces),
            provenance=provenance,
            **summary.moments,
        )
        store.write(record)


class _PieceTable:
    """Decoded piece per token id, each distinct id decoded once, and a record's tokens one
    fancy-indexing away (this runs for every record of every neuron)."""

    def __init__(self, subject: SubjectModel) -> None:
        self._subject = subject
        self._pieces = np.empty(subject.info.vocab_size, dtype=object)
        self._known = np.zeros(subject.info.vocab_size, dtype=bool)

    def __call__(self, ids: np.ndarray) -> list[Any]:
        """The pieces of `ids`, nested as `ids` is (a list of lists for a 2-D array)."""
        if not self._known[ids].all():
            missing = np.unique(ids[~self._known[ids]])
            self._pieces[missing] = self._subject.token_strings(missing.tolist())
            self._known[missing] = True
        pieces: list[Any] = self._pieces[ids].tolist()
        return pieces
