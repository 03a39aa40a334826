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

from tools.llm.protocol import TokenLogprob, TopLogprob

LOGPROB_FLOOR = -1e4
"""Natural log; exp(-1e4) is 0.0 in float64. Servers send -inf (or -9999) for impossible tokens; one
finite floor keeps every stored logprob valid JSON (the call journal, SQLite's json_extract)."""


class MalformedResponse(Exception):
    """The server's reply is not the JSON shape the OpenAI wire format promises."""


class UnusableResponse(Exception):
    """The reply is well formed but cannot serve the request."""


# Checked by hand, not by a pydantic adapter: an answer holds hundreds of tokens with up to 20
# alternatives each, and validating them as models would be most of the client's CPU per prompt
# scoring (bench/llm_client).
def _logprob(value: Any) -> float:
    """A wire logprob as a float at or above `LOGPROB_FLOOR`; NaN and anything but a number are malformed."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise MalformedResponse(f"a logprob is {value!r}, not a number"[:200])
    if math.isnan(value):
        raise MalformedResponse("a logprob is NaN")
    return LOGPROB_FLOOR if value < LOGPROB_FLOOR else float(value)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise MalformedResponse(f"a token is {value!r}, not text"[:200])
    return value


def _top(alternatives: Sequence[Any]) -> list[TopLogprob]:
    return [TopLogprob(token=_text(alt["token"]), logprob=_logprob(alt["logprob"])) for alt in alternatives]


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
        return [TokenLogprob(token=_text(entry["token"]), logprob=_logprob(entry["logprob"]), top=_top(entry.get("top_logprobs") or []))
                for entry in content]
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedResponse(f"unreadable logprobs.content entry: {type(exc).__name__}: {exc}") from exc


def completion_parts(body: object) -> tuple[object, int | None, int]:
    """`choices[0].logprobs`, `usage.prompt_tokens` (None when absent) and `usage.completion_tokens`
    of a legacy completion's JSON body."""
    if not isinstance(body, Mapping):
        raise MalformedResponse(f"not a completion: {str(body)[:100]!r}")
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        raise MalformedResponse(f"not a completion: {str(body)[:100]!r}")
    usage = body.get("usage")
    usage = usage if isinstance(usage, Mapping) else {}
    prompt_tokens, completion_tokens = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if not isinstance(prompt_tokens, int | None) or not isinstance(completion_tokens, int | None):
        raise MalformedResponse(f"usage counts are not integers: {dict(usage)!r}"[:200])
    return choices[0].get("logprobs"), prompt_tokens, completion_tokens or 0


def prompt_logprobs(raw: object, n_prompt_tokens: int | None, *, sparse: bool = False) -> tuple[str, list[TokenLogprob]]:
    """Prompt tokens from a legacy completion's `choices[0].logprobs` (echo=True).

    The echoed list holds the prompt's tokens followed by the generated one(s); the server's
    `usage.prompt_tokens` says where the prompt ends (BOS included on both sides). Returns the text
    of the unscored leading token(s) and the scored tokens. With `sparse` (the request named the
    offsets it reads) a token after the first scored one may have no logprob: it keeps `logprob=None`.
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
    scored: list[TokenLogprob] = []
    try:
        for token, logprob, top in zip(tokens[:end], logprobs[:end], tops[:end], strict=True):
            if logprob is None:
                if not scored:
                    prefix.append(_text(token))
                    continue
                if not sparse:
                    raise MalformedResponse("a prompt token after the first scored one has no logprob")
                scored.append(TokenLogprob(token=_text(token), logprob=None))
                continue
            alternatives = sorted((top or {}).items(), key=lambda item: item[1], reverse=True)
            scored.append(TokenLogprob(token=_text(token), logprob=_logprob(logprob),
                                       top=[TopLogprob(token=_text(t), logprob=_logprob(lp)) for t, lp in alternatives]))
    except (AttributeError, TypeError, ValueError) as exc:
        raise MalformedResponse(f"unreadable prompt logprobs: {type(exc).__name__}: {exc}") from exc
    if not scored:
        raise UnusableResponse("server does not return prompt logprobs")
    return "".join(prefix), scored


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
