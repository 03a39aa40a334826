"""Everything a refinement command shares across its neurons, opened once and closed cleanly."""

from __future__ import annotations

import asyncio
import gc
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager, nullcontext
from typing import Any, Literal, cast, get_args

import structlog

from agent.backends import llm_config, local_config, resolve_backend, vocab_for
from agent.checkpoints import open_checkpointer
from agent.params import refine_params
from agent.records_job import ensure_records, open_records
from agent.refine_job import RefineEnvironment, estimator_for
from agent.run_identity import check_resume
from agent.runstore import RunStore
from agent.settings import Settings, prompt_logprobs_supported
from agent.spending import guard_spending, price_of
from agent.subject_process import start_subject_process
from graphs.trace import TraceEvent
from tools.errors import BadInputError
from tools.llm.budget import Budget, BudgetedLLM, BudgetExhausted, BudgetLimits, Estimator
from tools.llm.config import LLMConfig
from tools.llm.journal import CallJournal
from tools.llm.ledger import UsageLedger
from tools.llm.preflight import AUTO_ORDER, JOURNAL_SCOPE, preflight
from tools.llm.protocol import LLM, LLMResponse, PromptScoreResponse, Purpose
from tools.probes.pool import CorpusPool
from tools.simulators.select import LLMSimulatorMethod
from tools.subject.base import OutputReader, SubjectModel
from tools.subject.service import ActivationService

log = structlog.get_logger(__name__)


def global_limits(settings: Settings) -> BudgetLimits:
    return BudgetLimits(usd=settings.budget_usd, tokens=settings.budget_tokens,
                        seconds=settings.budget_hours * 3600 if settings.budget_hours else None)


def neuron_limits(settings: Settings) -> BudgetLimits:
    return BudgetLimits(usd=settings.per_neuron_usd, tokens=settings.per_neuron_tokens,
                        seconds=settings.per_neuron_minutes * 60 if settings.per_neuron_minutes else None)


@asynccontextmanager
async def open_refine_environment(
    settings: Settings, neurons: Sequence[tuple[int, int]], on_event: Callable[[TraceEvent], None] | None = None,
    ledger: UsageLedger | None = None, llm: LLM | None = None, subject: SubjectModel | None = None,
    estimator: Estimator | None = None, lock: bool = True, one_neuron: bool = False,
) -> AsyncIterator[RefineEnvironment]:
    """Records for `neurons` (built if missing), the run folder, checkpointer, journal and backend.

    `llm` replaces the configured endpoint (scripted models in tests and benchmarks; prices $0);
    `subject` replaces the configured subject model (a planted one in benchmarks). The run folder
    is locked for the whole block: a second command on the same run is refused. `lock=False` is for
    a sweep's Ray workers, which work on the run under their driver's lock. `one_neuron` (`refine`):
    the command's budget is the neuron's, so it ends the loop with a held-out score like a per-neuron
    budget instead of leaving the neuron unfinished."""
    run = RunStore(settings.runs_dir, settings.run)
    with run.exclusive() if lock else nullcontext():
        async with _environment(settings, neurons, run, on_event, ledger, llm, subject, estimator) as env:
            if one_neuron:
                # What the preflight spent came out of the command's budget: the neuron has the rest.
                spent = env.global_budget if isinstance(env.global_budget, Budget) else Budget(BudgetLimits())
                env.command_limits = global_limits(settings).after(-spent.spent_usd, -spent.spent_tokens, 0.0)
                env.global_budget = None
            yield env


def _endpoint_name(backend: str, config: LLMConfig | None, llm: LLM | None) -> str | None:
    """Which endpoint answers the calls, as caches and run folders tell endpoints apart: its host (never
    the key); "local" for the local server (a new port each start); the model's type when injected."""
    if llm is not None:
        return f"injected:{type(llm).__name__}"
    if backend == "local":
        return "local"
    return config.endpoint_host if config is not None else None


async def _preflight(env: RefineEnvironment, llm: LLM, budget: Budget, estimator: Estimator, host: str,
                     pinned: str | None) -> None:
    """Check the endpoint before the first neuron pays (tools/llm/preflight.py); resolve `--simulator auto`
    (to `pinned`, the run's earlier choice, when there is one) and keep the choice in config.json.
    Its calls are paid from the command's budget like any other; its answers are journaled under their
    own scope, never replayed, so the ledger counts what they cost. A budget too small for it is too
    small for any neuron's call: the command goes on unchecked and stops at the same budget."""

    def record(purpose: Purpose, response: LLMResponse | PromptScoreResponse) -> None:
        kind = "prompt" if isinstance(response, PromptScoreResponse) else "chat"
        env.journal.put(f"{JOURNAL_SCOPE}/{uuid.uuid4().hex}", JOURNAL_SCOPE, kind, purpose, response.model_dump_json())

    try:
        found = await preflight(BudgetedLLM(llm, budget, estimator), env.simulator_method, env.models, host,
                                env.prompt_logprobs, record, pinned)
    except BudgetExhausted as stop:
        log.warning("preflight_skipped", reason=str(stop))
        if pinned in AUTO_ORDER:
            env.simulator_method = pinned
        return
    if env.simulator_method == "auto":
        env.run.save_config((env.run.saved_config() or {}) | {"simulator": found.method})
    env.simulator_method = cast(LLMSimulatorMethod | Literal["builtin"], found.method)
    log.info("preflight", simulator=found.method, calls=found.calls, ten_is_one_token=found.ten_is_one_token,
             reads_values=found.reads_values, tried=[f"{r.method}: {r.found}" for r in found.readings])
    model = env.models["simulator"]
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


