"""Pure functions: simulator prompts from (explanation, tokens), and the simulator's answers read back.

Tokens are always shown through `escape_token`, so a token holding a newline or a tab stays one
line-safe field, and a re-emitted token is compared with the real one in that escaped form.

Three formats (templates in `prompts/`):
- chat-logprob (`simulate_chat_logprob`): records are blocks `<record N>` ... `</record N>` with one
  token per line; the model copies each block, writing `token<TAB>value` per line.
- chat-json (`simulate_chat_json`): the same blocks in; out a JSON object `{"records": [[int, ...], ...]}`.
- all-at-once (`simulate_all_at_once`): a raw completion prompt (one message, sent as is) whose last
  record lists `token<TAB>unknown`; the prompt's own logprobs at each `unknown` are the prediction.

A reply that cannot be read for a record raises `UnreadableAnswer` with the reason, which the
simulators turn into that record's failure.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from string import Template
from typing import Any

import prompts
from prompts import Message
from tools.prompting import escape_token

CHAT_LOGPROB_PROMPT = "simulate_chat_logprob"
CHAT_JSON_PROMPT = "simulate_chat_json"
ALL_AT_ONCE_PROMPT = "simulate_all_at_once"

PLACEHOLDER = "unknown"
"""Stands for a value still to predict in the all-at-once prompt (a word, so it is never a value token)."""

_VALUE_TEXT = re.compile(r"(?:10|[0-9])")
_OPEN = re.compile(r"<record (\d+)>")
_CLOSE = re.compile(r"</record (\d+)>")
_FENCE = re.compile(r"```[A-Za-z0-9_-]*")


class UnreadableAnswer(ValueError):
    """The simulator's answer cannot be read for a record; the message says why."""


# --- prompts --------------------------------------------------------------------------------------


def record_block(number: int, tokens: Sequence[str]) -> str:
    """One record as `<record N>`, one escaped token per line, `</record N>` (numbers start at 1)."""
    return "\n".join([f"<record {number}>", *(escape_token(t) for t in tokens), f"</record {number}>"])


def record_blocks(records: Sequence[Sequence[str]]) -> str:
    return "\n\n".join(record_block(number, tokens) for number, tokens in enumerate(records, start=1))


def chat_logprob_values(explanation: str, records: Sequence[Sequence[str]]) -> dict[str, str]:
    return {"explanation": explanation, "records": record_blocks(records)}


def chat_json_values(explanation: str, records: Sequence[Sequence[str]]) -> dict[str, str]:
    # Small models lose count over 64 lines; stating each record's length gives them a target.
    counts = "; ".join(
        f"record {number} has {len(tokens)} token{'' if len(tokens) == 1 else 's'}"
        for number, tokens in enumerate(records, start=1)
    )
    return {
        "explanation": explanation,
        "records": record_blocks(records),
        "counts": counts[:1].upper() + counts[1:] + ".",
    }


def all_at_once_values(explanation: str, tokens: Sequence[str]) -> dict[str, str]:
    return {
        "explanation": explanation,
        "records": "\n".join(f"{escape_token(t)}\t{PLACEHOLDER}" for t in tokens),
    }


def chat_logprob_messages(explanation: str, records: Sequence[Sequence[str]]) -> list[Message]:
    return prompts.load(CHAT_LOGPROB_PROMPT).render(**chat_logprob_values(explanation, records))


def chat_json_messages(explanation: str, records: Sequence[Sequence[str]]) -> list[Message]:
    return prompts.load(CHAT_JSON_PROMPT).render(**chat_json_values(explanation, records))


@dataclass(frozen=True)
class AllAtOncePrompt:
    text: str
    slots: list[int]
    """Character offset in `text` of each token's placeholder, in token order."""


