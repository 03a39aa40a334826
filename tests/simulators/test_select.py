"""Choosing an LLM simulator never calls the network."""

from __future__ import annotations

import pytest

from agent.settings import Settings, prompt_logprobs_supported
from tools.llm.config import LLMConfig
from tools.llm.fake import ScriptedLLM
from tools.llm.openai_client import OpenAIChatLLM
from tools.simulators.select import choose_llm_simulator

# Port 9 (discard): nothing listens, and nothing may be sent.
SCORER = OpenAIChatLLM(LLMConfig(base_url="http://127.0.0.1:9/v1"))


@pytest.mark.parametrize(
    ("llm", "method", "supported", "expected"),
    [
        (SCORER, "auto", True, "prompt-logprob"),
        (SCORER, "auto", False, "chat-logprob"),
        (ScriptedLLM(), "auto", True, "chat-logprob"),  # cannot score prompts at all
        (ScriptedLLM(), "chat-json", False, "chat-json"),
        (ScriptedLLM(), "chat-highlight", False, "chat-highlight"),
        (ScriptedLLM(), "chat-logprob", True, "chat-logprob"),
        (ScriptedLLM(), "chat-logprob-numbered", True, "chat-logprob-numbered"),
        (SCORER, "prompt-logprob", False, "prompt-logprob"),  # an explicit choice is the caller's call
    ],
)
def test_choice(llm: object, method: str, supported: bool, expected: str) -> None:
    simulator = choose_llm_simulator(llm, method, prompt_logprobs_supported=supported)  # type: ignore[arg-type]
    assert simulator.method == expected


def test_prompt_logprob_needs_a_prompt_scorer() -> None:
    with pytest.raises(ValueError, match="ScriptedLLM cannot score prompts"):
        choose_llm_simulator(ScriptedLLM(), "prompt-logprob")


@pytest.mark.parametrize(
    ("overrides", "supported"),
    [
        ({"backend": "local"}, True),  # our llama.cpp server keeps every position's logits
        ({"backend": "llm", "llm_base_url": "http://127.0.0.1:9/v1"}, False),  # unknown server: only if the user says so
        ({"backend": "llm", "llm_base_url": "http://127.0.0.1:9/v1", "llm_prompt_logprobs": True}, True),
        ({"backend": "auto", "llm_base_url": "http://127.0.0.1:9/v1"}, False),
    ],
)
def test_which_endpoints_score_prompts(overrides: dict[str, object], supported: bool) -> None:
    assert prompt_logprobs_supported(Settings(**overrides)) is supported  # type: ignore[arg-type]
