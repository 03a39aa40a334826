"""`--executor ray`: sweep neurons run on a Ray cluster, with the outputs and resume of the in-process executor.

Each neuron is an actor task on a `NeuronWorker`, one worker per CPU slot of the cluster (at most
`--concurrency`); on a cluster with GPUs, one worker per GPU, holding it (`num_gpus=1`), so each
GPU carries one subject (see `plan_workers`). A worker is a process that opens its own refine environment on first use and
keeps it: subject model, records, checkpointer and journal connections, LLM client. Its neurons
share that subject, so their probe forwards are micro-batched as in-process. Workers write to the
run folder directly: the checkpoint and journal databases are SQLite in WAL mode, safe for several
processes of one host (over a network filesystem they are not; see docs/sweeps.md#one-host), and the trace,
score and result files of a neuron are written by the one worker running it.

The global budget lives in one `GlobalBudgetActor`; each worker's neurons have a `RemoteBudget` as
their parent budget, whose methods await the actor. The actor books every reservation before the
call it covers is made, so calls in flight on any worker count against the budget, and the sweep
never overshoots it by more than one call, as in-process. A refusal crosses process boundaries
as a `Refusal` value and is raised again on the other side as `BudgetExhausted`, so `run_sweep`
stops launching neurons exactly as it does in-process; a neuron whose input is unusable comes back
as a `NeuronError` and is raised again as a `RefineryError`, so it fails alone, as in-process.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import structlog

from agent.backends import resolve_backend
from agent.logs import configure_logging
from agent.refine_job import RefineEnvironment, refine_neuron
from agent.refine_setup import global_limits, open_refine_environment
from agent.settings import Settings
from tools.errors import BadInputError, RefineryError
from tools.llm.budget import Budget, BudgetExhausted, BudgetLimits, Estimator, Reservation
from tools.llm.protocol import LLM, Usage

try:
    import ray
    from ray.actor import ActorHandle
except ImportError as err:  # an optional extra: say how to get it instead of a bare traceback
    raise BadInputError("--executor ray needs Ray: pip install 'neuron-refinery[ray]'") from err

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Refusal:
    """A `BudgetExhausted` as data. The exception's constructor takes more than its message, so it
    does not survive pickling; this crosses between processes and is raised again on arrival."""

    kind: str
    message: str
    scope: Literal["neuron", "global"]

    @classmethod
    def of(cls, err: BudgetExhausted) -> Refusal:
        return cls(err.kind, str(err), err.scope)

    def error(self) -> BudgetExhausted:
        return BudgetExhausted(self.kind, self.message, self.scope)


@dataclass(frozen=True)
class NeuronError:
    """A neuron's `RefineryError` as data: Ray would wrap the exception in a `RayTaskError` whose
    message carries the worker's traceback, and the sweep records the message as the reason."""

    message: str


class GlobalBudgetActor:
    """The sweep's global budget (run as a Ray actor). Its methods are async, so calls interleave only
    at awaits; a budget without a parent never awaits, so each reservation is checked and booked at once."""

    def __init__(self, limits: BudgetLimits, elapsed_s: float) -> None:
        self.budget = Budget(limits, scope="global")
        self.budget.started -= elapsed_s  # the driver's clock started first: the wall-time budget is the sweep's

    async def reserve(self, usd: float, tokens: int, use_final_reserve: bool) -> Reservation | Refusal:
        try:
            return await self.budget.reserve(usd, tokens, use_final_reserve)
        except BudgetExhausted as err:
            return Refusal.of(err)

    async def settle(self, reservation: Reservation, usage: Usage | None) -> None:
        await self.budget.settle(reservation, usage)

    async def check_time(self) -> Refusal | None:
        try:
            await self.budget.check_time()
        except BudgetExhausted as err:
            return Refusal.of(err)
        return None


class RemoteBudget:
    """A worker-side `ParentBudget` whose methods await the `GlobalBudgetActor`."""

    def __init__(self, actor: Any) -> None:
        self.actor = actor

    async def reserve(self, usd: float, tokens: int, use_final_reserve: bool = False) -> Reservation:
        outcome: Reservation | Refusal | NeuronError = await self.actor.reserve.remote(usd, tokens, use_final_reserve)
        if isinstance(outcome, Refusal):
            raise outcome.error()
        if isinstance(outcome, NeuronError):
            raise RefineryError(outcome.message)
        return outcome

    async def settle(self, reservation: Reservation, usage: Usage | None) -> None:
        await self.actor.settle.remote(reservation, usage)

    async def check_time(self) -> None:
        refusal = await self.actor.check_time.remote()
        if refusal is not None:
            raise refusal.error()


