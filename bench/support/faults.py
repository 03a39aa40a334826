"""Fault injection on the loopback chat server, and the server's own account of what it did.

A `FaultPlan` is the server's default behaviour (`ChatServer(default=Respond(plan))`). It answers
every request as the test brain does, except the calls a `Fault` targets. A call is keyed by its
request body: a retry sends the same body again, so the key follows one logical call through all
its attempts, and the plan counts attempts per call at the server, independently of the client.

The plan also counts every answer a client could use (a 200 carrying a chat completion, even one
whose content is useless): those are the calls a provider bills, so a run's ledger must count
exactly that many paid calls. Answers carry realistic usage (prompt characters / 4 tokens), so
token budgets are spent at about the rate the client estimates them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, get_args

from bench.support.brain import brain_behaviour
from bench.support.chat_server import Answer, Behaviour, Malformed, Reset, Slow, Status, Truncated
from graphs.trace import ModelCalled, read_trace
from tools.llm.journal import CallJournal
from tools.llm.preflight import JOURNAL_SCOPE, READING_EXPLANATION

CallKind = Literal["explain", "simulate", "revise", "probe", "preflight"]
NEURON_CALLS: frozenset[CallKind] = frozenset({"explain", "simulate", "revise", "probe"})
"""The calls of the neurons' work; the preflight's calls are each command's own (a rerun pays them again)."""

TransportFault = Literal["429-retry-after", "429", "500", "reset", "hang", "truncated", "non-json"]
"""Failed attempts: the client must retry them, a bounded number of times. None of them is paid."""
ContentFault = Literal["missing-logprobs", "no-digit-logprobs", "empty-explanation", "long-explanation"]
"""Well-formed answers (paid, never retried) whose content is missing, degraded or unusable."""
FaultKind = TransportFault | ContentFault

TRANSPORT_FAULTS: tuple[TransportFault, ...] = get_args(TransportFault)
CONTENT_FAULTS: tuple[ContentFault, ...] = get_args(ContentFault)

# How each prompt's system message starts (the brain tells them apart the same way).
_SYSTEM_PREFIXES: dict[str, CallKind] = {
    "We are studying neurons": "explain", "You predict how strongly": "simulate",
    "You revise explanations of neurons": "revise", "You write test texts": "probe", "You check an endpoint": "preflight",
}
MAX_RETRIES = 3
MAX_ATTEMPTS = MAX_RETRIES + 1
TIMEOUT_S = 5.0
"""Per attempt: far above a loopback answer, so only a hung reply ever times out."""
LONG_EXPLANATION_CHARS = 200_000
HANG_S = 600.0
"""A hung reply waits this long (the server's stop wakes it): far past any client timeout."""


def call_kind(body: Any) -> CallKind:
    """Which call a request body is; the simulator's preflight is a simulation of the reading record."""
    system = body["messages"][0]["content"]
    for prefix, kind in _SYSTEM_PREFIXES.items():
        if system.startswith(prefix):
            reading = kind == "simulate" and f"Explanation: {READING_EXPLANATION}\n" in body["messages"][-1]["content"]
            return "preflight" if reading else kind
    raise AssertionError(f"unknown prompt: {system[:80]!r}")


@dataclass(frozen=True)
class Fault:
    """Hit the `nth` distinct call of kind `call` (in order of first arrival) with `kind`, on its
    first `times` attempts. With `times` above the client's attempt limit the call fails for good,
    and the one fault left unserved shows that the client stopped at its limit."""

    kind: FaultKind
    call: CallKind
    nth: int = 0
    times: int = 1


@dataclass
class CallLog:
    kind: CallKind
    fault: Fault | None
    key: str = ""
    """The call's request body, hashed: the same for every attempt of it, and in every run that makes it."""
    outcomes: list[str] = field(default_factory=list)
    """Per attempt at the server, in order: the fault served, or "answer"."""

    def faulted(self) -> int:
        return sum(outcome != "answer" for outcome in self.outcomes)


@dataclass(frozen=True)
class Account:
    """What the server did, split into logical calls: a call ends at a paid answer, or after
    `max_attempts` failed attempts in a row (the client gave up). Valid when calls that share a
    body do not overlap in time (one neuron at a time), which fault tests arrange."""

    paid: int
    """Answers a client could use: the calls a provider bills."""
    recovered: int
    """Failed attempts that a later attempt of the same call recovered from."""
    gave_up: int
    """Calls whose every attempt failed."""
    unfinished: int
    """Calls left mid-retry (a killed client)."""
    faults: Counter[str]
    """Faulty replies served, per kind."""


