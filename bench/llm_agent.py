"""bench/llm_agent: does a real LLM run the whole loop, and does the loop improve what it writes?

    .venv/bin/python -m bench.llm_agent --local-gguf FILE [--rules money,after-I,...] [--real-layers 2,8]
        [--real-per-layer 4] [--max-excerpts 2000] [--llm-defaults] [--name llm-agent]

One LLM in every role (explainer, prober, reviser, and the simulator: prompt-logprob unless
`--simulator` names another LLM method, such as chat-highlight), on planted
rules (ground truth known) and on real SmolLM2-135M neurons. Per neuron, on the same held-out
records (both passes read the same records, with the same records per split):
- the LLM's one-shot (best-of-n) and refined explanations, from the agent with the LLM backend;
- the builtin backend's refined explanation;
- for planted rules, the ground truth in words.
Every explanation is scored by both simulators, the LLM's and the builtin: the 2×2
says whether the LLM's explanations are better, or only read differently. Per neuron it also keeps
the LLM calls per role, tokens, seconds, and each adopted revision with the counterexamples it
answered. Headline: planted, LLM refined − LLM one-shot (LLM simulator) with a paired 95% CI;
real, the share of neurons where LLM refined ≥ LLM one-shot.

`--with-builtin-judge` adds a third pass: the same LLM explains, probes and revises while the free
builtin simulator judges the loop (the one-shot choice and each adoption). It asks whether the loop
improves what the LLM writes once its judge can tell explanations apart, which the small LLM's own
simulator could not.

Resumable: the agent's runs live in RUNS_DIR/bench/work/NAME/ (not wiped), each finished neuron's
row is kept there, and a rerun of the same command goes on where it stopped. `--limit N` stops
after N new neurons, so a long measurement can be taken in parts; the results file says which
neurons it holds and whether the sample is complete.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.logs import configure_logging
from agent.refine_job import RefineEnvironment, refine_neuron
from agent.refine_setup import open_refine_environment
from bench.common import write_result
from bench.options import add_options, command_line, llm_endpoint, settings_for
from bench.planted.__main__ import choose_rules
from bench.planted.rules import Rule
from bench.planted.subject import load_planted
from bench.real import sample_neurons
from bench.stats import mean_of, paired_gain
from graphs.trace import trace_path
from tools.atomic import atomic_write_json
from tools.evaluate import score_explanation
from tools.formats.openai import ActivationRecord
from tools.records.neuron_data import NeuronData
from tools.simulators.base import Simulator
from tools.subject.base import SubjectModel

RULES = "colours,after-I,new-york,numbers,inside-parens,punctuation-graded,money,more-than"
"""At least one rule of each kind: token set, class, previous token, phrase, structure, graded."""
ARMS = ("llm_oneshot", "llm_refined", "builtin_refined", "truth")
JUDGED_ARMS = ("judged_oneshot", "judged_refined")
"""`--with-builtin-judge`: the same LLM writes, probes and revises while the builtin simulator judges the loop."""
SIMULATORS = ("llm", "builtin")
SMOLLM2 = {"layers": 30, "d_mlp": 1536}


@dataclass
class Neuron:
    part: str  # "planted" or "real"
    layer: int
    neuron: int
    rule: Rule | None = None

    @property
    def key(self) -> str:
        return row_key(self.part, self.layer, self.neuron)


def row_key(part: str, layer: int, neuron: int) -> str:
    """A neuron's name in the work folder's rows/ and in `--continue-from`."""
    return f"{part}-{layer}-{neuron}"


def row_path(rows_dir: Path, key: str) -> Path:
    return rows_dir / f"{key}.json"


def adopted_revisions(env: RefineEnvironment, layer: int, neuron: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """From the neuron's trace: each adopted revision with the counterexamples it answered, and the
    LLM calls, prompt and completion tokens and seconds per role."""
    path = trace_path(env.run.root, layer, neuron)
    adopted: list[dict[str, Any]] = []
    calls: dict[str, dict[str, float]] = {}
    if not path.is_file():
        return adopted, calls
    for line in path.read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        # Round 0 adopts the best one-shot candidate; revisions are adopted from round 1 on.
        if event["type"] == "candidate_judged" and event["adopted"] and (event.get("iteration") or 0) >= 1:
            adopted.append({"iteration": event.get("iteration"), "explanation": event["explanation"],
                            "answers": event.get("answers", []), "reason": event["reason"], "delta": event.get("delta")})
        elif event["type"] == "model_called" and not event.get("cached"):
            role = calls.setdefault(event["purpose"], {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "seconds": 0.0})
            role["calls"] += 1
            role["prompt_tokens"] += event.get("prompt_tokens", 0)
            role["completion_tokens"] += event.get("completion_tokens", 0)
            role["seconds"] = round(role["seconds"] + event.get("latency_s", 0.0), 2)
    return adopted, calls


async def score(text: str | None, heldout: list[ActivationRecord], simulator: Simulator, seed: int) -> float | None:
    if not text:
        return None
    return (await score_explanation(text, heldout, simulator, "test", with_ci=False, seed=seed)).score


def _heldout(final: dict[str, Any], name: str) -> tuple[str, float | None] | None:
    """(explanation, held-out r) that an agent's finalize measured for its `name` explanation, if it did."""
    result = final.get(name)
    if not result or not result.get("explanation") or "heldout_score" not in result:
        return None
    return result["explanation"], result["heldout_score"]


