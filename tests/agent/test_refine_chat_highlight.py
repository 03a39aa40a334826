"""`refine --simulator chat-highlight` through a real HTTP endpoint: the preflight checks that the method
reads its own values, every simulation asks for quotes (no logprobs), and the neuron ends with a
held-out score by that method. The loopback server's answers come from the rule-following fake brain
(the mock at the true edge)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.cli.main import main
from bench.support.brain import brain_behaviour
from bench.support.chat_server import ChatServer, Respond
from graphs.trace import ModelCalled, read_trace
from tests.support.commands import tiny_refine_args


def test_refine_with_the_chat_highlight_simulator(tmp_path: Path, session_cache: Path, chat_server: ChatServer,
                                                  capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    chat_server.default = Respond(brain_behaviour('the token " object"'))
    code = main([*tiny_refine_args(tmp_path, session_cache, chat_server.base_url), "--simulator", "chat-highlight", "--max-iters", "1",
                 "--n-explanations", "2", "--probes-per-generator", "1", "--json"])
    assert code == 0, capsys.readouterr()
    run = tmp_path / "runs" / "r"
    assert json.loads((run / "config.json").read_text())["settings"]["simulator"] == "chat-highlight"
    out = json.loads((run / "results" / "1" / "3.json").read_text())
    assert out["status"] == "ok" and out["method"] == "chat-highlight"
    assert out["refined"]["heldout_score"] is not None and not out["refined"]["failed_records"]
    simulations = [body for body in chat_server.bodies if body["messages"][0]["content"].startswith("You mark where")]
    # The preflight's reading record, then the neuron's: quotes asked for, never logprobs.
    assert 'Explanation: the word "apple"' in simulations[0]["messages"][-1]["content"]
    assert len(simulations) > 1 and not any("logprobs" in body for body in simulations)
    calls = [e for e in read_trace(run / "traces" / "1" / "3.jsonl") if isinstance(e, ModelCalled) and e.purpose == "simulator"]
    assert calls and all(c.messages[-1]["content"].endswith("</text>") for c in calls)
