"""The one backend factory: what explains, simulates, revises and probes a command's neurons, from settings.

`open_backend` opens what a command shares (`Backend`): the LLM client of `--backend llm` or
`local` (the local server started and stopped with it), an injected model in tests and benchmarks,
or none for the builtin backend. On it:
- `Backend.roles` builds the explainer, simulator, reviser and prober (builtin ones on the subject's
  vocabulary when there is no LLM);
- `Backend.for_neuron` builds one neuron's roles with its trace and budget, their LLM calls going
  through the budget, the run's call journal (`RunBooks`) and the trace;
- `Backend.simulator` builds a simulator of another method on the same client (benchmarks score with
  both simulators).
Every command and benchmark builds its backend here. Opening spends nothing: a command checks what it
may spend first (`check_spending`, `agent/spending.py`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, cast, get_args

import structlog

from agent.params import refine_params
from agent.settings import Settings, prompt_logprobs_supported
from agent.spending import Job, estimator_for, guard_spending, price_of
from agent.traced_llm import TracedLLM
from graphs.trace import AnswersDiscarded, TraceEvent, TraceWriter, trace_path
from tools.builtin.explainer import BuiltinExplainer
from tools.builtin.reviser import BuiltinReviser
from tools.builtin.simulator import BuiltinSimulator
from tools.builtin.vocab import VocabIndex
from tools.errors import BadInputError, RecordFileError
from tools.explainers.base import Explainer
from tools.explainers.llm_explainer import LLMExplainer, PromotedTokens
from tools.explainers.sampling import OnDiscarded
from tools.llm.budget import Budget, BudgetedLLM, BudgetExhausted, BudgetLimits, Estimator, ParentBudget
from tools.llm.config import LLMConfig
from tools.llm.journal import CallJournal, JournaledLLM
from tools.llm.ledger import UsageLedger
from tools.llm.preflight import AUTO_ORDER, JOURNAL_SCOPE, preflight
from tools.llm.pricing import ModelPrice
from tools.llm.protocol import LLM, LLMResponse, PromptScoreResponse, Purpose
from tools.probes.llm_prober import LLMProber
from tools.probes.types import Prober
from tools.revisers.base import Reviser
from tools.revisers.llm_reviser import LLMReviser
from tools.simulators.base import Simulator
from tools.simulators.memo import MemoizedSimulator
from tools.simulators.select import LLMSimulatorMethod, choose_llm_simulator
from tools.subject.base import SubjectModel

log = structlog.get_logger(__name__)

BackendName = Literal["builtin", "llm", "local"]
SimulatorMethod = LLMSimulatorMethod | Literal["builtin"]


def resolve_backend(settings: Settings, llm: LLM | None = None) -> BackendName:
    """The backend the settings name (`auto`: an LLM when an endpoint or key is set); an injected model is
    `llm`. Refuses an LLM simulator without an LLM."""
    if llm is not None:
        return "llm"
    name: BackendName
    if settings.backend != "auto":
        name = settings.backend
    else:
        name = "llm" if settings.llm_base_url or settings.llm_api_key else "builtin"
    if name == "builtin" and settings.simulator not in ("auto", "builtin"):
        raise BadInputError(f"--simulator {settings.simulator} needs an LLM backend (--backend llm or local)")
    return name


def _prices(settings: Settings) -> dict[str, ModelPrice] | None:
    if settings.llm_prices is None:
        return None
    try:
        table = json.loads(settings.llm_prices.read_text())
        return {str(model): ModelPrice(*map(float, pair)) for model, pair in table.items()}
    except (OSError, ValueError, TypeError, AttributeError) as err:
        raise RecordFileError(settings.llm_prices, f"not a price table {{model: [usd_per_1M_prompt, usd_per_1M_completion]}}: {err}") from None


def check_spending(settings: Settings, neurons: int, job: Job = "explain") -> LLMConfig | None:
    """Refuse (BadInputError) when `job` on `neurons` neurons could spend money unasked
    (agent/spending.py); the endpoint's config for the llm backend. Commands without a run folder
    (`demo`, `score`) call it before any work; a run checks with its budgets (`agent/refine_setup.py`)."""
    name = resolve_backend(settings)
    config = llm_config(settings) if name == "llm" else None
    guard_spending(settings, name, config, refine_params(settings), neurons, job=job, budgeted=False)
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


def local_config(settings: Settings, stack: AsyncExitStack) -> LLMConfig:
    from tools.llm.local_server import LocalServer, local_llm_config
    from tools.subject.smollm2 import ensure_gguf

    gguf = settings.local_gguf or ensure_gguf(settings.cache_dir)
    # The server decodes as many generations together as the client keeps in flight.
    server = stack.enter_context(LocalServer(gguf, n_ctx=settings.local_n_ctx, n_threads=settings.local_threads,
                                             parallel=settings.llm_concurrency))
    return local_llm_config(server.base_url, server.alias, timeout_s=max(settings.llm_timeout_s, 900.0),
                            concurrency=settings.llm_concurrency)


def endpoint_name(backend: BackendName, config: LLMConfig | None, llm: LLM | None) -> str | None:
    """Which endpoint answers the calls, as caches and run folders tell endpoints apart: its host (never
    the key); "local" for the local server (a new port each start); the model's type when injected."""
    if llm is not None:
        return f"injected:{type(llm).__name__}"
    if backend == "local":
        return "local"
    return config.endpoint_host if config is not None else None


