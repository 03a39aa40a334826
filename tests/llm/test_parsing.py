import pytest

from tools.llm.parsing import (
    LOGPROB_FLOOR,
    MalformedResponse,
    UnusableResponse,
    chat_logprobs,
    completion_parts,
    prompt_logprobs,
    unshift_prompt_logprobs,
)
from tools.llm.protocol import TokenLogprob


def legacy(tokens: list[str], logprobs: list[float | None], tops: list[dict[str, float] | None] | None = None) -> dict:
    return {"tokens": tokens, "token_logprobs": logprobs, "top_logprobs": tops, "text_offset": None}


def test_chat_logprobs_absent_or_empty_content() -> None:
    assert chat_logprobs(None) is None
    assert chat_logprobs({"content": None, "refusal": None}) is None
    assert chat_logprobs({"content": []}) == []


@pytest.mark.parametrize("raw", ["text", {"content": 3}, {"content": [{"token": "a"}]}, {"content": [{"token": "a", "logprob": "x"}]},
                                 {"content": [{"token": 3, "logprob": -1.0}]}, {"content": ["a"]},
                                 {"content": [{"token": "a", "logprob": -1.0, "top_logprobs": [{"token": "b", "logprob": True}]}]}])
def test_chat_logprobs_malformed(raw: object) -> None:
    with pytest.raises(MalformedResponse):
        chat_logprobs(raw)


def test_completion_parts_reads_the_first_choice_s_logprobs_and_the_usage_counts() -> None:
    logprobs = legacy(["a", "b"], [None, -1.0])
    body = {"choices": [{"logprobs": logprobs, "text": "ab"}], "usage": {"prompt_tokens": 1, "completion_tokens": 1}}
    assert completion_parts(body) == (logprobs, 1, 1)
    assert completion_parts({"choices": [{"text": "ab"}]}) == (None, None, 0)  # no usage, no logprobs: the callers decide


@pytest.mark.parametrize("body", ["<html>", [], {}, {"choices": None}, {"choices": []}, {"choices": "ab"}, {"choices": ["ab"]},
                                  {"choices": [{}], "usage": {"prompt_tokens": "3"}}])
def test_completion_parts_malformed(body: object) -> None:
    with pytest.raises(MalformedResponse):
        completion_parts(body)


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
        legacy(["a", "b"], [None, "-1.5"]),  # a number as text is not a number either
        legacy([7, "b"], [None, -1.0]),  # a token that is not text, even unscored
        legacy(["a", "b"], [None, -1.0], [None, {"c": "low"}]),  # an alternative that is not a number
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


def test_unshifting_gives_each_token_the_distribution_reported_before_it() -> None:
    prefix, tokens = prompt_logprobs(
        legacy(["A", " b", " c", " d"], [None, -5.0, -6.0, -7.0],
               [None, {" c": -0.5, " x": -1.5}, {" y": -0.1, " z": -3.0}, {" e": -0.2}]), 4)
    prefix, realigned = unshift_prompt_logprobs(prefix, tokens)
    assert prefix == "A b"
    assert [t.token for t in realigned] == [" c", " d"]
    assert realigned[0].logprob == -0.5  # " c" is among the alternatives reported with " b"
    assert realigned[1].logprob == -3.0  # " d" is not: the least alternative bounds it from above
    assert [alt.token for alt in realigned[1].top] == [" y", " z"]
    assert unshift_prompt_logprobs("", []) == ("", [])
    only = [TokenLogprob(token="A", logprob=-1.0, top=[])]
    assert unshift_prompt_logprobs("<s>", only) == ("<s>A", [])