def all_at_once_prompt(explanation: str, tokens: Sequence[str]) -> AllAtOncePrompt:
    """The raw prompt for one record, and where each of its placeholders starts."""
    template = prompts.load(ALL_AT_ONCE_PROMPT)
    if len(template.messages) != 1:
        raise ValueError(f"prompt {ALL_AT_ONCE_PROMPT!r} must be a single message (it is sent as raw text)")
    values = all_at_once_values(explanation, tokens)
    [message] = template.render(**values)
    # The records come last, after the explanation (free text that could contain anything), so
    # their offset is found from the end: the fixed text after `$records` holds no placeholder.
    raw = template.messages[0][1].template
    if raw.count("$records") != 1:
        raise ValueError(f"prompt {ALL_AT_ONCE_PROMPT!r} must use $records exactly once")
    tail = Template(raw.split("$records")[1]).substitute({})
    start = len(message.content) - len(tail) - len(values["records"])
    offsets, position = [], start
    for token in tokens:
        shown = escape_token(token)
        offsets.append(position + len(shown) + 1)
        position += len(shown) + 1 + len(PLACEHOLDER) + 1
    return AllAtOncePrompt(message.content, offsets)


# --- chat-logprob answers ------------------------------------------------------------------------


@dataclass(frozen=True)
class EmittedLine:
    """One `token<TAB>value` line of a re-emitted record."""

    token: str
    """The token as the model wrote it (escaped form, as shown in the prompt)."""
    value: str
    """The value text after the tab, trailing whitespace removed."""
    value_offset: int
    """Character offset of the value in the parsed text: where its value slot starts."""


@dataclass(frozen=True)
class EmittedRecords:
    blocks: dict[int, list[EmittedLine]]
    problems: dict[int, str]
    """Records whose block cannot be used (unclosed, repeated, a line without a tab), by number."""

    def lines(self, number: int) -> list[EmittedLine]:
        if number in self.problems:
            raise UnreadableAnswer(self.problems[number])
        if number not in self.blocks:
            raise UnreadableAnswer(f"the answer has no block <record {number}>")
        return self.blocks[number]


def parse_emitted(text: str) -> EmittedRecords:
    """The `<record N>` blocks of a chat-logprob answer; text outside blocks (a preamble, fences) is ignored."""
    blocks: dict[int, list[EmittedLine]] = {}
    problems: dict[int, str] = {}
    current: int | None = None
    offset = 0
    for line in text.split("\n"):
        line_start, offset = offset, offset + len(line) + 1
        stripped = line.strip()
        if (opened := _OPEN.fullmatch(stripped)) is not None:
            if current is not None:
                problems[current] = f"block <record {current}> is not closed"
            current = int(opened.group(1))
            if current in blocks:
                problems[current] = f"block <record {current}> appears twice"
            blocks[current] = []
            continue
        if current is None:
            continue
        if (closed := _CLOSE.fullmatch(stripped)) is not None:
            if int(closed.group(1)) != current:
                problems[current] = f"block <record {current}> is closed by </record {closed.group(1)}>"
            current = None
            continue
        if not stripped:
            continue  # a blank line between token lines carries no token: models add them
        token, tab, value = line.rpartition("\t")
        if not tab:
            problems.setdefault(current, f"record {current}: line {line!r} has no tab")
            continue
        blocks[current].append(EmittedLine(token, value.rstrip(), line_start + len(token) + 1))
    if current is not None:
        problems.setdefault(current, f"block <record {current}> is not closed")
    return EmittedRecords(blocks, problems)


def align_emitted(tokens: Sequence[str], lines: Sequence[EmittedLine]) -> int:
    """Check that the re-emitted lines are the record's tokens, in order, each with a value 0-10.

    Leading and trailing whitespace of a token is tolerated: chat models often drop the leading
    space of a token at the start of a line, and since lines are matched one to one in order, a
    space cannot make a line stand for another token. Any other difference fails the record.
    Returns how many lines differed only by such whitespace.
    """
    if len(lines) != len(tokens):
        raise UnreadableAnswer(f"re-emitted {len(lines)} lines for {len(tokens)} tokens")
    whitespace_only = 0
    for index, (token, line) in enumerate(zip(tokens, lines, strict=True)):
        shown = escape_token(token)
        if line.token != shown:
            if line.token.strip() != shown.strip():
                raise UnreadableAnswer(f"token {index}: re-emitted {line.token!r}, expected {shown!r}")
            whitespace_only += 1
        if _VALUE_TEXT.fullmatch(line.value) is None:
            raise UnreadableAnswer(
                f"token {index} ({shown!r}): value {line.value!r} is not a whole number 0-10"
            )
    return whitespace_only


