"""Helpers for tests that build records on the tiny model."""

from __future__ import annotations

import numpy as np

from tools.records.store import RecordsManifest
from tools.subject.bridge import BridgeSubject

N_EXCERPTS = 300
LENGTH = 24


def make_manifest(subject: BridgeSubject, excerpts: np.ndarray, top_k: int = 12, n_random: int = 9, seed: int = 0) -> RecordsManifest:
    return RecordsManifest(
        model_id=subject.info.model_id, tokenizer_sha256=subject.info.tokenizer_sha256, corpus_id="pydoc-test",
        corpus_sha256="0" * 64, excerpt_tokens=excerpts.shape[1], n_excerpts=excerpts.shape[0],
        prepend_bos=subject.info.prepend_bos, top_k=top_k, n_random=n_random, n_per_quantile=3, seed=seed,
    )
