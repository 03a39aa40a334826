"""The real client against a real loopback HTTP server speaking the OpenAI wire format."""

import asyncio
import logging
import time
import traceback
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import structlog
from langchain_core.messages import HumanMessage
from pydantic import SecretStr

from bench.support.chat_server import Answer, ChatServer, Echo, Malformed, Reset, Slow, Status, Truncated
from prompts import Message
from tools.llm.config import LLMConfig
from tools.llm.ledger import UsageLedger
from tools.llm.openai_client import OpenAIChatLLM
from tools.llm.pricing import ModelPrice
from tools.llm.protocol import LLM, LLMError, LLMRequest, PromptScorer, PromptScoreRequest

KEY = "sk-test-PLANTED-123"


class RecordingSleep:
    """Stands in for asyncio.sleep in the retry loop: records the backoff, waits for nothing."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(0)


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
async def make_llm(chat_server: ChatServer, sleep: RecordingSleep) -> AsyncIterator[Callable[..., OpenAIChatLLM]]:
    """Clients for `chat_server` with fast retries; closed after the test."""
    made: list[OpenAIChatLLM] = []

    def make(*, ledger: UsageLedger | None = None, **overrides: Any) -> OpenAIChatLLM:
        settings: dict[str, Any] = {
            "base_url": chat_server.base_url,
            "api_key": SecretStr(KEY),
            "max_retries": 3,
            "backoff_base_s": 0.01,
            "backoff_max_s": 0.5,
            "timeout_s": 5.0,
        }
        llm = OpenAIChatLLM(LLMConfig(**(settings | overrides)), ledger=ledger, sleep=sleep)
        made.append(llm)
        return llm

    yield make
    for llm in made:
        await llm.aclose()


def ask(content: str = "Explain this neuron.", purpose: str = "explainer", **fields: Any) -> LLMRequest:
    messages = [Message(role="system", content="You explain neurons."), Message(role="user", content=content)]
    return LLMRequest(purpose=purpose, messages=messages, **fields)  # type: ignore[arg-type]


def test_implements_both_protocols() -> None:
    llm = OpenAIChatLLM(LLMConfig(base_url="http://127.0.0.1:9/v1"))
    assert isinstance(llm, LLM) and isinstance(llm, PromptScorer)


# --- answers, logprobs, usage --------------------------------------------------------------------


async def test_content_logprobs_and_usage(chat_server: ChatServer, make_llm: Callable[..., OpenAIChatLLM]) -> None:
    chat_server.script(
        Answer(
            "a cat",
            logprobs=[("a", -0.25, [("a", -0.25), ("the", -1.5)]), (" cat", -0.5, [(" cat", -0.5), (" dog", -1.0)])],
            prompt_tokens=1000,
            completion_tokens=200,
        )
    )
    llm = make_llm(prices={"gpt-4o-mini": ModelPrice(1.0, 4.0)})
    response = await llm.complete(ask(logprobs=True, top_logprobs=2))

    assert response.text == "a cat"
    assert response.finish_reason == "stop"
    assert response.logprobs is not None
    assert [(t.token, t.logprob) for t in response.logprobs] == [("a", -0.25), (" cat", -0.5)]
    assert [(alt.token, alt.logprob) for alt in response.logprobs[1].top] == [(" cat", -0.5), (" dog", -1.0)]
    usage = response.usage
    assert (usage.model, usage.prompt_tokens, usage.completion_tokens, usage.retries) == ("gpt-4o-mini", 1000, 200, 0)
    assert usage.cost_usd == pytest.approx((1000 * 1.0 + 200 * 4.0) / 1e6)
    assert 0 < usage.latency_s < 5


async def test_request_body_caps_output_with_max_tokens_for_custom_servers(
    chat_server: ChatServer, make_llm: Callable[..., OpenAIChatLLM]
) -> None:
    chat_server.script(Answer(), Answer())
    llm = make_llm()
    await llm.complete(ask(max_tokens=37, temperature=0.7, seed=5, logprobs=True, top_logprobs=20))
    await llm.complete(ask(max_tokens=12))

    first, second = chat_server.bodies
    assert first["max_tokens"] == 37
    assert "max_completion_tokens" not in first  # llama.cpp ignores it; one cap, the one it reads
    assert (first["temperature"], first["seed"], first["logprobs"], first["top_logprobs"]) == (0.7, 5, True, 20)
    assert first["messages"] == [
        {"role": "system", "content": "You explain neurons."},
        {"role": "user", "content": "Explain this neuron."},
    ]
    assert first["stream"] is False
    assert second["max_tokens"] == 12
    assert "logprobs" not in second and "top_logprobs" not in second and "seed" not in second


async def test_openai_proper_gets_max_completion_tokens() -> None:
    # No network: inspect the payload ChatOpenAI would send to api.openai.com for our options.
    llm = OpenAIChatLLM(LLMConfig(api_key=SecretStr(KEY)))
    request = ask(max_tokens=44, logprobs=True, top_logprobs=3)
    payload = llm._chat("gpt-4o-mini")._get_request_payload([HumanMessage("hi")], **llm.call_options(request))
    await llm.aclose()
    assert payload["max_completion_tokens"] == 44
    assert "max_tokens" not in payload and "extra_body" not in payload
    assert (payload["logprobs"], payload["top_logprobs"]) == (True, 3)


async def test_model_chosen_by_purpose(chat_server: ChatServer, make_llm: Callable[..., OpenAIChatLLM]) -> None:
    chat_server.script(*[Answer()] * 4)
    llm = make_llm(explainer_model="exp-model", simulator_model="sim-model", reviser_model="rev-model")
    for purpose in ("explainer", "simulator", "prober", "reviser"):
        response = await llm.complete(ask(purpose=purpose))
        assert response.usage.model == chat_server.bodies[-1]["model"]
    assert [body["model"] for body in chat_server.bodies] == ["exp-model", "sim-model", "exp-model", "rev-model"]


async def test_missing_logprobs_are_none_not_invented(chat_server: ChatServer, make_llm: Callable[..., OpenAIChatLLM]) -> None:
    chat_server.script(Answer("x"), Answer("y", logprobs=[("y", -0.1, [])]))
    llm = make_llm()
    assert (await llm.complete(ask(logprobs=True, top_logprobs=5))).logprobs is None
    assert (await llm.complete(ask())).logprobs is None  # not asked for: not returned


async def test_local_server_costs_nothing_and_missing_usage_counts_zero(
    chat_server: ChatServer, make_llm: Callable[..., OpenAIChatLLM]
) -> None:
    chat_server.script(Answer(prompt_tokens=500, completion_tokens=50), Answer(include_usage=False))
    llm = make_llm()  # the default model name is an OpenAI one, but this is not OpenAI
    first = await llm.complete(ask())
    second = await llm.complete(ask())
    assert (first.usage.prompt_tokens, first.usage.cost_usd) == (500, 0.0)
    assert (second.usage.prompt_tokens, second.usage.completion_tokens) == (0, 0)


async def test_no_dummy_key_is_needed_for_custom_servers(chat_server: ChatServer, make_llm: Callable[..., OpenAIChatLLM]) -> None:
    chat_server.script(Answer())
    await make_llm(api_key=None).complete(ask())
    assert chat_server.requests[0].headers["authorization"] == "Bearer not-needed"


def test_openai_proper_without_a_key_fails_at_construction() -> None:
    with pytest.raises(LLMError, match="OPENAI_API_KEY"):
        OpenAIChatLLM(LLMConfig())


# --- retries -------------------------------------------------------------------------------------


async def test_429_then_success_honours_retry_after(
    chat_server: ChatServer, make_llm: Callable[..., OpenAIChatLLM], sleep: RecordingSleep
) -> None:
    chat_server.script(Status(429, retry_after="0.25"), Status(429, retry_after="120"), Status(429), Answer("finally"))
    response = await make_llm(backoff_base_s=0.01, backoff_max_s=0.5).complete(ask())
    assert response.text == "finally"
    assert response.usage.retries == 3
    assert len(chat_server.requests) == 4
    assert sleep.delays[0] == 0.25  # the server's own wait
    assert sleep.delays[1] == 0.5  # capped by backoff_max_s
    assert 0.0 <= sleep.delays[2] <= 0.01 * 2**2  # no header: jittered exponential backoff


async def test_500_storm_gives_up_after_max_retries(chat_server: ChatServer, make_llm: Callable[..., OpenAIChatLLM]) -> None:
    chat_server.default = Status(500, message="upstream melted")
    ledger = UsageLedger()
    with pytest.raises(LLMError) as caught:
        await make_llm(max_retries=4, ledger=ledger).complete(ask(purpose="simulator"))
    assert len(chat_server.requests) == 5
    error = caught.value
    assert (error.status, error.retryable) == (500, True)
    assert "5 attempts" in str(error) and "HTTP 500" in str(error) and "upstream melted" in str(error)
    assert ledger.by_purpose("simulator").failures == 1
    assert ledger.by_purpose("simulator").calls == 0


async def test_long_server_error_text_is_truncated(chat_server: ChatServer, make_llm: Callable[..., OpenAIChatLLM]) -> None:
    chat_server.script(Status(400, message="e" * 5000))
    with pytest.raises(LLMError) as caught:
        await make_llm().complete(ask())
    assert len(str(caught.value)) < 600


@pytest.mark.parametrize("code", [400, 401, 404, 422])
async def test_client_errors_are_not_retried(chat_server: ChatServer, make_llm: Callable[..., OpenAIChatLLM], code: int) -> None:
    chat_server.script(Status(code, message="bad request shape"))
    with pytest.raises(LLMError) as caught:
        await make_llm().complete(ask())
    assert len(chat_server.requests) == 1
    assert (caught.value.status, caught.value.retryable) == (code, False)
    assert "not retryable" in str(caught.value) and "bad request shape" in str(caught.value)


async def test_timeout_is_retried_then_succeeds(chat_server: ChatServer, make_llm: Callable[..., OpenAIChatLLM]) -> None:
    chat_server.script(Slow(10.0), Answer("late but fine"))
    # 1 s, not less: on 2 cores kept busy by other work, the prompt answer took over 0.3 s and timed out too.
    response = await make_llm(timeout_s=1.0).complete(ask())
    assert (response.text, response.usage.retries) == ("late but fine", 1)


async def test_timeouts_exhaust_into_llm_error(chat_server: ChatServer, make_llm: Callable[..., OpenAIChatLLM]) -> None:
    chat_server.default = Slow(10.0)
    with pytest.raises(LLMError, match="timeout") as caught:
        await make_llm(timeout_s=0.2, max_retries=1).complete(ask())
    assert len(chat_server.requests) == 2
    assert caught.value.retryable is True and caught.value.status is None


@pytest.mark.parametrize(
    "broken",
    [
        Malformed(),  # invalid JSON claiming to be JSON
        Malformed(b"<html><body>502 Bad Gateway</body></html>", "text/html"),
        Malformed(b'{"id": "x", "object": "chat.completion"}'),  # JSON without choices
        Truncated(),
        Reset(),
    ],
    ids=["bad-json", "html", "no-choices", "truncated", "reset"],
)
async def test_broken_replies_are_retried(
    chat_server: ChatServer, make_llm: Callable[..., OpenAIChatLLM], broken: Malformed | Truncated | Reset
) -> None:
    chat_server.script(broken, Answer("recovered"))
    response = await make_llm().complete(ask())
    assert (response.text, response.usage.retries) == ("recovered", 1)


async def test_persistent_malformed_json_ends_in_llm_error(chat_server: ChatServer, make_llm: Callable[..., OpenAIChatLLM]) -> None:
    chat_server.default = Malformed()
    with pytest.raises(LLMError, match="malformed") as caught:
        await make_llm(max_retries=2).complete(ask())
    assert len(chat_server.requests) == 3
    assert caught.value.retryable is True


async def test_connection_resets_end_in_llm_error(chat_server: ChatServer, make_llm: Callable[..., OpenAIChatLLM]) -> None:
    chat_server.default = Reset()
    with pytest.raises(LLMError, match="connection"):
        await make_llm(max_retries=1).complete(ask())
    assert len(chat_server.requests) == 2


async def test_unreachable_server_is_a_connection_error(sleep: RecordingSleep) -> None:
    with ChatServer() as server:
        url = server.base_url  # a port that was just free and is closed again below
    llm = OpenAIChatLLM(LLMConfig(base_url=url, max_retries=1, backoff_base_s=0.0), sleep=sleep)
    with pytest.raises(LLMError, match="connection"):
        await llm.complete(ask())
    await llm.aclose()


# --- limits --------------------------------------------------------------------------------------


async def test_concurrency_limit_is_respected(chat_server: ChatServer, make_llm: Callable[..., OpenAIChatLLM]) -> None:
    chat_server.default = Slow(0.1)
    llm = make_llm(concurrency=2)
    responses = await asyncio.gather(*(llm.complete(ask()) for _ in range(6)))
    assert len(responses) == 6
    assert chat_server.max_in_flight == 2


async def test_unlimited_enough_concurrency_lets_requests_overlap(
    chat_server: ChatServer, make_llm: Callable[..., OpenAIChatLLM]
) -> None:
    # The counterpart of the test above: proves the server can see overlap at all.
    chat_server.default = Slow(0.2)
    llm = make_llm(concurrency=8)
    await asyncio.gather(*(llm.complete(ask()) for _ in range(4)))
    assert chat_server.max_in_flight == 4


async def test_requests_per_minute_spaces_requests(chat_server: ChatServer, make_llm: Callable[..., OpenAIChatLLM]) -> None:
    chat_server.script(*[Answer()] * 4)
    llm = make_llm(requests_per_minute=1200)  # one per 50 ms
    started = time.perf_counter()
    await asyncio.gather(*(llm.complete(ask()) for _ in range(4)))
    assert time.perf_counter() - started >= 3 * 0.05 * 0.9  # a lower bound only: the spacing is enforced


# --- prompt scoring ------------------------------------------------------------------------------


async def test_prompt_logprobs_with_top_alternatives(chat_server: ChatServer, make_llm: Callable[..., OpenAIChatLLM]) -> None:
    chat_server.script(
        Echo(
            tokens=[
                ("<s>", None, {}),
                ("Paris", -2.0, {"The": -0.5, "Paris": -2.0}),
                (" is", -0.25, {" is": -0.25, " was": -1.75}),
                (" big", -1.0, {" big": -1.0}),  # the generated token: not part of the prompt
            ],
            prompt_tokens=3,
        )
    )
    ledger = UsageLedger()
    response = await make_llm(simulator_model="scorer", ledger=ledger).score_prompt(
        PromptScoreRequest(prompt="Paris is", top_logprobs=2)
    )

    assert response.unscored_prefix == "<s>"
    assert [(t.token, t.logprob) for t in response.tokens] == [("Paris", -2.0), (" is", -0.25)]
    assert [(alt.token, alt.logprob) for alt in response.tokens[0].top] == [("The", -0.5), ("Paris", -2.0)]
    assert (response.usage.model, response.usage.prompt_tokens, response.usage.completion_tokens) == ("scorer", 3, 1)
    [request] = chat_server.requests
    assert request.path == "/v1/completions"
    body = request.body
    assert (body["model"], body["prompt"], body["echo"], body["logprobs"], body["max_tokens"]) == (
        "scorer",
        "Paris is",
        True,
        2,
        1,
    )
    assert body["prompt_logprobs"] == 2
    assert ledger.by_purpose("simulator").calls == 1


async def test_split_ten_is_asked_only_of_a_server_that_scores_named_offsets(
    chat_server: ChatServer, make_llm: Callable[..., OpenAIChatLLM]
) -> None:
    """Our local server (prompt_logprob_offsets) splits "10" when asked; another server gets neither field."""
    echo = Echo(tokens=[("a", None, {}), ("b", -1.0, {"b": -1.0}), ("c", -1.0, {})])
    chat_server.script(echo, echo, echo)
    request = PromptScoreRequest(prompt="ab", offsets=[1], split_ten=True)
    await make_llm(prompt_logprob_offsets=True).score_prompt(request)
    await make_llm(prompt_logprob_offsets=True).score_prompt(request.model_copy(update={"split_ten": False}))
    await make_llm().score_prompt(request)
    local, unsplit, other = (r.body for r in chat_server.requests)
    assert local["logprob_offsets"] == [1] and local["split_ten"] is True
    assert unsplit["logprob_offsets"] == [1] and "split_ten" not in unsplit
    assert "logprob_offsets" not in other and "split_ten" not in other


async def test_a_server_one_token_off_is_realigned(chat_server: ChatServer, make_llm: Callable[..., OpenAIChatLLM]) -> None:
    """llama-cpp-python's echo reports with each prompt token the prediction of the next one: with
    `prompt_logprobs_shifted` each token gets the distribution reported with the token before it."""
    chat_server.script(
        Echo(
            tokens=[
                ("The", None, {}),
                (" capital", -9.0, {" of": -0.1, " city": -2.5}),  # what follows " capital"
                (" of", -8.0, {" France": -0.2, " Spain": -1.9}),
                (" France", -7.0, {" is": -0.3}),
                (" is", -6.0, {" big": -0.4}),  # the generated token's prediction: not part of the prompt
            ],
            prompt_tokens=4,
        )
    )
    response = await make_llm(prompt_logprobs_shifted=True).score_prompt(PromptScoreRequest(prompt="The capital of France"))

    assert response.unscored_prefix == "The capital"
    assert [(t.token, t.logprob) for t in response.tokens] == [(" of", -0.1), (" France", -0.2)]
    assert [alt.token for alt in response.tokens[1].top] == [" France", " Spain"]


async def test_server_without_prompt_logprobs_is_an_error_not_retried(
    chat_server: ChatServer, make_llm: Callable[..., OpenAIChatLLM]
) -> None:
    chat_server.script(Echo(tokens=[("Hi", None, {}), ("!", None, {})], logprobs=False))
    with pytest.raises(LLMError, match="server does not return prompt logprobs") as caught:
        await make_llm().score_prompt(PromptScoreRequest(prompt="Hi"))
    assert caught.value.retryable is False
    assert len(chat_server.requests) == 1


async def test_prompt_scoring_retries_like_chat(chat_server: ChatServer, make_llm: Callable[..., OpenAIChatLLM]) -> None:
    chat_server.script(Status(503), Malformed(), Echo(tokens=[("a", None, {}), ("b", -1.0, {"b": -1.0}), ("c", -1.0, {})]))
    response = await make_llm().score_prompt(PromptScoreRequest(prompt="ab"))
    assert [t.token for t in response.tokens] == ["b"]
    assert response.usage.retries == 2


# --- secrets and logs ----------------------------------------------------------------------------


async def test_api_key_never_leaks_into_errors_or_logs(
    chat_server: ChatServer, make_llm: Callable[..., OpenAIChatLLM], caplog: pytest.LogCaptureFixture
) -> None:
    # A hostile server echoes the key back in its error bodies; the key must still not surface.
    echo_key = f"Incorrect API key provided: {KEY}."
    chat_server.script(Status(500, message=echo_key), Status(401, message=echo_key), Answer(), Status(400, message=echo_key))
    caplog.set_level(logging.DEBUG)
    llm = make_llm(max_retries=1)
    with structlog.testing.capture_logs() as events:
        with pytest.raises(LLMError) as caught:
            await llm.complete(ask("SECRET-PROMPT-TEXT"))
        await llm.complete(ask("SECRET-PROMPT-TEXT"))
        with pytest.raises(LLMError, match="redacted"):
            await llm.score_prompt(PromptScoreRequest(prompt="SECRET-PROMPT-TEXT"))

    error = caught.value
    texts = ["".join(traceback.format_exception(error)), repr(error), repr(llm._config), str(llm._config)]
    assert "[redacted]" in str(error)
    for text in texts:
        assert KEY not in text
    assert KEY not in repr(events)
    assert KEY not in caplog.text
    assert "SECRET-PROMPT-TEXT" not in repr(events)  # contents are not logged
    assert {event["event"] for event in events} >= {"llm_retry", "llm_failed", "llm_call"}
    # The key went where it belongs, and only there.
    assert all(request.headers["authorization"] == f"Bearer {KEY}" for request in chat_server.requests)
    assert all(KEY.encode() not in request.raw for request in chat_server.requests)


async def test_call_events_carry_accounting_fields(chat_server: ChatServer, make_llm: Callable[..., OpenAIChatLLM]) -> None:
    chat_server.script(Status(503), Answer(prompt_tokens=9, completion_tokens=4))
    with structlog.testing.capture_logs() as events:
        await make_llm().complete(ask(purpose="prober"))
    retry, call = events
    assert retry["event"] == "llm_retry"
    assert (retry["purpose"], retry["status"], retry["attempt"]) == ("prober", 503, 1)
    assert call["event"] == "llm_call"
    assert (call["purpose"], call["model"], call["prompt_tokens"], call["completion_tokens"], call["retries"]) == (
        "prober",
        "gpt-4o-mini",
        9,
        4,
        1,
    )
    assert "latency_s" in call and "cost_usd" in call


def test_unknown_openai_model_is_priced_zero_with_one_warning() -> None:
    llm = OpenAIChatLLM(LLMConfig(api_key=SecretStr(KEY)))
    with structlog.testing.capture_logs() as events:
        costs = [llm._cost("mystery-model", 1000, 1000) for _ in range(3)]
        dated = llm._cost("gpt-4o-mini-2024-07-18", 1_000_000, 0)
    assert costs == [0.0, 0.0, 0.0]
    assert [event["event"] for event in events] == ["llm_price_unknown"]
    assert dated == pytest.approx(0.15)
