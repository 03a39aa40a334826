"""Cut a corpus into fixed-length token excerpts with the subject's tokenizer, cached on disk.

Documents are tokenized without special tokens, joined by the ids of a blank line, and the
stream is cut into consecutive excerpts of `length` tokens (the tail shorter than `length` is
dropped). The result is an int32 array (n_excerpts, length) saved as `.npy` and memory-mapped on
load, so a large corpus does not occupy RAM. The cache key is (corpus sha256, tokenizer sha256,
length): a different tokenizer or text can never reuse stale ids.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import structlog

from tools.atomic import atomic_write_bytes
from tools.corpus.corpus import Corpus
from tools.errors import AssetMissingError
from tools.subject.base import SubjectModel

log = structlog.get_logger(__name__)

SEPARATOR = "\n\n"


def excerpts_path(cache_dir: Path, corpus: Corpus, tokenizer_sha256: str, length: int) -> Path:
    return cache_dir / "excerpts" / f"{corpus.sha256[:16]}-{tokenizer_sha256[:16]}-{length}.npy"


def cut_excerpts(token_streams: list[list[int]], separator: list[int], length: int) -> np.ndarray:
    """Join token lists with `separator` and cut into rows of `length` (pure; tail dropped)."""
    flat: list[int] = []
    for i, ids in enumerate(token_streams):
        if i:
            flat.extend(separator)
        flat.extend(ids)
    n = len(flat) // length
    return np.asarray(flat[: n * length], dtype=np.int32).reshape(n, length)


def load_excerpts(subject: SubjectModel, corpus: Corpus, cache_dir: Path, length: int = 64) -> np.ndarray:
    """The corpus as (n_excerpts, length) token ids for `subject`, memory-mapped from the cache."""
    if length < 2:
        raise AssetMissingError(f"excerpt length must be at least 2 tokens, got {length}")
    path = excerpts_path(cache_dir, corpus, subject.info.tokenizer_sha256, length)
    if not path.is_file():
        log.info("tokenize_corpus", corpus=corpus.corpus_id, documents=len(corpus.documents), length=length)
        streams = [t.ids for t in subject.tokenize(corpus.documents)]
        separator = subject.tokenize([SEPARATOR])[0].ids
        array = cut_excerpts(streams, separator, length)
        if len(array) == 0:
            raise AssetMissingError(f"corpus {corpus.spec!r} has fewer than {length} tokens: nothing to cut into excerpts")
        buffer = io.BytesIO()
        np.save(buffer, array)
        atomic_write_bytes(path, buffer.getvalue())
    excerpts: np.ndarray = np.load(path, mmap_mode="r")
    return excerpts
