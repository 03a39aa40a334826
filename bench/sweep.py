"""bench/sweep: sweep throughput against the LLM-bound ideal, budget overshoot, and peak RSS.

    .venv/bin/python -m bench.sweep [--waves 10] [--neurons 320] [--concurrency 1,8,32] [--latency 0.2]

At each concurrency c, a sweep of `--waves` x c neurons of the tiny model (at most `--neurons`;
layer 0 first, then layer 1, ...) with a scripted LLM whose every call takes `--latency` seconds
(`ScriptedLLM` answering with the test brain), one probe-and-revise round per neuron, in-process
executor, the subject's forwards and sampling in a child process (`--subject-process`). Several
waves, because a rate needs a steady state: with as many neurons as slots (one wave) every neuron
starts at once and the sweep lasts as long as its slowest neuron, whose critical path is longer
than the mean the ideal uses.

- Calls per neuron, `cp`: the sequential critical path of a neuron's LLM calls, measured. Every call
  is attributed to its neuron; a neuron's cp is the longest chain of its calls in which each call
  starts after the previous one ended (calls of one step made together, like the records of one
  simulation, count once). The table shows the mean over all neurons of the run.
- Ideal neurons/s at concurrency c: c / (cp * latency), the rate if LLM latency were the only cost
  and c neurons were always in flight.
- Achieved neurons/s: neurons / (end of the last neuron - start of the first), environment setup
  (records, subject, databases) left out.
- Budget overshoot: one more sweep at the highest concurrency under a global dollar budget that
  stops it mid-way (every call costs the same); (spent - budget) / cost per call, must be <= 1.
- Slots busy: the neurons' summed wall time / (achieved window * c); below 1 while the first
  neurons start and the last ones finish with fewer than c in flight.
- Not LLM per neuron: a neuron's wall time minus its critical path * latency, averaged: its own
  CPU, the subject's forwards, and waiting for the event loop behind other neurons. Achieved / ideal
  is about slots busy * cp * latency / (cp * latency + not LLM).
- Achieved / ideal with slots busy: achieved / ideal / slots busy, that is cp * latency / a
  neuron's mean wall time: the ratio of a sweep long enough that the slots idling at its end no
  longer count (the neurons' own overhead only).
- CPU seconds of this process per neuron (all its threads): 1 / that is the rate one core allows,
  whatever the concurrency. The scripted LLM's own work (the brain parsing prompts and building
  answers with logprobs) is part of it. The subject process's CPU per neuron is shown apart (Linux).
- Baseline, in the same run: the highest concurrency again with the subject in a worker thread of
  the sweep's own process (the default without `--subject-process`).
- Peak RSS of this process after each phase (it only grows).

The machine's load average is recorded with each phase: on a shared machine, others' work lowers
the achieved rate. No thresholds: the numbers are written to bench/results/sweep.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import os
import shlex
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from agent.logs import configure_logging
from agent.refine_job import refine_neuron
from agent.refine_setup import open_refine_environment
from agent.settings import Settings, default_cache_dir
from agent.sweep.runner import SweepState, run_sweep
from agent.sweep.select import select
from bench.common import peak_rss_mib, write_result
from bench.support.brain import brain_response
from tools.llm.fake import ScriptedLLM
from tools.llm.protocol import LLMRequest, LLMResponse, PromptScoreRequest
from tools.subject.process import SubjectProcess

EXPLANATION = 'the token " object"'
COST_PER_CALL = 0.001
_neuron: contextvars.ContextVar[tuple[int, int] | None] = contextvars.ContextVar("bench_neuron", default=None)


class TimedLLM:
    """Records (neuron, start, end) of every call; the neuron comes from the task that made the call."""

    def __init__(self, inner: ScriptedLLM) -> None:
        self.inner = inner
        self.calls: dict[tuple[int, int] | None, list[tuple[float, float]]] = defaultdict(list)

    async def complete(self, request: LLMRequest) -> LLMResponse:
        started = time.monotonic()
        try:
            return await self.inner.complete(request)
        finally:
            self.calls[_neuron.get()].append((started, time.monotonic()))


def process_cpu_s(pid: int | None) -> float | None:
    """CPU seconds (user + system) of another process so far, where /proc tells (Linux); else None."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def critical_path(calls: list[tuple[float, float]]) -> int:
    """Length of the longest chain of calls in which each starts after the previous one ended."""
    calls = sorted(calls)
    depth: list[int] = []
    for i, (start, _) in enumerate(calls):
        depth.append(1 + max((depth[j] for j in range(i) if calls[j][1] <= start), default=0))
    return max(depth, default=0)


