"""Detection and fuzzing answered by an LLM (delphi's judges; docs/science.md#field-scorers).

The items are `tools.science.classification`'s (`detection_items`, `fuzzing_items`). Shuffled with
a seed so each prompt mixes positives and negatives, they go `PER_PROMPT` to a prompt (delphi: 5),
as plain text (`prompts/judge_detection.txt`), or with the highlighted tokens marked `[[like this]]`
(`prompts/judge_fuzzing.txt`, the marks the prober's prompt uses). The answer is a JSON list of 0/1,
one per text; the caller scores it with `balanced_accuracy`. What the calls cost is summed from
their usage, so a score carries its price.

An answer that is not exactly one 0/1 per text is never guessed at: its texts are left out of the
score and counted (as a simulator's failed record is), with the reason. An LLM error (the endpoint
failing after its retries, a budget refusal) propagates: there is then no score at all.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

import prompts
from prompts import Message
from tools.llm.protocol import LLM, LLMRequest, Usage
from tools.prompting import marked_text
from tools.science.classification import Excerpt, balanced_accuracy, detection_items, fuzzing_items
from tools.simulators.base import gather_all

PER_PROMPT = 5
Judgement = Literal["detection", "fuzzing"]
_LIST = re.compile(r"\[[^\[\]]*\]")


class UnreadableJudgement(ValueError):
    """The judge's answer holds no list of exactly one 0/1 per text; the message says why."""


@dataclass(frozen=True)
class JudgeOutcome:
    answers: list[bool | None]
    """One per item, in the items' order: True where the judge said 1; None where its prompt's answer was
    unreadable (left out of the score)."""
    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    cached_calls: int = 0
    """Calls answered from a call journal: paid before, free now (their tokens and cost are still counted above)."""
    unreadable: tuple[str, ...] = ()
    """Why each unreadable answer could not be read, one per such call."""
    model: str = ""
    """The model that answered (from the calls' usage)."""


def judge_prompt_values(explanation: str, items: Sequence[Excerpt], marked: bool) -> dict[str, str]:
    """The texts numbered from 1, their highlighted tokens marked when `marked` (fuzzing; detection shows none)."""
    texts = [marked_text(item.tokens, [int(marked and i in item.highlighted) for i in range(len(item.tokens))]).strip()
             for item in items]
    return {"explanation": explanation, "texts": "\n".join(f"Text {n}: {t}" for n, t in enumerate(texts, start=1))}


def judge_messages(kind: Judgement, explanation: str, items: Sequence[Excerpt]) -> list[Message]:
    return prompts.load(f"judge_{kind}").render(**judge_prompt_values(explanation, items, marked=kind == "fuzzing"))


def parse_judgement(text: str, n: int) -> list[bool]:
    """The first JSON list in `text`, which must hold exactly `n` answers, each 0 or 1 (numbers, "0"/"1" or
    booleans). Nothing is guessed: anything else raises UnreadableJudgement."""
    match = _LIST.search(text)
    if match is None:
        raise UnreadableJudgement("no JSON list in the answer")
    try:
        values = json.loads(match.group(0))
    except ValueError as exc:
        raise UnreadableJudgement(f"not valid JSON: {exc}") from exc
    if len(values) != n:
        raise UnreadableJudgement(f"{len(values)} answers for {n} texts")
    out = []
    for value in values:
        if str(value).strip().lower() in ("1", "true"):
            out.append(True)
        elif str(value).strip().lower() in ("0", "false"):
            out.append(False)
        else:
            raise UnreadableJudgement(f"answer {value!r} is not 0 or 1")
    return out


