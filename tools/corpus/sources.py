"""Raw text sources: Debian packages of English prose, Python's own docs, user files.

Parsers are pure functions over file contents; fetching is a thin shell around `apt-get download`
and `dpkg-deb -x` (no root needed, nothing installed system-wide).

The Debian packages are pinned: an exact version (Debian 12 "bookworm") and the sha256 of its .deb,
so the default corpus is the same bytes on every machine. A .deb that does not hash to its pin is
never used. When apt cannot fetch the pinned version (another distribution or release, or the
version left the mirror), the error names the files; put them (from any Debian mirror or
snapshot.debian.org) into the download directory it names, where they are checked the same way.
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

from tools.checksum import sha256_file
from tools.errors import AssetMissingError, RecordFileError

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Source:
    package: str
    version: str
    sha256: str
    """Of the .deb file (as in Debian's signed package index)."""
    pool_path: str
    """Where the .deb lives on a Debian mirror, for fetching it by hand."""
    licence: str
    description: str

    @property
    def spec(self) -> str:
        return f"{self.package}={self.version}"


DEBIAN_SOURCES = (
    Source("fortunes", "1:1.99.1-7.3", "41d0551dc0ff52f875a2ecef7c39da2f672ab468c37e170119f7e0245a9d63c5",
           "pool/main/f/fortune-mod/fortunes_1.99.1-7.3_all.deb",
           "BSD-4-Clause (fortune-mod)", "fortune cookie quotations, jokes and poems"),
    Source("fortunes-min", "1:1.99.1-7.3", "9eed5b45064e41133dae0967cf3a17588ad77c014fcc7bf1527fa3ea48e44d07",
           "pool/main/f/fortune-mod/fortunes-min_1.99.1-7.3_all.deb",
           "BSD-4-Clause (fortune-mod)", "the base set of fortune cookies"),
    Source("wordnet-base", "1:3.0-37", "61060d960f9ada8fa120872312eccd3ecebfbab8c4579e4f5a74e1cf67620752",
           "pool/main/w/wordnet/wordnet-base_3.0-37_all.deb",
           "WordNet 3.0 licence (permissive)", "example sentences from WordNet glosses"),
    Source("jargon-text", "4.4.7-4.1", "17d05997e30eb3d5d6713929b8e2f81b63a5f50073858ad2a06701c71f54dcdb",
           "pool/main/j/jargon-text/jargon-text_4.4.7-4.1_all.deb",
           "public domain", "the Jargon File 4.4.7, hacker slang dictionary"),
)
# Fortune files that are pictures or lists rather than prose.
_SKIP_FORTUNES = {"ascii-art", "art", "translate-me"}


def apt_available() -> bool:
    return shutil.which("apt-get") is not None and shutil.which("dpkg-deb") is not None


def pinned_debs(directory: Path, wanted: tuple[Source, ...] = DEBIAN_SOURCES) -> tuple[dict[str, Path], list[Path]]:
    """The .deb files in `directory` that hash to a pin ({package: path}), and those that hash to none."""
    by_digest = {s.sha256: s.package for s in wanted}
    found: dict[str, Path] = {}
    strays: list[Path] = []
    for deb in sorted(directory.glob("*.deb")):
        package = by_digest.get(sha256_file(deb))
        if package is None:
            strays.append(deb)
        else:
            found[package] = deb
    return found, strays


def fetch_debian_packages(dest: Path, wanted: tuple[Source, ...] = DEBIAN_SOURCES) -> Path:
    """Download the pinned prose packages (unless already in `dest`), check each against its sha256,
    and unpack them under `dest/root`; returns that root."""
    dest.mkdir(parents=True, exist_ok=True)
    found, _ = pinned_debs(dest, wanted)
    missing = [s for s in wanted if s.package not in found]
    apt_said = ""
    strays: list[Path] = []
    if missing:
        proc = subprocess.run(["apt-get", "download", *(s.spec for s in missing)], cwd=dest, capture_output=True, text=True, check=False)
        apt_said = proc.stderr.strip()[-400:]
        found, strays = pinned_debs(dest, wanted)
        for stray in strays:  # a file that is not the pinned one is never used, nor left to be taken for it
            log.warning("deb_checksum_mismatch", file=str(stray))
            stray.unlink()
        missing = [s for s in wanted if s.package not in found]
    if missing:
        files = "; ".join(f"{s.spec} ({s.pool_path}, sha256 {s.sha256})" for s in missing)
        mismatch = f" The downloaded files did not match their pinned sha256: {', '.join(p.name for p in strays)}." if strays else ""
        raise AssetMissingError(
            f"the default corpus is pinned to exact Debian 12 packages, and apt could not provide {files}.{mismatch} "
            f"(apt-get said: {apt_said or 'nothing'}). Put those .deb files, from any Debian mirror or "
            f"snapshot.debian.org, into {dest} (they are checked against the sha256 above), then run `refinery setup` "
            "again; or use another corpus: --corpus pydoc, a directory of .txt/.jsonl files, or hf:DATASET."
        )
    root = dest / "root"
    for source in wanted:
        subprocess.run(["dpkg-deb", "-x", str(found[source.package]), str(root)], check=True, capture_output=True)
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
