"""The LLM reviser: a better explanation from the current one, its score, records and counterexamples.

Prompt (`prompts/revise.txt`) and its size bounds, so a long run cannot grow the context:
- every value shown is 0-10 normalized by the neuron's `max_activation` (docs/science.md#normalization,
  with one common M for the whole prompt), so a 7 in a counterexample means what a 7 in a top record means;
- at most `MAX_RECORDS` best and `MAX_RECORDS` worst records, in the order the context gives them, the
  worst ones with the predicted value beside the real one (`token<TAB>real<TAB>predicted`);
- at most `MAX_COUNTEREXAMPLES` counterexamples, picked by `select_counterexamples`;
- at most `MAX_HISTORY` earlier explanations (the most recent ones);
- a text longer than 24 tokens (`tools.prompt_window.WINDOW_TOKENS`) is cut by `peak_window`: records around their largest
  activation, counterexamples around their worst offending token.
Counterexample lines are `token<TAB>real<TAB>predicted`, with `<TAB><<` after offending tokens.
The answer ends with an `Answers:` line naming the counterexamples the revision says it fixes: a
revision's `answers` are those, never every counterexample shown.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import prompts
from prompts import Message
from tools.explainers.base import DEFAULT_MAX_WORDS
from tools.explainers.sampling import ExplanationSampler, OnDiscarded
from tools.formats.openai import ActivationRecord
from tools.llm.protocol import LLM
from tools.probes.generators import ProbeSources
from tools.probes.types import Counterexample, ProbeText
from tools.prompt_window import peak_index, peak_window, window_note
from tools.prompting import escape_token, token_value_lines
from tools.revisers.base import ProbeFindings, Revision, RevisionContext
from tools.revisers.ranking import SHOWN_RECORDS
from tools.science.normalize import normalize_record

MAX_RECORDS = SHOWN_RECORDS
MAX_COUNTEREXAMPLES = 8
MAX_HISTORY = 10
OFFENDING_MARK = "<<"
NONE_SHOWN = "(none)"
AGAIN_PROMPT = "revise_again"
"""Sent after an answer that repeats the current explanation (one follow-up per sample)."""

KIND_TEXT = {
    "false_positive": "false positive: the explanation predicted a response that did not happen",
    "false_negative": "false negative: the neuron responded where the explanation predicted nothing",
}


def format_score(score: float | None) -> str:
    """Two decimals; a correlation is undefined when predictions or real values were constant."""
    return "undefined" if score is None else f"{score:.2f}"


def records_text(records: Sequence[ActivationRecord], max_activation: float, limit: int = MAX_RECORDS) -> str:
    """`Text N:` headed `token<TAB>value` blocks of the first `limit` records, windowed around their peak."""
    blocks = []
    for number, record in enumerate(records[:limit], start=1):
        values = normalize_record(record.activations, max_activation)
        window = peak_window(len(record.tokens), peak_index(record.activations))
        shown_tokens = [record.tokens[i] for i in window]
        shown_values = [values[i] for i in window]
        blocks.append(f"Text {number}{window_note(window, len(record.tokens))}:\n"
                      + token_value_lines(shown_tokens, shown_values))
    return "\n\n".join(blocks) or NONE_SHOWN


def predicted_records_text(records: Sequence[ActivationRecord], predictions: Sequence[Sequence[float]],
                           max_activation: float, limit: int = MAX_RECORDS) -> str:
    """`Text N:` headed `token<TAB>real<TAB>predicted` blocks of the first `limit` records, windowed around
    their largest gap between the two."""
    blocks = []
    for number, (record, predicted) in enumerate(zip(records[:limit], predictions, strict=False), start=1):
        real = normalize_record(record.activations, max_activation)
        levels = [_predicted_level(p) for p in predicted]
        window = peak_window(len(record.tokens), peak_index([abs(r - p) for r, p in zip(real, levels, strict=True)]))
        lines = [f"{escape_token(record.tokens[i])}\t{real[i]}\t{levels[i]}" for i in window]
        blocks.append(f"Text {number}{window_note(window, len(record.tokens))}:\n" + "\n".join(["<start>", *lines, "<end>"]))
    return "\n\n".join(blocks) or NONE_SHOWN


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
    """Heading (kind, probe generator, window) and `token<TAB>real<TAB>predicted` lines, offending ones marked."""
    real = normalize_record(counterexample.real, max_activation)
    predicted = [_predicted_level(p) for p in counterexample.predicted]
    gaps = [abs(r - p) for r, p in zip(real, predicted, strict=True)]
    candidates: Sequence[int] = counterexample.offending or range(len(gaps))
    centre = max(candidates, key=lambda i: gaps[i], default=0)
    window = peak_window(len(counterexample.tokens), centre)
    offending = set(counterexample.offending)
    lines = [
        f"{escape_token(counterexample.tokens[i])}\t{real[i]}\t{predicted[i]}" + (f"\t{OFFENDING_MARK}" if i in offending else "")
        for i in window
    ]
    heading = (f"Counterexample {number} ({KIND_TEXT[counterexample.kind]}; probe {counterexample.generator})"
               f"{window_note(window, len(counterexample.tokens))}:")
    return "\n".join([heading, "<start>", *lines, "<end>"])


def counterexamples_text(counterexamples: Sequence[Counterexample], max_activation: float) -> str:
    chosen = select_counterexamples(counterexamples)
    return "\n\n".join(counterexample_block(n, c, max_activation) for n, c in enumerate(chosen, start=1)) or NONE_SHOWN


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
    }


def revise_messages(context: RevisionContext, max_words: int = DEFAULT_MAX_WORDS) -> list[Message]:
    return prompts.load("revise").render(**revise_prompt_values(context, max_words))


class LLMReviser(ExplanationSampler):
    def __init__(self, llm: LLM, temperature: float = 0.7, max_words: int = DEFAULT_MAX_WORDS,
                 on_discarded: OnDiscarded | None = None) -> None:
        super().__init__("reviser", llm, temperature, max_words, on_discarded)

    def test_probes(self, findings: ProbeFindings, sources: ProbeSources, k: int) -> list[ProbeText]:
        """None: the LLM reads the round's probes and counterexamples as they are."""
        return []

    async def revise(self, context: RevisionContext, n: int) -> list[Revision]:
        """Up to `n` distinct revisions from `n` concurrent samples (distinct seeds); never the current explanation
        (a sample that repeats it is asked once more, with `prompts/revise_again.txt`).
        Each answers the counterexamples its `Answers:` line names (numbers of those shown; others ignored)."""
        samples = await self.sample(revise_messages(context, self.max_words), n, exclude=context.explanation,
                                    again=prompts.load(AGAIN_PROMPT).render())
        shown = [c.label for c in select_counterexamples(context.counterexamples)]
        return [Revision(text=s.text, answers=[shown[k - 1] for k in s.claims if 1 <= k <= len(shown)]) for s in samples]
