"""Pure text cleaning and deduplication for corpus documents."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable

_SPACES = re.compile(r"[ \t\u00a0]+")
_BLANK_LINES = re.compile(r"\n{3,}")


def clean_text(text: str) -> str:
    """NFC-normalize, drop control characters, collapse runs of spaces, keep single line breaks."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    text = "".join(ch for ch in text if ch == "\n" or unicodedata.category(ch)[0] != "C")
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def is_prose(text: str, min_chars: int = 20, min_letter_share: float = 0.6) -> bool:
    """True for text long enough and mostly letters and spaces (drops ASCII art, tables, code dumps)."""
    if len(text) < min_chars:
        return False
    letters = sum(ch.isalpha() or ch.isspace() for ch in text)
    return letters / len(text) >= min_letter_share


def dedupe_key(text: str) -> str:
    return hashlib.sha1(" ".join(text.lower().split()).encode("utf-8")).hexdigest()


def select_documents(texts: Iterable[str]) -> list[tuple[int, str]]:
    """(input position, cleaned text) of the prose documents kept; the first of near-identical texts
    (case- and space-insensitive) wins."""
    seen: set[str] = set()
    out: list[tuple[int, str]] = []
    for position, raw in enumerate(texts):
        text = clean_text(raw)
        if not is_prose(text):
            continue
        key = dedupe_key(text)
        if key in seen:
            continue
        seen.add(key)
        out.append((position, text))
    return out


def clean_documents(texts: Iterable[str]) -> list[str]:
    """Cleaned, deduplicated prose documents in input order."""
    return [text for _, text in select_documents(texts)]


def content_sha256(documents: Iterable[str]) -> str:
    """Identity of a corpus: sha256 over its documents in order, separated by a record separator."""
    digest = hashlib.sha256()
    for doc in documents:
        digest.update(doc.encode("utf-8"))
        digest.update(b"\x1e")
    return digest.hexdigest()
