"""Sweep fixtures: small refinement settings on the tiny model, the brain as scripted LLM, summary readers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agent.settings import Settings
from bench.support.brain import brain_response
from tools.llm.fake import ScriptedLLM
from tools.llm.protocol import LLMRequest, PromptScoreRequest

EXPLANATION = 'the tokens " object", " when" and " then"'
"""The scripted explainer's answer. Its tokens appear in the held-out records of neurons 1-8, so each
one's held-out simulation varies and has a score (a constant one would leave it `failed`), and in
none of neuron 0's selection records, so neuron 0 fails its one-shot scoring. The brain's probes
are built around the first one."""
COST = 0.001
"""Dollars per scripted call in budget tests."""
TOKENS_PER_CALL = 100
"""An upper bound of the brain's tokens per call (it counts at most 71), as the real estimator's is."""


LAYER = 1
NEURONS = range(0, 9)
"""The neurons sweep tests use; their records are built once per session (`sweep_records` in
tests/support/fixtures.py, shared with the fault suite)."""


def sweep_settings(tmp_path: Path, cache: Path, records: Path, **overrides: Any) -> Settings:
    """One probe-and-revise round with one explanation, one revision and two records per split: a
    neuron takes ~35 LLM calls, enough for budgets to stop mid-sweep, few enough to stay fast."""
    base: dict[str, Any] = {
        "model": "tiny-llama", "corpus": "pydoc", "cache_dir": cache, "excerpt_tokens": 32, "max_excerpts": 200,
        "records": records, "runs_dir": tmp_path / "runs", "run": "s", "top_k": 20, "n_random": 15,
        "max_iters": 1, "n_explanations": 1, "n_revisions": 1, "probes_per_generator": 1, "records_per_split": 2,
        "concurrency": 2,
    }
    return Settings(**(base | overrides))


def brain_llm(calls: int = 3000, cost: float = 0.0, latency_s: float = 0.0) -> ScriptedLLM:
    return ScriptedLLM([brain_response(EXPLANATION)] * calls, cost_usd_per_call=cost, latency_s=latency_s)


def estimate(request: LLMRequest | PromptScoreRequest) -> tuple[float, int]:
    """An upper estimate of a scripted call, as the real estimator gives for a priced endpoint."""
    return COST, TOKENS_PER_CALL


def summary_rows(run_root: Path) -> dict[tuple[int, int], dict[str, Any]]:
    rows = json.loads((run_root / "summary.json").read_text())["neurons"]
    return {(r["layer"], r["neuron"]): r for r in rows}


def paid(run_root: Path) -> dict[str, Any]:
    """The run's paid calls as its ledger counts them (every completed call, once)."""
    return json.loads((run_root / "ledger.json").read_text())["paid"]["total"]