_VOCABS: dict[str, VocabIndex] = {}


def vocab_for(subject: SubjectModel) -> VocabIndex:
    """The subject's vocabulary tables, built once per process (a few seconds for a 50k vocabulary)."""
    key = subject.info.tokenizer_sha256
    if key not in _VOCABS:
        _VOCABS[key] = VocabIndex.from_subject(subject)
    return _VOCABS[key]


@dataclass
class Roles:
    """Who explains, simulates, revises and writes probes (no prober: the loop's other generators probe alone)."""

    explainer: Explainer
    simulator: Simulator
    reviser: Reviser
    prober: Prober | None


@dataclass
class RunBooks:
    """What a run keeps and limits for its neurons' calls: the call journal, the folder the traces go
    to, and the budgets."""

    root: Path
    journal: CallJournal
    neuron_limits: BudgetLimits = field(default_factory=BudgetLimits)
    global_budget: ParentBudget | None = None
    command_limits: BudgetLimits | None = None
    """A one-neuron command's own budget (`refine`): folded into the neuron's limits instead of a
    parent, so it stops the loop and leaves room for the held-out score like a per-neuron budget."""
    on_event: Callable[[TraceEvent], None] | None = None

    def neuron_budget(self, layer: int, neuron: int, seconds_done: float) -> Budget:
        """The neuron's budget, with what the journal says it already spent and the seconds it already ran."""
        usd, tokens, calls = self.journal.spent(f"{layer}/{neuron}/")
        limits = self.neuron_limits
        if self.command_limits is not None:
            # The command's budget counts what this command spends: on a resumed neuron, from here on.
            limits = limits.tightest(self.command_limits.after(usd, tokens, seconds_done))
        budget = Budget(limits, parent=self.global_budget)
        budget.spent_usd, budget.spent_tokens, budget.calls = usd, tokens, calls
        budget.started -= seconds_done
        return budget


@dataclass
class NeuronBackend:
    """One neuron's roles, trace and budget; `journal` and `budgeted` are its LLM chain (None without an LLM)."""

    roles: Roles
    trace: TraceWriter
    budget: Budget
    journal: JournaledLLM | None = None
    budgeted: BudgetedLLM | None = None
    chain: LLM | None = None
    """The neuron's LLM as its roles ask it (budget, journal, trace): what else asks the LLM for the neuron, the judge."""


def _free(request: object) -> tuple[float, int]:
    return 0.0, 0


