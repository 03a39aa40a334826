"""The budget's per-call reservation is a true upper bound of real usage, and the cost estimate that
`--backend auto` shows is an upper bound of what a neuron really costs.

Real usage needs a real tokenizer: the loopback server bills every call as a provider would
(tests/support/usage.py), counting with a byte-level BPE tokenizer available offline: SmolLM2's
(49k pieces, the real subject's; it splits numbers into digits, so it counts our `token<TAB>value`
lines at least as high as OpenAI's tokenizers do) and the tiny test model's (2k pieces: far more
tokens per text than any production tokenizer). Calls go through the real HTTP client.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from agent.params import refine_params
from agent.spending import estimate_cost, estimator_for, price_of
from bench.support.brain import brain_behaviour
from bench.support.chat_server import ChatServer, Respond
from tests.agent.conftest import refine, tiny_settings
from tests.support.usage import billed, tokenizer_count
from tools.llm.config import LLMConfig
from tools.llm.openai_client import OpenAIChatLLM
from tools.llm.pricing import ModelPrice
from tools.llm.protocol import LLM, LLMRequest, LLMResponse, Usage

PRICES = {"gpt-4o-mini": ModelPrice(0.15, 0.60)}


class Recorder:
    """The real client, with each call's reservation next to the usage the server billed."""

    def __init__(self, inner: LLM, estimate: Any) -> None:
        self.inner, self.estimate = inner, estimate
        self.calls: list[tuple[LLMRequest, float, int, Usage]] = []

    async def complete(self, request: LLMRequest) -> LLMResponse:
        usd, tokens = self.estimate(request)
        response = await self.inner.complete(request)
        self.calls.append((request, usd, tokens, response.usage))
        return response


def _tokenizer(name: str) -> Any:
    if name == "tiny-bpe":
        from tools.subject.tiny import tiny_tokenizer

        return tiny_tokenizer()
    from transformers import AutoTokenizer

    from agent.settings import default_cache_dir
    from tools.subject import smollm2

    directory = smollm2.model_dir(default_cache_dir())
    if not smollm2.is_converted(directory):
        message = f"SmolLM2-135M is not set up in {default_cache_dir()}; run `make assets`"
        if os.environ.get("REFINERY_REQUIRE_ASSETS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return AutoTokenizer.from_pretrained(directory, local_files_only=True)


@pytest.mark.parametrize("tokenizer", [pytest.param("smollm2", marks=pytest.mark.model), "tiny-bpe"])
async def test_reservations_bound_real_usage_and_the_estimate_bounds_a_neuron(
    tokenizer: str, tmp_path: Path, session_cache: Path,
) -> None:
    count = tokenizer_count(_tokenizer(tokenizer))
    settings = tiny_settings(tmp_path, session_cache, max_iters=2, patience=5, n_explanations=2)
    with ChatServer(default=Respond(billed(brain_behaviour('the token " object"'), count))) as server:
        config = LLMConfig(base_url=server.base_url, max_retries=0, prices=PRICES)
        estimate = estimator_for(price_of(config), config.model_for)
        async with OpenAIChatLLM(config) as client:
            recorder = Recorder(client, estimate)
            [final] = await refine(settings, [(1, 3)], llm=recorder, estimator=estimate)
    assert final["status"] == "ok" and final["iterations"] == 2, final
    assert {request.purpose for request, *_ in recorder.calls} == {"explainer", "simulator", "prober", "reviser"}
    for request, usd, tokens, usage in recorder.calls:
        assert tokens >= usage.total_tokens, (request.purpose, tokens, usage)
        assert usd >= usage.cost_usd > 0, (request.purpose, usd, usage)

    # The check has teeth: the former estimate, prompt characters / 3 + 8 and the cap, fell short of
    # real usage on the prompts made of `token<TAB>value` lines.
    def former(request: LLMRequest) -> int:
        return sum(len(m.content) for m in request.messages) // 3 + 8 + request.max_tokens

    short = {request.purpose for request, _, _, usage in recorder.calls if former(request) < usage.total_tokens}
    assert short & {"explainer", "reviser"}, "usage this low cannot tell a bound from a guess"

    # What `--backend auto` would have shown for this neuron bounds what it really cost.
    bound = estimate_cost(settings, refine_params(settings), estimate, neurons=1, job="refine")
    assert bound.usd_per_neuron >= sum(usage.cost_usd for *_, usage in recorder.calls)
    assert bound.tokens_per_neuron >= sum(usage.total_tokens for *_, usage in recorder.calls)
    assert bound.calls_per_neuron >= len(recorder.calls)


def test_the_estimate_counts_the_llm_judge_and_the_output_hint_when_asked() -> None:
    """`--judge llm`: both held-out explanations, detection and fuzzing, 5 texts a prompt (10 held-out records: 8
    calls); the hint makes every explainer prompt longer."""
    from agent.settings import Settings
    from agent.spending import neuron_requests

    plain = Settings(backend="llm", llm_base_url="http://127.0.0.1:9/v1", top_k=50, n_random=50)
    judged = plain.model_copy(update={"judge": "llm", "explain_output_hint": True})
    before, after = (neuron_requests(s, refine_params(s), job="refine") for s in (plain, judged))
    assert len(after) - len(before) == 8
    explain = [next(r for r in requests if isinstance(r, LLMRequest) and r.purpose == "explainer") for requests in (before, after)]
    assert "Hint:" in explain[1].messages[-1].content and "Hint:" not in explain[0].messages[-1].content
