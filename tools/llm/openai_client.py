"""The real LLM client: OpenAI, or any OpenAI-compatible server (vLLM, llama.cpp, Ollama) via base_url.

Chat goes through langchain-openai's `ChatOpenAI` (chat-completions API, never the Responses API,
so local servers work); prompt scoring goes through the `openai` SDK's legacy completions
endpoint. Both share one HTTP connection pool, one set of client-side limits and one retry policy.
The SDKs' own retries are off: ours count attempts, honour Retry-After and log each one.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import openai
import structlog
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, UsageMetadata
from langchain_openai import ChatOpenAI
from openai.resources.chat.completions import AsyncCompletions
from pydantic import SecretStr

from tools.llm.config import LLMConfig
from tools.llm.ledger import UsageLedger
from tools.llm.parsing import (
    MalformedResponse,
    UnusableResponse,
    chat_logprobs,
    completion_parts,
    prompt_logprobs,
    unshift_prompt_logprobs,
)
from tools.llm.pricing import cost_usd, find_price
from tools.llm.protocol import (
    LLMError,
    LLMRequest,
    LLMResponse,
    Message,
    PromptScoreRequest,
    PromptScoreResponse,
    Purpose,
    TokenLogprob,
    Usage,
)
from tools.llm.ratelimit import CallLimits, RateLimiter, Sleep
from tools.llm.retry import AttemptFailure, run_with_retries

log = structlog.get_logger(__name__)

T = TypeVar("T")

# Local servers ignore the key, but the SDK refuses to build a client without one.
_DUMMY_KEY = "not-needed"
_MAX_DETAIL_CHARS = 300
_RETRYABLE_4XX = frozenset({408, 409, 429})


class OpenAIChatLLM:
    """`LLM` and `PromptScorer` over an OpenAI-compatible HTTP API.

    One instance serves all purposes (the model is picked per request) and belongs to one event
    loop: its connection pool and limits are bound to the loop of its first call.
    """

    def __init__(
        self,
        config: LLMConfig,
        *,
        ledger: UsageLedger | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        plain_chat_bodies: bool = True,
    ) -> None:
        """`plain_chat_bodies`: hand `ChatOpenAI` the chat answer's JSON body as a dict (`_PlainChatCompletions`);
        False gives it the SDK's own client, the public path, whose typed parse costs more CPU per call
        (bench/llm_client measures both in one run)."""
        self._config = config
        self._key = _resolve_key(config)
        self._ledger = ledger
        self._sleep = sleep
        self._rng = rng or random.Random()
        rate = RateLimiter(config.requests_per_minute) if config.requests_per_minute is not None else None
        self._limits = CallLimits(config.concurrency, rate)
        # Our own pool (not langchain-openai's process-wide cached one), so closing this client
        # closes its connections and two clients never share sockets across event loops.
        self._http = openai.DefaultAsyncHttpxClient()
        self._chats: dict[str, ChatOpenAI] = {}
        self._unpriced_warned: set[str] = set()
        sdk = openai.AsyncOpenAI(
            api_key=self._key.get_secret_value(),
            base_url=config.endpoint,
            max_retries=0,
            timeout=config.timeout_s,
            http_client=self._http,
        )
        self._completions = sdk.completions
        self._chat_completions: _PlainChatCompletions | AsyncCompletions = (
            _PlainChatCompletions(sdk.chat.completions) if plain_chat_bodies else sdk.chat.completions
        )

    async def complete(self, request: LLMRequest) -> LLMResponse:
        model = self._config.model_for(request.purpose)
        chat = self._chat(model)
        messages = [_to_langchain(message) for message in request.messages]
        kwargs = self.call_options(request)

        async def attempt() -> tuple[AIMessage, list[TokenLogprob] | None]:
            try:
                reply = await chat.ainvoke(messages, **kwargs)
            except (KeyError, TypeError, ValueError) as exc:
                # langchain-openai and the SDK raise these for bodies that are not a chat completion
                # (invalid JSON, an HTML error page, missing or null `choices`).
                raise MalformedResponse(f"{type(exc).__name__}: {exc}") from exc
            if not isinstance(reply, AIMessage):
                raise MalformedResponse(f"expected an AI message, got {type(reply).__name__}")
            tokens = chat_logprobs(reply.response_metadata.get("logprobs")) if request.logprobs else None
            return reply, tokens

        (reply, tokens), retries, latency_s = await self._run(attempt, request.purpose, model)
        counts: UsageMetadata | dict[str, int] = reply.usage_metadata or {}
        usage = self._usage(model, counts.get("input_tokens", 0), counts.get("output_tokens", 0), latency_s, retries)
        response = LLMResponse(
            text=reply.text, logprobs=tokens, finish_reason=reply.response_metadata.get("finish_reason"), usage=usage
        )
        self._account(request.purpose, usage, finish_reason=response.finish_reason)
        return response

    async def score_prompt(self, request: PromptScoreRequest) -> PromptScoreResponse:
        """Logprobs of the prompt's own tokens (legacy completions with echo; vLLM, llama.cpp)."""
        model = self._config.model_for(request.purpose)
        # vLLM reads prompt_logprobs; OpenAI itself would reject the unknown field.
        extra_body: dict[str, Any] | None = None if self._config.is_openai else {"prompt_logprobs": request.top_logprobs}
        sparse = self._config.prompt_logprob_offsets and request.offsets is not None
        if sparse and extra_body is not None:
            extra_body["logprob_offsets"] = request.offsets
            if request.split_ten:
                extra_body["split_ten"] = True

        async def attempt() -> tuple[str, list[TokenLogprob], int, int]:
            try:
                # The JSON body, not the SDK's typed completion: that validates every alternative of
                # every prompt token as a pydantic model, only for us to read it back as a dict.
                raw = await self._completions.with_raw_response.create(
                    model=model,
                    prompt=request.prompt,
                    echo=True,
                    logprobs=request.top_logprobs,
                    max_tokens=1,
                    temperature=0.0,
                    extra_body=extra_body,
                )
                body = raw.http_response.json()
            except (KeyError, TypeError, ValueError) as exc:
                raise MalformedResponse(f"{type(exc).__name__}: {exc}") from exc
            choice_logprobs, prompt_tokens, completion_tokens = completion_parts(body)
            prefix, tokens = prompt_logprobs(choice_logprobs, prompt_tokens, sparse=sparse)
            if self._config.prompt_logprobs_shifted:
                prefix, tokens = unshift_prompt_logprobs(prefix, tokens)
            return prefix, tokens, prompt_tokens or 0, completion_tokens

        (prefix, tokens, prompt_tokens, completion_tokens), retries, latency_s = await self._run(
            attempt, request.purpose, model
        )
        usage = self._usage(model, prompt_tokens, completion_tokens, latency_s, retries)
        self._account(request.purpose, usage)
        return PromptScoreResponse(tokens=tokens, usage=usage, unscored_prefix=prefix)

    def call_options(self, request: LLMRequest) -> dict[str, Any]:
        """The per-call keyword arguments handed to `ChatOpenAI.ainvoke` for `request`."""
        options: dict[str, Any] = {"temperature": request.temperature}
        if self._config.is_openai:
            # langchain-openai renames this to max_completion_tokens, which OpenAI requires.
            options["max_tokens"] = request.max_tokens
        else:
            # llama.cpp ignores max_completion_tokens; every compatible server honours max_tokens.
            # Sent only here, so the body never carries both caps.
            options["extra_body"] = {"max_tokens": request.max_tokens}
        if request.seed is not None:
            options["seed"] = request.seed
        if request.logprobs:
            options["logprobs"] = True
            if request.top_logprobs:
                options["top_logprobs"] = request.top_logprobs
        return options

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> OpenAIChatLLM:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _chat(self, model: str) -> ChatOpenAI:
        if model not in self._chats:
            self._chats[model] = ChatOpenAI(  # type: ignore[call-arg]  # pydantic's plugin knows its field names, not these aliases
                model=model,
                api_key=self._key,
                base_url=self._config.endpoint,
                use_responses_api=False,
                max_retries=0,
                timeout=self._config.timeout_s,
                http_async_client=self._http,
                async_client=self._chat_completions,
                cache=False,
            )
        return self._chats[model]

    async def _run(self, attempt: Callable[[], Awaitable[T]], purpose: Purpose, model: str) -> tuple[T, int, float]:
        try:
            return await run_with_retries(
                attempt,
                self._classify,
                config=self._config,
                limits=self._limits,
                log_fields={"purpose": purpose, "model": model},
                rng=self._rng,
                sleep=self._sleep,
            )
        except LLMError as err:
            if self._ledger is not None:
                self._ledger.record_failure(purpose, model, err)
            raise

    def _classify(self, exc: Exception) -> AttemptFailure | None:
        cause = None if self._mentions_key(exc) else exc
        if isinstance(exc, MalformedResponse | openai.APIResponseValidationError):
            return AttemptFailure(kind="malformed", retryable=True, detail=self._safe(str(exc)), cause=cause)
        if isinstance(exc, UnusableResponse):
            return AttemptFailure(kind="unusable", retryable=False, detail=self._safe(str(exc)), cause=cause)
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            return AttemptFailure(
                kind="status",
                retryable=status in _RETRYABLE_4XX or status >= 500,
                detail=self._safe(exc.response.text),
                status=status,
                retry_after_s=_retry_after_s(exc.response.headers),
                cause=cause,
            )
        if isinstance(exc, openai.APITimeoutError | TimeoutError):
            return AttemptFailure(kind="timeout", retryable=True, detail=f"no reply within {self._config.timeout_s:g} s")
        if isinstance(exc, openai.APIConnectionError):
            reason: BaseException = exc
            while reason.__cause__ is not None:  # the transport's own error says what happened
                reason = reason.__cause__
            detail = self._safe(f"{type(reason).__name__}: {reason}")
            return AttemptFailure(kind="connection", retryable=True, detail=detail, cause=cause)
        if isinstance(exc, openai.APIError):
            # Anything else the SDK reports (e.g. a context-window overflow) will fail the same way again.
            return AttemptFailure(kind="api", retryable=False, detail=self._safe(str(exc)), cause=cause)
        return None

    def _safe(self, text: str) -> str:
        """Server text fit for logs and errors: the key blanked out first, then truncated.

        In that order: truncating first could cut the key in two and let its head through.
        """
        secret = self._key.get_secret_value()
        if secret:
            text = text.replace(secret, "[redacted]")
        return text if len(text) <= _MAX_DETAIL_CHARS else text[:_MAX_DETAIL_CHARS] + "..."

    def _mentions_key(self, exc: BaseException) -> bool:
        """Whether the exception chain's text shows the key (then it must not be chained to an LLMError)."""
        secret = self._key.get_secret_value()
        link: BaseException | None = exc
        while link is not None:
            if secret in f"{link!s} {link!r}":
                return True
            link = link.__cause__ or link.__context__
        return False

    def _usage(self, model: str, prompt_tokens: int, completion_tokens: int, latency_s: float, retries: int) -> Usage:
        return Usage(
            model=model,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            latency_s=latency_s,
            cost_usd=self._cost(model, prompt_tokens, completion_tokens),
            retries=retries,
        )

    def _cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float:
        price = find_price(self._config.price_table, model)
        if price is not None:
            return cost_usd(price, prompt_tokens, completion_tokens)
        if self._config.is_openai and model not in self._unpriced_warned:
            self._unpriced_warned.add(model)
            log.warning("llm_price_unknown", model=model, hint="add it to the LLM config's prices; counted as $0")
        return 0.0

    def _account(self, purpose: Purpose, usage: Usage, **fields: object) -> None:
        log.info(
            "llm_call",
            purpose=purpose,
            model=usage.model,
            status="ok",
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            latency_s=round(usage.latency_s, 3),
            cost_usd=usage.cost_usd,
            retries=usage.retries,
            **fields,
        )
        if self._ledger is not None:
            self._ledger.record(purpose, usage)


