"""Which tokens a neuron responds to in its records, and what comes just before its strong responses.

A small LLM reading a dozen records token by token does not add up what they say: it names the
token of the strongest record ("words, most strongly blue") where the records show twelve colour
words, and it does not notice that every strong response follows " I" (issue 23's traces). These
sums are what the builtin backend's explanations are made of (its word candidates rank by the same
criterion), said in words a reviser can use. All values are 0-10 normalized by one common maximum
(docs/science.md#normalization), as everywhere else in a prompt.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from tools.formats.openai import ActivationRecord
from tools.prompting import escape_token
from tools.science.normalize import normalize_record

FIRES_AT = 3
"""A response of at least this (0-10) counts as the token firing."""
STRONG_AT = 5
"""A response of at least this (0-10) is a strong one, whose preceding token is counted."""


@dataclass(frozen=True)
class TokenResponse:
    token: str
    """The token without surrounding whitespace (a whitespace-only token as its escape, e.g. `\\n`)."""
    seen: int
    fired: int
    """Occurrences with a response of at least `FIRES_AT`."""
    mean: float
    """Mean response over its occurrences, 0-10."""


@dataclass(frozen=True)
class TokenDigest:
    strongest: list[TokenResponse]
    """Tokens whose mean response is above the overall mean, most telling first."""
    preceding: list[tuple[str, int]]
    """Tokens just before a strong response, most frequent first, with their counts."""
    strong: int
    """Strong responses (at least `STRONG_AT`) in all, of which `preceding` counts the previous tokens."""


def token_key(token: str) -> str:
    """How a token is named in a digest: whitespace around it does not count, a whitespace token is its escape."""
    return token.strip() or escape_token(token)


def token_digest(records: Sequence[ActivationRecord], max_activation: float, limit: int = 10) -> TokenDigest:
    """The digest of `records`, normalized by `max_activation` (raw units).

    Tokens rank by count × (mean − overall mean)², the share of the response's variance they could
    carry: a token seen once at 10 ranks below a word seen twenty times at 8. Only tokens with a mean
    of at least 1 are kept, at most `limit`; the previous tokens of strong responses, at most 4."""
    values: dict[str, list[int]] = defaultdict(list)
    before: dict[str, int] = defaultdict(int)
    strong = 0
    for record in records:
        normalized = normalize_record(record.activations, max_activation)
        for i, (token, value) in enumerate(zip(record.tokens, normalized, strict=True)):
            values[token_key(token)].append(value)
            if value >= STRONG_AT:
                strong += 1
                if i > 0:
                    before[token_key(record.tokens[i - 1])] += 1
    total = sum(len(v) for v in values.values())
    base = sum(sum(v) for v in values.values()) / total if total else 0.0
    ranked = sorted(
        ((len(v) * (sum(v) / len(v) - base) ** 2, key, v) for key, v in values.items() if sum(v) / len(v) >= max(1.0, base)),
        key=lambda item: (-item[0], item[1]))
    strongest = [TokenResponse(key, len(v), sum(x >= FIRES_AT for x in v), sum(v) / len(v)) for _, key, v in ranked[:limit]]
    preceding = sorted(before.items(), key=lambda item: (-item[1], item[0]))[:4]
    return TokenDigest(strongest, preceding, strong)


def digest_lines(digest: TokenDigest) -> str:
    """The digest as prompt lines: one per strong token, then where the strong responses come."""
    if not digest.strongest:
        return "(the neuron does not respond in these texts)"
    lines = [f'- "{t.token}": {t.mean:.1f} on average, fired {t.fired} of {t.seen} times' for t in digest.strongest]
    if digest.preceding:
        shown = ", ".join(f'"{token}" ({count})' for token, count in digest.preceding)
        responses = "response" if digest.strong == 1 else "responses"
        lines.append(f"Just before its {digest.strong} strong {responses} ({STRONG_AT} or more) came: {shown}.")
    return "\n".join(lines)
