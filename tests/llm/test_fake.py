import asyncio

import pytest

from tools.llm.fake import ScriptedLLM, ScriptExhausted
from tools.llm.ledger import UsageLedger
from tools.llm.protocol import (
    LLM,
    LLMError,
    LLMRequest,
    LLMResponse,
    Message,
    TokenLogprob,
    TopLogprob,
    Usage,
)


def ask(content: str = "Explain neuron 3.", purpose: str = "explainer") -> LLMRequest:
    return LLMRequest(purpose=purpose, messages=[Message(role="system", content="sys"), Message(role="user", content=content)])  # type: ignore[arg-type]


def test_is_an_llm() -> None:
    assert isinstance(ScriptedLLM(), LLM)


async def test_answers_in_order_and_records_requests() -> None:
    llm = ScriptedLLM(["first", "second answer"])
    one = await llm.complete(ask("a" * 40))
    two = await llm.complete(ask("b"))
    assert (one.text, two.text) == ("first", "second answer")
    assert [request.messages[-1].content for request in llm.requests] == ["a" * 40, "b"]
    assert one.usage.model == "scripted"
    assert one.usage.prompt_tokens == (3 + 40) // 4
    assert two.usage.completion_tokens == len("second answer") // 4
    assert llm.remaining == 0


async def test_callables_see_the_request() -> None:
    llm = ScriptedLLM([lambda request: f"you said {request.messages[-1].content}"])
    assert (await llm.complete(ask("hi"))).text == "you said hi"


async def test_exceptions_are_raised_directly_or_from_callables() -> None:
    llm = ScriptedLLM([LLMError("boom", status=500), lambda request: TimeoutError(request.purpose)])
    with pytest.raises(LLMError, match="boom"):
        await llm.complete(ask())
    with pytest.raises(TimeoutError, match="explainer"):
        await llm.complete(ask())


async def test_scripted_response_keeps_its_logprobs() -> None:
    tokens = [TokenLogprob(token="7", logprob=-0.1, top=[TopLogprob(token="7", logprob=-0.1), TopLogprob(token="8", logprob=-2.4)])]
    response = LLMResponse(text="7", logprobs=tokens, usage=Usage(model="scripted", completion_tokens=1))
    llm = ScriptedLLM([response])
    answer = await llm.complete(ask())
    assert answer.logprobs == tokens
    assert answer.logprobs[0].top[1].token == "8"  # type: ignore[index]


async def test_exhaustion_fails_loudly_with_the_request() -> None:
    llm = ScriptedLLM(["only one"])
    await llm.complete(ask())
    with pytest.raises(ScriptExhausted) as caught:
        await llm.complete(ask("x" * 500, purpose="prober"))
    message = str(caught.value)
    assert "prober" in message
    assert "x" * 200 in message and "x" * 201 not in message
    assert isinstance(caught.value, AssertionError)  # not swallowed by `except Exception` in code under test


async def test_fills_the_ledger_including_failures() -> None:
    ledger = UsageLedger()
    response = LLMResponse(text="r", usage=Usage(model="scripted", prompt_tokens=4, cost_usd=0.5))
    llm = ScriptedLLM(["abcdefgh", response, response, LLMError("down")], cost_usd_per_call=0.25, ledger=ledger)
    for _ in range(3):
        await llm.complete(ask(purpose="simulator"))
    with pytest.raises(LLMError):
        await llm.complete(ask(purpose="simulator"))
    totals = ledger.by_purpose("simulator")
    assert totals.calls == 3  # the same scripted response twice is two calls
    assert totals.cost_usd == pytest.approx(0.25 + 0.5 + 0.5)
    assert totals.completion_tokens == 2
    assert totals.failures == 1


async def test_latency_overlaps_across_concurrent_calls() -> None:
    built = LLMResponse(text="b", usage=Usage(model="scripted"))
    llm = ScriptedLLM(["a"] * 4 + [lambda request: built] * 4, latency_s=0.05)
    answers = await asyncio.gather(*(llm.complete(ask()) for _ in range(8)))
    assert all(answer.usage.latency_s == 0.05 for answer in answers)  # built answers too
    assert llm.max_in_flight == 8 and llm.in_flight == 0
