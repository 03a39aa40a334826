"""Assemble the explainer and simulator a command uses: builtin, an LLM endpoint, or the local server."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from agent.params import refine_params
from agent.settings import Settings, prompt_logprobs_supported
from tools.builtin.explainer import BuiltinExplainer
from tools.builtin.simulator import BuiltinSimulator
from tools.builtin.vocab import VocabIndex
from tools.errors import BadInputError, RecordFileError
from tools.explainers.base import Explainer
from tools.explainers.llm_explainer import LLMExplainer
from tools.llm.config import LLMConfig
from tools.llm.ledger import UsageLedger
from tools.llm.pricing import ModelPrice
from tools.llm.protocol import LLM
from tools.simulators.base import Simulator
from tools.simulators.select import choose_llm_simulator
from tools.subject.base import SubjectModel

BackendName = Literal["builtin", "llm", "local"]


@dataclass
class Backend:
    name: BackendName
    explainer: Explainer
    simulator: Simulator
    ledger: UsageLedger
    llm: LLM | None = None
    vocab: VocabIndex | None = None
    description: dict[str, Any] = field(default_factory=dict)


def resolve_backend(settings: Settings) -> BackendName:
    if settings.backend != "auto":
        return settings.backend
    return "llm" if settings.llm_base_url or settings.llm_api_key else "builtin"


def _prices(settings: Settings) -> dict[str, ModelPrice] | None:
    if settings.llm_prices is None:
        return None
    try:
        table = json.loads(settings.llm_prices.read_text())
        return {str(model): ModelPrice(*map(float, pair)) for model, pair in table.items()}
    except (OSError, ValueError, TypeError, AttributeError) as err:
        raise RecordFileError(settings.llm_prices, f"not a price table {{model: [usd_per_1M_prompt, usd_per_1M_completion]}}: {err}") from None


def check_spending(settings: Settings, neurons: int) -> LLMConfig | None:
    """Refuse (BadInputError) when explaining `neurons` neurons could spend money unasked
    (agent/spending.py); the endpoint's config for the llm backend. Commands call it before any work."""
    from agent.spending import guard_spending

    name = resolve_backend(settings)
    config = llm_config(settings) if name == "llm" else None
    guard_spending(settings, name, config, refine_params(settings), neurons, refine=False, budgeted=False)
    return config


def llm_config(settings: Settings) -> LLMConfig:
    if settings.llm_base_url is None and settings.llm_api_key is None:
        raise BadInputError(
            "the llm backend needs an endpoint: set OPENAI_API_KEY for OpenAI, or --llm-base-url "
            "(REFINERY_LLM_BASE_URL) for an OpenAI-compatible server; or use --backend builtin"
        )
    return LLMConfig(
        base_url=settings.llm_base_url, api_key=settings.llm_api_key,
        explainer_model=settings.llm_explainer_model, simulator_model=settings.llm_simulator_model,
        timeout_s=settings.llm_timeout_s, max_retries=settings.llm_max_retries, concurrency=settings.llm_concurrency,
        requests_per_minute=settings.llm_rpm, prices=_prices(settings),
        prompt_logprobs_shifted=settings.llm_prompt_logprobs_shifted,
        prompt_logprob_offsets=settings.llm_prompt_logprob_offsets,
    )


_VOCABS: dict[str, VocabIndex] = {}


def vocab_for(subject: SubjectModel) -> VocabIndex:
    """The subject's vocabulary tables, built once per process (a few seconds for a 50k vocabulary)."""
    key = subject.info.tokenizer_sha256
    if key not in _VOCABS:
        _VOCABS[key] = VocabIndex.from_subject(subject)
    return _VOCABS[key]


def _simulator(settings: Settings, llm: LLM | None, subject: SubjectModel) -> tuple[Simulator, VocabIndex | None]:
    if settings.simulator == "builtin" or (settings.simulator == "auto" and llm is None):
        vocab = vocab_for(subject)
        return BuiltinSimulator(vocab), vocab
    if llm is None:
        raise BadInputError(f"--simulator {settings.simulator} needs an LLM backend (--backend llm or local)")
    method = settings.simulator  # not "builtin": that returned above
    return choose_llm_simulator(llm, method, prompt_logprobs_supported=prompt_logprobs_supported(settings)), None


@asynccontextmanager
async def open_backend(settings: Settings, subject: SubjectModel, ledger: UsageLedger | None = None,
                       neurons: int = 1) -> AsyncIterator[Backend]:
    """The backend for `settings` to explain `neurons` neurons; closes its client (and stops a local
    server) on exit. Refuses to start when `--backend auto` would spend money (agent/spending.py)."""
    name = resolve_backend(settings)
    config = check_spending(settings, neurons)
    ledger = ledger or UsageLedger()
    async with AsyncExitStack() as stack:
        llm: LLM | None = None
        description: dict[str, Any] = {"backend": name}
        if name in ("llm", "local"):
            from tools.llm.openai_client import OpenAIChatLLM

            config = local_config(settings, stack) if name == "local" else config or llm_config(settings)
            client = OpenAIChatLLM(config, ledger=ledger)
            stack.push_async_callback(client.aclose)
            llm = client
            description |= {"endpoint": config.endpoint, "explainer_model": config.explainer_model,
                            "simulator_model": config.simulator_model}
        simulator, vocab = _simulator(settings, llm, subject)
        words = settings.max_explanation_words
        explainer: Explainer = (LLMExplainer(llm, max_words=words) if llm is not None
                                else BuiltinExplainer(vocab or vocab_for(subject), max_words=words))
        description["simulator"] = simulator.method
        yield Backend(name, explainer, simulator, ledger, llm, vocab, description)


def local_config(settings: Settings, stack: AsyncExitStack) -> LLMConfig:
    from tools.llm.local_server import LocalServer, local_llm_config
    from tools.subject.smollm2 import ensure_gguf

    gguf = settings.local_gguf or ensure_gguf(settings.cache_dir)
    server = stack.enter_context(LocalServer(gguf, n_ctx=settings.local_n_ctx, n_threads=settings.local_threads))
    return local_llm_config(server.base_url, server.alias, timeout_s=max(settings.llm_timeout_s, 900.0))
