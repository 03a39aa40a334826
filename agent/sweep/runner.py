"""Schedule a sweep: N neurons in flight, a global budget, resumable, a manifest of finished neurons.

Neurons run as concurrent tasks (the in-process executor) or remote tasks (Ray); either way a
neuron is one LangGraph thread in the run's checkpoint database, so rerunning the sweep skips
finished neurons and resumes the others where they stopped. When the global budget refuses a
call, no new neuron starts and the neurons in flight stop where they are, left resumable. A
neuron whose own input is unusable (a `RefineryError`, e.g. a malformed records file) fails with
its reason and the sweep goes on; it is not finished, so a rerun tries it again. When something
every neuron needs is lost (`SharedResourceLost`: the subject's child process died), the sweep
stops with that reason instead, every neuron at its last checkpoint.

A neuron may be finished without refinement (`skipped`): by the free triage (the builtin
explanation already reaches the target on the selection split; no LLM call) or, with `below`,
because its one-shot explanation already scores at or above it. The mean gain is over the neurons
that were refined.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog

from agent.runstore import RunStore
from agent.sweep.select import Candidate, NeuronKey
from tools.atomic import atomic_write_json
from tools.errors import RefineryError, SharedResourceLost
from tools.llm.budget import BudgetExhausted

log = structlog.get_logger(__name__)


class NeuronRunner(Protocol):
    """Runs one neuron's graph (see `agent.refine_job.refine_neuron` for the arguments)."""

    async def __call__(self, layer: int, neuron: int, *, seed_explanation: str | None = None,
                       stop_before_probe: bool = False, skip_reason: str | None = None,
                       baseline: dict[str, Any] | None = None) -> dict[str, Any]: ...


@dataclass
class SweepState:
    """Live counters for progress display and the final report."""

    total: int
    done: int = 0
    """Finished and usable: ok, degraded or skipped (this run or an earlier one)."""
    failed: int = 0
    degraded: int = 0
    skipped: int = 0
    running: int = 0
    gains: list[float] = field(default_factory=list)
    """Paired held-out gains of the neurons refined in this run (not of skipped ones)."""
    started: float = field(default_factory=time.monotonic)
    budget_stop: str | None = None
    unfinished: list[NeuronKey] = field(default_factory=list)
    errors: dict[NeuronKey, str] = field(default_factory=dict)
    """Neurons that could not run (their input is unusable), with the reason."""

    @property
    def mean_gain(self) -> float | None:
        return sum(self.gains) / len(self.gains) if self.gains else None

    def eta_s(self) -> float | None:
        finished = self.done + self.failed
        if not finished:
            return None
        per = (time.monotonic() - self.started) / finished
        return per * (self.total - finished)


class Manifest:
    """runs/NAME/manifest.json, written atomically: `neurons` holds the status of every neuron that
    finished (a rerun skips them); `errors` the reason of every neuron whose last attempt failed,
    whether it finished as failed or could not run at all (then it is not in `neurons`), and the
    reasons of every neuron that finished degraded."""

    def __init__(self, run: RunStore) -> None:
        self.path = run.root / "manifest.json"
        saved = json.loads(self.path.read_text()) if self.path.is_file() else {}
        self.entries: dict[str, str] = saved.get("neurons", {})
        self.errors: dict[str, str] = saved.get("errors", {})

    def record(self, layer: int, neuron: int, status: str, error: str | None = None) -> None:
        self.entries[f"{layer}/{neuron}"] = status
        self._set_error(f"{layer}/{neuron}", error)

    def record_error(self, layer: int, neuron: int, error: str) -> None:
        """A neuron that could not run: its reason, without marking it finished."""
        self._set_error(f"{layer}/{neuron}", error)

    def _set_error(self, key: str, error: str | None) -> None:
        if error is None:
            self.errors.pop(key, None)
        else:
            self.errors[key] = error
        atomic_write_json(self.path, {"neurons": dict(sorted(self.entries.items())),
                                      "errors": dict(sorted(self.errors.items()))}, indent=1)

    def finished(self, layer: int, neuron: int) -> bool:
        return f"{layer}/{neuron}" in self.entries


