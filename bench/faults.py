"""bench/faults: reliability figures from a fixed, seeded fault campaign on the real sweep.

    .venv/bin/python -m bench.faults [--neurons 8] [--faults-per-kind 2] [--kills 6] [--seed 0]

Every phase runs `refinery sweep` on the tiny model (layer 1, the settings of
bench/support/faults.py `sweep_args`: one probe-and-revise round per neuron) through the real HTTP
client, against the loopback chat server of bench/support, answered by the test brain except where
a fault plan says otherwise. A planted OPENAI_API_KEY is in the environment throughout, so every
request carries it, the server quotes it back in its error bodies, and debug logs go to a file.

1. llm: one sweep of `--neurons` neurons, one at a time (so the server can account per call).
   `--faults-per-kind` faults of each kind hit calls drawn with the seed from those a clean run
   makes: transport faults (429 with and without Retry-After, 500, reset, a reply hanging past the
   timeout, truncated and non-JSON bodies) fail 1..MAX_RETRIES attempts of their call, and one more
   of each kind fails every attempt; content faults (no logprobs, no digit candidates, empty and
   absurdly long explanations) answer the calls they concern once.
2. budget: the same faults on the same calls, two neurons at a time, under a global token budget of
   half what the faulted sweep of phase 1 spent; then the same command without the budget, which
   finishes the rest. Faults follow their calls by request body (`FaultPlan.replaying`): with two
   neurons in flight, calls arrive in a varying order, and faults planned by order of arrival would
   hit other neurons (a fault that fails a neuron's explanation may fail either), so the sweep's
   spend, and whether it reached the budget, would vary from run to run.
3. kill: `--kills` moments, each the n-th request of an uninterrupted sweep (n seeded): the server
   SIGKILLs the sweep process as that request arrives; the same command then runs to the end and is
   compared with the uninterrupted sweep.
4. lock: a second sweep started on a run another process is working on.
5. files: each kind of damaged records file, on one neuron of a two-neuron sweep.
6. secrets: `refinery report` on every run, then the planted key searched for in every file the
   campaign wrote (run folders, reports, databases, logs).

Prints the figures and writes bench/results/faults.json (see bench/common.py). No timing thresholds; the exit code is 1 if
an invariant is broken (a neuron lost or finished twice, paid calls off from the answers sent, a
budget overshot by more than one call, a key leaked), so a regression cannot hide in a table.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import random
import shlex
import shutil
import signal
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path
from typing import Any, get_args

from agent.cli.main import main
from agent.settings import default_cache_dir
from bench.common import write_result
from bench.report.renderers.faults import figures
from bench.support.chat_server import ChatServer, Respond
from bench.support.faults import (
    CONTENT_FAULTS,
    MAX_ATTEMPTS,
    MAX_RETRIES,
    NEURON_CALLS,
    RECORD_DAMAGES,
    TRANSPORT_FAULTS,
    CallKind,
    ContentFault,
    Fault,
    FaultPlan,
    KillAt,
    final_outputs,
    finished_neurons,
    finished_outputs,
    journaled_calls,
    read_run,
    start_sweep,
    sweep_args,
)
from graphs.trace import ModelCalled, read_trace

EXPLANATION = 'the token " object"'
PLANTED = "sk-PLANTED-bench-3c9e1f7a2b6d4e8f0a1c5b9d7e3f2a6c"
CONTENT_CALLS: dict[ContentFault, tuple[CallKind, ...]] = {
    "missing-logprobs": ("simulate",), "no-digit-logprobs": ("simulate",),
    "empty-explanation": ("explain", "revise"), "long-explanation": ("explain", "revise"),
}
KILL_NEURONS = "0-4"  # neuron 0 fails its one-shot scoring: a failed neuron must survive kills too
WAIT_S = 600


class Campaign:
    """The work folder, the debug log every sweep writes to, and the invariants checked so far."""

    def __init__(self, work: Path, cache: Path) -> None:
        self.work, self.cache, self.records = work, cache, work / "records"
        work.mkdir(parents=True, exist_ok=True)
        self.log = work / "debug.log"
        self.broken: list[str] = []

    def check(self, ok: bool, what: str) -> None:
        if not ok:
            self.broken.append(what)

    def args(self, base_url: str, run: str, neurons: str, concurrency: int = 1, records: Path | None = None) -> list[str]:
        return [*sweep_args(self.work / "runs", self.cache, records or self.records, base_url, run=run, neurons=neurons,
                            concurrency=concurrency), "--log-level", "debug"]

    def cli(self, args: list[str]) -> int:
        """`refinery ARGS` in this process, its output and logs appended to the debug log (the
        figures come from the run folders)."""
        with self.log.open("a") as log, contextlib.redirect_stderr(log), contextlib.redirect_stdout(log):
            return main(args)


def draw_faults(clean: FaultPlan, per_kind: int, rng: random.Random) -> list[Fault]:
    """`per_kind` faults of each kind (plus one that never recovers per transport kind), each on its
    own call of those a clean run makes, drawn uniformly with `rng`; content faults first, as only
    some calls can carry them."""
    counts: Counter[CallKind] = Counter(log.kind for log in clean.calls)
    free = [(kind, nth) for kind, n in counts.items() for nth in range(n)]

    def take(kinds: tuple[CallKind, ...]) -> tuple[CallKind, int]:
        slot = rng.choice([s for s in free if s[0] in kinds])
        free.remove(slot)
        return slot

    faults = [Fault(kind, *take(CONTENT_CALLS[kind])) for kind in CONTENT_FAULTS for _ in range(per_kind)]
    for kind in TRANSPORT_FAULTS:
        for number in range(per_kind + 1):
            times = rng.randint(1, MAX_RETRIES) if number < per_kind else MAX_ATTEMPTS + 1
            faults.append(Fault(kind, *take(get_args(CallKind)), times=times))
    return faults


def first_call(outcomes: list[str], max_attempts: int) -> list[str]:
    """The attempts of a body's first call: up to its first answer, or `max_attempts` failures (the client gave up)."""
    out = []
    for outcome in outcomes:
        out.append(outcome)
        if outcome == "answer" or outcome in CONTENT_FAULTS or len(out) == max_attempts:
            break
    return out


