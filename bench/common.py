"""Shared helpers for benchmarks: results land in runs/bench/ as JSON, with the machine described."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
from pathlib import Path
from typing import Any

from tools.atomic import atomic_write_json


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d"),
    }


def write_result(name: str, result: dict[str, Any], runs_dir: Path = Path("runs")) -> Path:
    path = runs_dir / "bench" / f"{name}.json"
    atomic_write_json(path, {"benchmark": name, "machine": machine(), **result}, indent=2)
    return path


def peak_rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2))