@asynccontextmanager
async def _environment(
    settings: Settings, neurons: Sequence[tuple[int, int]], run: RunStore, on_event: Callable[[TraceEvent], None] | None,
    ledger: UsageLedger | None, llm: LLM | None, subject: SubjectModel | None, estimator: Estimator | None,
) -> AsyncIterator[RefineEnvironment]:
    backend = "llm" if llm is not None else resolve_backend(settings)
    params = refine_params(settings)
    config = llm_config(settings) if llm is None and backend == "llm" else None
    # Before any work: a command that may not spend money refuses at once, not after building records.
    guard_spending(settings, backend, config, params, len(neurons), refine=True, budgeted=True)
    if settings.subject_process and subject is not None:
        raise BadInputError("--subject-process loads the configured model in a child process; it cannot serve an injected subject")
    config_doc: dict[str, Any] = {"settings": settings.public_dump(), "backend": backend, "params": params.model_dump(),
                                  "endpoint": _endpoint_name(backend, config, llm)}
    # Before any work, and before config.json is written: a resume must be the same experiment.
    saved = run.saved_config()
    check_resume(run.name, saved, config_doc)
    # What `--simulator auto` resolved to in an earlier command of this run: kept, so the run is one experiment.
    pinned = (saved or {}).get("simulator") if settings.simulator == "auto" else None
    records = open_records(settings, subject)
    ledger = ledger or UsageLedger()
    async with AsyncExitStack() as stack:
        # The child loads its copy while this process builds the records.
        child = start_subject_process(settings, records.subject) if settings.subject_process else None
        if child is not None:
            stack.callback(child.close)
        for layer in sorted({layer for layer, _ in neurons}):
            ensure_records(records, layer, [n for l_, n in neurons if l_ == layer], settings)
        run.save_config(config_doc | {"records": records.manifest.model_dump()} | ({"simulator": pinned} if pinned else {}))
        if child is not None:
            await asyncio.to_thread(child.wait_ready)
        journal = CallJournal(run.journal)
        stack.callback(journal.close)
        stack.callback(lambda: run.write_ledger({"paid": journal.summary(), "this_process": ledger.summary()}))
        checkpointer = stack.enter_context(open_checkpointer(run.checkpoints))
        budget = Budget(global_limits(settings), scope="global")
        env = RefineEnvironment(
            run=run, store=records.store, service=ActivationService(child if child is not None else records.subject), excerpts=records.excerpts,
            vocab=vocab_for(records.subject), params=params, checkpointer=checkpointer, journal=journal,
            backend_name=backend, backend_description={"backend": backend}, simulator_method=settings.simulator,
            records_per_split=settings.records_per_split, neuron_limits=neuron_limits(settings),
            global_budget=budget, on_event=on_event, prompt_logprobs=prompt_logprobs_supported(settings),
        )
        if params.output_side and not isinstance(env.service.subject, OutputReader):
            # Said once here rather than as a silent empty field on every neuron.
            log.warning("output_side_unavailable", model=records.subject.info.model_id,
                        reason="the subject has no weights to read (a synthetic subject): no neuron gets an output side")
        whole = records.all_excerpts if records.all_excerpts is not None else records.excerpts
        env.pool = CorpusPool.for_neurons(run.root / "pool", env.service, whole, params.pool_size, settings.seed, neurons,
                                          first_fresh=len(records.excerpts))
        if llm is not None:
            env.llm = llm
            env.estimator = estimator
            env.backend_description |= {"endpoint": "injected", "llm": type(llm).__name__}
            env.endpoint = config_doc["endpoint"]
        elif backend in ("llm", "local"):
            from tools.llm.openai_client import OpenAIChatLLM

            config = local_config(settings, stack) if backend == "local" else config or llm_config(settings)
            client = OpenAIChatLLM(config, ledger=ledger)
            stack.push_async_callback(client.aclose)
            env.llm = client
            env.estimator = estimator_for(price_of(config), config.model_for)
            env.backend_description |= {"endpoint": config.endpoint, "explainer_model": config.explainer_model,
                                        "simulator_model": config.simulator_model}
            env.models = {purpose: config.model_for(purpose) for purpose in get_args(Purpose)}
            env.endpoint = _endpoint_name(backend, config, None)
            await _preflight(env, client, budget, env.estimator, config.endpoint_host, pinned)
        # What exists now (subject, records, corpus: hundreds of thousands of objects) lives as long as
        # the command: out of the collector's sight, a full collection no longer walks all of it, which
        # took about a fifth of a sweep's CPU (bench/sweep). Garbage among it is collected after the block.
        gc.freeze()
        stack.callback(gc.unfreeze)
        yield env
