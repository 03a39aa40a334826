"""bench/faults at tiny size: every phase runs and no invariant is broken (exit code 0)."""

from __future__ import annotations

import pytest

from tests.bench.conftest import RunBench

pytestmark = pytest.mark.slow


def test_faults_smoke(run_bench: RunBench) -> None:
    result = run_bench("bench.faults", "--neurons", "2", "--faults-per-kind", "1", "--kills", "1")
    assert result["benchmark"] == "faults" and result["invariants_broken"] == []
    llm = result["llm"]
    assert llm["paid_calls"]["answered_by_server"] == llm["paid_calls"]["ledger_paid"]
    assert sum(llm["faults_served"].values()) > 0
    assert result["kill"]["lost"] == 0 and len(result["kill"]["moments"]) == 1
    assert result["budget"]["overshoot_calls"] <= 1
    assert len(result["files"]) == 8 and result["secrets"]["files_with_key"] == []
