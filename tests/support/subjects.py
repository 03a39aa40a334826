"""A subject seen through the plain `SubjectModel` seam only, for tests that change one of its answers."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tools.subject.base import SubjectInfo, SubjectModel, TokenizedText


class PlainSubject:
    """Delegates every `SubjectModel` method to `inner`, and has nothing else (numpy activations only)."""

    def __init__(self, inner: SubjectModel) -> None:
        self.inner = inner

    @property
    def info(self) -> SubjectInfo:
        return self.inner.info

    def tokenize(self, texts: Sequence[str]) -> list[TokenizedText]:
        return self.inner.tokenize(texts)

    def token_strings(self, ids: Sequence[int]) -> list[str]:
        return self.inner.token_strings(ids)

    def activations(self, sequences: Sequence[Sequence[int]], layer: int, neurons: Sequence[int] | None = None) -> list[np.ndarray]:
        return self.inner.activations(sequences, layer, neurons)