def neuron_outcomes(run_root: Path) -> dict[str, Any]:
    rows = read_run(run_root).rows
    return {"ok": sum(r["status"] == "ok" for r in rows.values()),
            "degraded": {key: r["problems"] for key, r in rows.items() if r["status"] == "degraded"},
            "failed": {key: r["error"] for key, r in rows.items() if r["status"] == "failed"},
            "unfinished": sorted(key for key, r in rows.items() if r["status"] == "unfinished")}


def phase_llm(c: Campaign, neurons: str, per_kind: int, seed: int) -> tuple[dict[str, Any], FaultPlan, int]:
    """The faulted sweep's figures, its fault plan as served, and the tokens it paid for."""
    clean = FaultPlan(EXPLANATION, echo=PLANTED)
    with ChatServer(default=Respond(clean)) as server:
        c.cli(c.args(server.base_url, "clean", neurons))
    faults = draw_faults(clean, per_kind, random.Random(seed))
    plan = FaultPlan(EXPLANATION, faults, echo=PLANTED)
    with ChatServer(default=Respond(plan)) as server:
        code = c.cli(c.args(server.base_url, "llm", neurons))
    run = read_run(c.work / "runs" / "llm")
    account = plan.account(MAX_ATTEMPTS)
    # A body asked again after the client gave up on it (a later step needing the same simulation) is a
    # new call: only the first call of each body counts here, up to its first answer or MAX_ATTEMPTS faults.
    never = [first_call(log.outcomes, MAX_ATTEMPTS) for log in plan.targeted()
             if log.fault is not None and log.fault.times > MAX_ATTEMPTS]
    figures = {
        "exit_code": code, "faults_planned": dict(sorted(Counter(f.kind for f in faults).items())),
        # A fault planned on a call that never came (an earlier fault ended that neuron) is not served.
        "faults_served": dict(sorted(account.faults.items())),
        "attempts_of_calls_that_never_recovered": sorted({len(o) for o in never}), "attempt_limit": MAX_ATTEMPTS,
        "retries_recovered": {"server": account.recovered, "client": run.this_process["retries"], "traced": run.traced_retries},
        "calls_given_up": {"server": account.gave_up, "client": run.this_process["failures"], "traced": run.traced_failures},
        "paid_calls": {"answered_by_server": account.paid, "ledger_paid": run.paid["calls"], "client": run.this_process["calls"]},
        "neurons": neuron_outcomes(c.work / "runs" / "llm"),
    }
    c.check(all(len(o) == MAX_ATTEMPTS for o in never), "a call that never recovered was not tried exactly MAX_ATTEMPTS times")
    c.check(account.gave_up == run.this_process["failures"] == run.traced_failures,
            "llm: calls given up differ between server and client")
    c.check(account.paid == run.paid["calls"] == run.this_process["calls"], "llm: paid calls differ from the answers sent")
    c.check(account.recovered == run.this_process["retries"] == run.traced_retries, "llm: retries differ between server and client")
    c.check(not figures["neurons"]["unfinished"], "llm: a neuron was left unfinished")
    return figures, plan, run.paid["prompt_tokens"] + run.paid["completion_tokens"]


