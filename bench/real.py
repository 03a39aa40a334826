"""bench/real: one-shot vs refined held-out scores on a fixed, seeded sample of real neurons.

    .venv/bin/python -m bench.real [--layers 2,15,29] [--per-layer 3] [--max-excerpts 400]
        [--llm-base-url URL | --local-gguf FILE] [--label NAME]

The sample is drawn once per (model, layers, per-layer, seed), so every backend and every endpoint
is measured on the same neurons and the same records. Records are built once into
runs/bench/real-records/ and reused by later runs (the records manifest refuses a mismatch); the
refinement runs start fresh every time. GPT-2 is measured too when its weights are on this machine
(`--models smollm2-135m,gpt2`); when they are not, the results say so.
Prints a table per model and backend and writes bench/results/real.json (or --name).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from typing import Any

import numpy as np

from agent.logs import configure_logging
from agent.refine_job import refine_neuron
from agent.refine_setup import open_refine_environment
from bench.common import write_result
from bench.options import (
    Backend,
    add_options,
    backends,
    command_line,
    fresh_dir,
    label,
    llm_endpoint,
    settings_for,
    sizes_of,
    work_name,
)
from bench.stats import fmt, fmt_ci, mean_of, median_of, paired_gain, share
from tools.errors import AssetMissingError
from tools.subject.base import SubjectModel
from tools.subject.registry import load_subject

GOOD = 0.8


def sample_neurons(n_layers: int, d_mlp: int, layers: list[int], per_layer: int, seed: int) -> list[tuple[int, int]]:
    """`per_layer` distinct neurons of each layer, the same for the same arguments on every machine."""
    out = []
    for layer in layers:
        if not 0 <= layer < n_layers:
            raise SystemExit(f"layer {layer} is out of range (the model has {n_layers} layers)")
        rng = np.random.default_rng([seed, layer])
        out += [(layer, int(n)) for n in sorted(rng.choice(d_mlp, size=per_layer, replace=False))]
    return out


def neuron_row(layer: int, neuron: int, final: dict[str, Any], seconds: float) -> dict[str, Any]:
    def held(key: str) -> dict[str, Any]:
        part = final.get(key) or {}
        return {"explanation": part.get("explanation"), "score": part.get("heldout_score"), "ci": part.get("heldout_ci")}

    return {
        "layer": layer, "neuron": neuron, "status": final["status"], "stop": final["stop"], "error": final.get("error"),
        "oneshot": held("oneshot"), "refined": held("refined"), "iterations": final["iterations"],
        "probes": final["probes"], "tokens": final["tokens"], "cost_usd": final["cost_usd"], "seconds": round(seconds, 2),
    }


def summary(rows: list[dict[str, Any]], seed: int) -> dict[str, Any]:
    oneshot = [r["oneshot"]["score"] for r in rows]
    refined = [r["refined"]["score"] for r in rows]
    layers = sorted({r["layer"] for r in rows})
    return {
        "neurons": len(rows),
        "mean_oneshot": mean_of(oneshot), "median_oneshot": median_of(oneshot),
        "mean_refined": mean_of(refined), "median_refined": median_of(refined),
        "refined_minus_oneshot": paired_gain(oneshot, refined, seed),
        "share_oneshot_at_least_0.8": share(oneshot, GOOD), "share_refined_at_least_0.8": share(refined, GOOD),
        "tokens_per_neuron": mean_of([r["tokens"] for r in rows]),
        "usd_per_neuron": mean_of([r["cost_usd"] for r in rows]),
        "seconds_per_neuron": mean_of([r["seconds"] for r in rows]),
        "by_layer": {str(layer): {"mean_oneshot": mean_of([r["oneshot"]["score"] for r in rows if r["layer"] == layer]),
                                  "mean_refined": mean_of([r["refined"]["score"] for r in rows if r["layer"] == layer])}
                     for layer in layers},
        "failed": [f"{r['layer']}/{r['neuron']}" for r in rows if r["status"] != "ok"],
    }


async def run_pass(args: argparse.Namespace, subject: SubjectModel, neurons: list[tuple[int, int]], backend: Backend) -> dict[str, Any]:
    model = subject.info.model_id
    name = label(args, backend)
    work = fresh_dir(args.runs_dir / "bench" / "work" / args.name / f"{model}-{work_name(args, backend)}")
    records = args.runs_dir / "bench" / "real-records" / f"{model}-{args.max_excerpts}"
    settings = settings_for(args, backend, work, records, model=model, max_excerpts=args.max_excerpts)
    rows = []
    async with open_refine_environment(settings, neurons, subject=subject) as env:
        for layer, neuron in neurons:
            started = time.monotonic()
            final = await refine_neuron(env, layer, neuron)
            rows.append(neuron_row(layer, neuron, final, time.monotonic() - started))
    return {"model": model, "backend": backend, "label": name, "settings": sizes_of(settings),
            "neurons": rows, "summary": summary(rows, args.seed)}


def print_pass(result: dict[str, Any]) -> None:
    rows, s = result["neurons"], result["summary"]
    print(f"\n== {result['model']} / {result['label']} ==")
    print(f"{'neuron':<9}{'1-shot':>7}{'refined':>8}{'gain':>7}{'iters':>6}{'tokens':>8}{'sec':>7}  refined explanation")
    for r in rows:
        one, ref = r["oneshot"]["score"], r["refined"]["score"]
        gain = ref - one if one is not None and ref is not None else None
        print(f"{r['layer']:>3}/{r['neuron']:<5}{fmt(one):>7}{fmt(ref):>8}{fmt(gain):>7}{r['iterations']:>6}{r['tokens']:>8}"
              f"{r['seconds']:>7.0f}  {(r['refined']['explanation'] or r['error'] or '')[:70]}")
    gain = s["refined_minus_oneshot"]
    print(f"one-shot mean {fmt(s['mean_oneshot'], 3)} (median {fmt(s['median_oneshot'], 3)}); refined mean "
          f"{fmt(s['mean_refined'], 3)} (median {fmt(s['median_refined'], 3)}); gain {fmt(gain['mean'], 3)} "
          f"{fmt_ci(gain['ci'])} (paired bootstrap over {gain['n']} neurons)")
    print(f">= 0.8: one-shot {fmt(s['share_oneshot_at_least_0.8'])}, refined {fmt(s['share_refined_at_least_0.8'])}; per neuron "
          f"{fmt(s['tokens_per_neuron'], 0)} tokens, ${fmt(s['usd_per_neuron'], 4)}, {fmt(s['seconds_per_neuron'], 1)} s wall")
    if s["failed"]:
        print(f"failed: {', '.join(s['failed'])}")


async def run(args: argparse.Namespace) -> tuple[list[dict[str, Any]], dict[str, str]]:
    passes, unavailable = [], {}
    for model in args.models.split(","):
        try:
            subject = load_subject(model, cache_dir=args.cache_dir)
        except AssetMissingError as err:
            unavailable[model] = str(err)
            print(f"\n{model}: not measured, not available on this machine ({str(err).split('.')[0]})")
            continue
        neurons = args.neuron_list or sample_neurons(subject.info.n_layers, subject.info.d_mlp, args.layer_list, args.per_layer, args.seed)
        for backend in backends(args):
            result = await run_pass(args, subject, neurons, backend)
            print_pass(result)
            passes.append(result)
    return passes, unavailable


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="smollm2-135m,gpt2", help="subject models; those not on this machine are reported as such")
    parser.add_argument("--layers", default="2,15,29", help="layers to sample from (GPT-2 small: pass layers < 12)")
    parser.add_argument("--per-layer", type=int, default=3, help="neurons sampled per layer")
    parser.add_argument("--max-excerpts", type=int, default=400, help="corpus excerpts the records are built from")
    parser.add_argument("--neurons", help="explicit LAYER/NEURON,... instead of the sample (e.g. a subset for a slow endpoint)")
    parser.add_argument("--name", default="real", help="results file NAME.json")
    add_options(parser)
    args = parser.parse_args()
    args.layer_list = [int(x) for x in args.layers.split(",")]
    args.neuron_list = [tuple(int(v) for v in item.split("/")) for item in args.neurons.split(",")] if args.neurons else None
    configure_logging(args.log_level)
    started = time.monotonic()
    with llm_endpoint(args):
        passes, unavailable = asyncio.run(run(args))
    result = {"command": command_line("bench.real", sys.argv[1:]), "layers": args.layer_list, "per_layer": args.per_layer,
              "neurons": args.neurons,
              "max_excerpts": args.max_excerpts, "unavailable_models": unavailable, "passes": passes,
              "wall_seconds": round(time.monotonic() - started, 1), "load_average_at_end": os.getloadavg()}
    print(f"\nwritten {write_result(args.name, result, args.runs_dir, benchmark='real')}")


if __name__ == "__main__":
    main()
