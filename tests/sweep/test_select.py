"""Which neurons a sweep refines: --neuron-list files, and existing scores from OpenAI-format files,
malformed ones included (each skipped with its reason while the sweep goes on)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from agent.cli.cmd_sweep import neuron_keys
from agent.sweep.select import parse_neuron_list, select
from agent.sweep.session import sweep
from tests.sweep.conftest import EXPLANATION, LAYER, brain_llm, summary_rows, sweep_settings
from tools.errors import BadInputError, RecordFileError
from tools.formats.openai import (
    NeuronId,
    NeuronSimulationResults,
    ScoredExplanation,
    ScoredSimulation,
    write_simulation_results,
)

# --- --neuron-list ---------------------------------------------------------------------------------


def test_neuron_list_lines_with_comments_blanks_and_commas(tmp_path: Path) -> None:
    path = tmp_path / "neurons.txt"
    path.write_text("# hard ones\n1/3\n\n  2,7  # from the last run\n10/0\n")
    assert parse_neuron_list(path) == [(1, 3), (2, 7), (10, 0)]


def test_neuron_list_json_pairs(tmp_path: Path) -> None:
    path = tmp_path / "neurons.json"
    path.write_text(json.dumps([[1, 3], [2, 7]]))
    assert parse_neuron_list(path) == [(1, 3), (2, 7)]


@pytest.mark.parametrize(("text", "message"), [
    ("1/3\n1-4\n", "line 2: '1-4' is not 'layer/neuron'"),
    ("1/3\n1/2/3\n", "line 2"),
    ("a/b\n", "line 1"),
    ("[[1, 3], [2]]", "expected a JSON list of [layer, neuron] pairs"),
    ('[["x", 3]]', "expected a JSON list of [layer, neuron] pairs"),
])
def test_neuron_list_errors_name_the_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "neurons.txt"
    path.write_text(text)
    with pytest.raises(RecordFileError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_neuron_list(path)


def test_neuron_list_missing_file_and_mixed_flags(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="--neuron-list"):
        parse_neuron_list(tmp_path / "absent.txt")
    path = tmp_path / "neurons.txt"
    path.write_text("1/3\n")
    args = argparse.Namespace(neuron_list=path, layers="1", neurons=None, source=None)
    with pytest.raises(BadInputError, match="either --neuron-list or --layers"):
        neuron_keys(args)
    assert neuron_keys(argparse.Namespace(neuron_list=path, layers=None, neurons=None, source=None)) == [(1, 3)]


# --- OpenAI-format existing scores -----------------------------------------------------------------


def _results(layer: int, neuron: int, explanation: str, score: float | None) -> NeuronSimulationResults:
    return NeuronSimulationResults(
        neuron_id=NeuronId(layer_index=layer, neuron_index=neuron),
        scored_explanations=[ScoredExplanation(
            explanation=explanation, scored_simulation=ScoredSimulation(scored_sequence_simulations=[], ev_correlation_score=score))],
    )


def _openai_dir(tmp_path: Path) -> Path:
    """The released layout, {base}/{layer}/{neuron}.jsonl, with one file per way of being malformed."""
    base = tmp_path / "explanations"
    folder = base / str(LAYER)
    write_simulation_results(folder / "1.jsonl", _results(LAYER, 1, EXPLANATION, 0.2))
    write_simulation_results(folder / "2.jsonl", _results(LAYER, 2, "the word ' the'", 0.9))
    valid = (folder / "1.jsonl").read_text()
    (folder / "3.jsonl").write_text(valid[: len(valid) // 2])  # truncated
    wrong_type = json.loads(valid)
    wrong_type["scored_explanations"][0]["scored_simulation"]["ev_correlation_score"] = "high"
    (folder / "4.jsonl").write_text(json.dumps(wrong_type))
    (folder / "5.jsonl").write_text(valid.replace('"NeuronSimulationResults"', '"NeuronSimulationResult"', 1))
    # 6: no file at all
    write_simulation_results(folder / "7.jsonl", _results(LAYER, 7, f"{EXPLANATION} twice", None))  # score undefined
    return base


REASONS = {
    2: "existing score 0.900 is not below 0.5",
    3: "not valid JSON",
    4: "ev_correlation_score",
    5: "dataclass_name 'NeuronSimulationResult' is not a NeuronSimulationResults",
    6: "no explanation file for this neuron",
}


def test_each_malformed_file_is_skipped_with_its_reason(tmp_path: Path) -> None:
    selection = select([(LAYER, n) for n in range(1, 8)], _openai_dir(tmp_path), below=0.5, order="lowest")
    # Undefined existing scores first (nothing explains those neurons yet), then the lowest.
    assert [(c.neuron, c.existing_score) for c in selection.candidates] == [(7, None), (1, 0.2)]
    assert selection.candidates[1].existing_explanation == EXPLANATION
    skipped = dict(selection.skipped)
    assert sorted(n for _, n in skipped) == sorted(REASONS)
    for neuron, reason in REASONS.items():
        assert reason in skipped[(LAYER, neuron)], skipped[(LAYER, neuron)]
    assert f"{LAYER}/4.jsonl" in skipped[(LAYER, 4)]  # every reason names its file


async def test_the_sweep_goes_on_past_malformed_files(tmp_path: Path, session_cache: Path, sweep_records: Path) -> None:
    selection = select([(LAYER, n) for n in range(1, 8)], _openai_dir(tmp_path), below=0.5, order="lowest")
    settings = sweep_settings(tmp_path, session_cache, sweep_records)
    llm = brain_llm()
    report = await sweep(settings, selection, llm=llm)
    assert report["budget_stop"] is None and report["totals"]["ok"] == 2
    rows = summary_rows(settings.runs_dir / "s")
    assert sorted(rows) == [(LAYER, 1), (LAYER, 7)]
    assert rows[(LAYER, 1)]["existing_score"] == 0.2 and rows[(LAYER, 7)]["existing_score"] is None
    # The existing explanation seeds the loop: no explainer call for these neurons.
    assert not [r for r in llm.requests if r.purpose == "explainer"]
    written = json.loads((settings.runs_dir / "s" / "summary.json").read_text())["skipped"]
    assert {entry["neuron"]: entry["reason"] for entry in written}.keys() == {f"{LAYER}/{n}" for n in REASONS}
