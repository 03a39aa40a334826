"""bench/planted: can the agent recover known rules? Planted neurons with ground truth, per backend.

    .venv/bin/python -m bench.planted [--rules money,numbers] [--llm-base-url URL | --local-gguf FILE --label NAME]

A synthetic subject (SmolLM2's tokenizer, the default corpus) whose neurons follow known rules
(`bench/planted/rules.py`, each computed from its own definition). For each backend (builtin always;
the LLM when an endpoint is given) every neuron is refined by the real agent; its one-shot and
refined explanations, and the rule's ground truth in words, are scored by the same simulator on the
same held-out records. A rule is recovered when its refined explanation reaches 0.9 there. Prints a
table per backend and writes bench/results/planted.json (or --name).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from typing import Any

from agent.logs import configure_logging
from bench.common import write_result
from bench.options import add_options, backends, command_line, llm_endpoint
from bench.planted.rules import RULES, Rule
from bench.planted.run import run_pass
from bench.planted.subject import load_planted
from bench.stats import fmt, fmt_ci


def choose_rules(names: str | None) -> list[Rule]:
    if not names:
        return list(RULES)
    by_name = {r.name: r for r in RULES}
    unknown = [n for n in names.split(",") if n not in by_name]
    if unknown:
        raise SystemExit(f"unknown rule(s) {', '.join(unknown)}; known: {', '.join(by_name)}")
    return [by_name[n] for n in names.split(",")]


def print_pass(result: dict[str, Any]) -> None:
    rows, head = result["neurons"], result["headline"]
    print(f"\n== {result['label']} (simulator {result['simulator']}; held-out records per neuron: "
          f"{rows[0]['heldout_records'] if rows else 0}) ==")
    print(f"{'rule':<20}{'kind':<27}{'1-shot':>7}{'refined':>8}{'words':>6}{'truth':>7}{'iters':>6}  refined explanation")
    for r in rows:
        print(f"{r['rule']:<20}{r['kind']:<27}{fmt(r['oneshot']['score']):>7}{fmt(r['refined']['score']):>8}"
              f"{r['refined']['words'] or 0:>6}{fmt(r['truth_in_words']['score']):>7}{r['iterations']:>6}  "
              f"{(r['refined']['explanation'] or r['error'] or '')[:60]}")
    gain = head["refined_minus_oneshot"]
    print(f"recovered (held-out r >= 0.9): refined {fmt(head['share_refined_recovered'])}, one-shot "
          f"{fmt(head['share_oneshot_recovered'])}; not recovered: {', '.join(head['not_recovered']) or 'none'}")
    print(f"mean held-out r: one-shot {fmt(head['mean_oneshot'], 3)}, refined {fmt(head['mean_refined'], 3)}; gain "
          f"{fmt(gain['mean'], 3)} {fmt_ci(gain['ci'])} (paired bootstrap over {gain['n']} rules); the ground truth in words, "
          f"as this simulator reads it: {fmt(head['mean_truth_in_words'], 3)}")
    print(f"{fmt(head['tokens_per_neuron'], 0)} tokens, ${fmt(head['usd_per_neuron'], 4)}, {fmt(head['seconds_per_neuron'], 1)} s per neuron")
    print_matched(rows, head)
    notes = [f"{r['rule']} ({r['note']})" for r in rows if r.get("note")]
    if notes:
        print(f"beyond the builtin language: {'; '.join(notes)}")
    if head["failed"]:
        print(f"failed: {', '.join(head['failed'])}")


def _scorers(part: dict[str, Any] | None) -> str:
    s = (part or {}).get("scorers") or {}
    return f"{fmt(s.get('detection'))}/{fmt(s.get('fuzzing'))}/{fmt(s.get('f1'))}"


def print_matched(rows: list[dict[str, Any]], head: dict[str, Any]) -> None:
    """Matched baselines and the field's scorers (detection / fuzzing balanced accuracy / F1) per rule."""
    print(f"\n{'rule':<20}{'best-k':>7}{'refit':>7}{'k':>5}  det/fuzz/F1: {'truth':<15}{'shuffled':<15}{'one-shot':<15}{'refined':<15}")
    for r in rows:
        m = r.get("matched") or {}
        print(f"{r['rule']:<20}{fmt((m.get('best_of_k') or {}).get('score')):>7}{fmt((m.get('refit') or {}).get('score')):>7}"
              f"{m.get('k', 0):>5}  {'':<14}{_scorers(r['truth_in_words']):<15}{_scorers(r.get('shuffled')):<15}"
              f"{_scorers(r['oneshot']):<15}{_scorers(r['refined']):<15}")
    for name in ("best_of_k", "refit"):
        gain = head[f"refined_minus_{name}"]
        print(f"refined - {name}: {fmt(gain['mean'], 3)} {fmt_ci(gain['ci'])} over {gain['n']} rules")
    print(f"adopted revisions that answered a named counterexample: {fmt(head['share_adopted_answering_counterexample'])}; "
          f"ground truth's detection on token rules: {fmt(head['truth_detection_token_rules'])}")
    for arm, means in head["field_scorers"].items():
        print(f"  {arm:<15} detection {fmt(means['detection'])}  fuzzing {fmt(means['fuzzing'])}  F1 {fmt(means['f1'])}  "
              f"AUPRC {fmt(means['auprc'])}")


async def run(args: argparse.Namespace, rules: list[Rule]) -> list[dict[str, Any]]:
    subject = load_planted(args.cache_dir, rules)
    passes = []
    for backend in backends(args):
        result = await run_pass(args, subject, backend)
        print_pass(result)
        passes.append(result)
    return passes


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.planted", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rules", help="comma-separated rule names (default: all)")
    parser.add_argument("--name", default="planted", help="results file NAME.json")
    add_options(parser)
    args = parser.parse_args()
    configure_logging(args.log_level)
    rules = choose_rules(args.rules)
    started = time.monotonic()
    with llm_endpoint(args):
        passes = asyncio.run(run(args, rules))
    result = {
        "command": command_line("bench.planted", sys.argv[1:]),
        "wall_seconds": round(time.monotonic() - started, 1), "load_average_at_end": os.getloadavg(),
        "rules": [{"name": r.name, "kind": r.kind, "description": r.description, "note": r.note or None} for r in rules],
        "passes": passes,
    }
    print(f"\nwritten {write_result(args.name, result, args.runs_dir, benchmark='planted')}")


if __name__ == "__main__":
    main()