@dataclass
class Backend:
    """What every neuron of a command shares, opened by `open_backend`."""

    name: BackendName
    subject: SubjectModel
    """The subject whose vocabulary the builtin roles and the probe generators read."""
    max_words: int
    simulator_method: SimulatorMethod
    explain_digest: bool = True
    """The LLM explainer's prompt sums up its records (`--explain-digest`)."""
    """"builtin" without an LLM; "auto" until the preflight (or the simulator's construction) resolves it."""
    ledger: UsageLedger = field(default_factory=UsageLedger)
    llm: LLM | None = None
    prompt_logprobs: bool = False
    estimator: Estimator | None = None
    models: dict[Purpose, str] = field(default_factory=dict)
    """The model answering each purpose's calls (empty for an injected LLM)."""
    endpoint: str | None = None
    """Who answers the calls: the endpoint's host, "local", or the injected model's type."""
    host: str | None = None
    """The configured endpoint's host, which the preflight checks (None: builtin, or an injected LLM)."""
    description: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def vocab(self) -> VocabIndex:
        return vocab_for(self.subject)

    def identity(self, purpose: Purpose) -> str:
        """Who answers a purpose's calls, as the journal and the simulation memo key them: model, endpoint
        host and, for simulations, the simulator method."""
        method = f"/{self.simulator_method}" if purpose == "simulator" else ""
        return f"{self.models.get(purpose, '')}@{self.endpoint}{method}"

    def simulator(self, method: SimulatorMethod | None = None, llm: LLM | None = None) -> Simulator:
        """The backend's simulator, or `method`'s, asking `llm` (default: the backend's client)."""
        method = method or self.simulator_method
        if method == "builtin":
            return BuiltinSimulator(self.vocab)
        chain = llm if llm is not None else self.llm
        if chain is None:
            raise BadInputError(f"--simulator {method} needs an LLM backend (--backend llm or local)")
        return choose_llm_simulator(chain, method, prompt_logprobs_supported=self.prompt_logprobs)

    def builtin_roles(self) -> Roles:
        """The free builtin roles on the subject's vocabulary (also what a sweep's triage uses, whatever the backend)."""
        return Roles(explainer=BuiltinExplainer(self.vocab, self.max_words), simulator=BuiltinSimulator(self.vocab),
                     reviser=BuiltinReviser(self.vocab, self.max_words), prober=None)

    def roles(self, llm: LLM | None = None, on_discarded: OnDiscarded | None = None,
              promoted: PromotedTokens | None = None) -> Roles:
        """The backend's roles, asking `llm` (default: the backend's client); the builtin ones without an LLM.
        `on_discarded` hears of every LLM answer that gave no candidate; `promoted` gives the LLM explainer its
        output-side hint (`--explain-output-hint`)."""
        chain = llm if llm is not None else self.llm
        if chain is None:
            return self.builtin_roles()
        words = self.max_words
        return Roles(explainer=LLMExplainer(chain, max_words=words, on_discarded=on_discarded, promoted=promoted,
                                            digest=self.explain_digest),
                     simulator=self.simulator(llm=chain),
                     reviser=LLMReviser(chain, max_words=words, on_discarded=on_discarded), prober=LLMProber(chain))

    def for_neuron(self, books: RunBooks, layer: int, neuron: int, seconds_done: float = 0.0,
                   final_reserve: Sequence[float] = (0.0, 0, 0.0), promoted: PromotedTokens | None = None) -> NeuronBackend:
        """One neuron's roles, its trace and its budget (`seconds_done` and `final_reserve` from its
        checkpoint, on a resume). Every LLM call is reserved from the budget, answered from the run's
        journal when it was made before, and traced; the simulator remembers what it read."""
        trace = TraceWriter(trace_path(books.root, layer, neuron), layer, neuron, on_event=books.on_event)
        budget = books.neuron_budget(layer, neuron, seconds_done)
        usd, tokens, *seconds = final_reserve
        budget.final_reserve.usd, budget.final_reserve.tokens = usd, int(tokens)
        budget.final_seconds = seconds[0] if seconds else 0.0
        chain: LLM | None = None
        if self.llm is None:
            roles, journal, budgeted = self.builtin_roles(), None, None
        else:
            budgeted = BudgetedLLM(self.llm, budget, self.estimator or _free)
            journal = JournaledLLM(budgeted, books.journal, f"{layer}/{neuron}", self.identity)

            def discarded(purpose: Purpose, reasons: list[str]) -> None:
                trace.emit(AnswersDiscarded(purpose=purpose, reasons=reasons, **trace.base()))

            chain = TracedLLM(journal, trace)
            roles = self.roles(chain, on_discarded=discarded, promoted=promoted)
        roles.simulator = MemoizedSimulator(roles.simulator, identity=self.identity("simulator"))
        return NeuronBackend(roles, trace, budget, journal, budgeted, chain)

    async def preflight(self, books: RunBooks, budget: Budget, pinned: str | None = None) -> str | None:
        """Check the configured endpoint before the first neuron pays (tools/llm/preflight.py); resolve
        `--simulator auto` (to `pinned`, the run's earlier choice, when there is one) and return the method
        the simulator will use (None: nothing was checked). Its calls are paid from the command's `budget`
        like any other; its answers are journaled under their own scope, never replayed, so the ledger counts
        what they cost. A budget too small for it is too small for any neuron's call: the command goes on
        unchecked and stops at the same budget. Nothing to check without an endpoint of our own (builtin, an
        injected LLM)."""
        if self.llm is None or self.host is None:
            return None

        def record(purpose: Purpose, response: LLMResponse | PromptScoreResponse) -> None:
            kind = "prompt" if isinstance(response, PromptScoreResponse) else "chat"
            books.journal.put(f"{JOURNAL_SCOPE}/{uuid.uuid4().hex}", JOURNAL_SCOPE, kind, purpose, response.model_dump_json())

        try:
            found = await preflight(BudgetedLLM(self.llm, budget, self.estimator or _free), self.simulator_method,
                                    self.models, self.host, self.prompt_logprobs, record, pinned)
        except BudgetExhausted as stop:
            log.warning("preflight_skipped", reason=str(stop))
            if pinned in AUTO_ORDER:
                self.simulator_method = cast(SimulatorMethod, pinned)
            return None
        self.simulator_method = cast(SimulatorMethod, found.method)
        log.info("preflight", simulator=found.method, calls=found.calls, ten_is_one_token=found.ten_is_one_token,
                 reads_values=found.reads_values, tried=[f"{r.method}: {r.found}" for r in found.readings])
        model = self.models["simulator"]
        if found.switched:
            first = found.readings[0]
            log.warning("simulator_switched", simulator=found.method, model=model,
                        note=f"--simulator auto took {found.method}: {first.method} did not read its own values on a test "
                             f"record ({first.found})")
        elif found.reads_values is False:
            log.warning("simulator_not_reading", simulator=found.method, model=model, found=found.readings[-1].found,
                        note='on a test record whose explanation names one word, the simulator did not put that word clearly '
                             'above the others: its scores may mean little; try another --simulator or --llm-simulator-model')
        if found.ten_is_one_token is False:
            log.warning("ten_split_into_digits", model=model,
                        note='the simulator model writes "10" as two tokens: chat-logprob and the local server read both, '
                             'prompt-logprob on another server reads the first digit only (10 as 1, a lower bound)')
        return found.method


