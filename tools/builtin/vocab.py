"""Per-vocabulary tables the builtin backend predicts from: token pieces, classes, embeddings."""

from __future__ import annotations

import string
import unicodedata
from collections.abc import Sequence

import numpy as np

from tools.subject.base import SubjectModel

_CLOSE = set(")]}>")
_OPEN = set("([{<")
_QUOTES = set("\"'`“”‘’")


def normalize_piece(piece: str) -> str:
    """Case- and space-insensitive form of a token piece (for loose literal matching)."""
    return unicodedata.normalize("NFKC", piece).strip().lower()


def _is_punct(s: str) -> bool:
    return bool(s) and all(ch in string.punctuation or unicodedata.category(ch).startswith("P") for ch in s)


def piece_classes(piece: str) -> dict[str, bool]:
    s = piece.strip()
    return {
        "number": bool(s) and s.replace(",", "").replace(".", "").isdigit(),
        "capitalized": bool(s) and s[0].isupper() and s.isalpha(),
        "close_bracket": bool(s) and set(s) <= _CLOSE,
        "open_bracket": bool(s) and set(s) <= _OPEN,
        "punctuation": _is_punct(s),
        "newline": "\n" in piece,
        "quote": bool(s) and set(s) <= _QUOTES,
        "word_piece": bool(s) and s.isalpha() and not piece[:1].isspace() and s[0].islower(),
        "any": True,
    }


class VocabIndex:
    """Token pieces of the subject's vocabulary, their classes, and unit-norm input embeddings."""

    def __init__(self, pieces: Sequence[str], embeddings: np.ndarray | None) -> None:
        self.pieces = list(pieces)
        self.size = len(self.pieces)
        self._by_piece: dict[str, int] = {}
        self._by_norm: dict[str, list[int]] = {}
        for i, piece in enumerate(self.pieces):
            self._by_piece.setdefault(piece, i)
            self._by_norm.setdefault(normalize_piece(piece), []).append(i)
        names = list(piece_classes("").keys())
        table = np.zeros((len(names), self.size), dtype=bool)
        for i, piece in enumerate(self.pieces):
            for j, flag in enumerate(piece_classes(piece).values()):
                table[j, i] = flag
        self.classes = {name: table[j] for j, name in enumerate(names)}
        self._endings: dict[str, np.ndarray] = {}
        self.embeddings: np.ndarray | None = None
        if embeddings is not None:
            e = np.asarray(embeddings[: self.size], dtype=np.float32)
            self.embeddings = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-8)

    @classmethod
    def from_subject(cls, subject: SubjectModel) -> VocabIndex:
        pieces = subject.token_strings(list(range(subject.info.vocab_size)))
        embed = getattr(subject, "token_embeddings", None)
        return cls(pieces, embed() if callable(embed) else None)

    def id_of(self, piece: str) -> int | None:
        return self._by_piece.get(piece)

    def ids_of(self, pieces: Sequence[str]) -> np.ndarray:
        """Ids of pieces (-1 for a piece not in the vocabulary)."""
        get = self._by_piece.get
        return np.fromiter((get(p, -1) for p in pieces), dtype=np.int64, count=len(pieces))

    def ending_with(self, ending: str) -> np.ndarray:
        """Mask of pieces made of letters only that end with `ending`, ignoring case."""
        key = ending.strip().lower()
        if key not in self._endings:
            self._endings[key] = np.fromiter(
                (bool(key) and p.strip().isalpha() and p.strip().lower().endswith(key) for p in self.pieces), dtype=bool, count=self.size
            )
        return self._endings[key]

    def loose_ids(self, text: str) -> list[int]:
        """Ids whose piece equals `text` ignoring case and surrounding space."""
        return self._by_norm.get(normalize_piece(text), [])