# --- chat-json answers ---------------------------------------------------------------------------


def parse_json_answer(text: str, n_records: int) -> list[Any]:
    """The per-record lists of a chat-json answer (not yet validated per record).

    Accepts code fences and text around the object; the first JSON object holding "records" wins.
    A flat list of numbers is accepted for a single record: unambiguous, and small models write it.
    """
    unfenced = _FENCE.sub("", text)
    decoder = json.JSONDecoder()
    found: Mapping[str, Any] | None = None
    for match in re.finditer(r"\{", unfenced):
        try:
            candidate, _ = decoder.raw_decode(unfenced, match.start())
        except json.JSONDecodeError:
            continue
        if isinstance(candidate, dict) and "records" in candidate:
            found = candidate
            break
    if found is None:
        raise UnreadableAnswer(f"no JSON object with 'records' in the answer: {text[:120]!r}")
    lists = found["records"]
    if not isinstance(lists, list):
        raise UnreadableAnswer(f"'records' is a {type(lists).__name__}, not a list")
    if n_records == 1 and lists and all(not isinstance(item, list) for item in lists):
        lists = [lists]
    if len(lists) != n_records:
        raise UnreadableAnswer(f"expected {n_records} record lists, got {len(lists)}")
    return lists


def json_record_values(raw: Any, n_tokens: int) -> list[int]:
    """One record's values, checked: a list of exactly n_tokens whole numbers 0-10 (nothing is clamped)."""
    if not isinstance(raw, list):
        raise UnreadableAnswer(f"values are a {type(raw).__name__}, not a list")
    if len(raw) != n_tokens:
        raise UnreadableAnswer(f"{len(raw)} values for {n_tokens} tokens")
    for index, value in enumerate(raw):
        # bool is an int in Python but true/false is no activation.
        if isinstance(value, bool) or not isinstance(value, int):
            raise UnreadableAnswer(f"token {index}: value {value!r} is not a whole number")
        if not 0 <= value <= 10:
            raise UnreadableAnswer(f"token {index}: value {value} is outside 0-10")
    return list(raw)


# --- all-at-once prompt logprobs -----------------------------------------------------------------


def slot_token_indices(
    prompt: str, slots: Sequence[int], unscored_prefix: str, token_texts: Sequence[str]
) -> list[int]:
    """For each slot (a character offset in `prompt`), the index in `token_texts` of the scored token starting there.

    The server's token texts need not spell the prompt from its first character: a BOS token's
    text, a tokenizer's dummy leading space, or bytes decoded lossily in the explanation change
    the front. So the texts are aligned from the end, and everything from the first slot on must be
    spelled exactly; a slot that falls inside a token (the tokenizer merged the tab with the
    placeholder) cannot be read.
    """
    if not slots:
        return []
    spelled = unscored_prefix + "".join(token_texts)
    shift = len(spelled) - len(prompt)
    first = min(slots)
    if first + shift < len(unscored_prefix) or not spelled.endswith(prompt[first:]):
        raise UnreadableAnswer(
            "the server's prompt tokens do not spell the prompt from the first placeholder on"
        )
    starts: dict[int, int] = {}
    position = len(unscored_prefix)
    for index, text in enumerate(token_texts):
        if text:
            starts.setdefault(position, index)
        position += len(text)
    indices = []
    for number, slot in enumerate(slots):
        index = starts.get(slot + shift)
        if index is None:
            raise UnreadableAnswer(f"token {number}: its placeholder does not start a prompt token")
        indices.append(index)
    return indices
