"""A preflight before the first paid call: one cheap call per role says whether the endpoint answers,
the key works, and the endpoint returns what the chosen simulator reads.

A refused key or an unknown model or path (401/403/404) would fail every neuron in turn, each paying
for its own failure; an endpoint without logprobs would fail every simulated record after the call.
Both stop the command here instead, after at most one call per role (simulator, then explainer when
it is another model). The same call asks the simulator model to write "10", which says whether its
tokenizer writes the top of the 0-10 scale as one token.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import prompts
from tools.errors import BadInputError
from tools.llm.protocol import (
    LLM,
    LLMError,
    LLMRequest,
    LLMResponse,
    PromptScorer,
    PromptScoreRequest,
    Purpose,
)

TOP_LOGPROBS = 15
"""What the logprob simulators ask for at every position (their default)."""
FATAL_STATUSES = frozenset({401, 403, 404})
"""Answers no retry and no other neuron can change: a refused key, a forbidden or unknown model or path."""
OUTPUT_TOKENS = 3

LOGPROB_METHODS = frozenset({"chat-logprob", "chat-logprob-numbered"})

JOURNAL_SCOPE = "preflight"
"""The call journal's scope of the preflight's answers: every command pays its own, apart from any neuron's."""


@dataclass(frozen=True)
class Preflight:
    """What the preflight found, and the simulator method it resolved."""

    method: str
    calls: int
    ten_is_one_token: bool | None
    """Whether the simulator model wrote "10" as one token (None: no logprobs to tell)."""


def _fatal(err: LLMError, purpose: Purpose, model: str, host: str) -> BadInputError:
    # The server's body is left out: some quote the key they were sent.
    return BadInputError(f"the endpoint {host} refused the {purpose} model {model!r} (HTTP {err.status}): check "
                         "OPENAI_API_KEY, --llm-base-url and --llm-explainer-model/--llm-simulator-model; nothing was run")


OnAnswer = Callable[[Purpose, LLMResponse], None]


async def _ask(llm: LLM, purpose: Purpose, model: str, host: str, logprobs: bool, on_answer: OnAnswer) -> LLMResponse | None:
    """The role's one call; None when it failed for a reason a neuron may still get past (5xx after retries)."""
    request = LLMRequest(purpose=purpose, messages=prompts.load("preflight").render(number="10"), max_tokens=OUTPUT_TOKENS,
                         logprobs=logprobs, top_logprobs=TOP_LOGPROBS if logprobs else 0)
    try:
        response = await llm.complete(request)
    except LLMError as err:
        if err.status in FATAL_STATUSES:
            raise _fatal(err, purpose, model, host) from None
        return None
    on_answer(purpose, response)
    return response


def _reads_logprobs(response: LLMResponse) -> bool:
    return bool(response.logprobs) and any(len(t.top) >= TOP_LOGPROBS for t in response.logprobs or [])


def _ten_is_one_token(response: LLMResponse) -> bool | None:
    digits = [t.token.strip() for t in response.logprobs or [] if t.token.strip()]
    return digits[0] == "10" if digits else None


async def preflight(llm: LLM, method: str, models: dict[Purpose, str], host: str, prompt_logprobs: bool,
                    on_answer: OnAnswer) -> Preflight:
    """Check the endpoint for `method` ("auto" resolves to what the endpoint offers; "builtin" needs
    only the explainer); raise BadInputError when it cannot serve the command. `on_answer` sees every
    paid answer (the run's ledger counts them)."""
    if method == "auto":
        method = "prompt-logprob" if prompt_logprobs and isinstance(llm, PromptScorer) else "chat-logprob"
    calls, ten = 0, None
    if method == "prompt-logprob" and isinstance(llm, PromptScorer):
        calls += 1
        await _score_prompt(llm, models["simulator"], host)
    elif method != "builtin":
        calls += 1
        answer = await _ask(llm, "simulator", models["simulator"], host, method in LOGPROB_METHODS, on_answer)
        if answer is not None and method in LOGPROB_METHODS:
            if not _reads_logprobs(answer):
                raise BadInputError(
                    f"the endpoint {host} returned no logprobs with {TOP_LOGPROBS} alternatives for {models['simulator']!r}: "
                    f"{method} reads its values from them; use --simulator chat-json (values written as text)")
            ten = _ten_is_one_token(answer)
    if method == "builtin" or models["explainer"] != models["simulator"]:
        calls += 1
        await _ask(llm, "explainer", models["explainer"], host, False, on_answer)
    return Preflight(method=method, calls=calls, ten_is_one_token=ten)


async def _score_prompt(llm: PromptScorer, model: str, host: str) -> None:
    try:
        scored = await llm.score_prompt(PromptScoreRequest(prompt="0 1 2 10", top_logprobs=TOP_LOGPROBS))
    except LLMError as err:
        if err.status in FATAL_STATUSES:
            raise _fatal(err, "simulator", model, host) from None
        raise BadInputError(f"the endpoint {host} did not score a prompt (HTTP {err.status}): prompt-logprob needs "
                            "prompt logprobs; use --simulator chat-logprob or --simulator chat-json") from None
    if not any(t.top for t in scored.tokens):
        raise BadInputError(f"the endpoint {host} returns no prompt logprobs: prompt-logprob cannot read its values; "
                            "use --simulator chat-logprob or --simulator chat-json")
