"""Chat-json simulator: for endpoints without logprobs, the model answers one integer 0-10 per token.

A weaker, coarser estimate than the logprob methods (one point value per token, no distribution),
and not comparable with them: scores carry the method name "chat-json". The answer is a JSON
object `{"records": [[...], ...]}`; a record whose list has the wrong length or a value that is not
a whole number 0-10 fails (nothing is clamped), and an unreadable answer fails every record of the
request.
"""

from __future__ import annotations

from collections.abc import Sequence

from tools.llm.protocol import LLM, LLMRequest, LLMResponse
from tools.simulators.base import RecordSimulation, simulate_in_groups
from tools.simulators.rendering import (
    UnreadableAnswer,
    chat_json_messages,
    json_record_values,
    parse_json_answer,
)

METHOD = "chat-json"

# Output budget: a value and its separator are about 2 tokens; the margin covers the JSON frame
# and code fences a model may add anyway.
_TOKENS_PER_VALUE = 3
_TOKENS_PER_RECORD = 8
_MARGIN_TOKENS = 32


class ChatJsonSimulator:
    """`Simulator` over any chat `LLM`, logprobs not needed."""

    def __init__(self, llm: LLM, records_per_request: int = 4) -> None:
        if records_per_request < 1:
            raise ValueError("records_per_request must be at least 1")
        self._llm = llm
        self._records_per_request = records_per_request

    @property
    def method(self) -> str:
        return METHOD

    async def simulate(self, explanation: str, records: Sequence[Sequence[str]]) -> list[RecordSimulation]:
        return await simulate_in_groups(
            METHOD, records, self._records_per_request,
            lambda group: self._llm.complete(self.request(explanation, group)), _read_answer,
        )

    def request(self, explanation: str, records: Sequence[Sequence[str]]) -> LLMRequest:
        """The request for one group of records."""
        n_tokens = sum(len(tokens) for tokens in records)
        return LLMRequest(
            purpose="simulator",
            messages=chat_json_messages(explanation, records),
            max_tokens=n_tokens * _TOKENS_PER_VALUE + len(records) * _TOKENS_PER_RECORD + _MARGIN_TOKENS,
            temperature=0.0,
        )


def _read_answer(records: Sequence[Sequence[str]], response: LLMResponse) -> list[RecordSimulation]:
    """One simulation per record from the answer to one group's request."""
    truncated = " (the answer was cut at max_tokens)" if response.finish_reason == "length" else ""
    try:
        lists = parse_json_answer(response.text, len(records))
    except UnreadableAnswer as err:
        return [RecordSimulation.failed(METHOD, tokens, f"{err}{truncated}") for tokens in records]
    simulations = []
    for number, (tokens, raw) in enumerate(zip(records, lists, strict=True), start=1):
        try:
            values = json_record_values(raw, len(tokens))
        except UnreadableAnswer as err:
            simulations.append(RecordSimulation.failed(METHOD, tokens, f"record {number}: {err}"))
            continue
        simulations.append(
            RecordSimulation(
                method=METHOD,
                tokens=list(tokens),
                expected=[float(v) for v in values],
                distribution_values=[[float(v)] for v in values],
                distribution_probabilities=[[1.0] for _ in values],
            )
        )
    return simulations
