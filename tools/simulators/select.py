"""Which LLM simulator to use for an endpoint."""

from __future__ import annotations

from typing import Literal

from tools.llm.protocol import LLM, PromptScorer
from tools.simulators.base import Simulator
from tools.simulators.chat_highlight import ChatHighlightSimulator
from tools.simulators.chat_json import ChatJsonSimulator
from tools.simulators.chat_logprob import ChatLogprobSimulator
from tools.simulators.chat_logprob_numbered import NumberedChatLogprobSimulator
from tools.simulators.prompt_logprob import PromptLogprobSimulator

LLMSimulatorMethod = Literal["auto", "chat-logprob", "chat-logprob-numbered", "chat-json", "chat-highlight", "prompt-logprob"]


def choose_llm_simulator(
    llm: LLM, method: LLMSimulatorMethod = "auto", *, prompt_logprobs_supported: bool = False
) -> Simulator:
    """The simulator for `method`; "auto" is the reference all-at-once method when the client can
    score prompts and the server is known to return prompt logprobs, else chat-logprob.

    `prompt_logprobs_supported` comes from configuration or an earlier probe: choosing never calls
    the network.
    """
    if method == "auto":
        method = (
            "prompt-logprob"
            if prompt_logprobs_supported and isinstance(llm, PromptScorer)
            else "chat-logprob"
        )
    if method == "prompt-logprob":
        if not isinstance(llm, PromptScorer):
            raise ValueError(
                f"{type(llm).__name__} cannot score prompts: prompt-logprob needs a PromptScorer"
            )
        return PromptLogprobSimulator(llm)
    if method == "chat-highlight":
        return ChatHighlightSimulator(llm)
    if method == "chat-json":
        return ChatJsonSimulator(llm)
    if method == "chat-logprob-numbered":
        return NumberedChatLogprobSimulator(llm)
    return ChatLogprobSimulator(llm)