@asynccontextmanager
async def open_backend(settings: Settings, subject: SubjectModel, *, llm: LLM | None = None,
                       estimator: Estimator | None = None, ledger: UsageLedger | None = None,
                       config: LLMConfig | None = None) -> AsyncIterator[Backend]:
    """The backend `settings` name, for `subject`'s neurons; closes its client (and stops a local server) on exit.

    `llm` replaces the configured endpoint (scripted models in tests and benchmarks), its calls priced by
    `estimator` ($0 without); `config` is the endpoint's, when the caller already resolved it."""
    name = resolve_backend(settings, llm)
    backend = Backend(name=name, subject=subject, max_words=settings.max_explanation_words,
                      simulator_method=settings.simulator, explain_digest=settings.explain_digest, ledger=ledger or UsageLedger(),
                      prompt_logprobs=prompt_logprobs_supported(settings), description={"backend": name})
    async with AsyncExitStack() as stack:
        if llm is not None:
            backend.llm, backend.estimator, backend.endpoint = llm, estimator, endpoint_name(name, None, llm)
            backend.description |= {"endpoint": "injected", "llm": type(llm).__name__}
        elif name in ("llm", "local"):
            from tools.llm.openai_client import OpenAIChatLLM

            config = local_config(settings, stack) if name == "local" else config or llm_config(settings)
            client = OpenAIChatLLM(config, ledger=backend.ledger)
            stack.push_async_callback(client.aclose)
            backend.llm, backend.estimator = client, estimator_for(price_of(config), config.model_for)
            backend.models = {purpose: config.model_for(purpose) for purpose in get_args(Purpose)}
            backend.endpoint, backend.host = endpoint_name(name, config, None), config.endpoint_host
            backend.description |= {"endpoint": config.endpoint, "explainer_model": config.explainer_model,
                                    "simulator_model": config.simulator_model}
        else:
            backend.simulator_method = "builtin"
        yield backend
