from __future__ import annotations

import pytest

from tools.explainers.base import NoExplanationError, clean_explanation
from tools.explainers.llm_explainer import LLMExplainer
from tools.formats.openai import ActivationRecord
from tools.llm.fake import ScriptedLLM
from tools.llm.protocol import LLMError, LLMResponse, Usage

RECORDS = [ActivationRecord(tokens=["a", " b"], activations=[0.0, 1.0])]


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        (" city names.", "city names"),
        ("the main thing this neuron does is find city names", "city names"),
        ("The main thing this neuron does is detect city names.", "detect city names"),
        ('"city names"', "city names"),
        ('the token " object"', 'the token " object"'),
        ("first line\nsecond line", "first line second line"),  # an answer over lines is read whole
        ("Improved explanation: the main thing this neuron does is find city names", "city names"),  # an echoed label
        ("Sure. The main thing this neuron does is find\ncity names.", "city names"),  # a preamble
        ("Explanation: city names", "city names"),
        ("the token &#34; object&#34; and &quot;class&quot;", 'the token " object" and "class"'),  # HTML entities
        ("   ", None),
        ("x" * 401, None),
    ],
)
def test_clean_explanation(raw: str, clean: str | None) -> None:
    assert clean_explanation(raw) == clean


async def test_samples_its_best_guess_then_n_minus_1_at_temperature_one_and_drops_unusable_ones() -> None:
    llm = ScriptedLLM(["cats", "", "cats", "dogs", "y" * 1000])
    out = await LLMExplainer(llm).explain(RECORDS, 5)
    assert out == ["cats", "dogs"]
    assert all(r.purpose == "explainer" for r in llm.requests)
    assert [r.temperature for r in llm.requests] == [0.0, 1.0, 1.0, 1.0, 1.0]  # greedy first: the best guess
    assert len({r.seed for r in llm.requests}) == 5


async def test_no_usable_sample_is_an_error_naming_the_reason() -> None:
    llm = ScriptedLLM([LLMError("HTTP 500: boom", retryable=True, status=500), ""])
    with pytest.raises(NoExplanationError, match="HTTP 500: boom"):
        await LLMExplainer(llm).explain(RECORDS, 2)


VERBOSE = ("words that close a list, such as and, or, and nor, mostly before the last item; also commas between items "
           "in long enumerations of names, numbers and places, and the word etc when it ends a sentence")


def test_a_long_answer_is_capped_at_a_clause_boundary_not_dropped() -> None:
    assert len(VERBOSE) < 400
    assert clean_explanation(VERBOSE * 3, max_words=30) is not None, "over 400 characters, yet capped instead of dropped"
    assert clean_explanation(VERBOSE, max_words=20) == "words that close a list, such as and, or, and nor, mostly before the last item"


def test_an_answer_cut_at_the_output_cap_loses_its_last_fragment() -> None:
    assert clean_explanation("city names and the countri", max_words=30, cut=True) == "city names"
    assert clean_explanation(VERBOSE, max_words=20, cut=True) == clean_explanation(VERBOSE, max_words=20)


async def test_every_discarded_answer_is_told_with_its_reason() -> None:
    cut = LLMResponse(text="city names in\nlists of plac", finish_reason="length", usage=Usage(model="m"))
    llm = ScriptedLLM(["cats", "", "cats", "y" * 1000, cut, LLMError("HTTP 500: boom", retryable=True, status=500)])
    told: list[tuple[str, list[str]]] = []
    out = await LLMExplainer(llm, on_discarded=lambda purpose, reasons: told.append((purpose, reasons))).explain(RECORDS, 6)
    assert out == ["cats", "city names in lists"]  # the fragment, then the dangling "of", dropped
    [(purpose, reasons)] = told
    assert purpose == "explainer" and reasons == [
        "empty answer", "the same explanation as another sample", "unusable explanation (1000 characters)", "HTTP 500: boom"]


async def test_the_output_hint_is_asked_once_and_named_in_every_sample() -> None:
    asked = []

    async def promoted() -> list[str]:
        asked.append(1)
        return [" blue", " green"]

    llm = ScriptedLLM(["colour words", "greens"])
    assert await LLMExplainer(llm, promoted=promoted).explain(RECORDS, 2) == ["colour words", "greens"]
    assert asked == [1]
    for request in llm.requests:
        last = request.messages[-1].content
        assert 'next tokens most: " blue", " green". Describe what it responds to' in last
        assert last.index("Hint:") < last.index("Explanation of neuron B behavior")


async def test_without_weights_to_read_the_hint_leaves_the_prompt_as_it_is() -> None:
    async def nothing() -> None:
        return None

    hinted, plain = ScriptedLLM(["colour words"]), ScriptedLLM(["colour words"])
    await LLMExplainer(hinted, promoted=nothing).explain(RECORDS, 1)
    await LLMExplainer(plain).explain(RECORDS, 1)
    assert hinted.requests[0].messages == plain.requests[0].messages
    assert "Hint:" not in plain.requests[0].messages[-1].content
