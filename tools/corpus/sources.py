"""Raw text sources: Debian packages of English prose, Python's own docs, user files.

Parsers are pure functions over file contents; fetching is a thin shell around `apt-get download`
and `dpkg-deb -x` (no root needed, nothing installed system-wide).
"""

from __future__ import annotations

import glob
import gzip
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import structlog

from tools.errors import AssetMissingError, RecordFileError

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Source:
    package: str
    licence: str
    description: str


DEBIAN_SOURCES = (
    Source("fortunes", "BSD-4-Clause (fortune-mod)", "fortune cookie quotations, jokes and poems"),
    Source("fortunes-min", "BSD-4-Clause (fortune-mod)", "the base set of fortune cookies"),
    Source("wordnet-base", "WordNet 3.0 licence (permissive)", "example sentences from WordNet glosses"),
    Source("jargon-text", "public domain", "the Jargon File 4.4.7, hacker slang dictionary"),
)
# Fortune files that are pictures or lists rather than prose.
_SKIP_FORTUNES = {"ascii-art", "art", "translate-me"}


def apt_available() -> bool:
    return shutil.which("apt-get") is not None and shutil.which("dpkg-deb") is not None


def fetch_debian_packages(dest: Path) -> Path:
    """Download the prose packages and unpack them under `dest/root`; returns that root."""
    dest.mkdir(parents=True, exist_ok=True)
    packages = [s.package for s in DEBIAN_SOURCES]
    proc = subprocess.run(["apt-get", "download", *packages], cwd=dest, capture_output=True, text=True, check=False)
    debs = sorted(dest.glob("*.deb"))
    if proc.returncode != 0 or len(debs) < len(packages):
        raise AssetMissingError(f"apt-get download {' '.join(packages)} failed: {proc.stderr.strip()[-400:]}")
    root = dest / "root"
    for deb in debs:
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True, capture_output=True)
    return root


def split_fortunes(text: str) -> list[str]:
    """A fortune file: entries separated by lines holding a single '%'."""
    return [entry.strip("\n") for entry in re.split(r"^%\s*$", text, flags=re.MULTILINE) if entry.strip()]


def wordnet_examples(text: str) -> list[str]:
    """Quoted example sentences from a WordNet `data.*` file's glosses (after the '|')."""
    out: list[str] = []
    for line in text.splitlines():
        if line.startswith("  ") or "|" not in line:
            continue
        gloss = line.split("|", 1)[1]
        out.extend(m.strip() for m in re.findall(r'"([^"]{12,})"', gloss))
    return out


def jargon_paragraphs(text: str) -> list[str]:
    """Paragraphs of the Jargon File, hard-wrapped lines joined."""
    paragraphs = re.split(r"\n\s*\n", text)
    return [" ".join(line.strip() for line in p.splitlines()) for p in paragraphs if len(p.split()) >= 8]


def read_debian_root(root: Path) -> Iterator[tuple[str, str]]:
    """(source package, document text) from unpacked packages."""
    fortunes = root / "usr/share/games/fortunes"
    for path in sorted(fortunes.glob("*.u8")):
        if path.stem in _SKIP_FORTUNES:
            continue
        for entry in split_fortunes(path.read_text(encoding="utf-8", errors="replace")):
            yield "fortunes", entry
    for name in ("data.noun", "data.verb", "data.adj", "data.adv"):
        path = root / "usr/share/wordnet" / name
        if path.is_file():
            for sentence in wordnet_examples(path.read_text(encoding="utf-8", errors="replace")):
                yield "wordnet-base", sentence
    jargon = root / "usr/share/doc/jargon-text/jargon.txt.gz"
    if jargon.is_file():
        for para in jargon_paragraphs(gzip.decompress(jargon.read_bytes()).decode("utf-8", errors="replace")):
            yield "jargon-text", para


def pydoc_documents() -> list[str]:
    """Python's own reference documentation topics: always present, ~65k words of technical prose."""
    from pydoc_data.topics import topics

    return [p for key in sorted(topics) for p in re.split(r"\n\s*\n", topics[key]) if len(p.split()) >= 8]


def read_user_files(spec: str) -> list[str]:
    """Documents from a directory, a file or a glob of `.txt` (blank-line paragraphs) / `.jsonl` (`text`)."""
    path = Path(spec).expanduser()
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix in {".txt", ".jsonl"})
    elif path.is_file():
        files = [path]
    else:
        pattern = str(path)
        matches = glob.glob(pattern, recursive=True) if any(c in pattern for c in "*?[") else []
        files = sorted(Path(p) for p in matches if Path(p).suffix in {".txt", ".jsonl"})
    if not files:
        raise AssetMissingError(
            f"corpus {spec!r}: no .txt or .jsonl files found. Use `--corpus default`, `--corpus pydoc`, "
            "a directory, a file, a glob such as 'texts/*.txt', or `hf:DATASET[:CONFIG[:SPLIT]]`."
        )
    docs: list[str] = []
    for file in files:
        try:
            raw = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise RecordFileError(file, f"cannot read corpus file: {err}") from None
        if file.suffix == ".txt":
            docs.extend(re.split(r"\n\s*\n", raw))
            continue
        for lineno, line in enumerate(raw.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as err:
                raise RecordFileError(file, f"line {lineno} is not valid JSON ({err.msg})") from None
            if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
                raise RecordFileError(file, f"line {lineno} has no string field 'text'", "text")
            docs.append(obj["text"])
    return docs


def read_hf_dataset(spec: str) -> list[str]:
    """`hf:NAME[:CONFIG[:SPLIT]]` through `datasets` (needs network unless already cached)."""
    parts = spec.removeprefix("hf:").split(":")
    name, config, split = parts[0], (parts[1] if len(parts) > 1 and parts[1] else None), (parts[2] if len(parts) > 2 else "train")
    try:
        import datasets

        ds = datasets.load_dataset(name, config, split=split)
    except Exception as err:  # datasets raises many types; all mean "not available here"
        raise AssetMissingError(f"could not load Hugging Face dataset {spec!r}: {err}. Offline, use --corpus default.") from None
    column = "text" if "text" in ds.column_names else ds.column_names[0]
    return [str(t) for t in ds[column]]
