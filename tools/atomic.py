"""Write-then-rename, so a killed process never leaves a half-written file behind.

No fsync: a file the OS has accepted survives a killed process, which is the failure these writes
guard against (as do the trace, the journal and the checkpoints); an fsync per file blocked the
event loop of busy sweeps for nothing that a kill can take away. Durability against a power loss
is left to the filesystem."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from tools.errors import RecordFileError


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically (same-directory temp file, then rename over the target)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj: Any, indent: int | None = None) -> None:
    """JSON with NaN/inf refused: undefined numbers must already be `None`."""
    atomic_write_text(path, json.dumps(obj, indent=indent, allow_nan=False, ensure_ascii=False) + "\n")


def read_json_file(path: Path) -> Any | None:
    """The JSON in `path`, or None when there is no such file; a file that is not JSON raises
    RecordFileError naming it (one line, no traceback), never a bare decoding error."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise RecordFileError(path, f"not readable JSON ({err})") from None