def bench_settings(args: argparse.Namespace, workdir: Path, run: str, concurrency: int, subject_process: bool = True,
                   **extra: Any) -> Settings:
    return Settings(
        model="tiny-llama", corpus="pydoc", cache_dir=args.cache_dir, excerpt_tokens=32, max_excerpts=200,
        records=workdir / "records", runs_dir=workdir / "runs", run=run, top_k=20, n_random=15,
        max_iters=1, n_explanations=1, n_revisions=1, probes_per_generator=1, records_per_split=2,
        concurrency=concurrency, subject_process=subject_process, **extra,
    )


def estimate(request: LLMRequest | PromptScoreRequest) -> tuple[float, int]:
    return COST_PER_CALL, 100  # an upper bound, as the real estimator's is: the brain uses at most 71 tokens


async def one_sweep(settings: Settings, keys: list[tuple[int, int]], latency: float, cost: float = 0.0) -> dict[str, Any]:
    llm = TimedLLM(ScriptedLLM([brain_response(EXPLANATION)] * (200 * len(keys)), latency_s=latency, cost_usd_per_call=cost))
    window: dict[str, float] = {}
    spans: dict[tuple[int, int], tuple[float, float]] = {}

    def progress(state: SweepState) -> None:
        window.setdefault("first", time.monotonic())
        if state.done + state.failed + len(state.unfinished) >= state.total:
            window.setdefault("last", time.monotonic())

    load_before = os.getloadavg()[0]
    async with open_refine_environment(settings, keys, llm=llm, estimator=estimate if cost else None) as env:
        child = env.service.subject.pid if isinstance(env.service.subject, SubjectProcess) else None
        cpu_before, child_before = time.process_time(), process_cpu_s(child)
        async def runner(layer: int, neuron: int, **kwargs: Any) -> dict[str, Any]:
            _neuron.set((layer, neuron))  # this task's calls are this neuron's
            started = time.monotonic()
            try:
                return await refine_neuron(env, layer, neuron, **kwargs)
            finally:
                spans[(layer, neuron)] = (started, time.monotonic())

        state = await run_sweep(runner, env.run, select(keys).candidates, settings.concurrency, on_progress=progress)
        cpu = time.process_time() - cpu_before
        child_after = process_cpu_s(child)
        child_cpu = child_after - child_before if child_after is not None and child_before is not None else None
        paid = env.books.journal.summary()["total"]
    elapsed = window.get("last", time.monotonic()) - window["first"]
    paths = {key: critical_path(calls) for key, calls in llm.calls.items() if key is not None}
    busy = sum(end - start for start, end in spans.values())
    waits = [end - start - paths.get(key, 0) * latency for key, (start, end) in spans.items()]
    return {
        "neurons": len(keys), "ok": state.done, "failed": state.failed, "unfinished": len(state.unfinished),
        "budget_stop": state.budget_stop, "seconds": round(elapsed, 2), "neurons_per_s": len(keys) / elapsed,
        "calls": sum(len(c) for c in llm.calls.values()), "unattributed_calls": len(llm.calls.get(None, [])),
        "cp_mean": sum(paths.values()) / len(paths), "cp_max": max(paths.values()), "paid_usd": paid["cost_usd"], "paid_calls": paid["calls"],
        "cpu_s_per_neuron": cpu / len(keys), "subject": "process" if settings.subject_process else "thread",
        "subject_cpu_s_per_neuron": None if child_cpu is None else child_cpu / len(keys),
        "neuron_s_mean": busy / len(spans), "occupancy": busy / (elapsed * settings.concurrency),
        "non_llm_s_mean": sum(waits) / len(waits),
        "load_avg_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)], "peak_rss_mib": round(peak_rss_mib(), 1),
    }


