"""A preflight before the first paid call: `refinery sweep` against a loopback server that refuses the
key, or answers without logprobs, stops at once (exit 2, one line) after at most one call per role;
a simulator that does not read its own values on a test record is reported (`refine`), and
`--simulator auto` then takes the next method that does."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from agent.cli.main import main
from bench.support.brain import brain_behaviour, simulate_answer
from bench.support.chat_server import Answer, ChatServer, Respond, Status
from bench.support.faults import call_kind, sweep_args
from tests.honest.conftest import refine_args
from tests.sweep.conftest import EXPLANATION, LAYER
from tools.llm.preflight import READING_EXPLANATION, ten_is_one_token
from tools.llm.protocol import TokenLogprob, TopLogprob

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
    assert "no logprobs" in line and "--simulator chat-highlight or chat-json" in line
    assert not (tmp_path / "runs" / "s" / "results").exists()


def test_the_preflight_resolves_the_simulator_and_the_sweep_runs(
    tmp_path: Path, session_cache: Path, sweep_records: Path,
) -> None:
    with ChatServer(default=Respond(brain_behaviour(EXPLANATION))) as server:
        code = main([*sweep_args(tmp_path / "runs", session_cache, sweep_records, server.base_url, neurons="3"),
                     "--llm-explainer-model", "writer"])
        preflights = [r for r in server.requests if call_kind(r.body) == "preflight"]
    assert code in (0, 1)
    assert [r.body["model"] for r in preflights] == ["gpt-4o-mini", "writer"]  # one per role
    assert preflights[0].body["logprobs"] is True and preflights[0].body["top_logprobs"] == 15


# --- whether the simulator reads its own values --------------------------------------------------

def _reading_calls(server: ChatServer, since: int = 0) -> list[str]:
    """The simulator's preflight calls (from the `since`-th request on), by the format they asked for."""
    return ["chat-logprob-numbered" if "Do not copy the tokens" in r.body["messages"][0]["content"] else "chat-logprob"
            for r in server.requests[since:]
            if call_kind(r.body) == "preflight" and r.body["messages"][0]["content"].startswith("You predict")]


def _flat_copies(body: dict) -> Answer:
    """The brain, except that its copied simulations ignore the explanation: every value 0 (a simulator
    that does not read its own values); numbered simulations are read as the brain reads them."""
    system = body["messages"][0]["content"]
    if system.startswith("You predict how strongly") and "Do not copy the tokens" not in system:
        return simulate_answer(re.sub(r"^Explanation: .*$", "Explanation: nothing", body["messages"][-1]["content"], flags=re.M))
    answer = brain_behaviour(EXPLANATION)(body)
    assert isinstance(answer, Answer)
    return answer


def test_the_simulators_preflight_is_a_simulation_of_a_record_naming_one_word(
    tmp_path: Path, session_cache: Path, sweep_records: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    with ChatServer(default=Respond(brain_behaviour(EXPLANATION))) as server:
        code = main(refine_args(tmp_path / "runs", session_cache, sweep_records, server.base_url, 3))
        [reading] = [r.body for r in server.requests if call_kind(r.body) == "preflight"]
    assert code in (0, 1)
    assert f"Explanation: {READING_EXPLANATION}\n" in reading["messages"][-1]["content"]
    assert reading["logprobs"] is True and reading["top_logprobs"] == 15  # the simulator's own request
    err = capsys.readouterr().err
    assert "simulator_not_reading" not in err and "simulator_switched" not in err
    assert json.loads((tmp_path / "runs" / "r" / "config.json").read_text())["simulator"] == "chat-logprob"


def test_a_simulator_that_does_not_read_its_values_is_reported_after_one_call(
    tmp_path: Path, session_cache: Path, sweep_records: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    with ChatServer(default=Respond(_flat_copies)) as server:
        code = main([*refine_args(tmp_path / "runs", session_cache, sweep_records, server.base_url, 3),
                     "--simulator", "chat-logprob"])
        calls = _reading_calls(server)
    err = capsys.readouterr().err
    assert calls == ["chat-logprob"], "the method asked for is checked, with one call, and kept"
    [warning] = [line for line in err.splitlines() if "simulator_not_reading" in line]
    assert "' apple' 0.0, the highest other token 0.0" in warning and "--simulator" in warning
    assert code == 1, "reported, not refused: the neuron ran (and failed on its constant simulation)"


def test_auto_takes_the_next_method_when_the_first_does_not_read_and_a_rerun_keeps_it(
    tmp_path: Path, session_cache: Path, sweep_records: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    args = refine_args(tmp_path / "runs", session_cache, sweep_records, "", 3)
    with ChatServer(default=Respond(_flat_copies)) as server:
        url = args.index("--llm-base-url") + 1
        args[url] = server.base_url
        code = main(args)
        first, asked = _reading_calls(server), len(server.requests)
        assert main(args) == code  # the run resumed: its finished neuron kept
        again = _reading_calls(server, asked)
    err = capsys.readouterr().err
    assert first == ["chat-logprob", "chat-logprob-numbered"] and code == 0
    assert "simulator_switched" in err and "chat-logprob-numbered" in err
    result = json.loads((tmp_path / "runs" / "r" / "results" / str(LAYER) / "3.json").read_text())
    assert result["method"] == "chat-logprob-numbered" and result["status"] == "ok"
    assert again == ["chat-logprob-numbered"], "the run's earlier choice is checked, and kept"


def test_the_ten_check_reads_what_the_answer_shows() -> None:
    def tokens(*pieces: tuple[str, list[str]]) -> list[TokenLogprob]:
        return [TokenLogprob(token=text, logprob=0.0, top=[TopLogprob(token=t, logprob=-1.0) for t in top]) for text, top in pieces]

    assert ten_is_one_token(tokens((" apple", []), ("\t", []), ("10", ["10", "9"]))) is True
    assert ten_is_one_token(tokens((" apple", []), ("\t", []), ("1", ["1", "9"]), ("0", ["0"]))) is False
    assert ten_is_one_token(tokens((" apple", []), ("\t", []), ("9", ["9", "10"]))) is True, "10 is an alternative"
    assert ten_is_one_token(tokens((" apple", []), ("\t", []), ("0", ["0", "1"]))) is None, "no 10 to tell"
    # A scored prompt: our local server's "10" candidates are its own (split_ten), not the tokenizer's.
    assert ten_is_one_token(tokens(("\t", []), ("unknown", ["1", "10"])), alternatives=False) is None
    assert ten_is_one_token(tokens((" violet", []), ("\t", []), ("1", []), ("0", [])), alternatives=False) is False
