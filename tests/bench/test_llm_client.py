"""bench/llm_client at tiny size: every way measured against the bare request, through a server in its own process."""

from __future__ import annotations

import pytest

from tests.bench.conftest import RunBench

pytestmark = pytest.mark.slow


def test_llm_client_smoke(run_bench: RunBench) -> None:
    result = run_bench("bench.llm_client", "--calls", "40", "--concurrency", "4", "--tokens", "7", "--prompt-tokens", "9", "--graph-steps", "3")
    assert result["benchmark"] == "llm_client" and (result["calls"], result["concurrency"], result["tokens"]) == (40, 4, 7)
    ways = result["ways"]
    assert set(ways) == {"client", "client_public", "sdk", "bare"}
    assert result["public_to_chosen"] == pytest.approx(ways["client_public"]["cpu_ms_per_call"] / ways["client"]["cpu_ms_per_call"])
    for way in ways.values():
        assert way["cpu_ms_per_call"] > 0 and way["calls_per_s"] > 0
        assert way["ratio_to_bare"] == pytest.approx(way["cpu_ms_per_call"] / ways["bare"]["cpu_ms_per_call"])
    prompt = result["prompt_ways"]
    assert set(prompt) == {"client", "bare"} and result["prompt_tokens"] == 9
    assert prompt["client"]["ratio_to_bare"] == pytest.approx(prompt["client"]["cpu_ms_per_call"] / prompt["bare"]["cpu_ms_per_call"])
    assert result["client_ms_per_neuron"] == pytest.approx(ways["client"]["cpu_ms_per_call"] * result["calls_per_neuron"])
    savers = result["checkpointers"]
    assert set(savers) == {"inline", "async"} and result["graph_steps"] == 3
    assert all(kind["cpu_ms_per_step"] > 0 and kind["steps_per_s"] > 0 for kind in savers.values())
    assert result["checkpointer_public_to_chosen"]["cpu"] == pytest.approx(savers["async"]["cpu_ms_per_step"] / savers["inline"]["cpu_ms_per_step"])
