"""A real client for the loopback chat server, with retries that do not wait."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bench.support.chat_server import ChatServer
from tools.llm.config import LLMConfig
from tools.llm.openai_client import OpenAIChatLLM


async def _no_wait(seconds: float) -> None:
    """The retry loop's sleep: backoff is not what these tests are about."""


@pytest.fixture
async def llm(chat_server: ChatServer) -> AsyncIterator[OpenAIChatLLM]:
    config = LLMConfig(
        base_url=chat_server.base_url,
        simulator_model="sim",
        max_retries=1,
        backoff_base_s=0.001,
        backoff_max_s=0.01,
        timeout_s=5.0,
    )
    client = OpenAIChatLLM(config, sleep=_no_wait)
    yield client
    await client.aclose()
