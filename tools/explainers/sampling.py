"""n concurrent samples of one prompt, cleaned into distinct usable explanations (explainer and reviser),
and the LLM-call skeleton both share."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import structlog

from prompts import Message
from tools.explainers.base import NoExplanationError, UnchangedExplanation, clean_explanation
from tools.llm.protocol import LLM, LLMError, LLMRequest, LLMResponse, Purpose

log = structlog.get_logger(__name__)

_REPEATED = "repeated the current explanation"

OnDiscarded = Callable[[Purpose, list[str]], None]
"""Told, after a sampling, the reason of every answer it discarded (the trace counts them)."""

_CLAIMS = re.compile(r"^\s*answers\s*:(.*)$", re.IGNORECASE | re.MULTILINE)
# The prompts ask for the continuation of "... does is find"; a small model often restates that
# frame with a verb of its own in front of the explanation it was shown ("identify color words, most
# strongly blue"), which reads the same to a simulator that works (issue 23's traces).
_FRAMING_VERB = re.compile(
    r"^(?:finds?|identif(?:y|ies)|detects?|recogni[sz]es?|extracts?|spots?|locates?|picks? out|looks? for)\s+")


def explanation_gist(text: str) -> str:
    """What two explanations must share to be the same one: case, spacing and a leading verb that
    only restates the prompt's "find" do not count."""
    return _FRAMING_VERB.sub("", " ".join(text.lower().split()), count=1)


@dataclass(frozen=True)
class Sample:
    """A usable explanation, and the counterexample numbers its answer's `Answers:` line names (the
    reviser asks for that line; empty when there is none)."""

    text: str
    claims: tuple[int, ...] = ()


def split_claims(answer: str) -> tuple[str, list[int] | None]:
    """(the answer without its last `Answers:` line, the numbers that line names); None without such a line."""
    found = list(_CLAIMS.finditer(answer))
    if not found:
        return answer, None
    line = found[-1]
    return answer[: line.start()] + answer[line.end():], [int(n) for n in re.findall(r"\d+", line.group(1))]


def output_cap(max_words: int) -> int:
    """Tokens to allow for an answer of `max_words` words: about two tokens a word, and room for a preamble."""
    return 2 * max_words + 40


async def sample_explanations(
    llm: LLM, purpose: Purpose, messages: list[Message], n: int, temperature: float, max_tokens: int,
    max_words: int, exclude: str | None = None, on_discarded: OnDiscarded | None = None,
    again: list[Message] | None = None,
) -> list[Sample]:
    """Distinct usable explanations from `n` samples with seeds 0..n-1, in sample order.

    Sample 0 is greedy (temperature 0), the model's best guess; the others are drawn at `temperature`
    for diversity. A small model's samples at temperature 1 often lose what its best guess gets right:
    on a planted colour rule Qwen2.5-1.5B answered "color words, most strongly blue" greedily, and
    "related emotions, expressions, or themes" and "temple Jerusalem" when sampled.

    Each answer is read whole (`clean_explanation`), its `Answers:` line split off first: over several
    lines, or cut at `max_tokens`, it is capped at `max_words`, not dropped. Failed calls and answers with nothing usable (empty,
    absurdly long, equal to `exclude`, or a repeat of another sample) are discarded, each with its
    reason, logged and told to `on_discarded`; raises NoExplanationError with the first reason when
    nothing usable is left, and its subclass UnchangedExplanation when every sample only repeated `exclude`.

    With `again`, a sample that repeats `exclude` is asked once more in the same conversation (its
    answer, then `again`), with the same seed and temperature, and the second answer replaces it:
    small models copy the current explanation shown in the prompt, and one round of feedback is what
    makes them write an edit. The repeat is still told to `on_discarded`."""
    excluded = explanation_gist(exclude) if exclude is not None else None
    requests = [
        LLMRequest(purpose=purpose, messages=messages, max_tokens=max_tokens, temperature=0.0 if i == 0 else temperature, seed=i)
        for i in range(n)
    ]

    async def ask(request: LLMRequest) -> tuple[_Answer | LLMError, bool]:
        """The sample's answer, and whether it is a second one because the first repeated `exclude`."""
        answer = _read(await llm.complete(request), max_words)
        if again is None or answer.text is None or explanation_gist(answer.text) != excluded:
            return answer, False
        follow_up = request.model_copy(update={"messages": [*messages, Message(role="assistant", content=answer.raw), *again]})
        try:
            return _read(await llm.complete(follow_up), max_words), True
        except LLMError as err:
            return err, True

    results = await asyncio.gather(*(ask(r) for r in requests), return_exceptions=True)
    out: dict[str, Sample] = {}
    """By each sample's gist."""
    problems: list[str] = []
    for result in results:
        if isinstance(result, LLMError):
            problems.append(str(result))
            continue
        if isinstance(result, BaseException):
            raise result
        answer, asked_again = result
        if asked_again:
            problems.append(f"{_REPEATED} (asked again)")
        if isinstance(answer, LLMError):
            problems.append(str(answer))
            continue
        raw, text, claims, cut = answer
        if text is None:
            problems.append(f"unusable explanation ({len(raw)} characters"
                            f"{', cut at the output cap' if cut else ''})" if raw.strip() else "empty answer")
        elif (gist := explanation_gist(text)) == excluded:
            problems.append(_REPEATED)
        elif gist in out:
            problems.append("the same explanation as another sample")
        else:
            out[gist] = Sample(text, tuple(dict.fromkeys(claims)))
    if problems:
        log.warning("samples_rejected", purpose=purpose, count=len(problems), first=problems[0][:200])
        if on_discarded is not None:
            on_discarded(purpose, problems)
    if not out:
        error = UnchangedExplanation if problems and all(p.startswith(_REPEATED) for p in problems) else NoExplanationError
        raise error(f"no usable {purpose} answer from {n} samples: {problems[0] if problems else 'none returned'}")
    return list(out.values())


class _Answer(NamedTuple):
    raw: str
    text: str | None
    """The explanation the answer holds; None when unusable."""
    claims: list[int]
    cut: bool
    """Cut at the output cap."""


def _read(response: LLMResponse, max_words: int) -> _Answer:
    """An answer's explanation and the counterexample numbers it claims."""
    cut = response.finish_reason == "length"
    body, claims = split_claims(response.text)
    # Cut after its `Answers:` line, the explanation is whole; only that line's last number may be a fragment.
    text = clean_explanation(body, max_words, cut=cut and claims is None)
    return _Answer(response.text, text, (claims or [])[:-1] if cut else claims or [], cut)


class ExplanationSampler:
    """What the LLM explainer and reviser share: one LLM sampled at `temperature` for `purpose`,
    answers capped at `max_words` words and `output_cap(max_words)` tokens."""

    def __init__(self, purpose: Purpose, llm: LLM, temperature: float, max_words: int,
                 on_discarded: OnDiscarded | None = None) -> None:
        self.purpose: Purpose = purpose
        self.on_discarded = on_discarded
        self.llm = llm
        self.temperature = temperature
        self.max_words = max_words
        self.max_tokens = output_cap(max_words)

    @property
    def name(self) -> str:
        return "llm"

    async def sample(self, messages: list[Message], n: int, exclude: str | None = None,
                     again: list[Message] | None = None) -> list[Sample]:
        """`sample_explanations` of `messages` with this sampler's settings."""
        return await sample_explanations(self.llm, self.purpose, messages, n, self.temperature, self.max_tokens,
                                         self.max_words, exclude=exclude, on_discarded=self.on_discarded, again=again)
