from __future__ import annotations

import pytest

from tools.explainers.base import NoExplanationError, clean_explanation
from tools.explainers.llm_explainer import LLMExplainer
from tools.formats.openai import ActivationRecord
from tools.llm.fake import ScriptedLLM
from tools.llm.protocol import LLMError

RECORDS = [ActivationRecord(tokens=["a", " b"], activations=[0.0, 1.0])]


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        (" city names.", "city names"),
        ("the main thing this neuron does is find city names", "city names"),
        ("The main thing this neuron does is detect city names.", "detect city names"),
        ('"city names"', "city names"),
        ('the token " object"', 'the token " object"'),
        ("first line\nsecond line", "first line"),
        ("   ", None),
        ("x" * 401, None),
    ],
)
def test_clean_explanation(raw: str, clean: str | None) -> None:
    assert clean_explanation(raw) == clean


async def test_samples_n_at_temperature_one_and_drops_unusable_ones() -> None:
    llm = ScriptedLLM(["cats", "", "cats", "dogs", "y" * 1000])
    out = await LLMExplainer(llm).explain(RECORDS, 5)
    assert out == ["cats", "dogs"]
    assert all(r.temperature == 1.0 and r.purpose == "explainer" for r in llm.requests)
    assert len({r.seed for r in llm.requests}) == 5


async def test_no_usable_sample_is_an_error_naming_the_reason() -> None:
    llm = ScriptedLLM([LLMError("HTTP 500: boom", retryable=True, status=500), ""])
    with pytest.raises(NoExplanationError, match="HTTP 500: boom"):
        await LLMExplainer(llm).explain(RECORDS, 2)