class _PlainChatCompletions:
    """The SDK's `chat.completions` as `ChatOpenAI` calls it (`with_raw_response.create`), with raw
    responses that parse to the plain JSON body. `ChatOpenAI` dumps the SDK's typed completion
    straight back to a dict, and the SDK builds that typed object by validating every logprob of
    the answer as a pydantic model; a dict body is what `ChatOpenAI` reads anyway. Status errors are
    raised by the SDK as before. What it saves: bench/llm_client (against `plain_chat_bodies=False`,
    the public path); what it relies on: tests/llm/test_chat_body_contract.py."""

    def __init__(self, completions: AsyncCompletions) -> None:
        self.with_raw_response = _RawChatCompletions(completions)


class _RawChatCompletions:
    def __init__(self, completions: AsyncCompletions) -> None:
        self._completions = completions

    async def create(self, **payload: Any) -> _PlainBody:
        return _PlainBody(await self._completions.with_raw_response.create(**payload))


class _PlainBody:
    def __init__(self, raw: Any) -> None:  # the SDK's raw response (its class is not public)
        self.http_response = raw.http_response
        self.headers = raw.headers

    def parse(self) -> object:
        """The body as JSON (a non-JSON body raises ValueError: a malformed response)."""
        return self.http_response.json()


def _resolve_key(config: LLMConfig) -> SecretStr:
    if config.api_key is not None and config.api_key.get_secret_value():
        return config.api_key
    if not config.is_openai:
        return SecretStr(_DUMMY_KEY)
    raise LLMError(
        "no API key for api.openai.com: set OPENAI_API_KEY, or set base_url to use a local OpenAI-compatible server"
    )


def _to_langchain(message: Message) -> BaseMessage:
    if message.role == "system":
        return SystemMessage(content=message.content)
    if message.role == "assistant":
        return AIMessage(content=message.content)
    return HumanMessage(content=message.content)


def _retry_after_s(headers: Mapping[str, str]) -> float | None:
    """Retry-After in seconds; the HTTP-date form is rare from LLM servers and falls back to backoff."""
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None
