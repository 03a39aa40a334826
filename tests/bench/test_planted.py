"""bench/planted at tiny size: the results have their structure, and simple planted rules are recoverable."""

from __future__ import annotations

import pytest

from tests.bench.conftest import RunBench

pytestmark = [pytest.mark.model, pytest.mark.slow]


def test_planted_smoke(run_bench: RunBench) -> None:
    result = run_bench("bench.planted", "--rules", "money,numbers,long-words", "--max-iters", "1",
                       "--n-explanations", "2", "--probes-per-generator", "1")
    assert result["benchmark"] == "planted" and result["machine"]["cpus"]
    assert result["command"].startswith(".venv/bin/python -m bench.planted")
    assert [r["name"] for r in result["rules"]] == ["money", "numbers", "long-words"]
    [builtin] = result["passes"]
    assert builtin["backend"] == "builtin" and builtin["simulator"] == "builtin-lexical"
    rows = {r["rule"]: r for r in builtin["neurons"]}
    for name in ("money", "numbers"):
        row = rows[name]
        assert row["status"] == "ok"
        # The ground truth, stated in the builtin grammar, must explain its own neuron almost perfectly.
        assert row["oracle"]["score"] > 0.9, row["oracle"]
        assert row["refined_over_oracle"] is not None and row["refined_over_oracle"] > 0.9, row
        assert row["oracle_words"]["explanation"]
        assert {"oneshot", "refined", "iterations", "tokens", "seconds", "heldout_records"} <= row.keys()
    # A rule the builtin grammar cannot state is reported as such, not given a made-up ratio.
    assert rows["long-words"]["oracle"]["score"] is None and rows["long-words"]["refined_over_oracle"] is None
    assert rows["long-words"]["oracle_missing"]
    head = builtin["headline"]
    assert head["neurons"] == 3 and head["neurons_with_oracle_ratio"] == 2
    assert head["mean_refined_over_oracle"] > 0.9
    assert set(head["refined_minus_oneshot"]) == {"mean", "ci", "n", "method"}