def _largest_call_tokens(run_root: Path) -> int:
    return max(e.prompt_tokens + e.completion_tokens for path in run_root.glob("traces/*/*.jsonl")
               for e in read_trace(path, completed_only=False) if isinstance(e, ModelCalled) and e.error is None and not e.cached)


def phase_budget(c: Campaign, neurons: str, llm_plan: FaultPlan, llm_tokens: int) -> dict[str, Any]:
    # The same calls meet the same faults, so unbudgeted this sweep would pay what phase 1 paid:
    # half of it is crossed whichever neuron fails first.
    budget = llm_tokens // 2
    plan = FaultPlan.replaying(llm_plan, EXPLANATION, echo=PLANTED)
    run_root = c.work / "runs" / "budget"
    with ChatServer(default=Respond(plan)) as server:
        args = c.args(server.base_url, "budget", neurons, concurrency=2)
        stopped = c.cli([*args, "--budget-tokens", str(budget)])
        paid = read_run(run_root).paid
        spent = paid["prompt_tokens"] + paid["completion_tokens"]
        largest = _largest_call_tokens(run_root)
        unfinished = neuron_outcomes(run_root)["unfinished"]
        resumed = c.cli(args)
    overshoot_calls = max(0, spent - budget) / largest
    after = read_run(run_root)
    figures = {
        "budget_tokens": budget, "spent_tokens": spent, "largest_call_tokens": largest, "overshoot_calls": overshoot_calls,
        "exit_code_stopped": stopped, "unfinished_at_stop": unfinished, "exit_code_resumed": resumed,
        "neurons_after_resume": neuron_outcomes(run_root),
        "paid_calls": {"answered_by_server": plan.account(MAX_ATTEMPTS).paid, "ledger_paid": after.paid["calls"]},
    }
    c.check(stopped == 3 and bool(unfinished), "budget: the budget did not stop the sweep")
    c.check(overshoot_calls <= 1, "budget: overshot by more than one call")
    c.check(figures["paid_calls"]["answered_by_server"] == after.paid["calls"], "budget: paid calls differ from the answers sent")
    c.check(not figures["neurons_after_resume"]["unfinished"], "budget: the rerun left neurons unfinished")
    return figures


