"""Resolve settings into a subject, a corpus and a records directory, and build what is missing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from agent.progress import token_progress
from agent.settings import Settings
from tools.corpus.corpus import Corpus, load_corpus
from tools.corpus.excerpts import load_excerpts
from tools.records.builder import BuildReport, build_layer_records
from tools.records.store import RecordsManifest, RecordStore
from tools.subject.base import SubjectModel, check_layer, check_neurons
from tools.subject.registry import load_subject


@dataclass
class RecordsContext:
    subject: SubjectModel
    corpus: Corpus
    excerpts: np.ndarray
    store: RecordStore
    manifest: RecordsManifest
    all_excerpts: np.ndarray | None = None
    """The whole corpus when the records use only its first `max_excerpts`: the rest is text no record holds."""


def open_records(settings: Settings, subject: SubjectModel | None = None) -> RecordsContext:
    store = RecordStore(settings.records)
    subject = subject or load_subject(settings.model, settings.model_path, settings.cache_dir, settings.allow_hub,
                                      settings.device, store.dtype_for(settings.dtype))
    corpus = load_corpus(settings.corpus, settings.cache_dir)
    whole = load_excerpts(subject, corpus, settings.cache_dir, settings.excerpt_tokens)
    excerpts = whole[: settings.max_excerpts] if settings.max_excerpts is not None else whole
    manifest = RecordsManifest(
        model_id=subject.info.model_id,
        tokenizer_sha256=subject.info.tokenizer_sha256,
        corpus_id=corpus.corpus_id,
        corpus_sha256=corpus.sha256,
        excerpt_tokens=settings.excerpt_tokens,
        n_excerpts=int(excerpts.shape[0]),
        prepend_bos=subject.info.prepend_bos,
        top_k=settings.top_k,
        n_random=settings.n_random,
        n_per_quantile=settings.n_per_quantile,
        seed=settings.seed,
        dtype=subject.info.dtype,
    )
    return RecordsContext(subject, corpus, excerpts, store, manifest, whole)


def ensure_records(ctx: RecordsContext, layer: int, neurons: Sequence[int], settings: Settings) -> BuildReport:
    """Build the records of `neurons` at `layer` that are not in the store yet (one pass for all)."""
    check_layer(ctx.subject.info, layer)
    check_neurons(ctx.subject.info, neurons)
    with token_progress(f"layer {layer} records") as progress:
        return build_layer_records(
            ctx.subject, ctx.excerpts, layer, neurons, ctx.store, ctx.manifest, ctx.corpus.corpus_id,
            batch_size=settings.batch_size, checkpoint_seconds=settings.checkpoint_seconds, progress=progress,
        )
