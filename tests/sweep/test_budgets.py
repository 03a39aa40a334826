"""Budget stops at the sweep level: every kind stops cleanly, keeps finished neurons, marks the others
unfinished (resumable), and never overshoots by more than one call."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.cli.main import main
from agent.sweep.select import select
from agent.sweep.session import sweep
from bench.support.brain import brain_behaviour
from bench.support.chat_server import ChatServer, Respond
from tests.sweep.conftest import (
    COST,
    EXPLANATION,
    LAYER,
    TOKENS_PER_CALL,
    brain_llm,
    estimate,
    paid,
    summary_rows,
    sweep_settings,
)
from tools.llm.journal import CallJournal
from tools.llm.preflight import JOURNAL_SCOPE

FIRST = [(LAYER, 1), (LAYER, 2)]
MORE = [(LAYER, n) for n in range(1, 7)]


def trace_lines(run_root: Path, layer: int, neuron: int) -> int:
    return len((run_root / "traces" / str(layer) / f"{neuron}.jsonl").read_text().splitlines())


def assert_stopped_cleanly(run_root: Path, report: dict, kept: list[tuple[int, int]]) -> set[tuple[int, int]]:
    """Finished neurons (these `kept` at least) have results and manifest entries; the rest are marked
    unfinished and have neither. Returns the unfinished ones."""
    rows = summary_rows(run_root)
    path = run_root / "manifest.json"
    manifest = json.loads(path.read_text())["neurons"] if path.is_file() else {}
    unfinished = {key for key, row in rows.items() if row["status"] == "unfinished"}
    assert unfinished, "the budget should have stopped some neuron"
    assert report["budget_stop"] is not None
    assert sorted(report["unfinished"]) == sorted(f"{layer}/{neuron}" for layer, neuron in unfinished)
    for key in kept:
        assert rows[key]["status"] == "ok" and rows[key]["refined_explanation"] is not None
    for (layer, neuron), row in rows.items():
        finished = row["status"] != "unfinished"
        assert (f"{layer}/{neuron}" in manifest) == finished
        assert (run_root / "results" / str(layer) / f"{neuron}.json").is_file() == finished
    return unfinished


async def _finish_first(settings_kwargs: dict) -> None:
    report = await sweep(sweep_settings(**settings_kwargs), select(FIRST), llm=brain_llm(cost=COST), estimator=estimate)
    assert report["budget_stop"] is None and report["totals"]["ok"] == len(FIRST)


async def test_global_usd_budget_stops_keeps_finished_and_resumes(tmp_path: Path, session_cache: Path, sweep_records: Path) -> None:
    where = {"tmp_path": tmp_path, "cache": session_cache, "records": sweep_records}
    await _finish_first(where)
    run_root = tmp_path / "runs" / "s"
    before = {key: trace_lines(run_root, *key) for key in FIRST}

    budget = 0.05  # a neuron costs ~$0.038 here: two in flight cannot both finish
    llm = brain_llm(cost=COST, latency_s=0.005)  # a latency, so calls of both neurons overlap in flight
    report = await sweep(sweep_settings(**where, budget_usd=budget), select(MORE), llm=llm, estimator=estimate)
    unfinished = assert_stopped_cleanly(run_root, report, kept=FIRST)
    assert "$0.05 global budget" in report["budget_stop"]
    # Every scripted call is paid, so this counts what the stopped sweep spent, in-flight calls included.
    assert len(llm.requests) * COST <= budget + COST + 1e-9
    assert {key: trace_lines(run_root, *key) for key in FIRST} == before, "a finished neuron was run again"

    # More budget: the unfinished neurons resume from their checkpoints and finish.
    resumed = await sweep(sweep_settings(**where), select(MORE), llm=brain_llm(cost=COST), estimator=estimate)
    assert resumed["budget_stop"] is None and resumed["totals"]["ok"] == len(MORE)
    assert {key: trace_lines(run_root, *key) for key in FIRST} == before
    assert all(summary_rows(run_root)[key]["status"] == "ok" for key in unfinished)


async def test_global_token_budget_never_overshoots_by_more_than_one_call(tmp_path: Path, session_cache: Path, sweep_records: Path) -> None:
    budget = 1500  # a neuron takes ~600 tokens here; calls reserve TOKENS_PER_CALL each while in flight
    settings = sweep_settings(tmp_path, session_cache, sweep_records, budget_tokens=budget, concurrency=3)
    report = await sweep(settings, select(MORE), llm=brain_llm(latency_s=0.005), estimator=estimate)
    run_root = settings.runs_dir / "s"
    assert_stopped_cleanly(run_root, report, kept=[])
    assert "token" in report["budget_stop"]
    spent = paid(run_root)
    assert spent["prompt_tokens"] + spent["completion_tokens"] <= budget + TOKENS_PER_CALL
    assert spent["calls"] > 0


async def test_global_wall_time_budget_stops_before_any_call(tmp_path: Path, session_cache: Path, sweep_records: Path) -> None:
    where = {"tmp_path": tmp_path, "cache": session_cache, "records": sweep_records}
    await _finish_first(where)
    run_root = tmp_path / "runs" / "s"
    # 3.6 µs of wall time: used up before the first node of any new neuron starts.
    llm = brain_llm()
    report = await sweep(sweep_settings(**where, budget_hours=1e-9), select(FIRST + [(LAYER, 3), (LAYER, 4)]), llm=llm)
    unfinished = assert_stopped_cleanly(run_root, report, kept=FIRST)
    assert unfinished == {(LAYER, 3), (LAYER, 4)}
    assert "wall-time" in report["budget_stop"] and not llm.requests


async def test_per_neuron_budget_finalizes_each_neuron_and_the_sweep_goes_on(tmp_path: Path, session_cache: Path, sweep_records: Path) -> None:
    limit = 0.02  # about half of what a neuron would spend; its final reserve keeps held-out scoring possible
    settings = sweep_settings(tmp_path, session_cache, sweep_records, per_neuron_usd=limit)
    report = await sweep(settings, select(MORE[:4]), llm=brain_llm(cost=COST, latency_s=0.005), estimator=estimate)
    assert report["budget_stop"] is None and report["unfinished"] == []
    for row in summary_rows(settings.runs_dir / "s").values():
        # Stopped by its own budget, yet finalized: the final reserve paid for its held-out scoring.
        assert row["status"] == "ok" and row["stop"] == "budget", row
        assert row["refined_explanation"] is not None
        assert row["cost_usd"] <= limit + COST + 1e-9


def test_cli_exits_3_on_a_global_budget_and_lists_unfinished(tmp_path: Path, session_cache: Path, sweep_records: Path,
                                                             capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # the loopback server is the only LLM
    with ChatServer(default=Respond(brain_behaviour(EXPLANATION))) as server:
        def cli(neurons: str, *extra: str) -> int:
            return main(["sweep", "--run", "cli", "--runs-dir", str(tmp_path / "runs"), "--layers", str(LAYER), "--neurons", neurons,
                         "--model", "tiny-llama", "--corpus", "pydoc", "--cache-dir", str(session_cache), "--excerpt-tokens", "32",
                         "--max-excerpts", "200", "--top-k", "20", "--n-random", "15", "--records", str(sweep_records),
                         "--max-iters", "1", "--n-explanations", "1", "--n-revisions", "1", "--probes-per-generator", "1",
                         "--records-per-split", "2", "--llm-base-url", server.base_url, "--concurrency", "2", "--json", *extra])

        assert cli("1-2") == 0
        capsys.readouterr()
        calls = len(server.requests)
        journal = CallJournal(tmp_path / "runs" / "cli" / "journal.sqlite")
        assert journal.spent(JOURNAL_SCOPE) == (0.0, 14, 1), "the preflight's call is paid and counted"
        journal.close()
        # The real estimator reserves the prompt's bytes plus the output cap: more than 1,000 tokens for
        # any call, the preflight's simulation too. The command stops at the budget before any call.
        assert cli("1-4", "--budget-tokens", "1000") == 3
        assert server.requests[calls:] == []
    report = json.loads(capsys.readouterr().out)
    assert report["budget_stop"] and report["unfinished"] == ["1/3", "1/4"]
    assert "1,000-token global budget (spent 0)" in report["budget_stop"]
    assert report["totals"]["ok"] == 2 and report["totals"]["unfinished"] == 2
    rows = summary_rows(tmp_path / "runs" / "cli")
    assert [rows[(LAYER, n)]["status"] for n in (1, 2, 3, 4)] == ["ok", "ok", "unfinished", "unfinished"]
