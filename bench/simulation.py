"""bench/simulation: can an LLM simulate, and can we read what it writes? Planted rules, one endpoint.

    .venv/bin/python -m bench.simulation --local-gguf FILE [--rules money,water,colours,family]
        [--records 10] [--simulators chat-logprob,chat-logprob-numbered,prompt-logprob]
        [--record-answers tests/simulators/answers/NAME.jsonl] [--label NAME]

Each planted rule's ground truth in words (its description, never an agent's explanation) is
simulated by the endpoint on the rule's held-out records, half top-activating and half random, one
record per request, with each answer format. Per format it reports the share of records read (and
why the others failed), the output tokens and seconds per record, and per rule the pooled r of
what was read against the planted activations. A model that reads the description well scores
above 0 on every token rule; a format that needs fewer output tokens and reads as well is cheaper.
`--simulators prompt-logprob` (the reference's all-at-once method) generates nothing: no output
tokens, nothing to copy, no answer to record. With `--local-gguf` it also measures, in the same run:
- the limit: a plain forward of every record's prompt (from an empty cache, last position's logits
  only), in this process right after the record is scored; the pass reports scoring ÷ forward;
- the baseline: llama-cpp-python's own server (echo logprobs, realigned) on the first
  `--baseline-records` records of each rule, with the local server's seconds on the same records
  and the largest difference between the two paths' expected values at any slot.

`--record-answers` appends every answer, as the model wrote it, to the recorded-answers corpus of
tests/simulators/test_answers.py: the request's tokens, the generated tokens with their top
logprobs, and per record the values the tolerant reader read then (or its reason for failing).
Results: bench/results/NAME.json (default simulation-<label>).
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import sys
import time
from pathlib import Path
from typing import Any, get_args

from pydantic import TypeAdapter

from agent.backends import open_backend
from agent.logs import configure_logging
from agent.records_job import ensure_records, open_records
from bench.common import write_result
from bench.options import (
    LOCAL_CONTEXT_TOKENS,
    add_options,
    command_line,
    fresh_dir,
    llm_endpoint,
    settings_for,
    slug,
)
from bench.planted.__main__ import choose_rules
from bench.planted.rules import Rule
from bench.planted.subject import load_planted
from bench.stats import mean_of, median_of
from tools.evaluate import score_simulations
from tools.formats.openai import ActivationRecord
from tools.llm.openai_client import OpenAIChatLLM
from tools.llm.protocol import (
    LLM,
    LLMRequest,
    LLMResponse,
    PromptScorer,
    PromptScoreRequest,
    PromptScoreResponse,
    TokenLogprob,
)
from tools.records.neuron_data import NeuronData
from tools.records.splits import Split, split_indices
from tools.simulators.base import RecordSimulation
from tools.simulators.rendering import all_at_once_prompt
from tools.simulators.select import LLMSimulatorMethod, choose_llm_simulator

TOKEN_RULES = "money,water,colours,family"
TOKENS = TypeAdapter(list[TokenLogprob])


class RecordingLLM:
    """Passes calls through and keeps the last answer (records are simulated one request at a time)."""

    def __init__(self, inner: LLM) -> None:
        self.inner = inner
        self.last: LLMResponse | None = None

    async def complete(self, request: LLMRequest) -> LLMResponse:
        self.last = None
        self.last = await self.inner.complete(request)
        return self.last

    async def score_prompt(self, request: PromptScoreRequest) -> PromptScoreResponse:
        """Prompt-logprob simulation generates nothing: there is no answer to record or read."""
        self.last = None
        assert isinstance(self.inner, PromptScorer), "prompt-logprob needs an endpoint that scores prompts"
        return await self.inner.score_prompt(request)


def balanced(heldout: list[ActivationRecord], n_top: int, n: int) -> list[ActivationRecord]:
    """`n` held-out records, half from the top-activating part and half from the random part."""
    top, rand = heldout[:n_top], heldout[n_top:]
    half = min(n // 2, len(top))
    return top[:half] + rand[: n - half]


def corpus_entry(name: str, source: str, method: str, tokens: list[str], response: LLMResponse | None,
                 simulation: RecordSimulation) -> dict[str, Any] | None:
    """One answer in the recorded-answers format, or None when no answer came back (nothing to read)."""
    if response is None or not response.logprobs:
        return None
    return {"name": name, "source": source, "method": method, "finish_reason": response.finish_reason,
            "records": [tokens], "truth": [simulation.expected if simulation.ok else None],
            "reason": [None if simulation.ok else simulation.error],
            "logprobs": TOKENS.dump_python(response.logprobs, mode="json")}


async def measure(args: argparse.Namespace, rules: list[Rule]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    subject = load_planted(args.cache_dir, rules)
    work = fresh_dir(args.runs_dir / "bench" / "work" / args.name)
    settings = settings_for(args, "llm", work, work / "records", records_per_split=None)
    ctx = open_records(settings, subject)  # type: ignore[arg-type]
    neurons = list(range(len(rules)))
    ensure_records(ctx, 0, neurons, settings)
    async with open_backend(settings, subject) as backend:  # type: ignore[arg-type]
        assert backend.llm is not None
        llm = RecordingLLM(backend.llm)
        passes, answers = [], []
        chosen = {}
        for neuron, rule in enumerate(rules):
            data = NeuronData(0, neuron, ctx.store.read(0, neuron), None)
            chosen[rule.name] = balanced(data.final_heldout(), n_top(data), args.records)
        args.chosen_records = chosen
        for method in args.simulator_list:
            simulator = backend.simulator(method, llm=llm)
            limit = forward_engine(args) if method == "prompt-logprob" and args.local_gguf else None
            rows = []
            for rule in rules:
                records = chosen[rule.name]
                simulations, per_record = [], []
                for i, record in enumerate(records):
                    started = time.monotonic()
                    [simulation] = await simulator.simulate(rule.description, [record.tokens])
                    seconds = time.monotonic() - started
                    if limit is not None:
                        # Right after the scoring, so both see the machine in the same state.
                        started = time.monotonic()
                        limit.forward(all_at_once_prompt(rule.description, record.tokens).text)
                        per_forward = round(time.monotonic() - started, 2)
                    simulations.append(simulation)
                    usage = llm.last.usage if llm.last is not None else None
                    per_record.append({"read": simulation.ok, "error": simulation.error, "seconds": round(seconds, 2),
                                       "output_tokens": usage.completion_tokens if usage else None}
                                      | ({"plain_forward_seconds": per_forward} if limit is not None else {}))
                    entry = corpus_entry(f"{slug(args.source)}/{method}/{rule.name}/{i}", args.source, method,
                                         list(record.tokens), llm.last, simulation)
                    if entry is not None:
                        answers.append(entry)
                    print(f"{method:<24}{rule.name:<12}{i:>3} {'read' if simulation.ok else 'FAILED':<7}{seconds:>6.1f} s  "
                          f"{(simulation.error or '')[:60]}", flush=True)
                score = score_simulations(rule.description, records, simulations, "test", method)
                rows.append({"rule": rule.name, "kind": rule.kind, "description": rule.description, "records": len(records),
                             "read": sum(s.ok for s in simulations), "score": score.score, "failed_records": score.n_failed,
                             "value_mass": score.value_mass,
                             "per_record": per_record,
                             "expected": [s.expected if s.ok else None for s in simulations]})
            if limit is not None:
                limit.close()
            passes.append(summarise(method, rows))
    return passes, answers


def forward_engine(args: argparse.Namespace) -> Any:
    """The GGUF loaded in this process, for the plain forwards that are the limit of prompt scoring."""
    from tools.llm.llama_engine import LlamaEngine

    return LlamaEngine(args.local_gguf, n_ctx=LOCAL_CONTEXT_TOKENS, n_threads=args.local_threads)


async def baseline_pass(args: argparse.Namespace, rules: list[Rule]) -> dict[str, Any]:
    """llama-cpp-python's own server on the first `--baseline-records` records of each rule."""
    from bench.support import llama_cpp_python
    from tools.llm.local_server import LocalServer

    with LocalServer(args.local_gguf, alias=args.llm_model, n_ctx=LOCAL_CONTEXT_TOKENS, n_threads=args.local_threads,
                     command=llama_cpp_python.command) as server:
        config = server.llm_config(prompt_logprob_offsets=False, prompt_logprobs_shifted=True, timeout_s=args.llm_timeout_s)
        async with OpenAIChatLLM(config) as llm:
            simulator = choose_llm_simulator(llm, "prompt-logprob")
            rows = []
            for rule in rules:
                for i, record in enumerate(args.chosen_records[rule.name][: args.baseline_records]):
                    started = time.monotonic()
                    [simulation] = await simulator.simulate(rule.description, [record.tokens])
                    seconds = round(time.monotonic() - started, 2)
                    rows.append({"rule": rule.name, "record": i, "seconds": seconds, "read": simulation.ok,
                                 "expected": simulation.expected if simulation.ok else None})
                    print(f"{'baseline':<24}{rule.name:<12}{i:>3} {'read' if simulation.ok else 'FAILED':<7}{seconds:>6.1f} s",
                          flush=True)
    return {"path": llama_cpp_python.DESCRIPTION, "rows": rows}


