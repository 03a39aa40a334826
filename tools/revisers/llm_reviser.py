"""The LLM reviser: a better explanation from the current one, its score, records and counterexamples.

Prompt (`prompts/revise.txt`) and its size bounds, so a long run cannot grow the context:
- every value shown is 0-10 normalized by the neuron's `max_activation` (docs/science.md#normalization,
  with one common M for the whole prompt), so a 7 in a counterexample means what a 7 in a top record means;
- a text is one line, each token the neuron responds to followed by its value in brackets
  (`tools.prompting.valued_text`): a table of one token per line cost a 1.5B model 2,400 prompt
  tokens (a minute on 2 cores) per revision, and it copied the table's first rows instead of reading it;
- under each text the explanation gets wrong, a `Wrong on:` line names the tokens where prediction
  and reality differ most, with both values: the reviser is told what to fix, not asked to find it;
- a digest of the train and evidence records (`tools.records.token_digest`): the tokens the neuron
  responds to, how often each fires, and what precedes its strong responses, which a small model
  does not add up from the records itself;
- at most `MAX_RECORDS` best and `MAX_RECORDS` worst records, in the order the context gives them;
- at most `MAX_COUNTEREXAMPLES` counterexamples, picked by `select_counterexamples`;
- at most `MAX_HISTORY` earlier explanations (the most recent ones);
- a text longer than 24 tokens (`tools.prompt_window.WINDOW_TOKENS`) is cut by `peak_window`: records around their largest
  activation, the others around their largest error, with `…` where it was cut.
The answer ends with an `Answers:` line naming the counterexamples the revision says it fixes: a
revision's `answers` are those, never every counterexample shown.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence

import prompts
from prompts import Message
from tools.explainers.base import DEFAULT_MAX_WORDS, NoExplanationError, UnchangedExplanation
from tools.explainers.llm_explainer import explain_messages
from tools.explainers.sampling import ExplanationSampler, OnDiscarded, explanation_gist
from tools.formats.openai import ActivationRecord
from tools.llm.protocol import LLM
from tools.probes.generators import ProbeSources
from tools.probes.types import Counterexample, ProbeText
from tools.prompt_window import peak_index, peak_window
from tools.prompting import escape_token, valued_text
from tools.records.token_digest import digest_lines, token_digest
from tools.revisers.base import ProbeFindings, Revision, RevisionContext
from tools.revisers.ranking import SHOWN_RECORDS
from tools.science.normalize import normalize_record

MAX_RECORDS = SHOWN_RECORDS
MAX_COUNTEREXAMPLES = 8
MAX_HISTORY = 10
MAX_WRONG = 4
"""Tokens a `Wrong on:` line names at most."""
WRONG_BY = 3
"""A token of a record is wrong when prediction and reality differ by at least this (0-10)."""
NONE_SHOWN = "(none)"
AGAIN_PROMPT = "revise_again"
"""Sent after an answer that repeats the current explanation (one follow-up per sample)."""

KIND_TEXT = {"false_positive": "false positive", "false_negative": "false negative"}


def format_score(score: float | None) -> str:
    """Two decimals; a correlation is undefined when predictions or real values were constant."""
    return "undefined" if score is None else f"{score:.2f}"


def window_text(tokens: Sequence[str], values: Sequence[int], window: range) -> str:
    """`valued_text` of the window, with `…` on each side where the text goes on."""
    return ("…" if window.start > 0 else "") + valued_text([tokens[i] for i in window], [values[i] for i in window]) + (
        "…" if window.stop < len(tokens) else "")


def wrong_line(tokens: Sequence[str], real: Sequence[int], predicted: Sequence[int], positions: Sequence[int]) -> str:
    """`Wrong on: " moon" (real 0, predicted 6), ...` (tokens exactly, leading space and all) for the `MAX_WRONG` positions with the largest gaps; '' for none."""
    chosen = sorted(positions, key=lambda i: (-abs(real[i] - predicted[i]), i))[:MAX_WRONG]
    return "Wrong on: " + ", ".join(f'"{escape_token(tokens[i])}" (real {real[i]}, predicted {predicted[i]})'
                                   for i in sorted(chosen)) if chosen else ""


def _entry(heading: str, text: str, wrong: str = "") -> str:
    return f"{heading} {text}" + (f"\n   {wrong}" if wrong else "")


def records_text(records: Sequence[ActivationRecord], max_activation: float, limit: int = MAX_RECORDS) -> str:
    """Numbered lines of the first `limit` records, windowed around their peak."""
    lines = []
    for number, record in enumerate(records[:limit], start=1):
        values = normalize_record(record.activations, max_activation)
        window = peak_window(len(record.tokens), peak_index(record.activations))
        lines.append(_entry(f"{number}.", window_text(record.tokens, values, window)))
    return "\n".join(lines) or NONE_SHOWN


def predicted_records_text(records: Sequence[ActivationRecord], predictions: Sequence[Sequence[float]],
                           max_activation: float, limit: int = MAX_RECORDS) -> str:
    """Numbered lines of the first `limit` records, windowed around their largest gap between real and
    predicted, each with the `Wrong on:` line of the gaps of at least `WRONG_BY` in the window."""
    entries = []
    for number, (record, predicted) in enumerate(zip(records[:limit], predictions, strict=False), start=1):
        real = normalize_record(record.activations, max_activation)
        levels = [_predicted_level(p) for p in predicted]
        gaps = [abs(r - p) for r, p in zip(real, levels, strict=True)]
        window = peak_window(len(record.tokens), peak_index(gaps))
        wrong = wrong_line(record.tokens, real, levels, [i for i in window if gaps[i] >= WRONG_BY])
        entries.append(_entry(f"{number}.", window_text(record.tokens, real, window), wrong))
    return "\n".join(entries) or NONE_SHOWN


def select_counterexamples(counterexamples: Sequence[Counterexample], limit: int = MAX_COUNTEREXAMPLES) -> list[Counterexample]:
    """The ones shown: largest error first, alternating kinds, so a flood of one kind cannot hide the other.

    Each counterexample is ranked within its kind by error; the shown ones are the lowest ranks, and
    within a rank the larger error comes first."""
    rank = [0] * len(counterexamples)
    for kind in KIND_TEXT:
        same = sorted((i for i, c in enumerate(counterexamples) if c.kind == kind), key=lambda i: -counterexamples[i].error)
        for r, i in enumerate(same):
            rank[i] = r
    order = sorted(range(len(counterexamples)), key=lambda i: (rank[i], -counterexamples[i].error))
    return [counterexamples[i] for i in order[:limit]]


def _predicted_level(value: float) -> int:
    """A simulated value (0-10, fractional for expected values) as the integer shown next to the real one."""
    return min(10, max(0, math.floor(value + 0.5)))


def counterexample_block(number: int, counterexample: Counterexample, max_activation: float) -> str:
    """`Counterexample N (kind; probe generator): text` windowed around its worst offending token, then its
    `Wrong on:` line (the offending tokens in the window)."""
    real = normalize_record(counterexample.real, max_activation)
    predicted = [_predicted_level(p) for p in counterexample.predicted]
    gaps = [abs(r - p) for r, p in zip(real, predicted, strict=True)]
    candidates: Sequence[int] = counterexample.offending or range(len(gaps))
    window = peak_window(len(counterexample.tokens), max(candidates, key=lambda i: gaps[i], default=0))
    wrong = wrong_line(counterexample.tokens, real, predicted, [i for i in counterexample.offending if i in window])
    heading = f"Counterexample {number} ({KIND_TEXT[counterexample.kind]}; probe {counterexample.generator}):"
    return _entry(heading, window_text(counterexample.tokens, real, window), wrong)


def counterexamples_text(counterexamples: Sequence[Counterexample], max_activation: float) -> str:
    chosen = select_counterexamples(counterexamples)
    return "\n".join(counterexample_block(n, c, max_activation) for n, c in enumerate(chosen, start=1)) or NONE_SHOWN


def history_text(history: Sequence[tuple[str, float | None]], current: str, limit: int = MAX_HISTORY) -> str:
    """`- score S: explanation` lines for the latest `limit` distinct earlier explanations (the current one left out)."""
    latest: dict[str, float | None] = {}
    for explanation, score in history:
        if explanation != current:
            latest.pop(explanation, None)  # re-inserted, so a repeated explanation counts as recent
            latest[explanation] = score
    kept = list(latest.items())[-limit:]
    return "\n".join(f"- score {format_score(score)}: {explanation}" for explanation, score in kept) or NONE_SHOWN


def revise_prompt_values(context: RevisionContext, max_words: int = DEFAULT_MAX_WORDS) -> dict[str, str]:
    m = context.max_activation
    return {
        "max_words": str(max_words),
        "explanation": context.explanation,
        "score": format_score(context.score),
        "best_records": records_text(context.best_records, m),
        "worst_records": (predicted_records_text(context.worst_records, context.worst_predictions, m)
                          if context.worst_predictions else records_text(context.worst_records, m)),
        "counterexamples": counterexamples_text(context.counterexamples, m),
        "history": history_text(context.history, context.explanation),
        "digest": digest_lines(token_digest([*context.train, *context.evidence], m)),
    }


def revise_messages(context: RevisionContext, max_words: int = DEFAULT_MAX_WORDS) -> list[Message]:
    return prompts.load("revise").render(**revise_prompt_values(context, max_words))


def counterexample_records(counterexamples: Sequence[Counterexample]) -> list[ActivationRecord]:
    """The counterexamples as records with their real activations (raw units)."""
    return [ActivationRecord(tokens=c.tokens, activations=c.real) for c in counterexamples]


def refit_records(context: RevisionContext) -> list[ActivationRecord]:
    """What a refit is shown: the counterexamples shown to an edit, then the worst and the best predicted records,
    each cut to its window around its peak (`peak_window`), so the prompt stays the size of an explainer's."""
    records = [*counterexample_records(select_counterexamples(context.counterexamples)),
               *context.worst_records[:MAX_RECORDS], *context.best_records[:MAX_RECORDS]]
    windows = [(r, peak_window(len(r.tokens), peak_index(r.activations))) for r in records]
    return [ActivationRecord(tokens=[r.tokens[i] for i in w], activations=[r.activations[i] for i in w]) for r, w in windows]


