"""Wire-format logprobs -> protocol types. Pure functions over the JSON the servers return.

A shape these functions do not understand raises `MalformedResponse` (worth a retry: a proxy or an
overloaded server can garble one reply); an answer that is well formed but lacks what was asked
for raises `UnusableResponse` (retrying the same server will not help).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Any

from pydantic import TypeAdapter

from tools.llm.protocol import TokenLogprob

_TOKENS = TypeAdapter(list[TokenLogprob])
"""Wire values checked (a token is text, a logprob a number) and the tokens built in one pass."""

LOGPROB_FLOOR = -1e4
"""Natural log; exp(-1e4) is 0.0 in float64. Servers send -inf (or -9999) for impossible tokens; one
finite floor keeps every stored logprob valid JSON (the call journal, SQLite's json_extract)."""


class MalformedResponse(Exception):
    """The server's reply is not the JSON shape the OpenAI wire format promises."""


class UnusableResponse(Exception):
    """The reply is well formed but cannot serve the request."""


def _floored(logprob: Any) -> Any:
    """A wire logprob at or above `LOGPROB_FLOOR`; anything but a number is left for validation to refuse."""
    if isinstance(logprob, float) and math.isnan(logprob):
        raise MalformedResponse("a logprob is NaN")
    if isinstance(logprob, (int, float)) and not isinstance(logprob, bool) and logprob < LOGPROB_FLOOR:
        return LOGPROB_FLOOR
    return logprob


def _top(alternatives: Sequence[Any]) -> list[dict[str, Any]]:
    return [{"token": alt["token"], "logprob": _floored(alt["logprob"])} for alt in alternatives]


def chat_logprobs(raw: object) -> list[TokenLogprob] | None:
    """`choices[0].logprobs` of a chat completion; None when the server sent none."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise MalformedResponse(f"logprobs is a {type(raw).__name__}, not an object")
    content = raw.get("content")
    if content is None:
        return None
    if not isinstance(content, Sequence):
        raise MalformedResponse("logprobs.content is not a list")
    try:
        return _TOKENS.validate_python(
            [{"token": entry["token"], "logprob": _floored(entry["logprob"]), "top": _top(entry.get("top_logprobs") or [])}
             for entry in content]
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedResponse(f"unreadable logprobs.content entry: {type(exc).__name__}: {exc}") from exc


def prompt_logprobs(raw: object, n_prompt_tokens: int | None) -> tuple[str, list[TokenLogprob]]:
    """Prompt tokens from a legacy completion's `choices[0].logprobs` (echo=True).

    The echoed list holds the prompt's tokens followed by the generated one(s); the server's
    `usage.prompt_tokens` says where the prompt ends (BOS included on both sides). Returns the text
    of the unscored leading token(s) and the scored tokens.
    """
    if not isinstance(raw, Mapping) or not raw.get("tokens") or not raw.get("token_logprobs"):
        raise UnusableResponse("server does not return prompt logprobs")
    tokens: list[Any] = list(raw["tokens"])
    logprobs: list[Any] = list(raw["token_logprobs"])
    tops: list[Any] = list(raw.get("top_logprobs") or [None] * len(tokens))
    if not len(tokens) == len(logprobs) == len(tops):
        raise MalformedResponse(f"logprobs lists differ in length: {len(tokens)}, {len(logprobs)}, {len(tops)}")
    end = n_prompt_tokens if n_prompt_tokens is not None and 0 < n_prompt_tokens <= len(tokens) else len(tokens)
    prefix: list[str] = []
    scored: list[dict[str, Any]] = []
    try:
        for token, logprob, top in zip(tokens[:end], logprobs[:end], tops[:end], strict=True):
            if logprob is None:
                if scored:
                    raise MalformedResponse("a prompt token after the first scored one has no logprob")
                prefix.append(token)
                continue
            alternatives = sorted((top or {}).items(), key=lambda item: item[1], reverse=True)
            scored.append({"token": token, "logprob": _floored(logprob),
                           "top": [{"token": t, "logprob": _floored(lp)} for t, lp in alternatives]})
        tokens_scored = _TOKENS.validate_python(scored)
    except (AttributeError, TypeError, ValueError) as exc:
        raise MalformedResponse(f"unreadable prompt logprobs: {type(exc).__name__}: {exc}") from exc
    if not tokens_scored:
        raise UnusableResponse("server does not return prompt logprobs")
    return "".join(prefix), tokens_scored


def unshift_prompt_logprobs(prefix: str, tokens: Sequence[TokenLogprob]) -> tuple[str, list[TokenLogprob]]:
    """Prompt logprobs realigned for a server that pairs each prompt token with the distribution computed
    at its own position, i.e. the prediction of the *next* token (llama-cpp-python 0.3's echo).

    Token i's distribution is then the one reported with token i-1: the first scored token has none
    (it joins the unscored prefix) and the last reported distribution (of the text after the prompt)
    is dropped. A token's own logprob is read from that distribution; a token outside its top
    alternatives gets the least of them, an upper bound.
    """
    if not tokens:
        return prefix, []
    realigned: list[TokenLogprob] = []
    for before, token in pairwise(tokens):
        alternatives = {alt.token: alt.logprob for alt in before.top}
        logprob = alternatives.get(token.token, min(alternatives.values(), default=LOGPROB_FLOOR))
        realigned.append(TokenLogprob(token=token.token, logprob=logprob, top=before.top))
    return prefix + tokens[0].token, realigned
