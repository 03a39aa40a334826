import pytest

from tools.llm.parsing import (
    LOGPROB_FLOOR,
    MalformedResponse,
    UnusableResponse,
    chat_logprobs,
    prompt_logprobs,
)


def legacy(tokens: list[str], logprobs: list[float | None], tops: list[dict[str, float] | None] | None = None) -> dict:
    return {"tokens": tokens, "token_logprobs": logprobs, "top_logprobs": tops, "text_offset": None}


def test_chat_logprobs_absent_or_empty_content() -> None:
    assert chat_logprobs(None) is None
    assert chat_logprobs({"content": None, "refusal": None}) is None
    assert chat_logprobs({"content": []}) == []


@pytest.mark.parametrize("raw", ["text", {"content": 3}, {"content": [{"token": "a"}]}, {"content": [{"token": "a", "logprob": "x"}]}])
def test_chat_logprobs_malformed(raw: object) -> None:
    with pytest.raises(MalformedResponse):
        chat_logprobs(raw)


def test_prompt_logprobs_without_a_usage_count_keeps_every_token() -> None:
    prefix, tokens = prompt_logprobs(legacy(["a", "b", "c"], [None, -1.0, -2.0], [None, {"b": -1.0}, {"c": -2.0, "d": -0.5}]), None)
    assert prefix == "a"
    assert [t.token for t in tokens] == ["b", "c"]
    assert [alt.token for alt in tokens[1].top] == ["d", "c"]  # best first


def test_prompt_logprobs_tolerate_missing_top_lists() -> None:
    _, tokens = prompt_logprobs(legacy(["a", "b"], [None, -1.0]), 2)
    assert tokens[0].top == []


@pytest.mark.parametrize(
    "raw",
    [
        legacy(["a", "b"], [None]),  # lengths differ
        legacy(["a", "b", "c"], [None, -1.0, None]),  # a gap after scoring began
        legacy(["a", "b"], [None, "high"]),  # not a number
    ],
)
def test_prompt_logprobs_malformed(raw: dict) -> None:
    with pytest.raises(MalformedResponse):
        prompt_logprobs(raw, None)


@pytest.mark.parametrize("raw", [None, {}, legacy([], []), legacy(["a", "b"], [None, None])])
def test_prompt_logprobs_missing(raw: object) -> None:
    with pytest.raises(UnusableResponse, match="server does not return prompt logprobs"):
        prompt_logprobs(raw, None)


def test_impossible_tokens_get_one_finite_floor_and_nan_is_refused() -> None:
    wire = {"content": [{"token": "7", "logprob": float("-inf"), "top_logprobs": [{"token": "7", "logprob": -1e30}, {"token": "8", "logprob": -0.5}]}]}
    [token] = chat_logprobs(wire) or []
    assert token.logprob == LOGPROB_FLOOR and [alt.logprob for alt in token.top] == [LOGPROB_FLOOR, -0.5]
    _, [scored] = prompt_logprobs(legacy(["a", "b"], [None, float("-inf")], [None, {"b": float("-inf")}]), None)
    assert scored.logprob == LOGPROB_FLOOR and scored.top[0].logprob == LOGPROB_FLOOR
    with pytest.raises(MalformedResponse, match="NaN"):
        chat_logprobs({"content": [{"token": "7", "logprob": float("nan")}]})
