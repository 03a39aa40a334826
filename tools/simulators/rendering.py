"""Pure functions: simulator prompts from (explanation, tokens), and the simulator's answers read back.

Tokens are always shown through `escape_token`, so a token holding a newline or a tab stays one
line-safe field, and a re-emitted token is compared with the real one in that escaped form.

Five formats (templates in `prompts/`):
- chat-logprob (`simulate_chat_logprob`): records are blocks `<record N>` ... `</record N>` with one
  token per line; the model copies each block, writing `token<TAB>value` per line.
- chat-logprob-numbered (`simulate_chat_logprob_numbered`): the same blocks with `N<TAB>token`
  lines; the model writes `N<TAB>value` per line and copies no token.
- chat-json (`simulate_chat_json`): the same blocks in; out a JSON object `{"records": [[int, ...], ...]}`.
- chat-highlight (`simulate_chat_highlight`): the record as plain text between `<text>` and `</text>`;
  out `quote<TAB>strength` lines for what the explanation names, or `none` (read in `chat_highlight`).
- all-at-once (`simulate_all_at_once`): a raw completion prompt (one message, sent as is) whose last
  record lists `token<TAB>unknown`; the prompt's own logprobs at each `unknown` are the prediction.

Chat-logprob answers are read back in `reading`. A reply that cannot be read for a record raises `UnreadableAnswer` with the reason, which the
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
from tools.fences import without_fences
from tools.prompting import escape_token

CHAT_LOGPROB_PROMPT = "simulate_chat_logprob"
CHAT_LOGPROB_NUMBERED_PROMPT = "simulate_chat_logprob_numbered"
CHAT_JSON_PROMPT = "simulate_chat_json"
CHAT_HIGHLIGHT_PROMPT = "simulate_chat_highlight"
ALL_AT_ONCE_PROMPT = "simulate_all_at_once"

PLACEHOLDER = "unknown"
"""Stands for a value still to predict in the all-at-once prompt (a word, so it is never a value token)."""

class UnreadableAnswer(ValueError):
    """The simulator's answer cannot be read for a record; the message says why."""


# --- prompts --------------------------------------------------------------------------------------


def record_block(number: int, tokens: Sequence[str]) -> str:
    """One record as `<record N>`, one escaped token per line, `</record N>` (numbers start at 1)."""
    return "\n".join([f"<record {number}>", *(escape_token(t) for t in tokens), f"</record {number}>"])


def numbered_record_block(number: int, tokens: Sequence[str]) -> str:
    """One record as `<record N>`, `i<TAB>token` per token (i from 1), `</record N>`."""
    lines = (f"{index}\t{escape_token(t)}" for index, t in enumerate(tokens, start=1))
    return "\n".join([f"<record {number}>", *lines, f"</record {number}>"])


def record_blocks(records: Sequence[Sequence[str]], numbered: bool = False) -> str:
    block = numbered_record_block if numbered else record_block
    return "\n\n".join(block(number, tokens) for number, tokens in enumerate(records, start=1))


def chat_logprob_values(explanation: str, records: Sequence[Sequence[str]]) -> dict[str, str]:
    return {"explanation": explanation, "records": record_blocks(records)}


def chat_logprob_numbered_values(explanation: str, records: Sequence[Sequence[str]]) -> dict[str, str]:
    return {"explanation": explanation, "records": record_blocks(records, numbered=True)}


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


def chat_highlight_values(explanation: str, tokens: Sequence[str]) -> dict[str, str]:
    # Plain text, not token lines: the model quotes words from it, and a quote is found by characters.
    return {"explanation": explanation, "text": "".join(tokens)}


def all_at_once_values(explanation: str, tokens: Sequence[str]) -> dict[str, str]:
    return {
        "explanation": explanation,
        "records": "\n".join(f"{escape_token(t)}\t{PLACEHOLDER}" for t in tokens),
    }


def chat_logprob_messages(explanation: str, records: Sequence[Sequence[str]]) -> list[Message]:
    return prompts.load(CHAT_LOGPROB_PROMPT).render(**chat_logprob_values(explanation, records))


def chat_logprob_numbered_messages(explanation: str, records: Sequence[Sequence[str]]) -> list[Message]:
    return prompts.load(CHAT_LOGPROB_NUMBERED_PROMPT).render(**chat_logprob_numbered_values(explanation, records))


def chat_json_messages(explanation: str, records: Sequence[Sequence[str]]) -> list[Message]:
    return prompts.load(CHAT_JSON_PROMPT).render(**chat_json_values(explanation, records))


def chat_highlight_messages(explanation: str, tokens: Sequence[str]) -> list[Message]:
    return prompts.load(CHAT_HIGHLIGHT_PROMPT).render(**chat_highlight_values(explanation, tokens))


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


# --- chat-json answers ---------------------------------------------------------------------------


def parse_json_answer(text: str, n_records: int) -> list[Any]:
    """The per-record lists of a chat-json answer (not yet validated per record).

    Accepts code fences and text around the object; the first JSON object holding "records" wins.
    A flat list of numbers is accepted for a single record: unambiguous, and small models write it.
    """
    unfenced = without_fences(text)
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
        start = starts.get(slot + shift)
        if start is None:
            raise UnreadableAnswer(f"token {number}: its placeholder does not start a prompt token")
        indices.append(start)
    return indices
