"""Fixtures for the honest-results tests: `refinery` commands on the tiny model against the loopback
chat server, the brain (or a script) as the LLM's answers."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.support.faults import MAX_RETRIES, TIMEOUT_S
from tests.sweep.conftest import LAYER


@pytest.fixture(autouse=True)
def _no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # the loopback server is the only LLM


def refine_args(runs_dir: Path, cache: Path, records: Path, base_url: str, neuron: int, *, run: str = "r",
                layer: int = LAYER) -> list[str]:
    """`refinery refine` with the small settings of tests/sweep's `sweep_settings`, no refinement round."""
    return ["refine", "--layer", str(layer), "--neuron", str(neuron), "--run", run, "--runs-dir", str(runs_dir),
            "--model", "tiny-llama", "--corpus", "pydoc", "--cache-dir", str(cache), "--excerpt-tokens", "32",
            "--max-excerpts", "200", "--top-k", "20", "--n-random", "15", "--records", str(records),
            "--max-iters", "0", "--n-explanations", "1", "--records-per-split", "2", "--backend", "llm",
            "--llm-base-url", base_url, "--llm-max-retries", str(MAX_RETRIES), "--llm-timeout-s", str(TIMEOUT_S), "--json"]
