"""The LLM prober (generator (a), docs/science.md#probes): texts an explanation says should fire, should not, and near misses.

Prompt (`prompts/probe.txt`): the explanation, at most `MAX_EXAMPLES` of the request's examples as
plain text with the tokens where the neuron responds marked `[[like this]]` (each cut to a window
around its peak by `peak_window`), one worked example, and how many texts of each kind to write. Not
`token<TAB>value` lines: a 1.5B model answered those with more such lines instead of texts. The
answer is a JSON object `{"should_fire": [...], "should_not_fire": [...], "near_miss": [...]}`, read
by `parse_probe_answer`.
"""

from __future__ import annotations

import json

import prompts
from prompts import Message
from tools.fences import first_fenced
from tools.llm.protocol import LLM, LLMRequest
from tools.probes.types import ProbeRequest
from tools.prompt_window import peak_index, peak_window, window_note
from tools.prompting import marked_text

PROBE_KINDS = ("should_fire", "should_not_fire", "near_miss")
MAX_EXAMPLES = 3
MAX_PROBE_CHARS = 400
"""Longer answers are not the one or two sentences asked for, and would cost subject and simulator time."""


class UnreadableProbeAnswer(ValueError):
    """The prober's answer holds no usable JSON object; the message says why."""


MARK_AT = 5
"""Tokens at or above this 0-10 value are marked: where the neuron responds strongly, not every flicker."""


def examples_text(examples: list[tuple[list[str], list[int]]], limit: int = MAX_EXAMPLES) -> str:
    lines = []
    for number, (tokens, values) in enumerate(examples[:limit], start=1):
        window = peak_window(len(tokens), peak_index(values))
        peak = max(values, default=0)
        text = marked_text([tokens[i] for i in window], [values[i] for i in window], min(MARK_AT, max(peak, 1)))
        lines.append(f"Text {number}{window_note(window, len(tokens))}: {text.strip()}")
    return "\n".join(lines) or "(none)"


def probe_prompt_values(request: ProbeRequest) -> dict[str, str]:
    return {"explanation": request.explanation, "examples": examples_text(request.examples), "per_kind": str(request.per_kind)}


def probe_messages(request: ProbeRequest) -> list[Message]:
    return prompts.load("probe").render(**probe_prompt_values(request))


def parse_probe_answer(text: str, limit: int | None = None) -> dict[str, list[str]]:
    """The texts per kind, at most `limit` each.

    Reads the inside of the first code fence if there is one, then the outermost `{...}`; nothing else
    is repaired (a trailing comma makes the answer unreadable). A missing key or a non-list value is an
    empty list; non-strings, blanks, texts over `MAX_PROBE_CHARS` and repeats (also across kinds: the
    first kind keeps it) are dropped; the [[ ]] marks of the prompt's examples are taken out. Raises UnreadableProbeAnswer when there is no JSON object or it
    has none of the three keys."""
    fenced = first_fenced(text)
    body = text if fenced is None else fenced
    start, end = body.find("{"), body.rfind("}")
    if start < 0 or end < start:
        raise UnreadableProbeAnswer("no JSON object in the answer")
    try:
        data = json.loads(body[start : end + 1])
    except ValueError as exc:
        raise UnreadableProbeAnswer(f"not valid JSON: {exc}") from exc
    if not any(kind in data for kind in PROBE_KINDS):
        raise UnreadableProbeAnswer(f"none of the keys {', '.join(PROBE_KINDS)}")
    seen: set[str] = set()
    out: dict[str, list[str]] = {}
    for kind in PROBE_KINDS:
        items = data.get(kind)
        texts: list[str] = []
        for item in items if isinstance(items, list) else []:
            if limit is not None and len(texts) >= limit:
                break
            if not isinstance(item, str):
                continue
            # The examples mark strong tokens [[like this]]; a small model copies the marks into its texts.
            probe = item.replace("[[", "").replace("]]", "").strip()
            if probe and len(probe) <= MAX_PROBE_CHARS and probe not in seen:
                seen.add(probe)
                texts.append(probe)
        out[kind] = texts
    return out


class LLMProber:
    def __init__(self, llm: LLM, max_tokens: int = 600, temperature: float = 0.8) -> None:
        self.llm = llm
        self.max_tokens = max_tokens
        self.temperature = temperature

    async def write(self, request: ProbeRequest) -> dict[str, list[str]]:
        """`request.per_kind` texts at most per kind. An LLMError propagates, and an answer with no
        readable texts raises UnreadableProbeAnswer (its reason names the finish reason): either way
        the caller records the failed step and falls back on its other generators."""
        response = await self.llm.complete(LLMRequest(
            purpose="prober", messages=probe_messages(request), max_tokens=self.max_tokens, temperature=self.temperature,
        ))
        try:
            return parse_probe_answer(response.text, limit=request.per_kind)
        except UnreadableProbeAnswer as exc:
            cut = " (the answer was cut at max_tokens)" if response.finish_reason == "length" else ""
            raise UnreadableProbeAnswer(f"unreadable probe answer: {exc}{cut}") from exc
