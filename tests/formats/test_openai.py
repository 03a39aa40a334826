"""OpenAI's released formats: reading files as they are, writing them exactly, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tools.errors import RecordFileError
from tools.formats.openai import (
    ActivationRecord,
    ActivationScale,
    NeuronId,
    NeuronRecord,
    NeuronSimulationResults,
    ScoredExplanation,
    ScoredSequenceSimulation,
    ScoredSimulation,
    SequenceSimulation,
    dumps,
    read_neuron_record,
    read_simulation_results,
    write_simulation_results,
)

# Written by hand in the reference layout, as the released GPT-2 files are.
REFERENCE_RECORD = """{"dataclass_name": "NeuronRecord", "neuron_id": {"dataclass_name": "NeuronId", "layer_index": 0,
"neuron_index": 7}, "random_sample": [{"dataclass_name": "ActivationRecord", "tokens": ["The", " cat"],
"activations": [0.0, -0.02]}], "random_sample_by_quantile": null, "quantile_boundaries": null,
"mean": "nan", "variance": 0.5, "skewness": null, "kurtosis": 3.1, "most_positive_activation_records":
[{"dataclass_name": "ActivationRecord", "tokens": [" Paris", " is"], "activations": [4.5, 0.25]}]}"""

REFERENCE_EXPLANATION = {
    "dataclass_name": "NeuronSimulationResults",
    "neuron_id": {"dataclass_name": "NeuronId", "layer_index": 3, "neuron_index": 17},
    "scored_explanations": [{
        "dataclass_name": "ScoredExplanation",
        "explanation": "city names",
        "scored_simulation": {
            "dataclass_name": "ScoredSimulation",
            "scored_sequence_simulations": [{
                "dataclass_name": "ScoredSequenceSimulation",
                "simulation": {"dataclass_name": "SequenceSimulation", "tokens": ["a", "b"], "expected_activations": [0.1, 9.0],
                               "activation_scale": "simulated_normalized_activations", "distribution_values": [[0, 1], [9, 10]],
                               "distribution_probabilities": [[0.9, 0.1], [0.5, 0.5]], "uncalibrated_simulation": None},
                "true_activations": [0.0, 3.2], "ev_correlation_score": "nan", "rsquared_score": None,
                "absolute_dev_explained_score": 0.4},
            ],
            "ev_correlation_score": 0.61, "rsquared_score": "nan", "absolute_dev_explained_score": None,
        },
    }],
}


def _strip_names(obj: object) -> object:
    if isinstance(obj, dict):
        return {k: _strip_names(v) for k, v in obj.items() if k != "dataclass_name"}
    if isinstance(obj, list):
        return [_strip_names(v) for v in obj]
    return obj


def test_reads_reference_record_with_nan_and_writes_it_back(tmp_path: Path) -> None:
    path = tmp_path / "0" / "7.json"
    path.parent.mkdir()
    path.write_text(REFERENCE_RECORD)
    record = read_neuron_record(path)
    assert record.neuron_id.neuron_index == 7
    assert record.mean is None and record.variance == 0.5
    assert record.max_activation == 4.5
    written = json.loads(dumps(record))
    expected = json.loads(REFERENCE_RECORD)
    expected["mean"] = None  # "nan" is written back as null
    assert written == expected


def test_reads_record_without_dataclass_names(tmp_path: Path) -> None:
    path = tmp_path / "7.json"
    path.write_text(json.dumps(_strip_names(json.loads(REFERENCE_RECORD))))
    record = read_neuron_record(path)
    assert record.most_positive_activation_records[0].tokens == [" Paris", " is"]


def test_extra_fields_survive_a_round_trip(tmp_path: Path) -> None:
    obj = json.loads(REFERENCE_RECORD)
    obj["something_new"] = {"kept": True}
    path = tmp_path / "7.json"
    path.write_text(json.dumps(obj))
    assert json.loads(dumps(read_neuron_record(path)))["something_new"] == {"kept": True}


@pytest.mark.parametrize("with_names", [True, False])
def test_simulation_results_round_trip(tmp_path: Path, with_names: bool) -> None:
    obj = REFERENCE_EXPLANATION if with_names else _strip_names(REFERENCE_EXPLANATION)
    path = tmp_path / "17.jsonl"
    path.write_text(json.dumps(obj) + "\n")
    results = read_simulation_results(path)
    sim = results.scored_explanations[0].scored_simulation
    assert sim.ev_correlation_score == 0.61 and sim.rsquared_score is None
    assert sim.scored_sequence_simulations[0].ev_correlation_score is None
    out = tmp_path / "out.jsonl"
    write_simulation_results(out, results)
    lines = out.read_text().splitlines()
    assert len(lines) == 1
    back = json.loads(lines[0])
    assert back["dataclass_name"] == "NeuronSimulationResults"
    assert back["scored_explanations"][0]["scored_simulation"]["rsquared_score"] is None
    assert _strip_names(back) == _strip_names(json.loads(json.dumps(REFERENCE_EXPLANATION).replace('"nan"', "null")))


def test_writer_emits_null_never_nan() -> None:
    sim = SequenceSimulation(tokens=["a"], expected_activations=[1.0], activation_scale=ActivationScale.SIMULATED_NORMALIZED_ACTIVATIONS)
    results = NeuronSimulationResults(
        neuron_id=NeuronId(layer_index=0, neuron_index=1),
        scored_explanations=[ScoredExplanation(explanation="x", scored_simulation=ScoredSimulation(
            scored_sequence_simulations=[ScoredSequenceSimulation(simulation=sim, true_activations=[0.0], ev_correlation_score=float("nan"))],
            ev_correlation_score=None,
        ))],
    )
    text = dumps(results)
    assert "NaN" not in text and '"ev_correlation_score":null' in text


@pytest.mark.parametrize(
    ("content", "field", "message"),
    [
        ('{"dataclass_name": "NeuronRecord", "neuron_id": {"layer_index": 0, "neuron_', None, "not valid JSON"),
        ('{"dataclass_name": "NeuronRecord", "neuron_id": {"layer_index": "zero", "neuron_index": 1}}', "neuron_id.layer_index", "integer"),
        ('{"neuron_id": {"layer_index": 0, "neuron_index": 1}, "most_positive_activation_records": [{"tokens": ["a"], "activations": [NaN]}]}',
         "most_positive_activation_records.0", "finite"),
        ('{"neuron_id": {"layer_index": 0, "neuron_index": 1}, "most_positive_activation_records": [{"tokens": ["a"], "activations": [Infinity]}]}',
         "most_positive_activation_records.0", "finite"),
        ('{"neuron_id": {"layer_index": 0, "neuron_index": 1}, "most_positive_activation_records": [{"tokens": ["a", "b"], "activations": [1.0]}]}',
         "most_positive_activation_records.0", "2 tokens but 1 activations"),
        ('{"dataclass_name": "NeuronRecordV9", "neuron_id": {"layer_index": 0, "neuron_index": 1}}', "dataclass_name", "NeuronRecordV9"),
        ('[1, 2, 3]', None, "expected a JSON object"),
        ('{"hello": 1}', None, "missing"),
    ],
)
def test_malformed_record_files_name_the_file_and_field(tmp_path: Path, content: str, field: str | None, message: str) -> None:
    path = tmp_path / "3" / "42.json"
    path.parent.mkdir()
    path.write_text(content)
    with pytest.raises(RecordFileError) as err:
        read_neuron_record(path)
    assert str(path) in str(err.value)
    assert message in str(err.value)
    if field:
        assert err.value.field is not None and err.value.field.startswith(field)


def test_oversized_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    with path.open("wb") as handle:
        handle.truncate(2 * 2**30)  # a sparse 2 GiB file: costs no disk
    with pytest.raises(RecordFileError, match="more than the"):
        read_neuron_record(path, max_bytes=64 * 2**20)


def test_explanation_file_with_two_lines_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "1.jsonl"
    line = json.dumps(REFERENCE_EXPLANATION)
    path.write_text(line + "\n" + line + "\n")
    with pytest.raises(RecordFileError, match="exactly one JSON line"):
        read_simulation_results(path)


def test_activation_record_extras_are_omitted_when_unset() -> None:
    record = NeuronRecord(neuron_id=NeuronId(layer_index=0, neuron_index=0),
                          most_positive_activation_records=[ActivationRecord(tokens=["a"], activations=[1.0])])
    text = dumps(record)
    assert "token_ids" not in text and "provenance" not in text and "excerpt_index" not in text
