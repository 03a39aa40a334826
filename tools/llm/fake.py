"""`ScriptedLLM`: the one scripted fake model for tests and benchmarks.

It answers from a script, in order. An item is a string (the answer's text), an `LLMResponse`
(returned as is, e.g. with logprobs), an exception (raised), or a callable that sees the
`LLMRequest` and returns one of those. It records every request, fills in token usage so
accounting is exercised, and fails loudly when the script runs out instead of inventing answers.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable
from typing import TypeAlias

from tools.llm.ledger import UsageLedger
from tools.llm.protocol import LLMError, LLMRequest, LLMResponse, Usage

ScriptAnswer: TypeAlias = str | LLMResponse | BaseException
ScriptItem: TypeAlias = ScriptAnswer | Callable[[LLMRequest], ScriptAnswer]

SCRIPTED_MODEL = "scripted"


class ScriptExhausted(AssertionError):
    """The code under test made more calls than the test scripted."""


class ScriptedLLM:
    """An `LLM` that replays a script; `requests` holds every request received, in order."""

    def __init__(
        self,
        script: Iterable[ScriptItem] = (),
        *,
        latency_s: float = 0.0,
        cost_usd_per_call: float = 0.0,
        ledger: UsageLedger | None = None,
    ) -> None:
        self._script: deque[ScriptItem] = deque(script)
        self._latency_s = latency_s
        self._cost_usd_per_call = cost_usd_per_call
        self._ledger = ledger
        self.requests: list[LLMRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0
        """Most calls awaiting their answer at once (concurrency tests read it)."""

    def extend(self, items: Iterable[ScriptItem]) -> None:
        self._script.extend(items)

    @property
    def remaining(self) -> int:
        return len(self._script)

    async def complete(self, request: LLMRequest) -> LLMResponse:
        self.requests.append(request)
        if not self._script:
            last = request.messages[-1].content[:200] if request.messages else ""
            raise ScriptExhausted(
                f"ScriptedLLM script exhausted at call {len(self.requests)} (purpose={request.purpose}); "
                f"last message: {last!r}"
            )
        item = self._script.popleft()
        answer = item(request) if callable(item) else item
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self._latency_s > 0:
                await asyncio.sleep(self._latency_s)
        finally:
            self.in_flight -= 1
        if isinstance(answer, BaseException):
            if self._ledger is not None and isinstance(answer, LLMError):
                self._ledger.record_failure(request.purpose, SCRIPTED_MODEL, answer)
            raise answer
        # A copy with its own usage, so a response scripted twice is two calls to the ledger, not one.
        # Shallow otherwise: deep-copying long logprob lists would cost a benchmark most of its CPU, and
        # nothing downstream mutates a response's logprobs.
        response = (answer.model_copy(update={"usage": answer.usage.model_copy()}) if isinstance(answer, LLMResponse)
                    else self._response(request, answer))
        # Answers that carry no cost or latency of their own (e.g. built by a callable) take the script's.
        if self._cost_usd_per_call and response.usage.cost_usd == 0:
            response.usage.cost_usd = self._cost_usd_per_call
        if self._latency_s and response.usage.latency_s == 0:
            response.usage.latency_s = self._latency_s
        if self._ledger is not None:
            self._ledger.record(request.purpose, response.usage)
        return response

    def _response(self, request: LLMRequest, text: str) -> LLMResponse:
        usage = Usage(
            model=SCRIPTED_MODEL,
            # Rough 4-characters-per-token estimate: enough for accounting tests to see nonzero counts.
            prompt_tokens=sum(len(message.content) for message in request.messages) // 4,
            completion_tokens=len(text) // 4,
            latency_s=self._latency_s,
            cost_usd=self._cost_usd_per_call,
        )
        return LLMResponse(text=text, finish_reason="stop", usage=usage)
