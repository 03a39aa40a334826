"""Build NeuronRecords for many neurons of one layer in a single streaming pass over the corpus.

One forward per batch serves every requested neuron. The accumulator's state is checkpointed to
`{root}/.partial/` every `checkpoint_seconds`, so a killed pass resumes where it stopped; record
files are written atomically at the end, and neurons that already have a file are skipped.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import structlog

from tools.atomic import atomic_write_bytes
from tools.formats.openai import ActivationRecord, NeuronId, NeuronRecord, RecordProvenance
from tools.records.accumulate import LayerAccumulator, NeuronSample
from tools.records.store import RecordsManifest, RecordStore
from tools.subject.base import SubjectModel, check_layer, check_neurons

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
    resumed_from: int


def _partial_path(store: RecordStore, layer: int) -> Path:
    return store.root / ".partial" / f"layer{layer}.npz"


def _save_partial(path: Path, acc: LayerAccumulator, neurons: list[int]) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, neurons=np.asarray(neurons), **acc.state())
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


def _records(sample: NeuronSample, excerpts: np.ndarray, pieces: Callable[[np.ndarray], list[str]]) -> list[ActivationRecord]:
    values = np.round(sample.activations.astype(np.float64), 6)
    if not np.isfinite(values).all():
        raise ValueError("the subject produced non-finite activations; the model weights are broken")
    # Built without re-validation: shapes and finiteness are guaranteed here, and this runs per record.
    return [
        ActivationRecord.model_construct(
            tokens=pieces(excerpts[e]),
            activations=values[i].tolist(),
            token_ids=[int(t) for t in excerpts[e]],
            excerpt_index=int(e),
        )
        for i, e in enumerate(sample.excerpts)
    ]


def build_layer_records(
    subject: SubjectModel,
    excerpts: np.ndarray,
    layer: int,
    neurons: Sequence[int],
    store: RecordStore,
    manifest: RecordsManifest,
    corpus_id: str,
    batch_size: int = 32,
    checkpoint_seconds: float = 60.0,
    calibration_excerpts: int = 2048,
    progress: Progress | None = None,
) -> BuildReport:
    """Write `{store}/{layer}/{neuron}.json` for every neuron in `neurons` that has no file yet."""
    check_layer(subject.info, layer)
    check_neurons(subject.info, neurons)
    store.claim(manifest)
    todo = sorted({n for n in neurons if not store.has(layer, n)})
    skipped = sorted(set(neurons) - set(todo))
    if not todo:
        return BuildReport(layer, [], skipped, 0, 0.0, 0)
    n_excerpts, length = excerpts.shape
    acc = LayerAccumulator(
        todo, n_excerpts, length, manifest.top_k, manifest.n_random, manifest.n_per_quantile,
        calibration_excerpts=calibration_excerpts, seed=manifest.seed,
    )
    partial = _partial_path(store, layer)
    resumed_from = acc.processed if _load_partial(partial, acc, todo) else 0
    if resumed_from:
        log.info("resume_pass", layer=layer, excerpts_done=resumed_from, of=n_excerpts)
    started = time.monotonic()
    last_checkpoint = started
    total_tokens = n_excerpts * length
    for batch in acc.batches(batch_size):
        ids = np.asarray(excerpts[batch])
        acts = np.stack(subject.activations(ids.tolist(), layer, todo))
        acc.update(batch, acts)
        if progress is not None:
            progress(acc.processed * length, total_tokens)
        if time.monotonic() - last_checkpoint > checkpoint_seconds and acc.processed < n_excerpts:
            _save_partial(partial, acc, todo)
            last_checkpoint = time.monotonic()
    seconds = time.monotonic() - started

    provenance = RecordProvenance(
        model_id=manifest.model_id, corpus_id=corpus_id, corpus_sha256=manifest.corpus_sha256,
        excerpt_tokens=length, prepend_bos=manifest.prepend_bos, n_excerpts=n_excerpts, seed=manifest.seed,
    )
    pieces = _piece_table(subject)
    for position, neuron in enumerate(todo):
        summary = acc.summary(position)
        record = NeuronRecord(
            neuron_id=NeuronId(layer_index=layer, neuron_index=neuron),
            random_sample=_records(summary.random, excerpts, pieces),
            random_sample_by_quantile=[_records(s, excerpts, pieces) for s in summary.by_quantile],
            quantile_boundaries=summary.quantile_boundaries,
            most_positive_activation_records=_records(summary.top, excerpts, pieces),
            provenance=provenance,
            **summary.moments,
        )
        store.write(record)
    partial.unlink(missing_ok=True)
    tokens = (n_excerpts - resumed_from) * length
    log.info("records_written", layer=layer, neurons=len(todo), skipped=len(skipped), tokens=tokens, seconds=round(seconds, 1))
    return BuildReport(layer, todo, skipped, tokens, seconds, resumed_from)


def _piece_table(subject: SubjectModel) -> Callable[[np.ndarray], list[str]]:
    """Decoded piece per token id, decoded once per distinct id."""
    cache: dict[int, str] = {}

    def pieces(ids: np.ndarray) -> list[str]:
        missing = [int(i) for i in ids if int(i) not in cache]
        if missing:
            cache.update(zip(missing, subject.token_strings(missing), strict=True))
        return [cache[int(i)] for i in ids]

    return pieces