async def llm_judge(llm: LLM, kind: Judgement, explanation: str, items: Sequence[Excerpt], seed: int = 0,
                    per_prompt: int = PER_PROMPT) -> JudgeOutcome:
    """The judge's answer for every item. An unreadable answer leaves its prompt's items unanswered (None) and is
    counted; an LLMError propagates: a judge that did not answer has no score (never a guessed one)."""
    order = [int(i) for i in np.random.default_rng(seed).permutation(len(items))]
    groups = [order[start : start + per_prompt] for start in range(0, len(order), per_prompt)]

    async def ask(group: list[int]) -> tuple[list[bool] | str, Usage]:
        response = await llm.complete(LLMRequest(purpose="simulator", messages=judge_messages(kind, explanation, [items[i] for i in group]),
                                                 max_tokens=8 * len(group) + 16))
        try:
            return parse_judgement(response.text, len(group)), response.usage
        except UnreadableJudgement as err:
            return str(err), response.usage

    results = await gather_all(ask(g) for g in groups)
    answers: list[bool | None] = [None] * len(items)
    for group, (said, _) in zip(groups, results, strict=True):
        if isinstance(said, list):
            for i, value in zip(group, said, strict=True):
                answers[i] = value
    usages = [usage for _, usage in results]
    return JudgeOutcome(answers=answers, calls=len(groups), prompt_tokens=sum(u.prompt_tokens for u in usages),
                        completion_tokens=sum(u.completion_tokens for u in usages), cost_usd=round(sum(u.cost_usd for u in usages), 6),
                        cached_calls=sum(u.cached for u in usages), unreadable=tuple(s for s, _ in results if isinstance(s, str)),
                        model=", ".join(sorted({u.model for u in usages})))


def answered_accuracy(items: Sequence[Excerpt], answers: Sequence[bool | None]) -> float | None:
    """Balanced accuracy over the items the judge answered; None without an answered positive and negative."""
    kept = [(item.positive, said) for item, said in zip(items, answers, strict=True) if said is not None]
    return balanced_accuracy([p for p, _ in kept], [s for _, s in kept]).value


class LLMJudged(BaseModel):
    """Detection and fuzzing of one explanation with an LLM as delphi's judge, and what asking cost."""

    model: str = Field("", description="The model that answered (the simulator model).")
    detection: float | None = Field(description="Balanced accuracy (0-1, chance 0.5) over the answered texts; None without both classes.")
    fuzzing: float | None = Field(description="Balanced accuracy of the marked tokens matching (0-1, chance 0.5).")
    texts: int = Field(0, description="Texts shown to each scorer.")
    unanswered: int = Field(0, description="Texts (both scorers together) left out because their prompt's answer was unreadable.")
    unreadable: list[str] = Field(default_factory=list, description="Why each unreadable answer could not be read (never guessed at).")
    calls: int
    cached_calls: int = Field(0, description="Calls answered from the call journal: free this time.")
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float = Field(description="What the calls cost when paid (the cached ones cost nothing again).")


async def llm_judged(llm: LLM, explanation: str, records: Sequence[tuple[Sequence[str], Sequence[float]]], threshold: float,
                     seed: int = 0) -> LLMJudged:
    """Both scorers on held-out `records` (tokens, raw activations), a token active at `threshold` and above, as
    `tools.scorers.field_scores` builds them for the simulation's judge."""
    detect, fuzz = detection_items(records, threshold), fuzzing_items(records, threshold, seed)
    said = await gather_all([llm_judge(llm, "detection", explanation, detect, seed),
                             llm_judge(llm, "fuzzing", explanation, fuzz, seed)])
    return LLMJudged(
        model=", ".join(sorted({o.model for o in said if o.model})),
        detection=answered_accuracy(detect, said[0].answers), fuzzing=answered_accuracy(fuzz, said[1].answers),
        texts=len(detect), unanswered=sum(a is None for o in said for a in o.answers),
        unreadable=[reason for o in said for reason in o.unreadable],
        calls=sum(o.calls for o in said), cached_calls=sum(o.cached_calls for o in said), prompt_tokens=sum(o.prompt_tokens for o in said),
        completion_tokens=sum(o.completion_tokens for o in said), cost_usd=round(sum(o.cost_usd for o in said), 6),
    )
