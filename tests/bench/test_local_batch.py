"""bench/local_batch at tiny size on SmolLM2-135M-Instruct: both ways measured on the same requests."""

from __future__ import annotations

import pytest

from bench.report.renderers import local_batch
from tests.bench.conftest import RunBench

pytestmark = [pytest.mark.slow, pytest.mark.local_llm]


def test_local_batch_smoke(run_bench: RunBench) -> None:
    result = run_bench("bench.local_batch", "--requests", "3", "--parallel", "4", "--threads", "1", "--name", "local_batch")
    assert result["benchmark"] == "local_batch" and result["requests"] == 6
    one, batched = result["ways"]["one_at_a_time"], result["ways"]["batched"]
    assert one["peak_streams"] == 1 and 1 < batched["peak_streams"] <= 4
    assert result["speedup"] == pytest.approx(one["seconds"] / batched["seconds"], rel=0.01)
    assert 0 <= result["same_answers"] <= 6 and len(result["examples"]) == 2
    assert "×" in local_batch.headline(result) and "one at a time" in local_batch.details(result)