class NeuronWorker:
    """One per worker process (run as a Ray actor): refines the neurons sent to it, concurrently."""

    def __init__(self, settings: Settings, budget: Any, llm: LLM | None, estimator: Estimator | None) -> None:
        configure_logging(settings.log_level, settings.log_json)
        self.settings, self.budget, self.llm, self.estimator = settings, budget, llm, estimator
        self._stack = AsyncExitStack()
        self._env: RefineEnvironment | None = None
        # The first neurons arrive together; one environment must serve them all (two would load two
        # subjects, and their concurrent sampling would interleave torch's one global RNG stream).
        self._opening = asyncio.Lock()

    async def _environment(self) -> RefineEnvironment:
        async with self._opening:
            if self._env is None:
                self._env = await self._open()
        return self._env

    async def _open(self) -> RefineEnvironment:
        # No neurons to build records for: the driver built them all before starting the workers, and
        # it holds the run's lock for the whole sweep.
        env = await self._stack.enter_async_context(
            open_refine_environment(self.settings, [], llm=self.llm, estimator=self.estimator, lock=False))
        env.books.global_budget = RemoteBudget(self.budget)
        log.info("sweep_worker_ready", run=self.settings.run)
        return env

    async def refine(self, layer: int, neuron: int, seed_explanation: str | None, stop_before_probe: bool,
                     skip_reason: str | None, baseline: dict[str, Any] | None) -> dict[str, Any] | Refusal | NeuronError:
        env = await self._environment()
        try:
            return await refine_neuron(env, layer, neuron, seed_explanation=seed_explanation,
                                       stop_before_probe=stop_before_probe, skip_reason=skip_reason, baseline=baseline)
        except BudgetExhausted as err:
            return Refusal.of(err)
        except RefineryError as err:
            return NeuronError(str(err))

    async def close(self) -> None:
        await self._stack.aclose()


@dataclass(frozen=True)
class WorkerPlan:
    """How many `NeuronWorker`s to start, what each one holds, and the device setting they run with."""

    workers: int
    num_cpus: float
    num_gpus: float
    device: str


def plan_workers(cluster: Mapping[str, float], concurrency: int, device: str) -> WorkerPlan:
    """One worker per GPU of the cluster when the subject may run on CUDA (`auto` or `cuda...`), else one per CPU.

    A GPU worker sees only the GPU Ray gave it (Ray sets CUDA_VISIBLE_DEVICES), so it runs on `cuda`,
    whichever `cuda:N` was asked; `--device cuda` on a cluster without GPUs is refused here rather
    than in every worker.
    """
    gpus, cpus = int(cluster.get("GPU", 0)), int(cluster.get("CPU", 1))
    wants_cuda = device.startswith("cuda")
    if gpus and (wants_cuda or device == "auto"):
        return WorkerPlan(workers=max(1, min(concurrency, gpus)), num_cpus=1, num_gpus=1, device="cuda")
    if wants_cuda:
        raise BadInputError(f"--device {device} with --executor ray: the Ray cluster has no GPUs; use --device auto or cpu")
    return WorkerPlan(workers=max(1, min(concurrency, cpus)), num_cpus=1, num_gpus=0, device=device)


@dataclass
class _Slot:
    actor: Any
    in_flight: int = 0


class RayRunner:
    """A `NeuronRunner` that sends each neuron to the least busy worker of a Ray cluster.

    Connects to `settings.ray_address`, or starts a local Ray when it is unset; a Ray already
    initialized by the caller (tests) is used as it is and left running."""

    def __init__(self, settings: Settings, env: RefineEnvironment, llm: LLM | None = None,
                 estimator: Estimator | None = None) -> None:
        if llm is None and resolve_backend(settings) == "local":
            raise BadInputError("--backend local serves the LLM from this process only; give Ray workers an "
                                "endpoint they can reach (--llm-base-url) instead")
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            ray.init(address=settings.ray_address, include_dashboard=False)
        elapsed = env.books.global_budget.elapsed if isinstance(env.books.global_budget, Budget) else 0.0
        self.budget: ActorHandle[GlobalBudgetActor] = ray.remote(GlobalBudgetActor).options(num_cpus=0).remote(  # type: ignore[assignment]  # ray's stub: options() may hand back the class
            global_limits(settings), elapsed)
        cluster = ray.cluster_resources()
        plan = plan_workers(cluster, settings.concurrency, settings.device)
        worker_settings = _portable(settings).model_copy(update={"device": plan.device})
        worker = ray.remote(NeuronWorker).options(num_cpus=plan.num_cpus, num_gpus=plan.num_gpus)
        self._slots = [_Slot(worker.remote(worker_settings, self.budget, llm, estimator)) for _ in range(plan.workers)]
        log.info("ray_executor_started", address=settings.ray_address or "local", workers=plan.workers,
                 cluster_cpus=cluster.get("CPU", 0), cluster_gpus=cluster.get("GPU", 0), worker_device=plan.device)

    async def __call__(self, layer: int, neuron: int, *, seed_explanation: str | None = None,
                       stop_before_probe: bool = False, skip_reason: str | None = None,
                       baseline: dict[str, Any] | None = None) -> dict[str, Any]:
        slot = min(self._slots, key=lambda s: s.in_flight)
        slot.in_flight += 1
        try:
            outcome: dict[str, Any] | Refusal | NeuronError = await slot.actor.refine.remote(layer, neuron, seed_explanation, stop_before_probe, skip_reason, baseline)
        finally:
            slot.in_flight -= 1
        if isinstance(outcome, Refusal):
            raise outcome.error()
        if isinstance(outcome, NeuronError):
            raise RefineryError(outcome.message)
        return outcome

    def close(self) -> None:
        """Close every worker's environment (its database connections), then stop the actors."""
        try:
            ray.get([slot.actor.close.remote() for slot in self._slots])
        except ray.exceptions.RayError as err:  # a dead worker has nothing left to close
            log.warning("ray_worker_close_failed", error=str(err)[:300])
        finally:
            for slot in self._slots:
                ray.kill(slot.actor)
            ray.kill(self.budget)
            if self._owns_ray:
                ray.shutdown()


def _portable(settings: Settings) -> Settings:
    """Settings with absolute paths (runs, records, cache, model, prices): a worker's working directory is not the driver's."""
    paths = {name: value.resolve() for name in type(settings).model_fields if isinstance(value := getattr(settings, name), Path)}
    return settings.model_copy(update=paths)
