"""bench/real at tiny size on SmolLM2: two neurons, one round; the results have their structure."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.bench.conftest import ROOT, RunBench

SMOKE = ("--layers", "1", "--per-layer", "2", "--max-excerpts", "48", "--max-iters", "1", "--n-explanations", "2",
         "--probes-per-generator", "1")


@pytest.mark.model
@pytest.mark.slow
def test_real_smoke(run_bench: RunBench, tmp_path: Path) -> None:
    result = run_bench("bench.real", "--models", "smollm2-135m,gpt2", *SMOKE)
    assert result["benchmark"] == "real" and result["layers"] == [1]
    smollm2 = [p for p in result["passes"] if p["model"] == "smollm2-135m"]
    assert [p["backend"] for p in smollm2] == ["builtin"]
    rows = smollm2[0]["neurons"]
    assert len(rows) == 2 and all(r["layer"] == 1 for r in rows)
    assert all(r["status"] == "ok" and r["oneshot"]["score"] is not None for r in rows), rows
    summary = smollm2[0]["summary"]
    for key in ("mean_oneshot", "median_oneshot", "mean_refined", "median_refined", "share_refined_at_least_0.8",
                "tokens_per_neuron", "usd_per_neuron", "seconds_per_neuron"):
        assert key in summary
    assert summary["refined_minus_oneshot"]["n"] == 2
    assert summary["refined_minus_best_of_k"]["n"] == 2 and summary["refined_minus_refit"]["n"] == 2
    assert set(summary["cost_per_neuron"]) == {"refined", "best_of_k", "refit"}
    # The output side is read through the corpus pass's subject, and its cost is reported.
    assert summary["output_side_seconds_per_neuron"] is not None
    assert all(r["refined"]["scorers"] is not None for r in rows)
    # GPT-2 is either measured or reported as unavailable, never silently dropped.
    measured = {p["model"] for p in result["passes"]}
    assert "gpt2" in measured or "gpt2" in result["unavailable_models"]

    # --resume reads finished neurons back (their seconds unchanged, so they were not rerun) and takes
    # a neuron without a row on from its checkpoint, where it finished: the same scores, marked resumed.
    rows_dir = tmp_path / "bench" / "work" / "real" / "smollm2-135m-builtin" / "rows"
    second = rows[1]
    (rows_dir / f"{second['layer']}-{second['neuron']}.json").unlink()
    again = run_bench("bench.real", "--models", "smollm2-135m", *SMOKE, "--resume")
    resumed = again["passes"][0]["neurons"]
    assert resumed[0] == rows[0] and rows[0]["resumed"] is False
    assert resumed[1]["resumed"] is True and resumed[1]["seconds"] != second["seconds"]
    for key in ("oneshot", "refined", "gain", "iterations"):
        assert resumed[1][key] == second[key], key
    for arm in ("best_of_k", "refit"):  # the matched arms are rerun, as they were: the same texts and scores
        assert {k: v for k, v in resumed[1]["matched"][arm].items() if k != "seconds"} == \
            {k: v for k, v in second["matched"][arm].items() if k != "seconds"}, arm
    # Other settings never resume this folder: its rows would be mixed into their numbers.
    other = subprocess.run([sys.executable, "-m", "bench.real", "--models", "smollm2-135m", *SMOKE[:-1], "2", "--resume",
                            "--runs-dir", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert other.returncode != 0 and "probes_per_generator" in other.stderr, other.stderr[-2000:]
    assert json.loads((rows_dir / f"{second['layer']}-{second['neuron']}.json").read_text()) == resumed[1]


def test_the_sample_is_fixed_by_its_seed() -> None:
    from bench.real import sample_neurons

    first = sample_neurons(30, 1536, [2, 15], 3, seed=0)
    assert first == sample_neurons(30, 1536, [2, 15], 3, seed=0)
    assert first != sample_neurons(30, 1536, [2, 15], 3, seed=1)
    assert [layer for layer, _ in first] == [2, 2, 2, 15, 15, 15] and len(set(first)) == 6


def _row(neuron: int, oneshot: float, refined: float, detection: float, matched: bool) -> dict[str, Any]:
    def arm(score: float) -> dict[str, Any]:
        return {"explanation": "x", "words": 1, "score": score, "ci": None, "random_only": None,
                "scorers": {"detection": detection, "fuzzing": 0.5, "f1": 0.0, "auprc": 0.1}}

    return {"layer": 1, "neuron": neuron, "status": "ok", "stop": "max_iters", "error": None, "oneshot": arm(oneshot),
            "refined": arm(refined), "gain": refined - oneshot, "iterations": 1, "probes": 3, "tokens": 0, "cost_usd": 0.0,
            "seconds": 1.0, "output_seconds": 0.5, "resumed": False,
            "baselines": {"train_8": None, "corpus_8": None, "corpus_25": 0.1, "ceiling": 0.9},
            "matched": {"k": 4, "best_of_k": arm(oneshot) | {"candidates": 4, "seconds": 0.1},
                        "refit": arm(refined - 0.1) | {"candidates": 2, "seconds": 0.2}, "adopted_revisions": 1,
                        "adopted_answering_counterexample": neuron % 2, "adopted_by_kind": {"edit": 1}} if matched else None}


def test_a_pass_without_matched_baselines_still_reports_the_field_scorers() -> None:
    """The LLM pass has no matched arms: its one-shot and refined scorers are still averaged and shown."""
    from bench.real import summary
    from bench.report.renderers.real import details

    llm = summary([_row(1, 0.2, 0.3, 0.6, matched=False), _row(2, 0.4, 0.4, 0.8, matched=False)], seed=0)
    assert "refined_minus_refit" not in llm and "cost_per_neuron" not in llm
    assert llm["field_scorers"] == {"oneshot": {"detection": 0.7, "fuzzing": 0.5, "f1": 0.0, "auprc": 0.1},
                                    "refined": {"detection": 0.7, "fuzzing": 0.5, "f1": 0.0, "auprc": 0.1}}
    builtin = summary([_row(1, 0.2, 0.3, 0.6, matched=True), _row(2, 0.4, 0.4, 0.8, matched=True)], seed=0)
    assert set(builtin["field_scorers"]) == {"oneshot", "refined", "best_of_k", "refit"}
    assert builtin["refined_minus_refit"]["mean"] == pytest.approx(0.1) and builtin["mean_best_of_k"] == pytest.approx(0.3)
    assert builtin["share_adopted_answering_counterexample"] == 0.5

    def shown(s: dict[str, Any]) -> str:
        return details({"passes": [{"model": "m", "label": "l", "settings": {"n_explanations": 5}, "summary": s,
                                    "neurons": []}]})

    assert "| one-shot | 0.300 | 0.70 | 0.50 | 0.00 | 0.10 |" in shown(llm) and "best-of-k" not in shown(llm)
    text = shown(builtin)
    assert "| one-shot | 0.300 | +0.050" in text and "| 5.0 | 0 | n/a |" in text and "| refit | 0.250 | +0.100" in text