async def run_neuron(args: argparse.Namespace, item: Neuron, llm_env: RefineEnvironment, builtin_env: RefineEnvironment,
                     judged_env: RefineEnvironment | None = None) -> dict[str, Any]:
    # A neuron whose trace exists already was started by an earlier command: it resumes from its
    # checkpoint, and this command's seconds are only what was left.
    resumed = trace_path(llm_env.run.root, item.layer, item.neuron).is_file()
    started = time.monotonic()
    llm_final = await refine_neuron(llm_env, item.layer, item.neuron)
    llm_seconds = time.monotonic() - started
    started = time.monotonic()
    builtin_final = await refine_neuron(builtin_env, item.layer, item.neuron)
    builtin_seconds = time.monotonic() - started
    judged: dict[str, Any] | None = None
    if judged_env is not None:
        started = time.monotonic()
        judged_final = await refine_neuron(judged_env, item.layer, item.neuron)
        judged_adopted, judged_calls = adopted_revisions(judged_env, item.layer, item.neuron)
        judged = {"status": judged_final["status"], "stop": judged_final["stop"], "iterations": judged_final["iterations"],
                  "seconds": round(time.monotonic() - started, 1), "calls": judged_calls, "adopted": judged_adopted,
                  "oneshot": (judged_final.get("oneshot") or {}).get("explanation"),
                  "refined": (judged_final.get("refined") or {}).get("explanation"),
                  "heldout_oneshot": _heldout(judged_final, "oneshot"), "heldout_refined": _heldout(judged_final, "refined")}
    heldout = NeuronData(item.layer, item.neuron, llm_env.store.read(item.layer, item.neuron), llm_env.records_per_split).final_heldout()
    texts = {
        "llm_oneshot": (llm_final.get("oneshot") or {}).get("explanation"),
        "llm_refined": (llm_final.get("refined") or {}).get("explanation"),
        "builtin_refined": (builtin_final.get("refined") or {}).get("explanation"),
        "truth": item.rule.description if item.rule is not None else None,
    }
    if judged is not None:
        texts |= {"judged_oneshot": judged.pop("oneshot"), "judged_refined": judged.pop("refined")}
    simulators: dict[str, Simulator] = {"llm": llm_env.backend.simulator(args.simulator),
                                        "builtin": builtin_env.backend.simulator("builtin")}
    # What each agent's finalize already measured is that same simulation of those same records (the local
    # server answers bit-identically): reused, not paid again (on a CPU, 20 LLM simulations a neuron).
    measured = {("llm", "llm_oneshot"): _heldout(llm_final, "oneshot"), ("llm", "llm_refined"): _heldout(llm_final, "refined"),
                ("builtin", "builtin_refined"): _heldout(builtin_final, "refined")}
    if judged is not None:
        measured |= {("builtin", "judged_oneshot"): judged.pop("heldout_oneshot"),
                     ("builtin", "judged_refined"): judged.pop("heldout_refined")}
    scores: dict[str, dict[str, float | None]] = {}
    for sim_name, simulator in simulators.items():
        scores[sim_name] = {}
        for arm, text in texts.items():
            known = measured.get((sim_name, arm))
            scores[sim_name][arm] = known[1] if known is not None and known[0] == text else await score(
                text, heldout, simulator, args.seed)
    adopted, calls = adopted_revisions(llm_env, item.layer, item.neuron)
    return {
        "part": item.part, "layer": item.layer, "neuron": item.neuron,
        "rule": item.rule.name if item.rule else None, "kind": item.rule.kind if item.rule else None,
        "explanations": texts, "scores": scores, "heldout_records": len(heldout),
        "llm": {"status": llm_final["status"], "stop": llm_final["stop"], "iterations": llm_final["iterations"],
                "probes": llm_final["probes"], "tokens": llm_final["tokens"], "seconds": round(llm_seconds, 1), "resumed": resumed,
                "calls": calls, "adopted": adopted},
        "builtin": {"status": builtin_final["status"], "iterations": builtin_final["iterations"],
                    "seconds": round(builtin_seconds, 1)},
    } | ({"judged": judged} if judged is not None else {})


