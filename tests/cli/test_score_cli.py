"""`refinery score` end to end on the tiny model: r, the field's scorers beside it, and the output side."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent.cli.main import main
from bench.support.brain import brain_behaviour
from bench.support.chat_server import Answer, Behaviour, ChatServer, Respond, Status


def test_score_any_explanation(tmp_path: Path, session_cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["score", "--layer", "1", "--neuron", "3", "--explanation", '"the" (10)', "--model", "tiny-llama", "--corpus", "pydoc",
            "--cache-dir", str(session_cache), "--excerpt-tokens", "32", "--max-excerpts", "200",
            "--records", str(tmp_path / "records")]
    assert main([*args, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["method"] == "builtin-lexical" and out["heldout_score"] is not None
    assert out["scorers"]["judge"] == "simulation-thresholded" and out["scorers"]["active_fraction"] == 0.25
    assert out["judge"] == "builtin" and out["scorers"]["llm"] is None and out["journal"] is None
    assert 0 <= out["scorers"]["fuzzing"] <= 1
    assert set(out["output"]["changes"]) == {"zeroed", "doubled"} and out["output"]["vocab"]["promoted"]
    assert main([*args, "--no-output-side"]) == 0
    text = capsys.readouterr().out
    assert "detection" in text and "fuzzing" in text and "Output side" not in text


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One records directory for the LLM tests (built by the first; the same records settings throughout)."""
    return tmp_path_factory.mktemp("score-records")


def _llm_args(records: Path, tmp_path: Path, session_cache: Path, base_url: str, *extra: str) -> list[str]:
    return ["score", "--layer", "1", "--neuron", "3", "--explanation", 'the token " the"', "--model", "tiny-llama",
            "--corpus", "pydoc", "--cache-dir", str(session_cache), "--excerpt-tokens", "32", "--max-excerpts", "200",
            "--records", str(records), "--runs-dir", str(tmp_path / "runs"), "--backend", "llm",
            "--llm-base-url", base_url, "--llm-max-retries", "0", "--no-output-side", "--json", *extra]


def _judge_calls(server: ChatServer, since: int = 0) -> list[str]:
    """The judge prompts' kinds among the server's requests from `since`, in order."""
    systems = [r.body["messages"][0]["content"] for r in server.requests[since:]]
    return ["fuzzing" if "marked [[like this]]" in s else "detection" for s in systems if s.startswith("You check an explanation")]


def test_the_llm_judge_through_an_endpoint_with_its_cost_and_a_free_rerun(
        records: Path, tmp_path: Path, session_cache: Path, chat_server: ChatServer, capsys: pytest.CaptureFixture[str]) -> None:
    """With an LLM backend the judge defaults to the LLM: 10 held-out texts, 5 to a prompt, per scorer: 4 calls,
    their tokens in the output. The same command again is answered from the score journal: no request at all."""
    chat_server.default = Respond(brain_behaviour('the token " the"'))
    args = _llm_args(records, tmp_path, session_cache, chat_server.base_url)
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    judged = out["scorers"]["llm"]
    assert out["judge"] == "llm" and out["method"] == "chat-logprob" and out["judge_error"] is None
    assert sorted(_judge_calls(chat_server)) == ["detection"] * 2 + ["fuzzing"] * 2
    assert judged["texts"] == 10 and judged["calls"] == 4 and judged["cached_calls"] == 0 and judged["unanswered"] == 0
    assert judged["prompt_tokens"] == 4 * 11 and judged["completion_tokens"] == 4 * 10 and judged["cost_usd"] == 0.0
    assert judged["model"] == "gpt-4o-mini" and 0 <= judged["detection"] <= 1 and 0 <= judged["fuzzing"] <= 1
    # The builtin judge's answers stay beside the LLM's.
    assert out["scorers"]["judge"] == "simulation-thresholded" and out["scorers"]["detection"] is not None
    assert out["journal"] == str(tmp_path / "runs" / "score-journal.sqlite")
    asked = len(chat_server.requests)

    assert main(args) == 0
    again = json.loads(capsys.readouterr().out)
    assert len(chat_server.requests) == asked
    assert again["scorers"]["llm"]["cached_calls"] == 4 and again["scorers"]["llm"]["detection"] == judged["detection"]
    assert again["heldout_score"] == out["heldout_score"]

    # Another model at the same endpoint is another judge: nothing of the first one's is replayed. As text, the
    # LLM's line stands beside the simulation's, with its calls and tokens.
    assert main([*[a for a in args if a != "--json"], "--llm-simulator-model", "other-model"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert len(_judge_calls(chat_server, asked)) == 4
    assert "LLM judge other-model: detection" in text and "on 10 texts · 4 calls, 84 tokens, $0.0000" in text


def test_an_unreadable_judge_answer_is_counted_never_scored(
        records: Path, tmp_path: Path, session_cache: Path, chat_server: ChatServer, capsys: pytest.CaptureFixture[str]) -> None:
    """Every fuzzing answer is prose: fuzzing has no LLM score, its 10 texts are counted unanswered with the
    reason; detection is scored as usual."""
    brain = brain_behaviour('the token " the"')

    def garbage_fuzzing(body: Any) -> Behaviour:
        system = body["messages"][0]["content"]
        return Answer("Both texts mention the marked word, so yes.") if "marked [[like this]]" in system else brain(body)

    chat_server.default = Respond(garbage_fuzzing)
    assert main(_llm_args(records, tmp_path, session_cache, chat_server.base_url)) == 0
    judged = json.loads(capsys.readouterr().out)["scorers"]["llm"]
    assert judged["fuzzing"] is None and judged["detection"] is not None
    assert judged["unanswered"] == 10 and judged["unreadable"] == ["no JSON list in the answer"] * 2 and judged["calls"] == 4


def test_a_failing_judge_endpoint_is_a_clear_error(
        records: Path, tmp_path: Path, session_cache: Path, chat_server: ChatServer, capsys: pytest.CaptureFixture[str]) -> None:
    brain = brain_behaviour('the token " the"')

    def failing_judge(body: Any) -> Behaviour:
        return Status(400, "bad judge") if body["messages"][0]["content"].startswith("You check an explanation") else brain(body)

    chat_server.default = Respond(failing_judge)
    assert main(_llm_args(records, tmp_path, session_cache, chat_server.base_url)) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["scorers"]["llm"] is None and "the LLM judge's endpoint failed" in out["judge_error"]
    assert out["heldout_score"] is not None


def test_the_builtin_judge_is_free_and_an_llm_judge_needs_an_llm(
        records: Path, tmp_path: Path, session_cache: Path, chat_server: ChatServer, capsys: pytest.CaptureFixture[str]) -> None:
    chat_server.default = Respond(brain_behaviour('the token " the"'))
    assert main(_llm_args(records, tmp_path, session_cache, chat_server.base_url, "--judge", "builtin")) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["judge"] == "builtin" and out["scorers"]["llm"] is None and _judge_calls(chat_server) == []
    args = _llm_args(records, tmp_path, session_cache, chat_server.base_url, "--judge", "llm")
    args[args.index("--backend") + 1] = "builtin"
    assert main(args) == 2
    assert "--judge llm needs an LLM" in capsys.readouterr().err
