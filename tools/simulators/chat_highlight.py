"""Chat-highlight simulator: the model quotes the parts of a text the explanation names, with a strength.

The other chat formats ask for a value at every token, which a small open model answers by copying
(a placeholder, the token, or a run of zeros). Here it answers the question it is good at, "what in
this text does the explanation describe?", one `quote<TAB>strength` line per thing, or `none`. Every
token that a quote covers, wherever the quote occurs in the text, gets its strength (the largest
when quotes overlap); every other token gets 0. Nothing needs logprobs, so any chat endpoint serves
it, and the answer is a few tokens instead of one line per token.

The values are point values on 1-10 where marked, 0 elsewhere: coarser than the logprob methods,
and not comparable with them (scores carry the method name "chat-highlight"). One record per
request, so a neuron's requests share the instructions, the examples and the explanation as a
prefix (a server with a prefix cache evaluates only each record's text).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from tools.llm.protocol import LLM, LLMRequest, LLMResponse
from tools.simulators.base import RecordSimulation, simulate_in_groups
from tools.simulators.rendering import UnreadableAnswer, chat_highlight_messages

METHOD = "chat-highlight"

# Output budget: a quote line is a few words, a tab and a number; a model that marks most of a
# record writes about as many tokens as the record has, and one that repeats itself is cut there.
_TOKENS_PER_RECORD_TOKEN = 2
_MARGIN_TOKENS = 24

_NONE = re.compile(r"^\W*(none|nothing|no match(es)?)\W*$", re.IGNORECASE)
_STRENGTH = re.compile(r"^(?P<quote>.+?)(?:\s*[-:=|,→>]+\s*|\t+|\s+)\(?(?P<value>\d+(?:\.\d+)?)\)?(?:\s*/\s*10)?[.!]?$")
_WRAPPERS = "\"'`“”‘’*"


@dataclass(frozen=True)
class Highlight:
    quote: str
    strength: float
    """Stated strength, 1-10 (0 marks nothing)."""


def parse_highlights(text: str) -> tuple[list[Highlight], list[str]]:
    """The quote lines of an answer, and notes on the lines that were skipped.

    Tolerant of what small models write around the format: code fences, list bullets, quotes around
    the quote, `quote: 7`, `quote - 7` or `7/10`. An answer that is `none` has no highlights; an
    answer with neither a readable line nor `none` raises UnreadableAnswer.
    """
    highlights: list[Highlight] = []
    skipped: list[str] = []
    said_none = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("```"):
            continue
        line = re.sub(r"^(?:[-*•]|\d+[.)])\s+", "", line)
        if _NONE.match(line):
            said_none = True
            continue
        found = _STRENGTH.match(line)
        quote = found.group("quote").strip().strip(_WRAPPERS).strip() if found else ""
        if not found or not quote:
            skipped.append(f"no quote and strength in {raw.strip()[:40]!r}")
            continue
        strength = float(found.group("value"))
        if strength > 10:
            skipped.append(f"strength {found.group('value')} above 10 for {quote[:40]!r}")
            continue
        highlights.append(Highlight(quote, strength))
    if not highlights and not said_none:
        reason = skipped[0] if skipped else "an empty answer"
        raise UnreadableAnswer(f"no quote line and no 'none' ({reason})")
    return highlights, skipped


def mark_tokens(tokens: Sequence[str], highlights: Sequence[Highlight]) -> tuple[list[float], list[str]]:
    """Each token's value: the largest strength of a quote covering any of its characters, else 0;
    and notes on quotes found nowhere in the text.

    Every occurrence of a quote counts (the model was told to mark each thing once); see
    `_occurrences` for how a quote is matched.
    """
    text = "".join(tokens)
    starts = [0]
    for token in tokens:
        starts.append(starts[-1] + len(token))
    values = [0.0] * len(tokens)
    missing: list[str] = []
    for highlight in highlights:
        spans = _occurrences(text, highlight.quote)
        if not spans:
            missing.append(highlight.quote)
            continue
        for begin, end in spans:
            for index in range(len(tokens)):
                if starts[index] < end and starts[index + 1] > begin:
                    values[index] = max(values[index], highlight.strength)
    notes = [f"{len(missing)} quote(s) not in the text, ignored: {', '.join(repr(q[:30]) for q in missing[:3])}"] if missing else []
    return values, notes


def _occurrences(text: str, quote: str) -> list[tuple[int, int]]:
    """Where `quote` occurs as whole words, in any case (" York" is not found in "Yorkshire"); where it
    does not, as a part of a word (a quoted suffix). Case is ignored because the model quotes "green"
    for a text's "Green" as often as not."""
    bounded = ("(?<!\\w)" if quote[:1].isalnum() else "") + re.escape(quote) + ("(?!\\w)" if quote[-1:].isalnum() else "")
    for pattern in (bounded, re.escape(quote)):
        spans = [(m.start(), m.end()) for m in re.finditer(pattern, text, re.IGNORECASE)]
        if spans:
            return spans
    return []


def read_highlight_answer(tokens: Sequence[str], response: LLMResponse) -> RecordSimulation:
    """One record's simulation from the model's answer to its request."""
    complete = response.text
    cut = response.finish_reason == "length"
    if cut:
        # The last line may stop inside its quote or its number; the lines before it stand.
        complete = complete.rsplit("\n", 1)[0] if "\n" in complete else ""
    try:
        highlights, skipped = parse_highlights(complete)
    except UnreadableAnswer as err:
        return RecordSimulation.failed(METHOD, tokens, f"{err}{' (the answer was cut at max_tokens)' if cut else ''}")
    values, notes = mark_tokens(tokens, highlights)
    notes += [f"{len(skipped)} unreadable line(s) skipped: {skipped[0]}"] if skipped else []
    notes += ["the answer was cut at max_tokens; its last line was dropped"] if cut else []
    return RecordSimulation(
        method=METHOD,
        tokens=list(tokens),
        expected=values,
        distribution_values=[[v] for v in values],
        distribution_probabilities=[[1.0] for _ in values],
        notes=notes,
    )


class ChatHighlightSimulator:
    """`Simulator` over any chat `LLM`, logprobs not needed; see the module docstring."""

    def __init__(self, llm: LLM) -> None:
        self._llm = llm

    @property
    def method(self) -> str:
        return METHOD

    async def simulate(self, explanation: str, records: Sequence[Sequence[str]]) -> list[RecordSimulation]:
        return await simulate_in_groups(
            METHOD, records, 1,
            lambda group: self._llm.complete(self.request(explanation, group[0])),
            lambda group, answer: [read_highlight_answer(group[0], answer)],
        )

    def request(self, explanation: str, tokens: Sequence[str]) -> LLMRequest:
        """The request for one record."""
        return LLMRequest(
            purpose="simulator",
            messages=chat_highlight_messages(explanation, tokens),
            max_tokens=len(tokens) * _TOKENS_PER_RECORD_TOKEN + _MARGIN_TOKENS,
            temperature=0.0,
        )
