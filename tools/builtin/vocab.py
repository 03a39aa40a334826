"""Per-vocabulary tables the builtin backend predicts from: token pieces, classes, embeddings."""

from __future__ import annotations

import string
import unicodedata
from collections.abc import Sequence

import numpy as np

from tools.subject.base import SubjectModel

LIKE_FLOOR = 0.35
LIKE_FULL = 0.65
"""`words like "red", "blue"`: a token's share of the clause rises from 0 at this cosine similarity of input
embeddings to the nearest example to all of it at LIKE_FULL (measured on SmolLM2: unrelated tokens sit
below 0.13 in 99% of pairs; colour words, weekdays, numbers and a word's own forms reach 0.5-0.9)."""

# Closed classes of English words, as a reader means them (lowercase, without surrounding space).
WORD_CLASSES: dict[str, frozenset[str]] = {
    "article": frozenset("a an the this that these those some any each every no another".split()),
    "preposition": frozenset(
        """of in to for with on at from by about as into like through after over between out against during without
        before under around among up down off above below near across behind beyond upon within toward towards
        along since until via onto""".split()),
    "pronoun": frozenset(
        """i me my mine you your yours he him his she her hers it its we us our ours they them their theirs myself
        yourself himself herself itself ourselves themselves who whom whose""".split()),
    "conjunction": frozenset("and or but nor yet so because although though while if unless whereas whether than".split()),
    "auxiliary": frozenset(
        "be am is are was were been being have has had having do does did will would shall should can could may might must".split()),
    "negation": frozenset("not no never none nothing nobody neither nor n't 't".split()),
}
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
        **{name: s.lower() in words for name, words in WORD_CLASSES.items()},
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
        self._stems: dict[str, np.ndarray] = {}
        self._letters = [normalize_piece(p) if normalize_piece(p).isalpha() else "" for p in self.pieces]
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

    def containing(self, stem: str) -> np.ndarray:
        """Mask of word pieces (letters only, any case) that are forms of `stem`: containing it, or for
        stems under 4 letters starting with it (a short stem inside a word is usually another word)."""
        key = stem.strip().lower()
        if key not in self._stems:
            if len(key) >= 4:
                hit = (bool(key) and key in w for w in self._letters)
            else:
                hit = (bool(key) and w.startswith(key) for w in self._letters)
            self._stems[key] = np.fromiter(hit, dtype=bool, count=self.size)
        return self._stems[key]

    def word_ids(self, text: str) -> list[int]:
        """Ids a quoted word means: exactly `text` when it begins with a space, else the piece with and without
        a leading space, in its case."""
        if text[:1].isspace():
            found = self.id_of(text)
            return [found] if found is not None else []
        return [i for v in (text, " " + text) if (i := self.id_of(v)) is not None]

    def split_word(self, text: str) -> list[int]:
        """Greedy longest-piece split of a word that is no single token (" Einstein" -> " Ein", "stein"); [] if impossible."""
        target = text if text[:1].isspace() else " " + text
        out: list[int] = []
        at = 0
        while at < len(target):
            for end in range(len(target), at, -1):
                found = self.id_of(target[at:end])
                if found is not None:
                    out.append(found)
                    at = end
                    break
            else:
                return []
        return out

    def closeness(self, ids: Sequence[int], floor: float, full: float = 1.0, among: np.ndarray | None = None) -> np.ndarray | None:
        """Per vocabulary id (or per id of `among`), how close its input embedding is to the nearest of `ids`: 0 at
        or below the cosine similarity `floor`, rising linearly to 1 at `full`. None without embeddings."""
        if self.embeddings is None or not len(ids):
            return None
        rows = self.embeddings if among is None else self.embeddings[among]
        sims: np.ndarray = (rows @ self.embeddings[list(ids)].T).max(axis=1)
        return np.clip((sims - floor) / (full - floor), 0, 1).astype(np.float32)

    def loose_ids(self, text: str) -> list[int]:
        """Ids whose piece equals `text` ignoring case and surrounding space."""
        return self._by_norm.get(normalize_piece(text), [])