def phase_kill(c: Campaign, kills: int, seed: int) -> dict[str, Any]:
    plan = FaultPlan(EXPLANATION, echo=PLANTED)
    with ChatServer(default=Respond(plan)) as server:
        reference_code = c.cli(c.args(server.base_url, "kill-reference", KILL_NEURONS, concurrency=2))
    reference = final_outputs(c.work / "runs" / "kill-reference")
    reference_finished = finished_neurons(c.work / "runs" / "kill-reference")
    rng = random.Random(seed)
    moments = []
    for number in range(kills):
        killer = KillAt(rng.randint(1, plan.requests))
        killed, rerun = FaultPlan(EXPLANATION, before=killer, echo=PLANTED), FaultPlan(EXPLANATION, echo=PLANTED)
        run = f"kill-{number}"
        run_root = c.work / "runs" / run
        with ChatServer(default=Respond(killed)) as server, c.log.open("ab") as log:
            args = c.args(server.base_url, run, KILL_NEURONS, concurrency=2)
            process = killer.process = start_sweep(args, env=dict(os.environ), stderr=log)
            died = process.wait(timeout=WAIT_S)
            finished = finished_neurons(run_root)
            before = finished_outputs(run_root, list(finished))
            journaled = journaled_calls(run_root)
            server.default = Respond(rerun)
            code = c.cli(args)
        outputs = final_outputs(run_root)
        after = finished_neurons(run_root)
        lost = sorted(k for k in reference_finished if k not in after
                      or outputs.get(f"results/{k}.json") != reference.get(f"results/{k}.json"))
        duplicated = sorted(k for k, text in finished_outputs(run_root, list(finished)).items() if text != before[k])
        moment = {
            "kill_at_request": killer.at, "of_requests": plan.requests, "killed": died == -signal.SIGKILL,
            "finished_before_kill": len(finished), "rerun_exit_code": code, "lost": lost, "duplicate_finished": duplicated,
            "outputs_identical": outputs == reference, "calls_journaled_before_rerun": journaled,
            "calls_asked_by_rerun": rerun.account(MAX_ATTEMPTS, NEURON_CALLS).paid,
            "answers_lost_in_flight": killed.account(MAX_ATTEMPTS, NEURON_CALLS).paid - journaled,
        }
        moments.append(moment)
        c.check(moment["killed"] and code == reference_code, f"kill {number}: not killed, or the rerun ended differently")
        c.check(not lost and not duplicated and moment["outputs_identical"], f"kill {number}: lost, duplicated or different outputs")
        c.check(moment["calls_asked_by_rerun"] == plan.account(MAX_ATTEMPTS, NEURON_CALLS).paid - journaled, f"kill {number}: the rerun re-paid calls")
    return {"neurons": KILL_NEURONS, "reference_requests": plan.requests, "moments": moments,
            "lost": sum(len(m["lost"]) for m in moments), "duplicate_finished": sum(len(m["duplicate_finished"]) for m in moments)}


def phase_lock(c: Campaign) -> dict[str, Any]:
    working, release = threading.Event(), threading.Event()

    def hold(number: int) -> None:
        if number == 5:  # the first sweep's fifth request waits until the second sweep has been refused
            working.set()
            release.wait(timeout=WAIT_S)

    with ChatServer(default=Respond(FaultPlan(EXPLANATION, before=hold, echo=PLANTED))) as server, c.log.open("ab") as log:
        args = c.args(server.base_url, "lock", KILL_NEURONS, concurrency=2)
        first = start_sweep(args, env=dict(os.environ), stderr=log)
        try:
            c.check(working.wait(timeout=WAIT_S), "lock: the first sweep never got going")
            with contextlib.redirect_stderr(message := io.StringIO()):
                second = main(args)
        finally:
            release.set()
        first_code = first.wait(timeout=WAIT_S)
    identical = final_outputs(c.work / "runs" / "lock") == final_outputs(c.work / "runs" / "kill-reference")
    refused = message.getvalue().strip().splitlines()[-1]
    c.check(second == 2 and "in use by another refinery process" in refused and identical, "lock: not refused cleanly")
    return {"second_exit_code": second, "second_message": refused, "first_exit_code": first_code,
            "first_outputs_identical_to_uninterrupted": identical}


