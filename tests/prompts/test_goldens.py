"""Every prompt rendered with fixed inputs equals its golden dump, so a prompt edit is a visible diff.

Regenerate after an intended change: `REFINERY_UPDATE_GOLDENS=1 .venv/bin/pytest tests/prompts`,
then review the diff of tests/golden/prompts/.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

import prompts
from prompts import Message
from tools.explainers.llm_explainer import explain_prompt_values
from tools.explainers.output_hint import hint_values
from tools.formats.openai import ActivationRecord
from tools.llm_judge import judge_prompt_values
from tools.probes.llm_prober import probe_prompt_values
from tools.probes.types import Counterexample, ProbeRequest
from tools.records.token_digest import digest_lines, token_digest
from tools.revisers.base import RevisionContext
from tools.revisers.llm_reviser import revise_prompt_values
from tools.science.classification import Excerpt
from tools.simulators.rendering import (
    ALL_AT_ONCE_PROMPT,
    CHAT_HIGHLIGHT_PROMPT,
    CHAT_JSON_PROMPT,
    CHAT_LOGPROB_NUMBERED_PROMPT,
    CHAT_LOGPROB_PROMPT,
    all_at_once_values,
    chat_highlight_values,
    chat_json_values,
    chat_logprob_numbered_values,
    chat_logprob_values,
)

GOLDEN_DIR = Path(__file__).parent.parent / "golden" / "prompts"
UPDATE = os.environ.get("REFINERY_UPDATE_GOLDENS") == "1"

EXPLANATION = "numbers written out as words"
# Covers what rendering must get right: leading spaces, a newline, a tab and a backslash inside tokens.
RECORDS = [["Two", " cats", " and", " three", "\n", " dogs"], [" 42", "\t", "back\\slash"]]

ACTIVATIONS = [[0.0, 0.1, -0.02, 2.5, 0.0, 0.0], [1.0, 0.0, 0.0]]
SPARSE = [[0.0, 0.0, 0.0, 0.0, 0.0, 3.0], [0.0, 0.0, 0.0]]


def _records(values: list[list[float]]) -> list[ActivationRecord]:
    return [ActivationRecord(tokens=t, activations=a) for t, a in zip(RECORDS, values, strict=True)]


# A long record (cut to a window around its peak), a false positive and a false negative with a tab token.
LONG = ActivationRecord(tokens=[f" w{i}" for i in range(30)], activations=[2.0 if i == 20 else 0.0 for i in range(30)])
FALSE_POSITIVE = Counterexample(kind="false_positive", generator="llm-should-fire", text="Two apples\n fell",
                                tokens=["Two", " apples", "\n", " fell"], real=[0.0, 0.0, 0.0, 0.3],
                                predicted=[8.0, 0.4, 0.0, 0.0], offending=[0], error=8.0)
FALSE_NEGATIVE = Counterexample(kind="false_negative", generator="llm-near-miss", text=" 7\t ducks",
                                tokens=[" 7", "\t", " ducks"], real=[2.5, 1.3, 0.0],
                                predicted=[0.0, 2.6, 0.0], offending=[0], error=10.0)
REVISION = RevisionContext(
    explanation=EXPLANATION, score=0.42, best_records=_records(ACTIVATIONS)[:1],
    worst_records=[_records(ACTIVATIONS)[1], LONG], counterexamples=[FALSE_POSITIVE, FALSE_NEGATIVE],
    # Predictions beside the real values; the long record is windowed around its largest gap (w20: real 8, predicted 0).
    worst_predictions=[[9.6, 0.0, 0.0], [0.0] * 27 + [7.0, 0.0, 0.0]],
    train=_records(ACTIVATIONS), max_activation=2.5, history=[("numbers", 0.2), ("counting words", None), (EXPLANATION, 0.42)],
)
PROBE = ProbeRequest(explanation=EXPLANATION, examples=[(RECORDS[0], [0, 0, 0, 10, 0, 0]), (RECORDS[1], [4, 0, 0])])

# What a neuron's output weights promote, with what rendering must get right: a leading space, a newline, a quote.
PROMOTED = [" seven", "\n", 'say "', "Four", " twelve"]

RENDERERS: dict[str, Callable[[], dict[str, str]]] = {
    "explain": lambda: explain_prompt_values(_records(ACTIVATIONS)),
    "explain_output_hint": lambda: hint_values(PROMOTED),
    "explain_digest": lambda: {"digest": digest_lines(token_digest(_records(ACTIVATIONS), 2.5))},
    CHAT_LOGPROB_PROMPT: lambda: chat_logprob_values(EXPLANATION, RECORDS),
    CHAT_LOGPROB_NUMBERED_PROMPT: lambda: chat_logprob_numbered_values(EXPLANATION, RECORDS),
    CHAT_JSON_PROMPT: lambda: chat_json_values(EXPLANATION, RECORDS),
    CHAT_HIGHLIGHT_PROMPT: lambda: chat_highlight_values(EXPLANATION, RECORDS[0] + RECORDS[1]),
    ALL_AT_ONCE_PROMPT: lambda: all_at_once_values(EXPLANATION, RECORDS[0] + RECORDS[1]),
    "revise": lambda: revise_prompt_values(REVISION),
    "revise_again": lambda: {},
    "probe": lambda: probe_prompt_values(PROBE),
    "preflight": lambda: {"number": "10"},
    "judge_detection": lambda: judge_prompt_values(EXPLANATION, [Excerpt(t, i == 0, []) for i, t in enumerate(RECORDS)], marked=False),
    # A positive with its active token marked; a negative with a positive's positions copied onto it.
    "judge_fuzzing": lambda: judge_prompt_values(EXPLANATION, [Excerpt(RECORDS[0], True, [3]), Excerpt(RECORDS[1], False, [0, 2])],
                                                          marked=True),
}


VARIANTS: dict[str, tuple[str, Callable[[], dict[str, str]]]] = {
    # The explainer's prompt with the output-side hint on (`--explain-output-hint`); "explain" is the same prompt off.
    "explain-with-output-hint": ("explain", lambda: explain_prompt_values(_records(ACTIVATIONS), promoted=PROMOTED)),
    # With the digest of its records (`--explain-digest`, and every refit of the LLM reviser).
    "explain-with-digest": ("explain", lambda: explain_prompt_values(_records(ACTIVATIONS), digest=_records(ACTIVATIONS))),
}
"""Goldens of a prompt rendered another way: golden name -> (prompt, values)."""


def dump(messages: list[Message]) -> str:
    """A readable dump: each message under its role header, as the template file writes it."""
    return "\n\n".join(f"### {message.role}\n{message.content}" for message in messages) + "\n"


CASES = {name: (name, render) for name, render in RENDERERS.items()} | VARIANTS


@pytest.mark.parametrize("name", sorted(CASES))
def test_prompt_matches_its_golden(name: str) -> None:
    prompt, values = CASES[name]
    rendered = dump(prompts.load(prompt).render(**values()))
    golden = GOLDEN_DIR / f"{name}.txt"
    if UPDATE:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(rendered, encoding="utf-8")
    assert golden.exists(), f"no golden for {name}: run with REFINERY_UPDATE_GOLDENS=1 and review it"
    assert rendered == golden.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(RENDERERS))
def test_renderer_provides_exactly_the_template_placeholders(name: str) -> None:
    assert set(RENDERERS[name]()) == prompts.load(name).placeholders


def test_every_prompt_has_a_renderer() -> None:
    assert set(prompts.available()) == set(RENDERERS)


def test_sparse_records_are_repeated_without_zeros() -> None:
    text = explain_prompt_values(_records(SPARSE))["records"]
    assert "Same activations, but with all zeros filtered out:" in text
    assert text.endswith("<start>\n dogs\t10\n<end>\n<start>\n<end>")
    dense = explain_prompt_values(_records(ACTIVATIONS))["records"]
    assert "filtered out" not in dense


def test_the_output_hint_is_one_line_and_nothing_when_off() -> None:
    off = explain_prompt_values(_records(ACTIVATIONS))
    on = explain_prompt_values(_records(ACTIVATIONS), promoted=PROMOTED)
    assert off["hints"] == "" and explain_prompt_values(_records(ACTIVATIONS), promoted=[]) == off
    assert on["hints"].count("\n") == 1 and on["hints"].endswith("\n")
    assert '" seven", "\\n", "say \\"", "Four", " twelve"' in on["hints"]
    assert {k: v for k, v in on.items() if k != "hints"} == {k: v for k, v in off.items() if k != "hints"}


def test_the_digest_comes_before_the_output_hint_and_changes_nothing_else() -> None:
    off = explain_prompt_values(_records(ACTIVATIONS))
    both = explain_prompt_values(_records(ACTIVATIONS), promoted=PROMOTED, digest=_records(ACTIVATIONS))
    digest, hint = both["hints"].split("Hint:")
    assert digest.startswith("The tokens neuron B responds to most") and '- "three": 10.0 on average' in digest
    assert hint.startswith(" when neuron B is active")
    assert {k: v for k, v in both.items() if k != "hints"} == {k: v for k, v in off.items() if k != "hints"}