def refit_messages(context: RevisionContext, max_words: int = DEFAULT_MAX_WORDS) -> list[Message]:
    """The explainer's own prompt (`prompts/explain.txt`) over `refit_records`, with the digest of everything the
    loop has seen: train and evidence records and the counterexamples."""
    seen = [*context.train, *context.evidence, *counterexample_records(context.counterexamples)]
    return explain_messages(refit_records(context), max_words, digest=seen)


class LLMReviser(ExplanationSampler):
    """Each round writes edits and refits, about half each (an odd `n` gives the extra one to edits).

    An edit (`prompts/revise.txt`) is asked to change the current explanation where the texts show it
    wrong. A refit asks the explainer's question again (`refit_messages`) over the texts that found the
    explanation wrong, without showing it: on issue 23's six recorded rounds (three planted rules),
    Qwen2.5-Coder-1.5B copied the current explanation in 15 of 18 edit answers, and in none of 18
    refit answers. The loop's simulator judges both kinds alike."""

    def __init__(self, llm: LLM, temperature: float = 0.7, max_words: int = DEFAULT_MAX_WORDS,
                 on_discarded: OnDiscarded | None = None) -> None:
        super().__init__("reviser", llm, temperature, max_words, on_discarded)

    def test_probes(self, findings: ProbeFindings, sources: ProbeSources, k: int) -> list[ProbeText]:
        """None: the LLM reads the round's probes and counterexamples as they are."""
        return []

    async def revise(self, context: RevisionContext, n: int) -> list[Revision]:
        """Up to `n` distinct revisions from `n` concurrent samples (distinct seeds within each kind); never the
        current explanation (an edit that repeats it is asked once more, with `prompts/revise_again.txt`).
        An edit answers the counterexamples its `Answers:` line names (numbers of those shown; others ignored);
        a refit names none. Raises UnchangedExplanation when every answer of both kinds repeated the current
        explanation, else NoExplanationError when neither kind gave a usable one."""
        edits, refits = (n + 1) // 2, n // 2
        kinds = [self.sample(revise_messages(context, self.max_words), edits, exclude=context.explanation,
                             again=prompts.load(AGAIN_PROMPT).render())]
        if refits:
            kinds.append(self.sample(refit_messages(context, self.max_words), refits, exclude=context.explanation))
        results = await asyncio.gather(*kinds, return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        for error in errors:
            if not isinstance(error, NoExplanationError):
                raise error
        if len(errors) == len(results):
            raise next((e for e in errors if not isinstance(e, UnchangedExplanation)), errors[0])
        shown = [c.label for c in select_counterexamples(context.counterexamples)]
        out: dict[str, Revision] = {}
        repeats: list[str] = []
        for note, result in zip(("edit", "refit"), results, strict=False):
            for sample in [] if isinstance(result, BaseException) else result:
                gist = explanation_gist(sample.text)
                if gist in out:
                    repeats.append(f"the same explanation as an edit ({note})")
                    continue
                out[gist] = Revision(text=sample.text, answers=[shown[k - 1] for k in sample.claims if 1 <= k <= len(shown)],
                                     note=note)
        if repeats and self.on_discarded is not None:
            self.on_discarded(self.purpose, repeats)  # told like the sampler's own duplicates, so the trace counts them
        return list(out.values())