async def run_part(args: argparse.Namespace, part: str, items: list[Neuron], subject: SubjectModel | None,
                   rows_dir: Path, budget: list[int]) -> None:
    todo = [item for item in items if not row_path(rows_dir, item.key).is_file()]
    if not todo or budget[0] <= 0:
        return
    work = args.runs_dir / "bench" / "work" / args.name / part
    records = work / "records"
    fixed: dict[str, Any] = {"records_per_split": args.llm_records_per_split}
    if part == "real":
        fixed |= {"max_excerpts": args.max_excerpts}
    neurons = [(i.layer, i.neuron) for i in items]
    llm_settings = settings_for(args, "llm", work / "llm", records, **fixed)
    builtin_settings = settings_for(args, "builtin", work / "builtin", records, **fixed)
    async with contextlib.AsyncExitStack() as stack:
        llm_env = await stack.enter_async_context(open_refine_environment(llm_settings, neurons, subject=subject))
        builtin_env = await stack.enter_async_context(open_refine_environment(builtin_settings, neurons, subject=subject))
        judged_env = None
        if args.with_builtin_judge:
            judged_settings = settings_for(args, "llm", work / "llm-judged", records, simulator="builtin", **fixed)
            judged_env = await stack.enter_async_context(open_refine_environment(judged_settings, neurons, subject=subject))
        for item in todo:
            if budget[0] <= 0:
                return
            row = await run_neuron(args, item, llm_env, builtin_env, judged_env)
            atomic_write_json(row_path(rows_dir, item.key), row)
            budget[0] -= 1
            s = row["scores"]
            print(f"{item.key:<16}{(item.rule.name if item.rule else ''):<14} LLM sim: 1-shot {s['llm']['llm_oneshot']} "
                  f"refined {s['llm']['llm_refined']} builtin {s['llm']['builtin_refined']} truth {s['llm']['truth']}; "
                  f"{row['llm']['seconds']} s; {row['explanations']['llm_refined']!r}", flush=True)


def carried_rows(result: dict[str, Any], label: str, settings: dict[str, Any], with_builtin_judge: bool) -> dict[str, dict[str, Any]]:
    """{neuron key: row} of an earlier results file, read back instead of rerun (its work folder may be
    gone: a fresh checkout has only the committed JSON). Refused when it was measured otherwise."""
    earlier = (result.get("label"), result.get("settings"), bool(result.get("with_builtin_judge")))
    if earlier != (label, settings, with_builtin_judge):
        raise SystemExit(f"--continue-from: that file was measured with other settings or another model: {earlier} "
                         f"!= {(label, settings, with_builtin_judge)}")
    return {row_key(row["part"], row["layer"], row["neuron"]): row
            for part in (result.get("parts") or {}).values() for row in part["neurons"]}


