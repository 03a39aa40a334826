"""Command lines the CLI tests share."""

from __future__ import annotations

from pathlib import Path


def tiny_refine_args(tmp_path: Path, cache: Path, base_url: str) -> list[str]:
    """`refine` of tiny-llama's neuron 1/3 on a small pydoc sample, through the endpoint at `base_url`,
    with records and runs under `tmp_path` (run "r"); a test adds its own loop sizes and flags."""
    return ["refine", "--layer", "1", "--neuron", "3", "--model", "tiny-llama", "--corpus", "pydoc",
            "--cache-dir", str(cache), "--excerpt-tokens", "32", "--max-excerpts", "200", "--top-k", "20",
            "--n-random", "15", "--records", str(tmp_path / "records"), "--runs-dir", str(tmp_path / "runs"), "--run", "r",
            "--llm-base-url", base_url]