def speed_summary(result: dict[str, Any], baseline: dict[str, Any]) -> dict[str, Any]:
    """Scoring ÷ plain forward over every record, and the baseline against the local server on its records."""
    by_rule = {row["rule"]: row for row in result["rules"]}
    scoring = [r["seconds"] for row in result["rules"] for r in row["per_record"]]
    plain = [r["plain_forward_seconds"] for row in result["rules"] for r in row["per_record"]]
    same_new, same_old, differences = [], [], []
    for row in baseline["rows"]:
        mine = by_rule[row["rule"]]
        same_new.append(mine["per_record"][row["record"]]["seconds"])
        same_old.append(row["seconds"])
        ours = mine["expected"][row["record"]]
        if ours is not None and row["expected"] is not None:
            differences.append(max(abs(a - b) for a, b in zip(ours, row["expected"], strict=True)))
    return {
        "seconds_per_record": round(sum(scoring) / len(scoring), 2),
        "plain_forward_seconds_per_record": round(sum(plain) / len(plain), 2),
        "ratio_to_plain_forward": round(sum(scoring) / sum(plain), 3),
        "baseline": {
            "path": baseline["path"], "records": len(same_old),
            "seconds_per_record": round(sum(same_old) / len(same_old), 2) if same_old else None,
            "local_server_seconds_per_record": round(sum(same_new) / len(same_new), 2) if same_new else None,
            "speedup": round(sum(same_old) / sum(same_new), 2) if same_new else None,
            "records_read": sum(1 for row in baseline["rows"] if row["read"]),
            "max_expected_value_difference": round(max(differences), 5) if differences else None,
        },
    }


