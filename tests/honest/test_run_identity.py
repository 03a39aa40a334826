"""A run is one experiment: its journal never answers for another model or endpoint, and resuming
it with other result-defining settings is refused, naming each one (the CLI against the loopback server)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.cli.main import main
from bench.support.brain import brain_behaviour
from bench.support.chat_server import ChatServer, Respond
from tests.honest.conftest import refine_args
from tests.sweep.conftest import EXPLANATION
from tools.llm.fake import ScriptedLLM
from tools.llm.journal import CallJournal, JournaledLLM
from tools.llm.protocol import LLMRequest, LLMResponse, Message, Usage

NEURON = 3


def test_a_run_rerun_with_another_model_is_refused(
    tmp_path: Path, session_cache: Path, sweep_records: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    runs = tmp_path / "runs"
    with ChatServer(default=Respond(brain_behaviour(EXPLANATION))) as server:
        args = refine_args(runs, session_cache, sweep_records, server.base_url, NEURON)
        assert main([*args, "--llm-simulator-model", "model-a"]) in (0, 1)
        config = (runs / "r" / "config.json").read_text()
        answered = len(server.requests)
        capsys.readouterr()
        code = main([*args, "--llm-simulator-model", "model-b", "--n-explanations", "2"])
        err = capsys.readouterr().err
        assert len(server.requests) == answered, "refused before any call"
        assert code == 2
        assert "llm_simulator_model: 'model-a' -> 'model-b'" in err and "n_explanations: 1 -> 2" in err
        assert "--new-run" in err and len(err.strip().splitlines()) == 1
        assert (runs / "r" / "config.json").read_text() == config, "config.json is not rewritten"
        # Another run name, or --new-run (which picks r-2), starts afresh.
        assert main([*args, "--llm-simulator-model", "model-b", "--new-run"]) in (0, 1)
    saved = json.loads((runs / "r-2" / "config.json").read_text())
    assert saved["settings"]["llm_simulator_model"] == "model-b" and saved["endpoint"] == "127.0.0.1"


def _request() -> LLMRequest:
    return LLMRequest(purpose="simulator", messages=[Message(role="user", content="simulate")])


def _answer(text: str) -> LLMResponse:
    return LLMResponse(text=text, usage=Usage(model="m", prompt_tokens=1, completion_tokens=1))


async def test_the_journal_never_answers_for_another_model(tmp_path: Path) -> None:
    journal = CallJournal(tmp_path / "journal.sqlite")

    def who(model: str):  # type: ignore[no-untyped-def]
        return lambda purpose: f"{model}@127.0.0.1/chat-logprob"

    first = JournaledLLM(ScriptedLLM([_answer("from a")]), journal, "1/3", who("a"))
    assert (await first.complete(_request())).text == "from a"
    again = JournaledLLM(ScriptedLLM([]), journal, "1/3", who("a"))
    assert (await again.complete(_request())).usage.cached
    other = JournaledLLM(ScriptedLLM([_answer("from b")]), journal, "1/3", who("b"))
    response = await other.complete(_request())
    assert response.text == "from b" and not response.usage.cached
    journal.close()
