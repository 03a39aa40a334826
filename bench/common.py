"""Shared helpers for benchmarks: where results land, and the machine and command they came from.

A run with the default runs directory writes its results to `bench/results/NAME.json`, the
committed folder that `python -m bench.report` turns into the README's table and
docs/benchmarks.md. A run given another `--runs-dir` (a scratch run, the smoke tests) writes to
`RUNS_DIR/bench/NAME.json` instead, and nothing under pytest may write to the committed folder.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shlex
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from tools.atomic import atomic_write_json

RESULTS_DIR = Path(__file__).resolve().parent / "results"
"""The committed results, one JSON file per benchmark run kept."""
DEFAULT_RUNS_DIR = Path("runs")


class PollutionError(RuntimeError):
    """A test tried to write benchmark results into the committed folder."""


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def machine() -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gib": _memory_gib(),
        "torch": _version("torch"),
        "date": now.strftime("%Y-%m-%d"),
        "finished_utc": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def exact_command() -> str:
    """This process's command line as a person would retype it from the repository root."""
    return shlex.join([".venv/bin/python", *sys.orig_argv[1:]])


def results_path(name: str, runs_dir: Path = DEFAULT_RUNS_DIR) -> Path:
    """bench/results/NAME.json for the default runs directory, else RUNS_DIR/bench/NAME.json."""
    if Path(runs_dir) != DEFAULT_RUNS_DIR:
        return Path(runs_dir) / "bench" / f"{name}.json"
    # Tests run benchmarks at toy sizes: their numbers must never replace the committed ones.
    # PYTEST_CURRENT_TEST is inherited by the subprocesses a test starts.
    if "PYTEST_CURRENT_TEST" in os.environ:
        raise PollutionError(
            f"a test may not write {name}.json into {RESULTS_DIR}: pass --runs-dir to benchmarks run from tests"
        )
    return RESULTS_DIR / f"{name}.json"


def write_result(
    name: str, result: dict[str, Any], runs_dir: Path = DEFAULT_RUNS_DIR, *, benchmark: str | None = None
) -> Path:
    """Write one run's results with the machine and the exact command; `benchmark` names the kind
    of benchmark (which renderer of bench.report reads it) when the file name differs from it."""
    path = results_path(name, runs_dir)
    header = {"benchmark": benchmark or name, "name": name, "machine": machine(), "command": exact_command()}
    atomic_write_json(path, header | result, indent=2)
    return path


def peak_rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2))
