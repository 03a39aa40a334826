import pytest
from pydantic import SecretStr, ValidationError

from tools.llm.config import LLMConfig
from tools.llm.pricing import DEFAULT_PRICES, ModelPrice, cost_usd, find_price


def test_models_per_purpose_fall_back_to_the_explainer() -> None:
    config = LLMConfig(explainer_model="e", simulator_model="s")
    assert [config.model_for(p) for p in ("explainer", "simulator", "prober", "reviser")] == ["e", "s", "e", "e"]
    assert LLMConfig(prober_model="p", reviser_model="r").model_for("reviser") == "r"


def test_the_key_stays_out_of_repr_and_dumps() -> None:
    config = LLMConfig(api_key=SecretStr("sk-test-PLANTED-123"))
    assert "PLANTED" not in repr(config)
    assert "PLANTED" not in config.model_dump_json()


@pytest.mark.parametrize(
    ("base_url", "is_openai"),
    [(None, True), ("https://api.openai.com/v1", True), ("http://127.0.0.1:8080/v1", False), ("http://localhost:11434/v1", False)],
)
def test_openai_proper_is_recognised(base_url: str | None, is_openai: bool) -> None:
    assert LLMConfig(base_url=base_url).is_openai is is_openai


def test_default_prices_apply_to_openai_only() -> None:
    assert LLMConfig().price_table == DEFAULT_PRICES
    assert LLMConfig(base_url="http://127.0.0.1:8080/v1").price_table == {}
    mine = {"local": ModelPrice(1.0, 2.0)}
    assert LLMConfig(base_url="http://127.0.0.1:8080/v1", prices=mine).price_table == mine


def test_prices_load_from_plain_lists() -> None:
    # As they arrive from TOML or JSON.
    config = LLMConfig.model_validate({"prices": {"m": [0.5, 1.5]}})
    assert config.price_table["m"] == ModelPrice(prompt_usd_per_mtok=0.5, completion_usd_per_mtok=1.5)


@pytest.mark.parametrize("field", ["timeout_s", "concurrency", "requests_per_minute"])
def test_limits_must_be_positive(field: str) -> None:
    with pytest.raises(ValidationError):
        LLMConfig(**{field: 0})


def test_dated_snapshots_cost_what_their_family_costs() -> None:
    prices = {"gpt-4o": ModelPrice(2.5, 10.0), "gpt-4o-mini": ModelPrice(0.15, 0.6)}
    assert find_price(prices, "gpt-4o-mini-2024-07-18") == prices["gpt-4o-mini"]
    assert find_price(prices, "gpt-4o-2024-08-06") == prices["gpt-4o"]
    assert find_price(prices, "gpt-4omni") is None
    assert cost_usd(ModelPrice(2.0, 8.0), 500_000, 250_000) == pytest.approx(1.0 + 2.0)
