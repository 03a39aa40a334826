"""A preflight before the first paid call: `refinery sweep` against a loopback server that refuses the
key, or answers without logprobs, stops at once (exit 2, one line) after at most one call per role."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.cli.main import main
from bench.support.brain import brain_behaviour
from bench.support.chat_server import Answer, ChatServer, Respond, Status
from bench.support.faults import sweep_args
from tests.sweep.conftest import EXPLANATION

KEY = "sk-test-0123456789abcdefSECRET"


def _error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error:")]


def test_a_sweep_against_an_endpoint_that_answers_401_stops_after_one_request(
    tmp_path: Path, session_cache: Path, sweep_records: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with ChatServer(default=Status(401, f"Incorrect API key provided: {KEY}")) as server:
        code = main(sweep_args(tmp_path / "runs", session_cache, sweep_records, server.base_url, neurons="1-3"))
        requests = len(server.requests)
    err = capsys.readouterr().err
    assert code == 2 and requests == 1
    [line] = _error_lines(err)
    assert "HTTP 401" in line and "OPENAI_API_KEY" in line
    assert KEY not in err and "SECRET" not in err
    assert not (tmp_path / "runs" / "s" / "results").exists(), "no neuron ran"


@pytest.mark.parametrize("models", [(), ("--llm-explainer-model", "writer", "--llm-simulator-model", "reader")])
def test_an_endpoint_without_logprobs_is_refused_naming_chat_json(
    models: tuple[str, ...], tmp_path: Path, session_cache: Path, sweep_records: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    brain = brain_behaviour(EXPLANATION)

    def no_logprobs(body: dict) -> Answer:
        answer = brain(body)
        assert isinstance(answer, Answer)
        return Answer(content=answer.content)  # what a server without logprobs support sends

    with ChatServer(default=Respond(no_logprobs)) as server:
        code = main([*sweep_args(tmp_path / "runs", session_cache, sweep_records, server.base_url, neurons="1-3"), *models])
        requests = len(server.requests)
    [line] = _error_lines(capsys.readouterr().err)
    assert code == 2 and requests == 1, "one call (the simulator's) finds it; the explainer is not asked"
    assert "no logprobs" in line and "--simulator chat-json" in line
    assert not (tmp_path / "runs" / "s" / "results").exists()


def test_the_preflight_resolves_the_simulator_and_the_sweep_runs(
    tmp_path: Path, session_cache: Path, sweep_records: Path,
) -> None:
    with ChatServer(default=Respond(brain_behaviour(EXPLANATION))) as server:
        code = main([*sweep_args(tmp_path / "runs", session_cache, sweep_records, server.base_url, neurons="3"),
                     "--llm-explainer-model", "writer"])
        preflights = [r for r in server.requests if r.body["messages"][0]["content"].startswith("You check an endpoint")]
    assert code in (0, 1)
    assert [r.body["model"] for r in preflights] == ["gpt-4o-mini", "writer"]  # one per role
    assert preflights[0].body["logprobs"] is True and preflights[0].body["top_logprobs"] == 15
