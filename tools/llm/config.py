"""Configuration of the real LLM client: endpoint, models per purpose, limits, retries, prices."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from tools.llm.pricing import DEFAULT_PRICES, ModelPrice
from tools.llm.protocol import Purpose

OPENAI_BASE_URL = "https://api.openai.com/v1"


class LLMConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str | None = Field(
        None,
        description="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8080/v1 (vLLM, llama.cpp, Ollama); None = OpenAI itself.",
    )
    api_key: SecretStr | None = Field(
        None, description="API key (the caller fills it from OPENAI_API_KEY); optional when base_url is set."
    )
    explainer_model: str = Field("gpt-4o-mini", description="Model that writes explanations.")
    simulator_model: str = Field("gpt-4o-mini", description="Model that predicts activations from an explanation.")
    prober_model: str | None = Field(None, description="Model that proposes counterexamples; None = explainer_model.")
    reviser_model: str | None = Field(None, description="Model that revises explanations; None = explainer_model.")
    timeout_s: float = Field(60.0, gt=0, description="Deadline of one attempt, seconds.")
    max_retries: int = Field(5, ge=0, description="Retries after the first failed attempt (attempts = max_retries + 1).")
    backoff_base_s: float = Field(0.5, ge=0, description="First backoff ceiling, seconds; doubles per retry (full jitter).")
    backoff_max_s: float = Field(30.0, ge=0, description="Largest wait between attempts, seconds; also caps Retry-After.")
    concurrency: int = Field(8, ge=1, description="Most requests in flight at once (per client).")
    requests_per_minute: float | None = Field(None, gt=0, description="Request rate cap, requests per minute; None = unlimited.")
    prompt_logprobs_shifted: bool = Field(
        False,
        description="The server's echoed prompt logprobs pair each token with the prediction of the next one "
        "(llama-cpp-python 0.3): score_prompt realigns them.",
    )
    prompt_logprob_offsets: bool = Field(
        False,
        description="The server scores only the prompt tokens a request names (`logprob_offsets`, an extension "
        "that neuron-refinery's local server reads); off for every other server, which would reject it.",
    )
    prices: dict[str, ModelPrice] | None = Field(
        None,
        description="Model name -> (USD per 1M prompt tokens, USD per 1M completion tokens); unlisted models cost $0. "
        "None = OpenAI's list prices for OpenAI itself, and no prices (all $0) for a custom base_url.",
    )

    @property
    def is_openai(self) -> bool:
        """True when talking to OpenAI itself (priced, keyed), not a local compatible server."""
        return self.base_url is None or urlsplit(self.base_url).hostname == urlsplit(OPENAI_BASE_URL).hostname

    @property
    def price_table(self) -> dict[str, ModelPrice]:
        # Local servers answer to any model name (llama.cpp ignores it), so a default "gpt-4o-mini"
        # against localhost must not be billed at OpenAI's prices.
        if self.prices is not None:
            return self.prices
        return dict(DEFAULT_PRICES) if self.is_openai else {}

    @property
    def endpoint(self) -> str:
        # Explicit, so OPENAI_BASE_URL in the environment cannot silently redirect "OpenAI proper".
        return self.base_url or OPENAI_BASE_URL

    @property
    def endpoint_host(self) -> str:
        """The endpoint's host: what tells two endpoints apart in caches and run folders (never the key,
        nor credentials in the URL). Not the port: a local server restarted on another port is the
        same endpoint, and its model name still tells two models apart."""
        return str(urlsplit(self.endpoint).hostname)

    def model_for(self, purpose: Purpose) -> str:
        models: dict[Purpose, str] = {
            "explainer": self.explainer_model,
            "simulator": self.simulator_model,
            "prober": self.prober_model or self.explainer_model,
            "reviser": self.reviser_model or self.explainer_model,
        }
        return models[purpose]
