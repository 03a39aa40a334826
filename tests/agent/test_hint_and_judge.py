"""`refine --explain-output-hint --judge llm` through a real HTTP endpoint: the explainer's prompt names the tokens
the neuron promotes (read from the tiny model's weights), and both held-out explanations carry the LLM judge's
detection and fuzzing with their calls, beside the simulation's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.cli.main import main
from bench.support.brain import brain_behaviour
from bench.support.chat_server import ChatServer, Respond
from graphs.trace import ModelCalled, read_trace
from tests.support.commands import tiny_refine_args
from tools.explainers.output_hint import hint_values


def test_refine_with_the_output_hint_and_the_llm_judge(tmp_path: Path, session_cache: Path, chat_server: ChatServer,
                                                       capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    chat_server.default = Respond(brain_behaviour('the token " object"'))
    code = main([*tiny_refine_args(tmp_path, session_cache, chat_server.base_url), "--max-iters", "1", "--n-explanations", "2",
                 "--probes-per-generator", "1", "--explain-output-hint", "--judge", "llm", "--json"])
    assert code in (0, 1), capsys.readouterr()
    out = json.loads((tmp_path / "runs" / "r" / "results" / "1" / "3.json").read_text())
    calls = [e for e in read_trace(tmp_path / "runs" / "r" / "traces" / "1" / "3.jsonl") if isinstance(e, ModelCalled)]
    explainer = [c for c in calls if c.purpose == "explainer"]
    assert explainer and all("Hint: when neuron B is active, its output weights raise" in c.messages[-1]["content"] for c in explainer)
    # The neuron's own promoted tokens, as its output side at the end read them (the same reading).
    promoted = [t["token"] for t in out["output"]["vocab"]["promoted_normed"]]
    assert f'most: {hint_values(promoted)["tokens"]}.' in explainer[0].messages[-1]["content"]
    judge = [c for c in calls if c.messages[0]["content"].startswith("You check an explanation")]
    for name in ("oneshot", "refined"):
        llm = out[name]["scorers"]["llm"]
        assert llm is not None and llm["calls"] > 0 and llm["texts"] > 0 and llm["unanswered"] == 0, name
        assert llm["detection"] is not None or llm["fuzzing"] is not None
    # Each explanation is judged once (5 texts a prompt, both scorers); the same explanation again (no revision
    # adopted) is answered from the journal, free.
    texts = out["refined"]["scorers"]["llm"]["texts"]
    explanations = len({out["oneshot"]["explanation"], out["refined"]["explanation"]})
    paid = [c for c in judge if not c.cached]
    assert len(paid) == explanations * 2 * -(-texts // 5) and len(judge) == 2 * 2 * -(-texts // 5)
    assert sum(out[name]["scorers"]["llm"]["cached_calls"] for name in ("oneshot", "refined")) == len(judge) - len(paid)
    assert out["tokens"] >= sum(c.prompt_tokens + c.completion_tokens for c in paid)
