"""Resolve a `--corpus` spec to cleaned, deduplicated documents with a content hash.

Specs: `default` (the prose assembled by `refinery setup`), `pydoc` (Python's docs, always
present), a directory / file / glob of `.txt` or `.jsonl`, or `hf:DATASET[:CONFIG[:SPLIT]]`.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import structlog
from pydantic import BaseModel, Field

from tools.atomic import atomic_write_json, atomic_write_text
from tools.corpus import sources
from tools.corpus.clean import clean_documents, content_sha256, select_documents
from tools.errors import AssetMissingError

log = structlog.get_logger(__name__)


class Corpus(BaseModel):
    """A list of documents and what identifies it."""

    spec: str
    documents: list[str]
    sha256: str = Field(description="sha256 over the cleaned documents in order.")

    @property
    def corpus_id(self) -> str:
        name = self.spec if self.spec in {"default", "pydoc"} else "custom"
        return f"{name}-{self.sha256[:12]}"

    @property
    def n_words(self) -> int:
        return sum(len(d.split()) for d in self.documents)


def default_corpus_dir(cache_dir: Path) -> Path:
    return cache_dir / "corpus" / "default"


def prepare_default_corpus(cache_dir: Path, seed: int = 0) -> dict[str, object]:
    """Assemble the default corpus once (Debian prose, or Python docs without apt); returns its manifest."""
    target = default_corpus_dir(cache_dir)
    manifest_path = target / "manifest.json"
    if manifest_path.is_file() and (target / "documents.jsonl").is_file():
        manifest: dict[str, object] = json.loads(manifest_path.read_text())
        return manifest
    pairs: list[tuple[str, str]]
    fallback = not sources.apt_available()
    if not fallback:
        root = sources.fetch_debian_packages(target / "downloads")
        pairs = list(sources.read_debian_root(root))
        used = [s.__dict__ for s in sources.DEBIAN_SOURCES]
    else:
        log.warning("apt_missing", fallback="pydoc", detail="Debian apt-get not found; the default corpus falls back to Python's pydoc topics")
        pairs = [("pydoc", d) for d in sources.pydoc_documents()]
        used = [{"package": "pydoc_data (CPython)", "licence": "PSF-2.0", "description": "Python reference topics"}]
    # Shuffle before dedupe so excerpts mix sources; the seed makes the corpus identical everywhere.
    random.Random(seed).shuffle(pairs)
    kept = select_documents(text for _, text in pairs)
    texts = [text for _, text in kept]
    lines = [json.dumps({"source": pairs[i][0], "text": text}, ensure_ascii=False) for i, text in kept]
    atomic_write_text(target / "documents.jsonl", "\n".join(lines) + "\n")
    manifest = {
        "sources": used,
        "documents": len(texts),
        "words": sum(len(t.split()) for t in texts),
        "sha256": content_sha256(texts),
        "fallback": fallback,
    }
    atomic_write_json(manifest_path, manifest, indent=2)
    shutil.rmtree(target / "downloads", ignore_errors=True)
    return manifest


def load_corpus(spec: str, cache_dir: Path) -> Corpus:
    if spec == "default":
        path = default_corpus_dir(cache_dir) / "documents.jsonl"
        if not path.is_file():
            raise AssetMissingError(
                f"the default corpus is not set up in {path.parent}. Run `refinery setup` (or `make assets`) once, "
                "or pass --corpus pydoc, a directory of .txt/.jsonl files, or hf:DATASET."
            )
        raw = [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    elif spec == "pydoc":
        raw = sources.pydoc_documents()
    elif spec.startswith("hf:"):
        raw = sources.read_hf_dataset(spec)
    else:
        raw = sources.read_user_files(spec)
    documents = clean_documents(raw)
    if not documents:
        raise AssetMissingError(f"corpus {spec!r} is empty after cleaning (no prose documents of 20+ characters)")
    return Corpus(spec=spec, documents=documents, sha256=content_sha256(documents))