def summary(rows: list[dict[str, Any]], seed: int) -> dict[str, Any]:
    judged = [r for r in rows if "judged" in r]
    arms = ARMS + (JUDGED_ARMS if judged else ())

    def arm_means(sim: str) -> dict[str, float | None]:
        return {arm: mean_of([r["scores"][sim].get(arm) for r in rows]) for arm in arms}

    out: dict[str, Any] = {"neurons": len(rows), "means": {sim: arm_means(sim) for sim in SIMULATORS}}
    for sim in SIMULATORS:
        out[f"llm_refined_minus_oneshot_{sim}_sim"] = paired_gain(
            [r["scores"][sim]["llm_oneshot"] for r in rows], [r["scores"][sim]["llm_refined"] for r in rows], seed)
    if judged:
        # The builtin judged that loop, so its gain is read by the builtin; the LLM's reading says whether it carries over.
        out["judged"] = {"neurons": len(judged), "adopted_revisions": sum(len(r["judged"]["adopted"]) for r in judged),
                         "seconds_per_neuron": mean_of([r["judged"]["seconds"] for r in judged])}
        for sim in SIMULATORS:
            out["judged"][f"refined_minus_oneshot_{sim}_sim"] = paired_gain(
                [r["scores"][sim]["judged_oneshot"] for r in judged], [r["scores"][sim]["judged_refined"] for r in judged], seed)
    pairs = [(r["scores"]["llm"]["llm_oneshot"], r["scores"]["llm"]["llm_refined"]) for r in rows]
    defined = [(a, b) for a, b in pairs if a is not None and b is not None]
    out["share_refined_at_least_oneshot"] = round(sum(b >= a for a, b in defined) / len(defined), 3) if defined else None
    # A resumed neuron's seconds are only its last command's part.
    out["seconds_per_neuron"] = mean_of([r["llm"]["seconds"] for r in rows if not r["llm"].get("resumed")])
    out["adopted_revisions"] = sum(len(r["llm"]["adopted"]) for r in rows)
    out["adopted_answering_a_counterexample"] = sum(1 for r in rows for a in r["llm"]["adopted"] if a["answers"])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.llm_agent", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rules", default=RULES, help="planted rules (empty: none)")
    parser.add_argument("--real-layers", default="2,8", help="SmolLM2-135M layers of the real neurons (empty: none)")
    parser.add_argument("--real-per-layer", type=int, default=4)
    parser.add_argument("--max-excerpts", type=int, default=2000, help="corpus excerpts for the real neurons' records")
    parser.add_argument("--llm-defaults", action="store_true",
                        help="the LLM pass uses the product's default loop settings, not the smaller --llm-* sizes")
    parser.add_argument("--limit", type=int, default=1_000_000, help="stop after this many new neurons (resume later)")
    parser.add_argument("--name", default="llm-agent", help="results file NAME.json and work folder")
    parser.add_argument("--continue-from", type=Path, metavar="FILE",
                        help="a results file of this benchmark (e.g. the committed bench/results/llm-agent.json after a fresh "
                             "checkout): the neurons it holds are read back, not rerun; refused if measured with other settings")
    parser.add_argument("--with-builtin-judge", action="store_true",
                        help="a third pass: the same LLM explains, probes and revises while the free builtin simulator "
                             "judges the loop (one-shot choice, adoption); its one-shot and refined read by both simulators")
    add_options(parser)
    parser.set_defaults(simulator="prompt-logprob")
    args = parser.parse_args()
    if not (args.llm_base_url or args.local_gguf):
        parser.error("give an LLM: --local-gguf FILE or --llm-base-url URL")
    if args.simulator == "builtin":
        parser.error("--simulator: the LLM simulates in every pass here; --with-builtin-judge adds the builtin-judged pass")
    if args.llm_defaults:
        args.llm_max_iters, args.llm_n_explanations, args.llm_n_revisions, args.llm_probes_per_generator = 6, 5, 3, 4
    configure_logging(args.log_level)
    rules = choose_rules(args.rules) if args.rules else []
    layers = [int(x) for x in args.real_layers.split(",")] if args.real_layers else []
    real = [Neuron("real", layer, n) for layer, n in
            sample_neurons(SMOLLM2["layers"], SMOLLM2["d_mlp"], layers, args.real_per_layer, args.seed)]
    planted = [Neuron("planted", 0, i, rule) for i, rule in enumerate(rules)]
    rows_dir = args.runs_dir / "bench" / "work" / args.name / "rows"
    rows_dir.mkdir(parents=True, exist_ok=True)
    settings = {"max_iters": args.llm_max_iters, "n_explanations": args.llm_n_explanations,
                "n_revisions": args.llm_n_revisions, "probes_per_generator": args.llm_probes_per_generator,
                "records_per_split": args.llm_records_per_split, "simulator": args.simulator}
    started = time.monotonic()
    budget = [args.limit]
    with llm_endpoint(args):
        if args.continue_from:  # the label may be the served GGUF's own name, known once it is served
            carried = carried_rows(json.loads(args.continue_from.read_text()), args.label or args.llm_model, settings,
                                   args.with_builtin_judge)
            fresh = {key: row for key, row in carried.items() if not row_path(rows_dir, key).is_file()}
            for key, row in fresh.items():
                atomic_write_json(row_path(rows_dir, key), row)
            print(f"read {len(fresh)} finished neurons back from {args.continue_from}", flush=True)
        if planted:
            asyncio.run(run_part(args, "planted", planted, load_planted(args.cache_dir, rules), rows_dir, budget))
        if real:
            asyncio.run(run_part(args, "real", real, None, rows_dir, budget))
    rows = {p.key: json.loads(row_path(rows_dir, p.key).read_text()) for p in planted + real
            if row_path(rows_dir, p.key).is_file()}
    parts = {name: [rows[p.key] for p in group if p.key in rows] for name, group in (("planted", planted), ("real", real))}
    result = {
        "command": command_line("bench.llm_agent", sys.argv[1:]), "label": args.label or args.llm_model,
        "complete": len(rows) == len(planted) + len(real), "planned": [p.key for p in planted + real],
        "wall_seconds_this_part": round(time.monotonic() - started, 1),
        "with_builtin_judge": args.with_builtin_judge,
        "settings": settings,
        "parts": {name: {"summary": summary(part_rows, args.seed), "neurons": part_rows}
                  for name, part_rows in parts.items() if part_rows},
    }
    print(json.dumps({k: v["summary"] for k, v in result["parts"].items()}, indent=1))
    print(f"\nwritten {write_result(args.name, result, args.runs_dir, benchmark='llm_agent')}")


if __name__ == "__main__":
    main()
