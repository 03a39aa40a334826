"""bench/real at tiny size on SmolLM2: two neurons, one round; the results have their structure."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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
