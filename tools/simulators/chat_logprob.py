"""Chat-logprob simulator: the chat model re-emits each token with its value; logprobs give the EV.

Chat APIs return logprobs for generated tokens only, so the model copies every record as
`token<TAB>value` lines inside `<record N>` ... `</record N>` blocks (several records per request
when `records_per_request` > 1), and at each value slot (the first generated token after the tab)
its top candidates go through `value_distribution`: values "0".."10" kept, renormalized, EV.

The answer is read from the concatenation of the generated tokens' texts (`reading`, tolerant of
escaped or re-cased markers, fences, numbering, commentary and re-spaced tokens), so a value's
character offset names its generated token exactly. A record fails (never zeros) when its block is
missing, a token has no line that stands for it alone (sequence matching, see `reading.align`), a
value is not a whole number 0-10 or does not start a generated token, or the logprobs are missing.
Slots whose top candidates hold no value token get EV 0, as the reference does, and are counted in
the record's notes. The numbered variant (`chat_logprob_numbered`) shares all of this but the
prompt and the reader, which `AnswerFormat` names.

"10" on tokenizers that write it as "1" then "0" (SmolLM2, Llama 3 style digit splitting):
P(value 10) = P("1") * P("0" | "1"), where the second factor is the probability of "0" at the slot
right after the "1". `split_ten` moves that share of the "1" candidate's mass to 10 and keeps the
rest as 1. `ten_mode` decides when:
- "auto": only at slots where the model itself wrote "1" then "0" (the split is observed); there
  P("0" | "1") is the generated "0" token's own probability. A slot whose generated "1" is followed
  by anything else, or whose generated token is not "1", reads "1" as 1.
- "split": at every slot whose generated token is "1", P("0" | "1") is the "0" candidate's
  probability at the next slot (0 when "0" is not among its top candidates). For tokenizers known
  to split: it also credits 10 when the model wrote a plain 1.
- "single": the tokenizer writes "10" as one token; candidates are read as they are, and a value
  10 written as two tokens fails the record.
In every mode a "1" candidate at a slot where the model wrote something else cannot be followed
(that continuation was never generated): it counts as 1, a lower bound for split tokenizers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from prompts import Message
from tools.llm.protocol import LLM, LLMRequest, LLMResponse, TokenLogprob
from tools.science.expected_value import ValueDistribution, split_ten, value_distribution
from tools.simulators.base import RecordSimulation, simulate_in_groups
from tools.simulators.reading import AnswerLine, Reading, read_copied
from tools.simulators.rendering import UnreadableAnswer, chat_logprob_messages

METHOD = "chat-logprob"

TenMode = Literal["auto", "single", "split"]
Reader = Callable[[str, Sequence[Sequence[str]]], list[Reading]]
"""(answer text, the request's records) -> one `Reading` per record."""


@dataclass(frozen=True)
class AnswerFormat:
    """What a chat-logprob variant asks for and how its answer is read back."""

    method: str
    messages: Callable[[str, Sequence[Sequence[str]]], list[Message]]
    read: Reader
    tokens_per_line: int
    """Output budget per token line, in generated tokens."""


# A copied line is the token (1-3 generated tokens), a tab, the value, a newline.
COPIED = AnswerFormat(METHOD, chat_logprob_messages, read_copied, tokens_per_line=6)

# The margin covers the block markers and a preamble a model may add anyway.
_TOKENS_PER_RECORD = 16
_MARGIN_TOKENS = 32


class ChatLogprobSimulator:
    """`Simulator` over any chat `LLM` that returns top logprobs for generated tokens."""

    def __init__(
        self,
        llm: LLM,
        records_per_request: int = 1,
        top_logprobs: int = 15,
        ten_mode: TenMode = "auto",
        answer_format: AnswerFormat = COPIED,
    ) -> None:
        if records_per_request < 1:
            raise ValueError("records_per_request must be at least 1")
        if not 1 <= top_logprobs <= 20:
            raise ValueError("top_logprobs must be between 1 and 20 (the chat API's limit)")
        self._llm = llm
        self._records_per_request = records_per_request
        self._top_logprobs = top_logprobs
        self._ten_mode = ten_mode
        self._format = answer_format

    @property
    def method(self) -> str:
        return self._format.method

    async def simulate(self, explanation: str, records: Sequence[Sequence[str]]) -> list[RecordSimulation]:
        return await simulate_in_groups(
            self.method, records, self._records_per_request,
            lambda group: self._llm.complete(self.request(explanation, group)), self._read,
        )

    def request(self, explanation: str, records: Sequence[Sequence[str]]) -> LLMRequest:
        """The request for one group of records."""
        n_tokens = sum(len(tokens) for tokens in records)
        return LLMRequest(
            purpose="simulator",
            messages=self._format.messages(explanation, records),
            max_tokens=n_tokens * self._format.tokens_per_line + len(records) * _TOKENS_PER_RECORD + _MARGIN_TOKENS,
            temperature=0.0,
            logprobs=True,
            top_logprobs=self._top_logprobs,
        )

    def _read(self, records: Sequence[Sequence[str]], response: LLMResponse) -> list[RecordSimulation]:
        if not response.logprobs:
            return [
                RecordSimulation.failed(self.method, tokens, "the server returned no logprobs")
                for tokens in records
            ]
        return read_response(
            records, response.logprobs, self._format, ten_mode=self._ten_mode, cut=response.finish_reason == "length"
        )


def read_response(
    records: Sequence[Sequence[str]],
    generated: Sequence[TokenLogprob],
    answer_format: AnswerFormat,
    *,
    ten_mode: TenMode = "auto",
    cut: bool = False,
) -> list[RecordSimulation]:
    """One simulation per record from the generated tokens of one answer; `cut`: the answer
    stopped at max_tokens, which failures mention."""
    method = answer_format.method
    readings = answer_format.read("".join(token.token for token in generated), records)
    starts = _token_starts(generated)
    truncated = " (the answer was cut at max_tokens)" if cut else ""
    simulations = []
    for tokens, reading in zip(records, readings, strict=True):
        try:
            if reading.lines is None:
                raise UnreadableAnswer(reading.error)
            slots = [
                _read_slot(line, index, generated, starts, ten_mode) for index, line in enumerate(reading.lines)
            ]
        except UnreadableAnswer as err:
            simulations.append(RecordSimulation.failed(method, tokens, f"{err}{truncated}"))
            continue
        notes = []
        if reading.respaced:
            notes.append(f"{reading.respaced} of {len(tokens)} tokens re-emitted with different whitespace or escaping")
        simulations.append(RecordSimulation.from_slots(method, tokens, slots, notes))
    return simulations


def _token_starts(generated: Sequence[TokenLogprob]) -> dict[int, int]:
    """Character offset -> index of the generated token starting there (empty tokens start nothing)."""
    starts: dict[int, int] = {}
    position = 0
    for index, token in enumerate(generated):
        if token.token:
            starts.setdefault(position, index)
        position += len(token.token)
    return starts


def _read_slot(
    line: AnswerLine,
    index: int,
    generated: Sequence[TokenLogprob],
    starts: dict[int, int],
    ten_mode: TenMode,
) -> ValueDistribution:
    at = starts.get(line.value_offset)
    if at is None:
        raise UnreadableAnswer(f"token {index}: value {line.value!r} does not start a generated token")
    slot = generated[at]
    following = generated[at + 1] if at + 1 < len(generated) else None
    written_split = slot.token == "1" and following is not None and following.token == "0"
    if slot.token != line.value and not (line.value == "10" and written_split):
        raise UnreadableAnswer(
            f"token {index}: value {line.value!r} is generated as {slot.token!r}, not a value token"
        )
    if not slot.top:
        raise UnreadableAnswer(f"token {index}: no top logprobs at the value slot")
    if written_split and ten_mode == "single":
        raise UnreadableAnswer(f"token {index}: 10 was generated as '1','0' but ten_mode is 'single'")
    candidates = [(alt.token, alt.logprob) for alt in slot.top]
    if (
        slot.token == "1"
        and following is not None
        and (ten_mode == "split" or (ten_mode == "auto" and written_split))
    ):
        candidates = split_ten(candidates, _zero_probability(following))
    return value_distribution(candidates)


def _zero_probability(token: TokenLogprob) -> float:
    """P("0") at a generated position: the token's own probability if it is "0", else its "0" candidate's."""
    if token.token == "0" and token.logprob is not None:
        logprob = token.logprob
    else:
        logprob = next((alt.logprob for alt in token.top if alt.token == "0"), -math.inf)
    # Servers round: a logprob of +1e-7 must not make split_ten take the log of a negative mass.
    return min(1.0, math.exp(logprob))
