"""Everything a refinement command shares across its neurons, opened once and closed cleanly."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager, nullcontext
from typing import Any

import structlog

from agent.backends import RunBooks, endpoint_name, llm_config, open_backend, resolve_backend
from agent.checkpoints import open_checkpointer
from agent.params import refine_params
from agent.records_job import ensure_records, open_records
from agent.refine_job import RefineEnvironment
from agent.run_identity import check_resume
from agent.runstore import RunStore
from agent.settings import Settings
from agent.spending import guard_spending
from agent.subject_process import start_subject_process
from graphs.trace import TraceEvent
from tools.errors import BadInputError
from tools.llm.budget import Budget, BudgetLimits, Estimator
from tools.llm.journal import CallJournal
from tools.llm.ledger import UsageLedger
from tools.llm.protocol import LLM
from tools.probes.pool import CorpusPool
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
                books = env.books
                spent = books.global_budget if isinstance(books.global_budget, Budget) else Budget(BudgetLimits())
                books.command_limits = global_limits(settings).after(-spent.spent_usd, -spent.spent_tokens, 0.0)
                books.global_budget = None
            yield env


@asynccontextmanager
async def _environment(
    settings: Settings, neurons: Sequence[tuple[int, int]], run: RunStore, on_event: Callable[[TraceEvent], None] | None,
    ledger: UsageLedger | None, llm: LLM | None, subject: SubjectModel | None, estimator: Estimator | None,
) -> AsyncIterator[RefineEnvironment]:
    backend = resolve_backend(settings, llm)
    params = refine_params(settings)
    config = llm_config(settings) if llm is None and backend == "llm" else None
    # Before any work: a command that may not spend money refuses at once, not after building records.
    guard_spending(settings, backend, config, params, len(neurons), job="refine", budgeted=True)
    if settings.subject_process and subject is not None:
        raise BadInputError("--subject-process loads the configured model in a child process; it cannot serve an injected subject")
    config_doc: dict[str, Any] = {"settings": settings.public_dump(), "backend": backend, "params": params.model_dump(),
                                  "endpoint": endpoint_name(backend, config, llm)}
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
        books = RunBooks(root=run.root, journal=journal, neuron_limits=neuron_limits(settings), global_budget=budget,
                         on_event=on_event)
        opened = await stack.enter_async_context(
            open_backend(settings, records.subject, llm=llm, estimator=estimator, ledger=ledger, config=config))
        _ = opened.vocab  # built now, before the collector freezes what the command keeps (below)
        env = RefineEnvironment(
            run=run, store=records.store, service=ActivationService(child if child is not None else records.subject),
            excerpts=records.excerpts, params=params, checkpointer=checkpointer, backend=opened, books=books,
            records_per_split=settings.records_per_split,
        )
        if params.output_side and not isinstance(env.service.subject, OutputReader):
            # Said once here rather than as a silent empty field on every neuron.
            log.warning("output_side_unavailable", model=records.subject.info.model_id,
                        reason="the subject has no weights to read (a synthetic subject): no neuron gets an output side")
        whole = records.all_excerpts if records.all_excerpts is not None else records.excerpts
        env.pool = CorpusPool.for_neurons(run.root / "pool", env.service, whole, params.pool_size, settings.seed, neurons,
                                          first_fresh=len(records.excerpts))
        found = await opened.preflight(books, budget, pinned)
        if found is not None and settings.simulator == "auto":
            run.save_config((run.saved_config() or {}) | {"simulator": found})
        # What exists now (subject, records, corpus: hundreds of thousands of objects) lives as long as
        # the command: out of the collector's sight, a full collection no longer walks all of it, again
        # and again through a sweep (bench/sweep). Garbage among it is collected after the block.
        gc.freeze()
        stack.callback(gc.unfreeze)
        yield env
