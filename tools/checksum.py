"""sha256 checks of fetched assets: a file is used only when its digest is the one recorded in the code."""

from __future__ import annotations

import hashlib
from pathlib import Path

from tools.errors import AssetMissingError


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_sha256(path: Path, expected: str, what: str, fix: str) -> None:
    """Raise `AssetMissingError` (naming `what`, both digests and `fix`) unless `path` hashes to `expected`."""
    got = sha256_file(path)
    if got != expected:
        raise AssetMissingError(
            f"{what} at {path} is not the pinned file: its sha256 is {got}, expected {expected}. {fix}"
        )
