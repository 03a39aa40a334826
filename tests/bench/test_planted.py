"""bench/planted at tiny size: the results have their structure, and simple planted rules are recoverable."""

from __future__ import annotations

import pytest

from tests.bench.conftest import RunBench

pytestmark = [pytest.mark.model, pytest.mark.slow]


def test_planted_smoke(run_bench: RunBench) -> None:
    result = run_bench("bench.planted", "--rules", "money,numbers,second-word", "--max-iters", "1",
                       "--n-explanations", "2", "--probes-per-generator", "1")
    assert result["benchmark"] == "planted" and result["machine"]["cpus"]
    assert result["command"].startswith(".venv/bin/python -m bench.planted")
    assert [r["name"] for r in result["rules"]] == ["money", "numbers", "second-word"]
    [builtin] = result["passes"]
    assert builtin["backend"] == "builtin" and builtin["simulator"] == "builtin-lexical"
    rows = {r["rule"]: r for r in builtin["neurons"]}
    for name in ("money", "numbers"):
        row = rows[name]
        assert row["status"] == "ok"
        # A single word and a token class are within the builtin language: the agent recovers them.
        assert row["recovered"] and row["refined"]["score"] >= 0.9, row
        assert 0 < row["refined"]["words"] <= 30
        assert row["truth_in_words"]["explanation"] and row["truth_in_words"]["score"] is not None
        assert {"oneshot", "refined", "iterations", "tokens", "seconds", "heldout_records"} <= row.keys()
    # A rule beyond the builtin language runs and is reported, with its note, not left out.
    assert rows["second-word"]["note"] and rows["second-word"]["refined"]["score"] is not None
    head = builtin["headline"]
    assert head["neurons"] == 3 and {"money", "numbers"}.isdisjoint(head["not_recovered"])
    assert set(head["refined_minus_oneshot"]) == {"mean", "ci", "n", "method"}
    # The field's scorers beside r, matched baselines, and a shuffled control.
    money = rows["money"]
    assert money["truth_in_words"]["scorers"]["detection"] >= 0.9 and money["refined"]["scorers"]["detection"] >= 0.9
    assert money["shuffled"]["scorers"]["detection"] < 0.75
    for arm in ("best_of_k", "refit"):
        assert money["matched"][arm]["score"] is not None and money["matched"][arm]["refined_minus"] is not None
    assert money["matched"]["k"] >= 1
    assert set(head["adopted_by_kind"]) == {"edit", "refit", "answering refit"}
    assert head["refined_minus_refit"]["n"] == 3 and head["truth_detection_token_rules"] >= 0.9
