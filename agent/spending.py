"""Money safety, checked before a command does any work.

- A dollar budget is only as good as the price table: a budget with a model that has no price
  would count $0 per call and never stop, so such a command refuses to start and names
  `--llm-prices`.
- `--backend auto` never spends money on its own: with OPENAI_API_KEY set and no dollar budget it
  refuses, showing what the command could cost (an upper estimate, from the same per-call
  estimator the budget reserves with) and how to set `--budget-usd`.

The local llama.cpp backend (`--backend local`) is our own server: free, never checked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from agent.settings import Settings, prompt_logprobs_supported
from graphs.context import RefineParams
from tools.errors import BadInputError
from tools.explainers.llm_explainer import LLMExplainer, explain_messages
from tools.explainers.output_hint import HINT_TOKENS
from tools.formats.openai import ActivationRecord
from tools.llm.budget import Estimator
from tools.llm.config import LLMConfig
from tools.llm.pricing import cost_usd, find_price
from tools.llm.protocol import LLMError, LLMRequest, LLMResponse, PromptScoreRequest, Purpose
from tools.llm_judge import PER_PROMPT, judge_messages
from tools.probes.llm_prober import LLMProber, probe_messages
from tools.probes.types import Counterexample, ProbeRequest
from tools.records.splits import Split, split_indices
from tools.revisers.base import RevisionContext
from tools.revisers.llm_reviser import LLMReviser, revise_messages
from tools.science.classification import Excerpt
from tools.simulators.chat_logprob import ChatLogprobSimulator
from tools.simulators.prompt_logprob import PromptLogprobSimulator
from tools.simulators.rendering import all_at_once_prompt
from tools.simulators.select import choose_llm_simulator

Price = Callable[[str, int, int], float]

MESSAGE_OVERHEAD_TOKENS = 8
"""Tokens a chat format adds per message and to prime the reply (OpenAI counts 3 each; ChatML-style
templates about 5): 8 is above all of them."""


def prompt_tokens_bound(texts: Iterable[str]) -> int:
    """An upper bound of the tokens of `texts` as one prompt: their UTF-8 bytes, plus the chat format's
    overhead. Every byte-level BPE tokenizer (GPT-2, OpenAI's cl100k/o200k, Llama 3, Qwen, SmolLM2) and
    every SentencePiece one with byte fallback spends at least one byte per token, so no tokenizer of
    these families counts more. Characters / 3 is not a bound: the `token<TAB>value` lines of our
    prompts run at about 2 characters per token (tests/agent/test_estimate.py measures it)."""
    pieces = list(texts)
    return sum(len(text.encode("utf-8")) for text in pieces) + MESSAGE_OVERHEAD_TOKENS * (len(pieces) + 1)


def estimator_for(prices: Price, model_for: Callable[[Purpose], str]) -> Estimator:
    """Upper bound of a call's (usd, tokens): `prompt_tokens_bound` in, the output cap out.

    Loose for prose (about 4 bytes a token), and that costs only headroom: a reservation is released
    when its call settles at the real usage, so only a budget's last few calls are refused early."""

    def estimate(request: LLMRequest | PromptScoreRequest) -> tuple[float, int]:
        if isinstance(request, LLMRequest):
            prompt = prompt_tokens_bound(m.content for m in request.messages)
            completion = request.max_tokens
        else:
            prompt, completion = prompt_tokens_bound([request.prompt]), 1
        return prices(model_for(request.purpose), prompt, completion), prompt + completion

    return estimate


Job = Literal["score", "explain", "refine"]
"""What a command does to each neuron, which sets the calls it can make: `score` simulates the held-out
split (and asks the judge), `explain` also chooses a one-shot explanation, `refine` also runs the loop."""

_TOKEN = " word"
"""The token of the synthetic records the estimate is built from: 5 characters, above the ~4 of an
average English BPE token, so the estimate errs high."""
_EXPLANATION = "words " * 30
"""A 180-character explanation: longer than most."""
_PROBE_TOKENS = 96
"""LLM-written probes are cut to this many tokens (graphs/nodes.py)."""


def price_of(config: LLMConfig) -> Price:
    """USD of a call by model and token counts; $0 for a model the table does not price."""
    table = config.price_table

    def price(model: str, prompt: int, completion: int) -> float:
        found = find_price(table, model)
        return cost_usd(found, prompt, completion) if found else 0.0

    return price


def unpriced_models(config: LLMConfig) -> list[str]:
    models = sorted({config.model_for(p) for p in ("explainer", "simulator", "prober", "reviser")})
    return [m for m in models if find_price(config.price_table, m) is None]


def require_prices(settings: Settings, config: LLMConfig) -> None:
    """Refuse a dollar budget that could not be enforced: some model of the endpoint has no price."""
    budget = next((f"{flag} {value:g}" for flag, value in (("--budget-usd", settings.budget_usd),
                                                            ("--per-neuron-usd", settings.per_neuron_usd)) if value is not None), None)
    missing = unpriced_models(config)
    if budget is None or not missing:
        return
    names = ", ".join(repr(m) for m in missing)
    example = ", ".join(f'"{m}": [0.15, 0.60]' for m in missing)
    raise BadInputError(
        f"{budget} cannot be enforced: no price for {names} at {config.endpoint}, so every call would count as $0. "
        f"Give the prices with --llm-prices FILE (REFINERY_LLM_PRICES), a JSON file of USD per 1M prompt and completion "
        f"tokens, e.g. {{{example}}} ([0, 0] for a free local server), or budget tokens instead (--budget-tokens)."
    )


@dataclass(frozen=True)
class CostEstimate:
    """An upper estimate of what a command's LLM calls cost, reserved as the budget would reserve them."""

    neurons: int
    calls_per_neuron: int
    tokens_per_neuron: int
    usd_per_neuron: float

    @property
    def usd(self) -> float:
        return self.usd_per_neuron * self.neurons

    @property
    def tokens(self) -> int:
        return self.tokens_per_neuron * self.neurons


class _Unused:
    """Stands in for the LLM where only request building is used; any call is a bug."""

    async def complete(self, request: LLMRequest) -> LLMResponse:
        raise LLMError("the cost estimate makes no call")


def _record(n_tokens: int) -> ActivationRecord:
    return ActivationRecord(tokens=[_TOKEN] * n_tokens, activations=[float(i % 7) for i in range(n_tokens)])


def split_sizes(settings: Settings) -> dict[Split, int]:
    """Records per split for the configured records (top_k top records, n_random random ones)."""
    def size(split: Split) -> int:
        idx = split_indices(split, settings.top_k, settings.n_random, settings.records_per_split)
        return len(idx.top) + len(idx.random)

    return {split: size(split) for split in Split}


def neuron_requests(settings: Settings, params: RefineParams, job: Job) -> list[LLMRequest | PromptScoreRequest]:
    """The most LLM requests one neuron's `job` can make (every round run, every probe simulated), built
    by the same code that builds the real ones, on synthetic records of the configured length."""
    llm = _Unused()
    sizes = split_sizes(settings)
    n_tokens = settings.excerpt_tokens
    record = _record(n_tokens)
    method = settings.simulator
    simulator = None if method == "builtin" else choose_llm_simulator(
        llm, method, prompt_logprobs_supported=prompt_logprobs_supported(settings))

    def simulate(n_records: int, length: int = n_tokens) -> list[LLMRequest | PromptScoreRequest]:
        tokens = [_TOKEN] * length
        one: LLMRequest | PromptScoreRequest
        if simulator is None:
            return []  # the builtin simulator is free
        if isinstance(simulator, PromptLogprobSimulator):
            one = PromptScoreRequest(prompt=all_at_once_prompt(_EXPLANATION, tokens).text)
        else:
            # One record per request: simulators that batch records ask for less, so this errs high.
            build = getattr(simulator, "request", ChatLogprobSimulator(llm).request)
            one = build(_EXPLANATION, [tokens])
        return [one] * n_records

    def judge(explanations: int) -> list[LLMRequest | PromptScoreRequest]:
        """`--judge llm`: detection and fuzzing of each explanation's held-out texts, `PER_PROMPT` to a request."""
        if params.judge != "llm":
            return []
        texts = sizes[Split.HELDOUT]
        items = [Excerpt(record.tokens, True, list(range(n_tokens)))] * min(texts, PER_PROMPT)
        one = LLMRequest(purpose="simulator", messages=judge_messages("fuzzing", _EXPLANATION, items), max_tokens=8 * len(items) + 16)
        return [one] * (2 * -(-texts // PER_PROMPT) * explanations)

    if job == "score":
        return simulate(sizes[Split.HELDOUT]) + judge(1)
    train = [record] * sizes[Split.TRAIN]
    explainer = LLMExplainer(llm)
    requests: list[LLMRequest | PromptScoreRequest] = [
        LLMRequest(purpose="explainer", messages=explain_messages(train, promoted=[_TOKEN] * HINT_TOKENS if params.explain_output_hint else None,
                                                                   digest=train if params.explain_digest else None),
                   max_tokens=explainer.max_tokens)
    ] * params.n_explanations
    requests += simulate(params.n_explanations * sizes[Split.SELECTION] * 2)  # selection = valid + calibration
    if job == "explain":
        return requests + simulate(sizes[Split.HELDOUT]) + judge(1)
    k = params.probes_per_generator
    prober, reviser = LLMProber(llm), LLMReviser(llm)
    counterexample = Counterexample(kind="false_negative", generator="corpus-fresh", text="", tokens=record.tokens,
                                    real=record.activations, predicted=[0.0] * n_tokens, offending=[0, 1, 2], error=10.0)
    history: list[tuple[str, float | None]] = [(_EXPLANATION, 0.5)] * params.max_iters
    context = RevisionContext(explanation=_EXPLANATION, score=0.5, best_records=[record] * 3, worst_records=[record] * 3,
                              counterexamples=[counterexample] * params.counterexamples, train=train,
                              max_activation=6.0, history=history)
    probe = LLMRequest(purpose="prober", max_tokens=prober.max_tokens, messages=probe_messages(
        ProbeRequest(explanation=_EXPLANATION, examples=[(record.tokens, [5] * n_tokens)] * 2, per_kind=k)))
    revise = LLMRequest(purpose="reviser", messages=revise_messages(context), max_tokens=reviser.max_tokens)
    # Probes simulated per round: the LLM's three kinds, builtin, record edits, fresh excerpts, continuations.
    per_round = [probe, *[revise] * params.n_revisions, *simulate(params.n_revisions * sizes[Split.SELECTION] * 2),
                 *simulate(3 * k, min(_PROBE_TOKENS, n_tokens)),
                 *simulate(2 * k + params.fresh_excerpts(k, simulator.method if simulator else "builtin-lexical") + (k + 1) // 2)]
    return requests + per_round * params.max_iters + simulate(2 * sizes[Split.HELDOUT]) + judge(2)


def estimate_cost(settings: Settings, params: RefineParams, estimate: Estimator, neurons: int, job: Job) -> CostEstimate:
    requests = neuron_requests(settings, params, job)
    costs = [estimate(r) for r in requests]
    return CostEstimate(neurons=neurons, calls_per_neuron=len(requests), tokens_per_neuron=sum(t for _, t in costs),
                        usd_per_neuron=sum(u for u, _ in costs))


def dollars(usd: float) -> str:
    return f"${usd:,.2f}" if usd >= 0.01 else f"${usd:.4f}"


def guard_spending(settings: Settings, backend: str, config: LLMConfig | None, params: RefineParams, neurons: int,
                   job: Job, budgeted: bool) -> None:
    """Refuse to start a command that could spend money it was not told it may spend.

    `budgeted`: the command enforces --budget-usd/--per-neuron-usd (refine, sweep); `explain` and
    `demo` do not, so under `--backend auto` they refuse whenever a key is set."""
    if params.judge == "llm" and backend == "builtin":
        raise BadInputError("--judge llm needs an LLM to ask: use --backend llm (an endpoint) or --backend local")
    if backend != "llm" or config is None:
        return
    if budgeted:
        require_prices(settings, config)
    has_budget = budgeted and (settings.budget_usd is not None or settings.per_neuron_usd is not None)
    if settings.backend != "auto" or settings.llm_api_key is None or has_budget:
        return
    cost = estimate_cost(settings, params, estimator_for(price_of(config), config.model_for), neurons, job)
    missing = unpriced_models(config)
    priced = (f"at the prices of {', '.join(sorted({config.model_for('explainer'), config.model_for('simulator')}))}"
              + (f"; no price for {', '.join(missing)}, counted as $0 (give --llm-prices)" if missing else ""))
    what = (f"up to ~{dollars(cost.usd)} ({cost.neurons} neuron{'s' if cost.neurons != 1 else ''} x at most "
            f"{cost.calls_per_neuron:,} calls and {cost.tokens_per_neuron:,} tokens, {dollars(cost.usd_per_neuron)} each, {priced})")
    if budgeted:
        how = (f"Set a dollar budget, e.g. --budget-usd {max(cost.usd, 0.01):.2f} for the whole command or --per-neuron-usd "
               f"{max(cost.usd_per_neuron, 0.01):.2f} per neuron (REFINERY_BUDGET_USD, REFINERY_PER_NEURON_USD); or pass "
               "--backend llm to spend without a budget")
    else:
        how = "This command enforces no budget: pass --backend llm to accept the cost"
    raise BadInputError(
        f"--backend auto would spend money: OPENAI_API_KEY is set and no dollar budget is. This command could cost {what}. "
        f"{how}, or --backend builtin to run free and offline."
    )

