"""bench/paired: two bench/real results compared neuron by neuron, and refused when more than one setting differs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.paired import compare
from tests.bench.conftest import ROOT

SIZES = {"simulator": "builtin", "max_iters": 0, "n_explanations": 2, "n_revisions": 2, "probes_per_generator": 1,
         "records_per_split": 5, "max_excerpts": 3000, "top_k": 20, "n_random": 20, "seed": 0}


def result(scores: dict[str, float], **settings: Any) -> dict[str, Any]:
    def arm(score: float) -> dict[str, Any]:
        return {"score": score, "explanation": f"text {score}", "scorers": {"detection": 0.5 + score / 2}}

    neurons = [{"layer": int(k.split("/")[0]), "neuron": int(k.split("/")[1]), "oneshot": arm(v), "refined": arm(v + 0.1)}
               for k, v in scores.items()]
    return {"passes": [{"model": "m", "backend": "llm", "settings": SIZES | settings, "neurons": neurons}]}


def test_differences_are_paired_on_the_neurons_both_hold() -> None:
    a = result({"1/2": 0.1, "1/3": 0.3, "2/5": 0.5}, explain_output_hint=False, llm_base_url="http://127.0.0.1:1/v1")
    b = result({"1/3": 0.4, "2/5": 0.7, "4/4": 0.9}, explain_output_hint=True)
    [row] = compare(a, b)
    assert row["neurons"] == 2 and row["differs"] == {"explain_output_hint": [False, True]}
    assert row["oneshot"]["mean"] == pytest.approx(0.15) and row["oneshot"]["n"] == 2
    assert row["refined"]["mean"] == pytest.approx(0.15)
    assert row["oneshot_detection"]["mean"] == pytest.approx(0.075)
    assert [n["neuron"] for n in row["per_neuron"]] == ["1/3", "2/5"]


def test_runs_that_differ_in_their_loop_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="n_explanations"):
        compare(result({"1/2": 0.1}), result({"1/2": 0.2}, n_explanations=5))
    with pytest.raises(ValueError, match="no neuron"):
        compare(result({"1/2": 0.1}), result({"1/3": 0.2}))


def test_the_command_prints_the_comparison_and_a_clear_error(tmp_path: Path) -> None:
    a, b, bad = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "bad.json"
    a.write_text(json.dumps(result({"1/2": 0.1, "1/3": 0.3})))
    b.write_text(json.dumps(result({"1/2": 0.2, "1/3": 0.2}, explain_output_hint=True)))
    bad.write_text("{not json")
    ok = subprocess.run([sys.executable, "-m", "bench.paired", str(a), str(b)], cwd=ROOT, capture_output=True, text=True, check=False)
    assert ok.returncode == 0 and "explain_output_hint None -> True" in ok.stdout and "B - A held-out r 0.000" in ok.stdout
    err = subprocess.run([sys.executable, "-m", "bench.paired", str(a), str(bad)], cwd=ROOT, capture_output=True, text=True, check=False)
    assert err.returncode == 1 and err.stderr.startswith("bench.paired:")