async def _pool(items: Sequence[Candidate], concurrency: int, work: Callable[[Candidate], Awaitable[None]], state: SweepState) -> None:
    """Run `work` on every item with at most `concurrency` in flight; stop launching once the budget is out."""
    semaphore = asyncio.Semaphore(concurrency)

    async def one(item: Candidate) -> None:
        async with semaphore:
            if state.budget_stop is not None:
                state.unfinished.append((item.layer, item.neuron))
                return
            await work(item)

    tasks = [asyncio.ensure_future(one(item)) for item in items]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        # A bug in one neuron ends the sweep: stop the others before the caller closes the run's
        # databases under them (each is left at its last checkpoint, resumable).
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def run_sweep(
    runner: NeuronRunner, run: RunStore, candidates: Sequence[Candidate], concurrency: int,
    one_shot_first: bool = False, below: float | None = None, order: str = "given",
    on_progress: Callable[[SweepState], None] | None = None,
) -> SweepState:
    """Refine `candidates`. With `one_shot_first`, every neuron is first explained one-shot; then
    those scoring (selection split) at or above `below` are finalized without refinement and the
    rest are refined in `order` (lowest first if asked)."""
    manifest = Manifest(run)
    todo = [c for c in candidates if not manifest.finished(c.layer, c.neuron)]
    state = SweepState(total=len(candidates), done=len(candidates) - len(todo))
    notify = on_progress or (lambda s: None)

    async def guarded(item: Candidate, **kwargs: Any) -> dict[str, Any] | None:
        state.running += 1
        notify(state)
        try:
            return await runner(item.layer, item.neuron, seed_explanation=item.existing_explanation,
                                baseline=item.baseline, **kwargs)
        except BudgetExhausted as err:
            state.budget_stop = state.budget_stop or str(err)
            state.unfinished.append((item.layer, item.neuron))
            log.warning("sweep_budget_exhausted", layer=item.layer, neuron=item.neuron, reason=str(err))
            return None
        except SharedResourceLost:
            raise  # no neuron can go on: the sweep stops, each neuron at its last checkpoint
        except RefineryError as err:
            # This neuron's own input is unusable (its records file, say): it fails, the others go on.
            state.errors[(item.layer, item.neuron)] = str(err)
            state.failed += 1
            manifest.record_error(item.layer, item.neuron, str(err))
            log.warning("sweep_neuron_failed", layer=item.layer, neuron=item.neuron, reason=str(err))
            return None
        finally:
            state.running -= 1
            notify(state)

    if one_shot_first and candidates:
        async def one_shot(item: Candidate) -> None:
            if item.skip_reason is not None:
                return  # the triage finished it: no LLM call, not even a one-shot one
            values = await guarded(item, stop_before_probe=True)
            oneshot = (values or {}).get("oneshot") or {}
            item.existing_score = oneshot.get("score")

        # Finished neurons too (their state comes back from the checkpoint, no call is made): their
        # one-shot score is the summary's existing_score, the same whether or not the sweep was resumed.
        await _pool(candidates, concurrency, one_shot, state)
        if order == "lowest":
            todo.sort(key=lambda c: (c.existing_score is not None, c.existing_score or 0.0, c.layer, c.neuron))
        state.unfinished.clear()

    async def refine(item: Candidate) -> None:
        if (item.layer, item.neuron) in state.errors:
            return  # it already failed in the one-shot pass
        skip = item.skip_reason
        if skip is None and one_shot_first and below is not None and item.existing_score is not None and item.existing_score >= below:
            skip = f"one-shot selection score {item.existing_score:.3f} is not below {below:g}: not refined"
        final = await guarded(item, skip_reason=skip)
        if final is None:
            return
        status = final["status"]
        manifest.record(item.layer, item.neuron, status, final.get("error") or "; ".join(final.get("problems") or []) or None)
        if status == "failed":
            state.failed += 1
        else:
            state.done += 1
            state.degraded += status == "degraded"
            state.skipped += status == "skipped"
            gain = (final.get("paired") or {}).get("gain")
            if status in ("ok", "degraded") and gain is not None:
                state.gains.append(gain)
        notify(state)

    await _pool(todo, concurrency, refine, state)
    return state
