"""Chat-logprob with numbered lines: the model writes `N<TAB>value` per token and copies no token.

The copy format (`chat_logprob`) makes the model re-emit every token before its value. Small open
models garble that copy (escaping, spacing, skipped or repeated lines), and the copy costs 1-3
output tokens per line. Here the prompt numbers the token lines and the answer holds only
`N<TAB>value` lines, read back by line number (`reading.read_numbered`); the value slot and its
expected value are read exactly as in the copy format (same `AnswerFormat` machinery, same
`ten_mode`).

How it differs from OpenAI's reference (docs/science.md#chat-logprob-numbered): the reference scores one
prompt with prompt logprobs ("all at once"), where each value slot comes right after its token,
so the prediction is conditioned on the token written just before it and on all earlier tokens
with their placeholders. Here the value slot follows a line number: the model must look the token
up in the prompt by its number, and its earlier predicted values (not placeholders) precede it. So
its scores are comparable neither with the reference nor with the copy format, and they carry
their own method name, "chat-logprob-numbered".
"""

from __future__ import annotations

from tools.llm.protocol import LLM
from tools.simulators.chat_logprob import AnswerFormat, ChatLogprobSimulator, TenMode
from tools.simulators.reading import read_numbered
from tools.simulators.rendering import chat_logprob_numbered_messages

METHOD = "chat-logprob-numbered"

# A line is its number (1-2 generated tokens), a tab, the value, a newline.
NUMBERED = AnswerFormat(METHOD, chat_logprob_numbered_messages, read_numbered, tokens_per_line=5)


class NumberedChatLogprobSimulator(ChatLogprobSimulator):
    """`Simulator` over any chat `LLM` with top logprobs, answering values by line number."""

    def __init__(
        self, llm: LLM, records_per_request: int = 1, top_logprobs: int = 15, ten_mode: TenMode = "auto"
    ) -> None:
        super().__init__(llm, records_per_request, top_logprobs, ten_mode, answer_format=NUMBERED)