def n_top(data: NeuronData) -> int:
    """How many of the held-out records come from the top-activating part (they come first)."""
    top, rand = data.record.most_positive_activation_records, data.record.random_sample
    return len(split_indices(Split.HELDOUT, len(top), len(rand), data.n_per_split).top)


def summarise(method: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    records = [r for row in rows for r in row["per_record"]]
    failures: dict[str, int] = {}
    for r in records:
        if not r["read"]:
            # "token 3 (' x'): why" -> "why": the reason, without the record's own token
            reason = (r["error"] or "unknown").rsplit("): ", 1)[-1]
            failures[reason] = failures.get(reason, 0) + 1
    return {
        "simulator": method, "rules": rows, "records": len(records),
        "share_read": round(sum(r["read"] for r in records) / len(records), 4) if records else None,
        "failure_reasons": failures,
        "output_tokens_per_record": mean_of([r["output_tokens"] for r in records]),
        "seconds_per_record": mean_of([r["seconds"] for r in records]),
        "rules_scoring_above_0": sum(1 for row in rows if row["score"] is not None and row["score"] > 0),
        # Probability the model put on values at a median slot, before renormalizing (tools/evaluate.py).
        "median_value_mass": median_of([row["value_mass"] for row in rows]),
        "mean_score": mean_of([row["score"] for row in rows]),
    }


def print_pass(result: dict[str, Any]) -> None:
    print(f"\n== {result['simulator']}: {result['records']} records, read {result['share_read']}, "
          f"{result['output_tokens_per_record']} output tokens and {result['seconds_per_record']} s per record ==")
    if "speed" in result:
        speed, base = result["speed"], result["speed"]["baseline"]
        print(f"  scoring ÷ plain forward: {speed['ratio_to_plain_forward']} ({speed['seconds_per_record']} s vs "
              f"{speed['plain_forward_seconds_per_record']} s per record)")
        print(f"  baseline ({base['path']}): {base['seconds_per_record']} s per record on {base['records']} records, "
              f"local server {base['local_server_seconds_per_record']} s on the same: {base['speedup']}x; "
              f"largest EV difference {base['max_expected_value_difference']}")
    for row in result["rules"]:
        print(f"  {row['rule']:<14}read {row['read']:>2}/{row['records']:<3} r {row['score']}  value mass {row['value_mass']}")
    if result["failure_reasons"]:
        print(f"  failures: {result['failure_reasons']}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.simulation", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rules", default=TOKEN_RULES, help="planted rules whose ground truth is simulated")
    parser.add_argument("--records", type=int, default=10, help="held-out records per rule (half top, half random)")
    parser.add_argument("--simulators", default="chat-logprob,chat-logprob-numbered", help="answer formats to measure")
    parser.add_argument("--record-answers", type=Path, help="append every answer to this recorded-answers file (.jsonl, or .jsonl.gz)")
    parser.add_argument("--source", help="the model's name in the recorded answers (default: --label)")
    parser.add_argument("--name", help="results file NAME.json (default: simulation-<label>)")
    parser.add_argument("--baseline-records", type=int, default=1,
                        help="with --local-gguf and prompt-logprob: records per rule also scored by llama-cpp-python's "
                             "own server, the slow path it replaced (0: skip)")
    add_options(parser)
    args = parser.parse_args()
    if not (args.llm_base_url or args.local_gguf):
        parser.error("give an endpoint: --llm-base-url URL or --local-gguf FILE")
    args.simulator_list = [method for method in args.simulators.split(",") if method in get_args(LLMSimulatorMethod)]
    if len(args.simulator_list) != len(args.simulators.split(",")):
        parser.error(f"--simulators: choose from {', '.join(get_args(LLMSimulatorMethod))}")
    configure_logging(args.log_level)
    rules = choose_rules(args.rules)
    started = time.monotonic()
    with llm_endpoint(args):
        args.label = args.label or args.llm_model
        args.source = args.source or args.label
        args.name = args.name or f"simulation-{slug(args.label)}"
        passes, answers = asyncio.run(measure(args, rules))
    timed = next((p for p in passes if p["simulator"] == "prompt-logprob"), None) if args.local_gguf else None
    if timed is not None:
        # After the local server has stopped: the baseline's server has the cores to itself.
        baseline = (asyncio.run(baseline_pass(args, rules)) if args.baseline_records
                    else {"path": None, "rows": []})
        timed["speed"] = speed_summary(timed, baseline)
    for result in passes:
        print_pass(result)
    if args.record_answers is not None:
        opener = gzip.open if args.record_answers.suffix == ".gz" else open
        with opener(args.record_answers, "at", encoding="utf-8") as out:
            for entry in answers:
                out.write(json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n")
        print(f"\n{len(answers)} answers appended to {args.record_answers}")
    result = {"command": command_line("bench.simulation", sys.argv[1:]), "label": args.label,
              "wall_seconds": round(time.monotonic() - started, 1), "passes": passes}
    print(f"written {write_result(args.name, result, args.runs_dir, benchmark='simulation')}")


if __name__ == "__main__":
    main()
