"""bench/records at tiny size: both sides measured, the ratio is theirs, RSS for each corpus size."""

from __future__ import annotations

import pytest

from tests.bench.conftest import RunBench

pytestmark = [pytest.mark.model, pytest.mark.slow]


def test_records_smoke(run_bench: RunBench) -> None:
    result = run_bench("bench.records", "--layer", "1", "--excerpts", "64", "--repeats", "1", "--rss-sizes", "32,64", "--device", "cpu")
    assert result["benchmark"] == "records" and result["tokens"] == 64 * 64
    assert len(result["bare_forward_tok_s"]) == len(result["builder_tok_s"]) == len(result["pass_tok_s"]) == 1
    assert result["device"] == "cpu" and result["dtype"] == "float32"
    assert result["cpu_ratio"] == pytest.approx(result["builder_tok_per_cpu_s"][0] / result["bare_forward_tok_per_cpu_s"][0], rel=0.01)
    assert result["ratio"] == pytest.approx(result["builder_tok_s"][0] / result["bare_forward_tok_s"][0], rel=0.01)
    # The pass excludes writing the files, so it can only be faster than the whole build.
    assert result["pass_tok_s"][0] >= result["builder_tok_s"][0]
    assert [r["excerpts"] for r in result["peak_rss"]] == [32, 64]
    assert all(r["peak_rss_mib"] > 0 for r in result["peak_rss"])
