"""Statuses that mean what they say: no `ok` without a held-out score, through `refinery refine`
on the real client against the loopback server (the brain writes the LLM's answers)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.cli.main import main
from agent.settings import Settings
from bench.support.brain import brain_behaviour
from bench.support.chat_server import ChatServer, Respond
from tests.honest.conftest import refine_args
from tests.sweep.conftest import LAYER, NEURONS, sweep_settings
from tools.records.neuron_data import NeuronData
from tools.records.store import RecordStore


def _words(records: list) -> set[str]:
    return {token.strip().lower() for r in records for token in r.tokens if token.strip().isalpha()}


def _selection_only_word(records: Path, settings: Settings) -> tuple[int, str]:
    """A neuron and a word its selection records hold and its held-out records do not: an explanation
    naming it is scored on the selection split, and simulated as constant on the held-out one."""
    store = RecordStore(records)
    for neuron in NEURONS:
        data = NeuronData(LAYER, neuron, store.read(LAYER, neuron), settings.records_per_split)
        top, rand = data.selection_parts()
        words = sorted(_words(top) - _words(data.final_heldout()))
        if words:
            return neuron, words[0]
    raise AssertionError("no neuron has a word only in its selection records")


def test_a_neuron_whose_refined_simulation_is_constant_fails(
    tmp_path: Path, session_cache: Path, sweep_records: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    settings = sweep_settings(tmp_path, session_cache, sweep_records)
    neuron, word = _selection_only_word(sweep_records, settings)
    with ChatServer(default=Respond(brain_behaviour(f'the token " {word}"'))) as server:
        code = main(refine_args(tmp_path / "runs", session_cache, sweep_records, server.base_url, neuron))
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "failed" and code == 1, out
    assert out["refined"]["heldout_score"] is None and "no held-out score" in out["error"]
    result = json.loads((tmp_path / "runs" / "r" / "results" / str(LAYER) / f"{neuron}.json").read_text())
    assert result["status"] == "failed"


def test_sweep_means_are_over_the_same_neurons_with_their_counts() -> None:
    from agent.sweep.summary import row, totals

    def final(oneshot: float | None, refined: float | None, gain: float | None) -> dict:
        def held(score: float | None) -> dict:
            return {"explanation": "x", "heldout_score": score, "heldout_ci": None, "n_records": 4, "failed_records": []}
        return {"status": "ok" if refined is not None else "degraded", "oneshot": held(oneshot), "refined": held(refined),
                "paired": {"gain": gain, "n_records": 4, "n_paired": 4}}

    # Neuron 1's one-shot has no held-out score: its refined score must not enter the refined mean alone.
    rows = [row(final(0.2, 0.4, 0.2), LAYER, 0), row(final(None, 0.9, None), LAYER, 1)]
    t = totals(rows)
    assert (t["refined"], t["paired"]) == (2, 1)
    assert (t["mean_oneshot"], t["mean_refined"], t["mean_gain"]) == (0.2, 0.4, 0.2)
