"""Money safety, through the CLI and the real HTTP client against the loopback server.

A dollar budget with a model that has no price refuses to start (it would count $0 and never
stop), naming --llm-prices; `--backend auto` with OPENAI_API_KEY set and no dollar budget refuses,
showing the command's estimated cost and how to set --budget-usd. Both refuse before any work:
no request reaches the server and no records are built. Given what they ask for, both start.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.backends import llm_config
from agent.cli.main import _settings_from, build_parser, main
from agent.params import refine_params
from agent.spending import dollars, estimate_cost, estimator_for, price_of
from bench.support.brain import brain_behaviour
from bench.support.chat_server import ChatServer, Respond
from bench.support.faults import sweep_args
from tests.sweep.conftest import EXPLANATION, LAYER

KEY = "sk-test-money-safety-0000"


def _refine(tmp_path: Path, cache: Path, records: Path, base_url: str, *extra: str) -> list[str]:
    return ["refine", "--layer", str(LAYER), "--neuron", "1", "--run", "r", "--runs-dir", str(tmp_path / "runs"),
            "--model", "tiny-llama", "--corpus", "pydoc", "--cache-dir", str(cache), "--excerpt-tokens", "32",
            "--max-excerpts", "200", "--top-k", "20", "--n-random", "15", "--records", str(records), "--max-iters", "1",
            "--n-explanations", "1", "--records-per-split", "2", "--llm-base-url", base_url, *extra]


@pytest.fixture
def server() -> ChatServer:
    with ChatServer(default=Respond(brain_behaviour(EXPLANATION))) as started:
        yield started  # type: ignore[misc]


@pytest.fixture
def prices(tmp_path: Path) -> Path:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"gpt-4o-mini": [0.15, 0.60]}))
    return path


def test_a_dollar_budget_with_an_unpriced_model_refuses_to_start(
    server: ChatServer, prices: Path, tmp_path: Path, session_cache: Path, sweep_records: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    unbuilt = tmp_path / "records-never-built"
    sweep = sweep_args(tmp_path / "runs", session_cache, unbuilt, server.base_url, neurons="1-2")
    # A loopback endpoint has no price table: every model is unpriced until --llm-prices says otherwise.
    for command in ([*sweep, "--budget-usd", "1"], [*sweep, "--per-neuron-usd", "0.1"],
                    _refine(tmp_path, session_cache, unbuilt, server.base_url, "--backend", "llm", "--budget-usd", "0.5")):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert "cannot be enforced: no price for 'gpt-4o-mini'" in err and "--llm-prices" in err, err
    assert server.requests == [] and not unbuilt.exists()

    # Priced, the same budget is enforced: the command runs and stays within it.
    assert main([*sweep_args(tmp_path / "runs", session_cache, sweep_records, server.base_url, neurons="1", run="priced"),
                 "--budget-usd", "1", "--llm-prices", str(prices)]) == 0
    ledger = json.loads((tmp_path / "runs" / "priced" / "ledger.json").read_text())["paid"]["total"]
    assert 0 < ledger["cost_usd"] <= 1


def test_auto_with_a_key_and_no_budget_refuses_showing_the_cost(
    server: ChatServer, prices: Path, tmp_path: Path, session_cache: Path, sweep_records: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    unbuilt = tmp_path / "records-never-built"
    args = [*sweep_args(tmp_path / "runs", session_cache, unbuilt, server.base_url, neurons="1-4"),
            "--backend", "auto", "--llm-prices", str(prices)]
    assert main(args) == 2
    err = capsys.readouterr().err
    settings = _settings_from(build_parser().parse_args(args))
    config = llm_config(settings)
    cost = estimate_cost(settings, refine_params(settings), estimator_for(price_of(config), config.model_for), 4, job="refine")
    assert cost.usd > 0
    assert f"could cost up to ~{dollars(cost.usd)} (4 neurons" in err, err
    assert "--budget-usd" in err and "--per-neuron-usd" in err and "--backend builtin" in err
    assert KEY not in err

    # `explain` enforces the same budgets as `refine`: without one it refuses alike, naming --budget-usd.
    explain = ["explain", "--layer", str(LAYER), "--neuron", "1", "--model", "tiny-llama", "--corpus", "pydoc",
               "--cache-dir", str(session_cache), "--records", str(unbuilt), "--llm-base-url", server.base_url,
               "--runs-dir", str(tmp_path / "runs")]
    assert main(explain) == 2
    assert "--budget-usd" in capsys.readouterr().err

    # `score` under auto refuses alike, and its estimate counts the LLM judge that `--judge auto` would ask.
    score = ["score", "--layer", str(LAYER), "--neuron", "1", "--explanation", "x", "--model", "tiny-llama", "--corpus",
             "pydoc", "--cache-dir", str(session_cache), "--records", str(unbuilt), "--llm-base-url", server.base_url,
             "--runs-dir", str(tmp_path / "runs"), "--llm-prices", str(prices)]
    calls = {}
    for judge in ("auto", "llm", "builtin"):
        assert main([*score, "--judge", judge]) == 2
        err = capsys.readouterr().err
        assert "--backend builtin" in err, err
        calls[judge] = int(err.split("at most ")[1].split()[0])
    # 10 held-out records simulated, and with the judge 2 x ceil(10 / 5) more calls: never an explain's hundred.
    assert (calls["builtin"], calls["llm"], calls["auto"]) == (10, 14, 14), calls
    assert server.requests == [] and not unbuilt.exists()

    # With a dollar budget, auto starts, and every request carries the key.
    args = [*sweep_args(tmp_path / "runs", session_cache, sweep_records, server.base_url, neurons="1", run="budgeted"),
            "--backend", "auto", "--llm-prices", str(prices), "--budget-usd", "2"]
    assert main(args) == 0
    assert server.requests and {r.headers["authorization"] for r in server.requests} == {f"Bearer {KEY}"}
