"""Short, human-readable summaries of a NeuronRecord (pure)."""

from __future__ import annotations

from tools.formats.openai import NeuronRecord


def top_tokens(record: NeuronRecord, n: int = 5) -> list[tuple[str, float]]:
    """The `n` distinct tokens with the highest activation anywhere in the top records (raw units)."""
    best: dict[str, float] = {}
    for rec in record.most_positive_activation_records:
        for token, value in zip(rec.tokens, rec.activations, strict=True):
            if value > best.get(token, float("-inf")):
                best[token] = value
    return sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))[:n]


def show_token(token: str) -> str:
    """A token made visible in a table: quoted, with whitespace escaped."""
    return repr(token)