def _realistic(answer: Answer, body: Any) -> Answer:
    # The brain reports 11 prompt tokens for every prompt; a server counts about 4 characters a token.
    return replace(answer, prompt_tokens=max(1, sum(len(m["content"]) for m in body["messages"]) // 4))


def _no_digit_alternatives(answer: Answer) -> Answer:
    """The same re-emission, but no top alternative at any position is a value token."""
    assert answer.logprobs is not None, "no-digit-logprobs targets simulate calls"
    pieces = [(token, logprob, [(" lots", logprob), (" none", logprob - 1.0)] if token.strip().isdigit() else top)
              for token, logprob, top in answer.logprobs]
    return replace(answer, logprobs=pieces)


def faulty(kind: FaultKind, answer: Answer, max_tokens: int, echo: str = "") -> Behaviour:
    """The behaviour serving `kind` in place of the correct `answer` to a request capped at
    `max_tokens`; error bodies end with `echo`."""
    match kind:
        case "429-retry-after":
            return Status(429, "rate limited" + echo, retry_after="0")
        case "429":
            return Status(429, "rate limited" + echo)
        case "500":
            return Status(500, "internal error" + echo)
        case "reset":
            return Reset()
        case "hang":
            return Slow(HANG_S, then=Status(504, "too late" + echo))
        case "truncated":
            return Truncated()
        case "non-json":
            return Malformed(f"<html><body>502 Bad Gateway{echo}</body></html>".encode(), "text/html")
        case "missing-logprobs":
            return replace(answer, logprobs=None)
        case "no-digit-logprobs":
            return _no_digit_alternatives(answer)
        case "empty-explanation":
            return replace(answer, content="")
        case "long-explanation":
            # A degenerate run of one character, cut at the cap as servers do: no word to keep (a long
            # answer of words is capped at the word limit instead); the bill is the cap's.
            return replace(answer, content="=" * LONG_EXPLANATION_CHARS, completion_tokens=max_tokens, finish_reason="length")


class FaultPlan:
    """`Respond(plan)`: the brain's answers, with `faults` injected; `before(n)` runs at the n-th
    request. With `echo`, error bodies quote it, as a server that echoes the credential it was sent.
    `by_body` plans faults by request body instead (see `replaying`)."""

    def __init__(self, explanation: str, faults: Sequence[Fault] = (), before: Callable[[int], None] | None = None,
                 echo: str | None = None, by_body: Mapping[str, Fault] | None = None) -> None:
        self._brain = brain_behaviour(explanation)
        self._echo = f" (key {echo} rejected)" if echo else ""
        self._faults = {(f.call, f.nth): f for f in faults}
        if len(self._faults) != len(faults):
            raise ValueError("two faults target the same call")
        self._by_body = dict(by_body or {})
        self.before = before
        self._lock = threading.Lock()
        self._calls: dict[str, CallLog] = {}
        self._distinct: Counter[CallKind] = Counter()
        self.requests = 0

    def __call__(self, body: Any) -> Behaviour:
        if body is None:
            # A client killed while sending (kill -9 moments): nothing to answer, nothing to count.
            raise ConnectionAbortedError("the client's request arrived torn")
        with self._lock:
            self.requests += 1
            number = self.requests
        if self.before is not None:
            self.before(number)  # outside the lock: a hook may block this request (and only this one)
        kind = call_kind(body)
        key = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        with self._lock:
            log = self._calls.get(key)
            if log is None:
                planned = self._by_body[key] if key in self._by_body else self._faults.get((kind, self._distinct[kind]))
                log = self._calls[key] = CallLog(kind, planned, key)
                self._distinct[kind] += 1
            fault = log.fault if log.fault is not None and log.faulted() < log.fault.times else None
            log.outcomes.append(fault.kind if fault is not None else "answer")
        answer = _realistic(self._brain(body), body)  # type: ignore[arg-type]
        return faulty(fault.kind, answer, body["max_tokens"], self._echo) if fault is not None else answer

    @classmethod
    def replaying(cls, other: FaultPlan, explanation: str, echo: str | None = None) -> FaultPlan:
        """A plan serving `other`'s faults to the same calls, recognised by their request bodies, in
        whatever order they arrive: a neuron meets the same faults however many run at once."""
        return cls(explanation, echo=echo, by_body={log.key: log.fault for log in other.targeted() if log.fault is not None})

    @property
    def calls(self) -> list[CallLog]:
        with self._lock:
            return [replace(log, outcomes=list(log.outcomes)) for log in self._calls.values()]

    def targeted(self) -> list[CallLog]:
        """The calls a fault hit, in order of first arrival."""
        return [log for log in self.calls if log.fault is not None]

    def account(self, max_attempts: int, kinds: frozenset[CallKind] = frozenset(get_args(CallKind))) -> Account:
        """What the server served to the calls of `kinds` (every kind unless told)."""
        paid = recovered = gave_up = unfinished = 0
        faults: Counter[str] = Counter()
        for log in self.calls:
            if log.kind not in kinds:
                continue
            run = 0
            for outcome in log.outcomes:
                if outcome == "answer" or outcome in CONTENT_FAULTS:
                    paid += 1
                    recovered += run
                    run = 0
                else:
                    run += 1
                    if run == max_attempts:
                        gave_up += 1
                        run = 0
                if outcome != "answer":
                    faults[outcome] += 1
            unfinished += run > 0
        return Account(paid, recovered, gave_up, unfinished, faults)


@dataclass(frozen=True)
class RunView:
    """What a sweep's run folder says about itself: per-neuron outcome, spend, and calls as traced."""

    rows: dict[str, dict[str, Any]]
    """summary.json rows by "layer/neuron"."""
    manifest: dict[str, str]
    manifest_errors: dict[str, str]
    paid: dict[str, Any]
    """ledger.json's paid calls of the run (the journal's count: each completed call once)."""
    this_process: dict[str, Any]
    """ledger.json's count of the last process's calls, retries and failures (the client's view)."""
    traced_retries: int
    """Retries of the answered, non-cached calls, as the traces record them."""
    traced_failures: int
    """Calls that failed for good, as the traces record them."""


def read_run(run_root: Path) -> RunView:
    rows = json.loads((run_root / "summary.json").read_text())["neurons"]
    manifest = json.loads((run_root / "manifest.json").read_text())
    ledger = json.loads((run_root / "ledger.json").read_text())
    retries = failures = 0
    for path in sorted((run_root / "traces").glob("*/*.jsonl")):
        for event in read_trace(path, completed_only=False):  # interrupted attempts made their calls too
            if isinstance(event, ModelCalled) and not event.cached:
                retries += event.retries
                failures += event.error is not None
    return RunView(
        rows={f"{r['layer']}/{r['neuron']}": r for r in rows}, manifest=manifest["neurons"],
        manifest_errors=manifest.get("errors", {}), paid=ledger["paid"]["total"], this_process=ledger["this_process"]["total"],
        traced_retries=retries, traced_failures=failures,
    )


VOLATILE = frozenset({"ts", "span_id", "seconds"})
"""Fields of a neuron's result (at any depth) and summary row that differ between any two runs with the
same answers: the result's event timestamp and span id, and wall-time seconds. Everything else (scores, spend,
explanations, iterations) must be identical whether or not a run was interrupted."""


def final_outputs(run_root: Path) -> dict[str, Any]:
    """A run's outputs, comparable across runs: every result (without `VOLATILE` fields), exported
    explanation, score and probe file, the summary's rows and totals, the manifest and the paid calls."""
    out: dict[str, Any] = {}
    for path in sorted(run_root.glob("results/*/*.json")):
        out[str(path.relative_to(run_root))] = _steady(json.loads(path.read_text()))
    for path in sorted(run_root.glob("explanations/*/*.jsonl")):  # the export carries the output side too
        out[str(path.relative_to(run_root))] = [_steady(json.loads(line)) for line in path.read_text().splitlines()]
    for pattern in ("scores/*/*/*.json", "probes/*/*/*"):
        for path in sorted(run_root.glob(pattern)):
            out[str(path.relative_to(run_root))] = path.read_text()
    summary = json.loads((run_root / "summary.json").read_text())
    out["summary.json"] = {"totals": summary["totals"], "failed": summary["failed"], "unfinished": summary["unfinished"],
                           "neurons": [{k: v for k, v in row.items() if k not in VOLATILE} for row in summary["neurons"]]}
    out["manifest.json"] = json.loads((run_root / "manifest.json").read_text())
    out["paid by the neurons"] = _neuron_spend(run_root)
    return out


def _steady(value: Any) -> Any:
    """`value` without `VOLATILE` fields at any depth (the output side times itself too)."""
    if isinstance(value, dict):
        return {k: _steady(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_steady(v) for v in value]
    return value


def _neuron_spend(run_root: Path) -> tuple[float, int, int]:
    """(usd, tokens, calls) of the paid calls the run's journal holds for its neurons: all but the
    preflight's, which every command (a rerun too) pays for itself."""
    journal = CallJournal(run_root / "journal.sqlite")
    try:
        total, preflight = journal.spent(""), journal.spent(JOURNAL_SCOPE)
    finally:
        journal.close()
    return round(total[0] - preflight[0], 9), total[1] - preflight[1], total[2] - preflight[2]


REPO = Path(__file__).resolve().parents[2]



def finished_neurons(run_root: Path) -> dict[str, str]:
    """The run's manifest: status of every finished neuron ("L/N" -> status); empty before any."""
    path = run_root / "manifest.json"
    return json.loads(path.read_text())["neurons"] if path.is_file() else {}


def finished_outputs(run_root: Path, keys: list[str]) -> dict[str, tuple[str, str]]:
    """(trace, result) text of each finished neuron, to check that a rerun leaves them alone."""
    return {key: ((run_root / "traces" / f"{key}.jsonl").read_text(), (run_root / "results" / f"{key}.json").read_text())
            for key in keys}


def journaled_calls(run_root: Path) -> int:
    """Paid calls of the neurons the run's journal holds (0 for a run killed before its environment was open)."""
    return _neuron_spend(run_root)[2] if (run_root / "journal.sqlite").is_file() else 0


def sweep_args(runs_dir: Path, cache: Path, records: Path, base_url: str, *, run: str = "s", layer: int = 1,
               neurons: str = "1-3", concurrency: int = 1) -> list[str]:
    """`refinery sweep` on the tiny model with small refinement settings (those of tests/sweep's
    `sweep_settings`: one probe-and-revise round, one explanation and one revision, two records per
    split), through the real client with `MAX_RETRIES` and `TIMEOUT_S`. `--backend llm` explicitly: with
    OPENAI_API_KEY set and no dollar budget, `auto` would refuse to start. `--triage none`: faults
    target calls by their order of arrival, so neurons are refined in the given order."""
    return ["sweep", "--run", run, "--runs-dir", str(runs_dir), "--layers", str(layer), "--neurons", neurons,
            "--model", "tiny-llama", "--corpus", "pydoc", "--cache-dir", str(cache), "--excerpt-tokens", "32",
            "--max-excerpts", "200", "--top-k", "20", "--n-random", "15", "--records", str(records),
            "--max-iters", "1", "--n-explanations", "1", "--n-revisions", "1", "--probes-per-generator", "1",
            "--records-per-split", "2", "--backend", "llm", "--triage", "none", "--llm-base-url", base_url, "--llm-max-retries", str(MAX_RETRIES),
            "--llm-timeout-s", str(TIMEOUT_S), "--concurrency", str(concurrency)]


def start_sweep(args: list[str], env: dict[str, str] | None = None, stderr: Any = subprocess.DEVNULL) -> subprocess.Popen[bytes]:
    """`refinery` in its own process (one that can be killed, or hold a run's lock); without `env`,
    this process's environment minus OPENAI_API_KEY."""
    env = env if env is not None else {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    return subprocess.Popen([sys.executable, "-m", "agent.cli.main", *args], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=stderr)


class KillAt:
    """A `FaultPlan` hook: SIGKILL `process` when its `at`-th request arrives (before it is answered)."""

    def __init__(self, at: int) -> None:
        self.at = at
        self.process: subprocess.Popen[bytes] | None = None

    def __call__(self, number: int) -> None:
        if number == self.at:
            assert self.process is not None
            self.process.kill()


def _edit(change: Callable[[dict[str, Any]], None]) -> Callable[[Path], None]:
    """Damage a record file by changing its decoded JSON (written back with NaN/Infinity allowed)."""

    def damage(path: Path) -> None:
        record = json.loads(path.read_text())
        change(record)
        path.write_text(json.dumps(record))

    return damage


def _first(record: dict[str, Any]) -> dict[str, Any]:
    return record["most_positive_activation_records"][0]


def _copy_neuron(other: int) -> Callable[[Path], None]:
    return lambda path: shutil.copyfile(path.with_name(f"{other}.json"), path)


RECORD_DAMAGES: dict[str, tuple[Callable[[Path], None], str]] = {
    # name: (damage, what the error must say besides the file's path); for the record of a neuron
    # whose 32-token excerpts are those of `sweep_args`, in a directory that also holds neuron 1.
    "truncated": (lambda p: p.write_text(p.read_text()[: p.stat().st_size // 2]), "not valid JSON"),
    "wrong-types": (_edit(lambda r: _first(r).__setitem__("activations", "very high")), "most_positive_activation_records.0.activations"),
    "nan": (_edit(lambda r: _first(r)["activations"].__setitem__(0, float("nan"))), "must be finite"),
    "inf": (_edit(lambda r: _first(r)["activations"].__setitem__(3, float("inf"))), "must be finite"),
    "length-mismatch": (_edit(lambda r: _first(r)["activations"].pop()), "32 tokens but 31 activations"),
    "unknown-dataclass": (_edit(lambda r: r.__setitem__("dataclass_name", "NeuronRecordV9")), "'NeuronRecordV9' is not a NeuronRecord"),
    "other-neuron": (_copy_neuron(1), "holds neuron 1/1"),
    # Sparse: takes no disk, and must be refused by its size, never read.
    "2-gib": (lambda p: os.truncate(p, 2 * 2**30), "2048 MiB, more than the 256 MiB limit"),
}