def phase_files(c: Campaign) -> dict[str, Any]:
    out = {}
    for name, (damage, says) in RECORD_DAMAGES.items():
        records = Path(shutil.copytree(c.records, c.work / f"records-{name}"))
        path = records / "1" / "2.json"
        damage(path)
        with ChatServer(default=Respond(FaultPlan(EXPLANATION, echo=PLANTED))) as server:
            code = c.cli(c.args(server.base_url, f"files-{name}", "2-3", records=records))
        rows = read_run(c.work / "runs" / f"files-{name}").rows
        reason = rows["1/2"]["error"] or ""
        out[name] = {"exit_code": code, "neuron_1/2": rows["1/2"]["status"], "reason": reason, "neuron_1/3": rows["1/3"]["status"]}
        c.check(code == 1 and reason.startswith(str(path)) and says in reason and rows["1/3"]["status"] == "ok",
                f"files {name}: not failed alone with a reason naming the file")
        if name == "2-gib":
            path.unlink()  # sparse, but no need to keep 2 GiB of address space around
    return out


def phase_secrets(c: Campaign) -> dict[str, Any]:
    for run in sorted(p.name for p in (c.work / "runs").iterdir()):
        c.cli(["report", run, "--runs-dir", str(c.work / "runs"), "--log-level", "debug"])
    files = [p for p in c.work.rglob("*") if p.is_file()]
    leaked = [str(p.relative_to(c.work)) for p in files if PLANTED.encode() in p.read_bytes()]
    redacted = sum(p.read_bytes().count(b"[redacted]") for p in files)
    c.check(not leaked, "secrets: the planted key leaked")
    return {"files_scanned": len(files), "bytes_scanned": sum(p.stat().st_size for p in files),
            "reports": len(list(c.work.glob("runs/*/report/index.html"))), "redactions_found": redacted, "files_with_key": leaked}


def main_bench(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.faults", description="reliability figures from a seeded fault campaign")
    parser.add_argument("--neurons", type=int, default=8, help="neurons of the llm and budget phases (layer 1, from neuron 1)")
    parser.add_argument("--faults-per-kind", type=int, default=2)
    parser.add_argument("--kills", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=None, help="keep the campaign's run folders here (default: a temporary folder)")
    parser.add_argument("--cache-dir", type=Path, default=None, help="token caches (default: the product's cache)")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"), help="default runs: results go to bench/results/ (committed); any other DIR: to DIR/bench/")
    args = parser.parse_args(argv)
    os.environ["OPENAI_API_KEY"] = PLANTED  # every request carries it; nothing may write it down
    neurons = f"1-{args.neurons}"
    with contextlib.ExitStack() as stack:
        work = args.work or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-faults-")))
        c = Campaign(work, args.cache_dir or default_cache_dir())
        llm, llm_plan, llm_tokens = phase_llm(c, neurons, args.faults_per_kind, args.seed)
        result = {
            "command": "python -m bench.faults " + shlex.join(argv if argv is not None else sys.argv[1:]),
            "settings": {"neurons": args.neurons, "faults_per_kind": args.faults_per_kind, "kills": args.kills, "seed": args.seed,
                         "max_retries": MAX_RETRIES},
            "llm": llm, "budget": phase_budget(c, neurons, llm_plan, llm_tokens), "kill": phase_kill(c, args.kills, args.seed),
            "lock": phase_lock(c), "files": phase_files(c),
        }
        result["secrets"] = phase_secrets(c)
        result["invariants_broken"] = c.broken
    path = write_result("faults", result, args.runs_dir)
    print("\n".join(f"{what}: {figure}" for what, figure in figures(result)))
    print(f"all figures: {path}")
    return 1 if result["invariants_broken"] else 0


if __name__ == "__main__":
    sys.exit(main_bench())
