"""Free triage before paid work: the builtin explanation of every neuron is scored (builtin simulator,
selection split) before any LLM call; neurons it explains at or above --target are finished without
an LLM, the others are refined worst first, and every row shows the free explanation's held-out r.
Through the CLI and the real HTTP client against the loopback server."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from agent.cli.main import main
from agent.refine_setup import open_refine_environment
from agent.sweep.select import select
from agent.sweep.session import sweep
from agent.sweep.triage import baseline, skip_reason
from bench.support.brain import brain_behaviour
from bench.support.chat_server import ChatServer, Respond
from bench.support.faults import call_kind, sweep_args
from graphs.trace import BaselineResult, ModelCalled, NeuronStarted, read_trace, trace_path
from tests.sweep.conftest import EXPLANATION, LAYER, brain_llm, summary_rows, sweep_settings
from tools.llm.journal import CallJournal

NEURONS = [(LAYER, n) for n in range(1, 7)]


async def _free_explanations(tmp_path: Path, cache: Path, records: Path) -> dict[tuple[int, int], BaselineResult]:
    """The free explanations and their scores, as the triage computes them (a scouting run of its own)."""
    scout = sweep_settings(tmp_path, cache, records, run="scout", backend="builtin")
    async with open_refine_environment(scout, NEURONS) as env:
        return {key: await baseline(env, *key) for key in NEURONS}


def test_triage_finishes_easy_neurons_without_any_llm_call_and_refines_the_rest_worst_first(
    tmp_path: Path, session_cache: Path, sweep_records: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # the loopback server is the only LLM
    free = asyncio.run(_free_explanations(tmp_path, session_cache, sweep_records))
    capsys.readouterr()  # structlog's unconfigured default prints the scouting run's events to stdout
    scores = sorted({b.selection_score for b in free.values() if b.selection_score is not None})
    assert len(scores) >= 2, "the test needs neurons the free explanation explains unequally well"
    target = (scores[len(scores) // 2 - 1] + scores[len(scores) // 2]) / 2
    easy = {key for key, b in free.items() if b.selection_score is not None and b.selection_score >= target}
    assert easy and len(easy) < len(NEURONS)

    runs = tmp_path / "runs"
    with ChatServer(default=Respond(brain_behaviour(EXPLANATION))) as server:
        # sweep_args turns the triage off; --triage auto (the default) turns it on for an LLM backend.
        code = main([*sweep_args(runs, session_cache, sweep_records, server.base_url, neurons="1-6"),
                     "--triage", "auto", "--target", f"{target!r}", "--json"])
        kinds = [call_kind(r.body) for r in server.requests]
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["triage"] == "builtin" and report["totals"]["skipped"] == len(easy)
    run_root = runs / "s"
    rows = summary_rows(run_root)
    journal = CallJournal(run_root / "journal.sqlite")
    try:
        calls = {key: journal.spent(f"{key[0]}/{key[1]}/")[2] for key in NEURONS}
    finally:
        journal.close()
    traced = {key: [e for e in read_trace(trace_path(run_root, *key)) if isinstance(e, ModelCalled)] for key in NEURONS}
    for key in NEURONS:
        row = rows[key]
        # The decision read the selection score only; the held-out r is reported for every neuron.
        assert row["baseline_selection"] == free[key].selection_score and row["baseline_heldout"] == free[key].heldout_score
        if key in easy:
            assert row["status"] == "skipped" and row["stop"] == "skipped", row
            assert calls[key] == 0 and traced[key] == [] and row["tokens"] == 0 and row["oneshot_heldout"] is None
            assert row["baseline_explanation"] == free[key].explanation
            exported = run_root / "explanations" / str(LAYER) / f"{key[1]}.jsonl"
            assert json.loads(exported.read_text())["scored_explanations"][0]["explanation"] == free[key].explanation
        else:
            assert row["status"] == "ok" and calls[key] > 0 and traced[key], row
            assert row["refined_explanation"] is not None and row["paired_records"] is not None
    # Besides the one preflight call (the endpoint checked once for the command), every request is a neuron's.
    assert kinds.count("preflight") == 1
    assert len(kinds) - 1 == sum(calls.values()) == sum(len(t) for t in traced.values())
    # The paid work went worst first (one neuron at a time): by the free explanation's selection score.
    hard = [key for key in NEURONS if key not in easy]
    started = {key: next(e.ts for e in read_trace(trace_path(run_root, *key)) if isinstance(e, NeuronStarted)) for key in hard}
    assert sorted(hard, key=started.__getitem__) == sorted(hard, key=lambda k: (free[k].selection_score is not None,
                                                                                  free[k].selection_score or 0.0, k))
    # The mean gain is over refined neurons only.
    assert report["totals"]["refined"] == len(hard)

    # `refinery trace` shows the free r next to the LLM's, and why the easy neurons were skipped.
    assert main(["trace", "s", "--runs-dir", str(runs)]) == 0
    table = capsys.readouterr().out
    assert "builtin one-shot  refined" in table
    key = min(easy)
    assert f"{key[0]}/{key[1]} skipped: the free builtin explanation scores" in table


def test_the_triage_decides_on_the_selection_split_only() -> None:
    def result(selection: float | None, heldout: float | None) -> BaselineResult:
        return BaselineResult(explanation="x", method="builtin-lexical", selection_score=selection, heldout_score=heldout)

    assert skip_reason(result(0.4, 0.95), target=0.5) is None  # a held-out r above the target changes nothing
    assert skip_reason(result(0.6, 0.1), target=0.5) is not None
    assert skip_reason(result(None, 0.9), target=0.5) is None
    assert skip_reason(result(0.9, 0.9), target=None) is None  # no target: nothing is finished for free


async def test_neurons_left_unrefined_by_below_are_skipped_and_out_of_the_mean_gain(
    tmp_path: Path, session_cache: Path, sweep_records: Path,
) -> None:
    settings = sweep_settings(tmp_path, session_cache, sweep_records, triage="none")
    neurons = [(LAYER, n) for n in (1, 2, 3)]
    # Every defined one-shot score is at or above -1: no neuron is refined.
    report = await sweep(settings, select(neurons), one_shot_first=True, below=-1.0, order="lowest", llm=brain_llm())
    rows = summary_rows(tmp_path / "runs" / "s")
    skipped = [key for key in neurons if rows[key]["status"] == "skipped"]
    assert skipped and all(rows[key]["stop"] == "skipped" and rows[key]["iterations"] == 0 for key in skipped)
    assert all("is not below -1" in json.loads((tmp_path / "runs" / "s" / "results" / str(LAYER) / f"{n}.json").read_text())
               ["stop_reason"] for _, n in skipped)
    assert report["totals"]["ok"] == 0 and report["totals"]["skipped"] == len(skipped)
    assert report["totals"]["refined"] == 0 and report["totals"]["mean_gain"] is None  # not a mean of zeros
