"""Price table lookups and the cost of one call. Pure: no I/O, no logging."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple


class ModelPrice(NamedTuple):
    """USD per one million tokens, prompt and completion priced separately."""

    prompt_usd_per_mtok: float
    completion_usd_per_mtok: float


# OpenAI list prices (standard tier, USD per 1M tokens) as published in 2025. Override them in
# the config when they change: a stale table misreports spend, it never blocks a call.
DEFAULT_PRICES: dict[str, ModelPrice] = {
    "gpt-4o-mini": ModelPrice(0.15, 0.60),
    "gpt-4o": ModelPrice(2.50, 10.00),
    "gpt-4.1": ModelPrice(2.00, 8.00),
    "gpt-4.1-mini": ModelPrice(0.40, 1.60),
    "gpt-4.1-nano": ModelPrice(0.10, 0.40),
}


def find_price(prices: Mapping[str, ModelPrice], model: str) -> ModelPrice | None:
    """The price of `model`, falling back to its undated family name.

    OpenAI also serves dated snapshots ("gpt-4o-mini-2024-07-18"); they cost what their family
    costs, so the longest table key that prefixes the name (followed by "-") is used.
    """
    if model in prices:
        return prices[model]
    families = [name for name in prices if model.startswith(name + "-")]
    return prices[max(families, key=len)] if families else None


def cost_usd(price: ModelPrice, prompt_tokens: int, completion_tokens: int) -> float:
    return (prompt_tokens * price.prompt_usd_per_mtok + completion_tokens * price.completion_usd_per_mtok) / 1e6
