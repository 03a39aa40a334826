"""Benchmark smoke tests run the real entry points, at tiny sizes, as subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agent.settings import default_cache_dir
from tools.subject import smollm2

ROOT = Path(__file__).resolve().parents[2]
RunBench = Callable[..., dict[str, Any]]


@pytest.fixture
def run_bench(tmp_path: Path) -> RunBench:
    """Run `python -m bench.NAME ARGS --runs-dir TMP`; returns its results JSON (TMP/bench/NAME.json)."""
    if not smollm2.is_converted(smollm2.model_dir(default_cache_dir())):
        message = "the benchmarks need SmolLM2-135M and the default corpus; run `make assets`"
        if os.environ.get("REFINERY_REQUIRE_ASSETS") == "1":
            pytest.fail(message)
        pytest.skip(message)

    def run(module: str, *args: str, timeout_s: float = 300) -> dict[str, Any]:
        proc = subprocess.run(
            [sys.executable, "-m", module, *args, "--runs-dir", str(tmp_path)],
            cwd=ROOT, capture_output=True, text=True, timeout=timeout_s, check=False,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        return json.loads((tmp_path / "bench" / f"{module.split('.')[-1]}.json").read_text())

    return run
