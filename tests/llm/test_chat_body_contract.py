"""Contract with langchain-openai that `_PlainChatCompletions` (tools/llm/openai_client.py) relies on.

The client hands `ChatOpenAI` a stand-in for the openai SDK's `chat.completions` whose raw responses
parse to the answer's JSON body as a dict, instead of the SDK's typed completion (bench/llm_client
measures what that saves). It relies on `ChatOpenAI`'s async chat call, as the client configures it,
(1) reaching the stand-in only as `with_raw_response.create(**payload)`, then `.parse()` and
`.headers` of what that returns, and (2) reading a dict body exactly as it reads the typed completion.
These tests fail on an upgrade of langchain-openai or openai that changes either: then fix the
stand-in, or construct the client with `plain_chat_bodies=False` (the public path) until it is fixed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

from bench.support.chat_server import Answer, ChatServer, Malformed
from prompts import Message
from tools.llm.config import LLMConfig
from tools.llm.openai_client import OpenAIChatLLM
from tools.llm.protocol import LLMError, LLMRequest, LLMResponse

LOGPROBS = [("a", -0.25, [("a", -0.25), ("the", -1.5)]), (" cat", -0.5, [(" cat", -0.5), (" dog", -1.0)])]
MakeLLM = Callable[[bool], OpenAIChatLLM]


@pytest.fixture
async def make_llm(chat_server: ChatServer) -> AsyncIterator[MakeLLM]:
    """Clients for `chat_server`, with plain chat bodies (the default) or the SDK's typed parse; closed after the test."""
    made: list[OpenAIChatLLM] = []

    def make(plain_chat_bodies: bool) -> OpenAIChatLLM:
        config = LLMConfig(base_url=chat_server.base_url, api_key=SecretStr("sk-test"), max_retries=0, timeout_s=5.0)
        made.append(OpenAIChatLLM(config, plain_chat_bodies=plain_chat_bodies))
        return made[-1]

    yield make
    for llm in made:
        await llm.aclose()


def _request(**fields: Any) -> LLMRequest:
    return LLMRequest(purpose="simulator", messages=[Message(role="user", content="Predict.")], max_tokens=8, **fields)


def _comparable(response: LLMResponse) -> dict[str, Any]:
    return response.model_dump(exclude={"usage": {"latency_s"}})


@pytest.mark.parametrize(
    ("answer", "fields"),
    [
        (Answer("a cat", logprobs=LOGPROBS, prompt_tokens=40, completion_tokens=2, finish_reason="length"),
         {"logprobs": True, "top_logprobs": 2}),
        (Answer("plain", include_usage=False), {}),
    ],
    ids=["logprobs-and-usage", "no-logprobs-no-usage"],
)
async def test_a_dict_body_reads_exactly_as_the_sdks_typed_completion(
    chat_server: ChatServer, make_llm: MakeLLM, answer: Answer, fields: dict[str, Any]
) -> None:
    chat_server.script(answer, answer)
    plain = await make_llm(True).complete(_request(**fields))
    typed = await make_llm(False).complete(_request(**fields))
    assert _comparable(plain) == _comparable(typed)
    assert plain.text == answer.content and plain.finish_reason == answer.finish_reason
    assert (plain.logprobs is not None) == bool(fields)


@pytest.mark.parametrize(
    "broken",
    [Malformed(), Malformed(b"<html><body>502 Bad Gateway</body></html>", "text/html"),
     Malformed(b'{"id": "x", "object": "chat.completion"}')],
    ids=["bad-json", "html", "no-choices"],
)
async def test_a_broken_body_fails_as_on_the_public_path(chat_server: ChatServer, make_llm: MakeLLM, broken: Malformed) -> None:
    chat_server.script(broken, broken)
    failures = []
    for plain_chat_bodies in (True, False):
        with pytest.raises(LLMError) as caught:
            await make_llm(plain_chat_bodies).complete(_request())
        failures.append((caught.value.retryable, caught.value.status, "malformed" in str(caught.value)))
    assert failures[0] == failures[1] == (True, None, True)


class _RecordingCompletions:
    """Stands in for the SDK's `chat.completions` and records every attribute `ChatOpenAI` reaches for."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body
        self.reached: list[str] = []
        self.payload: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:  # only for names not defined here
        self.reached.append(name)
        raise AttributeError(name)

    @property
    def with_raw_response(self) -> _RecordingCompletions:
        self.reached.append("with_raw_response")
        return self

    async def create(self, **payload: Any) -> _RecordingCompletions:
        self.reached.append("create")
        self.payload = payload
        return self

    def parse(self) -> dict[str, Any]:
        self.reached.append("parse")
        return self.body

    @property
    def headers(self) -> dict[str, str]:
        self.reached.append("headers")
        return {}


async def test_chatopenai_reaches_the_async_client_only_through_with_raw_response_create_and_parse() -> None:
    body = {"id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}
    completions = _RecordingCompletions(body)
    # As OpenAIChatLLM builds it: chat completions (not the Responses API), no retries, no cache.
    chat = ChatOpenAI(model="m", api_key=SecretStr("sk-test"), base_url="http://127.0.0.1:9/v1",  # type: ignore[call-arg]
                      use_responses_api=False, max_retries=0, async_client=completions, cache=False)
    reply = await chat.ainvoke([HumanMessage(content="hi")], temperature=0.0, extra_body={"max_tokens": 4})
    assert isinstance(reply, AIMessage) and reply.text == "ok"
    assert [name for name in completions.reached if name != "headers"] == ["with_raw_response", "create", "parse"]
    assert completions.payload["model"] == "m" and completions.payload["extra_body"] == {"max_tokens": 4}
