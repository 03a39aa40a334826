"""`refinery score` end to end on the tiny model: r, the field's scorers beside it, and the output side."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.cli.main import main


def test_score_any_explanation(tmp_path: Path, session_cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["score", "--layer", "1", "--neuron", "3", "--explanation", '"the" (10)', "--model", "tiny-llama", "--corpus", "pydoc",
            "--cache-dir", str(session_cache), "--excerpt-tokens", "32", "--max-excerpts", "200",
            "--records", str(tmp_path / "records")]
    assert main([*args, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["method"] == "builtin-lexical" and out["heldout_score"] is not None
    assert out["scorers"]["judge"] == "simulation-thresholded" and out["scorers"]["active_fraction"] == 0.25
    assert 0 <= out["scorers"]["fuzzing"] <= 1
    assert set(out["output"]["changes"]) == {"zeroed", "doubled"} and out["output"]["vocab"]["promoted"]
    assert main([*args, "--no-output-side"]) == 0
    text = capsys.readouterr().out
    assert "detection" in text and "fuzzing" in text and "Output side" not in text