def neuron_keys(n: int, d_mlp: int = 128) -> list[tuple[int, int]]:
    return [(i // d_mlp, i % d_mlp) for i in range(n)]


def level_keys(args: argparse.Namespace, concurrency: int) -> list[tuple[int, int]]:
    return neuron_keys(min(args.neurons, args.waves * concurrency))


async def one_level(args: argparse.Namespace, workdir: Path, c: int, subject_process: bool = True) -> dict[str, Any]:
    keys = level_keys(args, c)
    settings = bench_settings(args, workdir, f"c{c}" if subject_process else f"c{c}-thread", c, subject_process)
    result = await one_sweep(settings, keys, args.latency)
    result |= {"concurrency": c, "latency_s": args.latency, "ideal_neurons_per_s": c / (result["cp_mean"] * args.latency)}
    result["ratio"] = result["neurons_per_s"] / result["ideal_neurons_per_s"]
    result["ratio_slots_busy"] = result["ratio"] / result["occupancy"]
    child = result["subject_cpu_s_per_neuron"]
    print(f"  concurrency {c:>3}, subject in a {result['subject']}: {result['neurons_per_s']:6.2f} neurons/s of ideal "
          f"{result['ideal_neurons_per_s']:6.2f} (ratio {result['ratio']:.3f}, {result['ratio_slots_busy']:.3f} with slots busy); "
          f"cp {result['cp_mean']:.2f}, {result['calls'] / len(keys):.1f} calls/neuron, CPU {1000 * result['cpu_s_per_neuron']:.0f} ms/neuron"
          + (f" (+ subject process {1000 * child:.0f} ms)" if child is not None else "")
          + f", {result['seconds']:.1f} s, load {result['load_avg_1m']}; slots busy {result['occupancy']:.3f}, "
          f"{result['neuron_s_mean']:.2f} s per neuron of which not LLM {result['non_llm_s_mean']:.2f} s", flush=True)
    return result


async def main_async(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    levels = [int(c) for c in args.concurrency.split(",")]
    # Build every neuron's records first, so no phase pays for them (no subject process: nothing runs).
    async with open_refine_environment(bench_settings(args, workdir, "records", 1, subject_process=False), level_keys(args, max(levels))):
        pass
    rows = [await one_level(args, workdir, c) for c in levels]
    c = max(levels)
    thread = await one_level(args, workdir, c, subject_process=False)
    # A budget that stops the sweep after about a third of its calls.
    keys = level_keys(args, c)
    calls_per_neuron = rows[-1]["calls"] / len(keys)
    budget = round(COST_PER_CALL * calls_per_neuron * len(keys) / 3, 3)
    stopped = await one_sweep(bench_settings(args, workdir, "budget", c, budget_usd=budget), keys, args.latency, COST_PER_CALL)
    stopped |= {"concurrency": c, "budget_usd": budget, "cost_per_call_usd": COST_PER_CALL,
                "overshoot_calls": (stopped["paid_usd"] - budget) / COST_PER_CALL}
    return {"levels": rows, "thread_subject": thread, "budget": stopped}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--waves", type=int, default=10, help="neurons per level = WAVES x its concurrency")
    parser.add_argument("--neurons", type=int, default=320, help="at most this many neurons per level")
    parser.add_argument("--concurrency", default="1,8,32", help="comma-separated concurrency levels")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per scripted LLM call")
    parser.add_argument("--name", default="sweep", help="results file NAME.json (e.g. sweep-1s for a run at --latency 1)")
    parser.add_argument("--cache-dir", type=Path, default=default_cache_dir())
    parser.add_argument("--workdir", type=Path, default=None, help="records and runs (default: a temporary directory)")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"), help="default runs: results go to bench/results/ (committed); any other DIR: to DIR/bench/")
    args = parser.parse_args()
    configure_logging("error")
    command = shlex.join([".venv/bin/python", "-m", "bench.sweep", *sys.argv[1:]])
    print(f"$ {command}")
    print(f"{args.waves} x concurrency neurons of tiny-llama (at most {args.neurons}), scripted LLM at {args.latency:g} s"
          " per call, in-process executor, subject in a child process (baseline: in a thread, at the highest concurrency);"
          " ideal = concurrency / (cp * latency), cp = critical path of LLM calls per neuron (measured)", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(main_async(args, args.workdir or Path(tmp)))
    budget = result["budget"]
    print(f"  budget: ${budget['budget_usd']:g} at ${COST_PER_CALL:g} per call, concurrency {budget['concurrency']}: "
          f"spent ${budget['paid_usd']:.3f} in {budget['paid_calls']} calls, overshoot {budget['overshoot_calls']:+.2f} calls "
          f"(must be <= 1); {budget['ok']} done, {budget['unfinished']} unfinished")
    print(f"  peak RSS: {budget['peak_rss_mib']:.0f} MiB")
    path = write_result(args.name, {"command": command, "waves": args.waves, "max_neurons": args.neurons, "latency_s": args.latency,
                                    **result}, args.runs_dir,
                        benchmark="sweep")
    print(f"written {path}")


if __name__ == "__main__":
    main()
