"""bench/real: does refinement earn its keep on real neurons? One-shot vs refined held-out scores, next to
token-lookup baselines measured in the same run on the same held-out records.

    .venv/bin/python -m bench.real [--layers 0,4,8,12,16,20,24,29] [--per-layer 8] [--max-excerpts 3000]
        [--llm-base-url URL | --local-gguf FILE] [--label NAME]

The sample is drawn once per (model, layers, per-layer, seed), so every backend and endpoint is
measured on the same neurons and the same records. One forward over the corpus sample
gives every sampled neuron's activations on every excerpt (runs/bench/real-corpus/): the records,
the agent's corpus pool and the baselines are all read from it. Per neuron the results hold:
- the one-shot and the refined explanation's held-out r (top-and-random, and the random records
  alone, an unbiased sample), the gain, and the refined explanation's word count;
- the baselines of `bench.baselines`: the train records' 8-token lookup, the best 8 and 25 tokens
  of the corpus, and the token-identity ceiling (every token's corpus mean).
The headline: mean gain with a paired bootstrap interval over neurons, the share of neurons the
loop made worse by more than 0.02, mean refined vs the 25-token corpus lookup, and refined ÷ the
ceiling. GPT-2 is measured too when its weights are on this machine (`--models smollm2-135m,gpt2`).
Prints a table per model and backend and writes bench/results/real.json (or --name). Each finished
neuron's row is kept in its pass's work folder, so `--resume` goes on after a stop (a slow endpoint's
pass can span sessions); `wall_seconds` is then this run's part, and each row keeps its own seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from agent.logs import configure_logging
from agent.records_job import ensure_records, open_records
from agent.refine_job import refine_neuron
from agent.refine_setup import open_refine_environment
from bench.baselines import lookup_baselines
from bench.common import write_result
from bench.corpus_pass import CachedSubject, corpus_activations
from bench.matched import kinds_adopted, matched_baselines, revision_share
from bench.options import (
    ADDRESSES,
    Backend,
    add_options,
    backends,
    label,
    llm_endpoint,
    settings_for,
    sizes_of,
    work_dir,
    work_name,
)
from bench.stats import fmt, fmt_ci, mean_ci, mean_of, median_of, paired_gain, share
from tools.atomic import atomic_write_json
from tools.errors import AssetMissingError
from tools.evaluate import ExplanationScore
from tools.explainers.base import word_count
from tools.records.neuron_data import NeuronData
from tools.records.splits import Split, split_indices
from tools.science.scoring import aggregate_correlation
from tools.subject.registry import load_subject

LAYERS = "0,4,8,12,16,20,24,29"
WORSE = 0.02
"""A neuron counts as made worse when its refined held-out r is below its one-shot r by more than this."""


def sample_neurons(n_layers: int, d_mlp: int, layers: list[int], per_layer: int, seed: int) -> list[tuple[int, int]]:
    """`per_layer` distinct neurons of each layer, the same for the same arguments on every machine."""
    out = []
    for layer in layers:
        if not 0 <= layer < n_layers:
            raise SystemExit(f"layer {layer} is out of range (the model has {n_layers} layers)")
        rng = np.random.default_rng([seed, layer])
        out += [(layer, int(n)) for n in sorted(rng.choice(d_mlp, size=per_layer, replace=False))]
    return out


def random_only(path: Path, n_top: int) -> float | None:
    """Pooled r of a held-out simulation file on its random records alone (they follow the top ones)."""
    if not path.is_file():
        return None
    score = ExplanationScore.model_validate_json(path.read_text(encoding="utf-8"))
    pairs = [(t, s.expected) for i, (t, s) in enumerate(zip(score.true_activations, score.simulations, strict=True))
             if i >= n_top and s.ok and s.expected is not None]
    return aggregate_correlation(pairs).value


def neuron_row(layer: int, neuron: int, final: dict[str, Any], seconds: float, baselines: dict[str, float | None],
               run_dir: Path, n_top: int, matched: dict[str, Any] | None = None) -> dict[str, Any]:
    def held(key: str) -> dict[str, Any]:
        part = final.get(key) or {}
        text = part.get("explanation")
        scores = run_dir / "scores" / str(layer) / str(neuron) / f"heldout-{key}.json"
        if key == "oneshot" and not scores.is_file():
            scores = run_dir / "scores" / str(layer) / str(neuron) / "heldout-refined.json"  # the same explanation
        return {"explanation": text, "words": word_count(text) if text else None, "score": part.get("heldout_score"),
                "ci": part.get("heldout_ci"), "random_only": random_only(scores, n_top), "scorers": part.get("scorers")}

    oneshot, refined = held("oneshot"), held("refined")
    gain = refined["score"] - oneshot["score"] if refined["score"] is not None and oneshot["score"] is not None else None
    return {
        "layer": layer, "neuron": neuron, "status": final["status"], "stop": final["stop"], "error": final.get("error"),
        "oneshot": oneshot, "refined": refined, "gain": None if gain is None else round(gain, 4), "baselines": baselines,
        "iterations": final["iterations"], "probes": final["probes"], "tokens": final["tokens"],
        "cost_usd": final["cost_usd"], "seconds": round(seconds, 2), "matched": matched,
        "output_seconds": (final.get("output") or {}).get("seconds"),
    }


def _ratio_of_means(a: list[float | None], b: list[float | None]) -> float | None:
    pairs = [(x, y) for x, y in zip(a, b, strict=True) if x is not None and y is not None]
    if not pairs or sum(y for _, y in pairs) <= 0:
        return None
    return round(sum(x for x, _ in pairs) / sum(y for _, y in pairs), 4)


def summary(rows: list[dict[str, Any]], seed: int) -> dict[str, Any]:
    oneshot = [r["oneshot"]["score"] for r in rows]
    refined = [r["refined"]["score"] for r in rows]
    gains = [r["gain"] for r in rows if r["gain"] is not None]
    base = {name: [r["baselines"][name] for r in rows] for name in ("train_8", "corpus_8", "corpus_25", "ceiling")}
    layers = sorted({r["layer"] for r in rows})
    worse = [f"{r['layer']}/{r['neuron']}" for r in rows if r["gain"] is not None and r["gain"] < -WORSE]
    return {
        "neurons": len(rows),
        "mean_oneshot": mean_of(oneshot), "median_oneshot": median_of(oneshot),
        "mean_refined": mean_of(refined), "median_refined": median_of(refined),
        "refined_minus_oneshot": paired_gain(oneshot, refined, seed),
        "share_worse_by_more_than_0.02": round(len(worse) / len(gains), 4) if gains else None,
        "worse": worse,
        "mean_oneshot_random_only": mean_of([r["oneshot"]["random_only"] for r in rows]),
        "mean_refined_random_only": mean_of([r["refined"]["random_only"] for r in rows]),
        **{f"mean_{name}": mean_of(values) for name, values in base.items()},
        "refined_minus_corpus_25": paired_gain(base["corpus_25"], refined, seed),
        "refined_over_ceiling": _ratio_of_means(refined, base["ceiling"]),
        "mean_refined_words": mean_of([r["refined"]["words"] for r in rows]),
        "max_refined_words": max((r["refined"]["words"] or 0 for r in rows), default=None),
        "share_oneshot_at_least_0.8": share(oneshot, 0.8), "share_refined_at_least_0.8": share(refined, 0.8),
        "tokens_per_neuron": mean_of([r["tokens"] for r in rows]),
        "usd_per_neuron": mean_of([r["cost_usd"] for r in rows]),
        "seconds_per_neuron": mean_of([r["seconds"] for r in rows]),
        "by_layer": {str(layer): {key: mean_of([v for r in rows if r["layer"] == layer for v in [pick(r)]])
                                  for key, pick in (("mean_oneshot", lambda r: r["oneshot"]["score"]),
                                                    ("mean_refined", lambda r: r["refined"]["score"]),
                                                    ("mean_corpus_25", lambda r: r["baselines"]["corpus_25"]),
                                                    ("mean_ceiling", lambda r: r["baselines"]["ceiling"]))}
                     for layer in layers},
        "gain_ci_method": "paired bootstrap over neurons (2000 resamples, 95% percentile interval)",
        "failed": [f"{r['layer']}/{r['neuron']}" for r in rows if r["status"] != "ok"],
        "gain_per_neuron_interval": mean_ci(gains, seed=seed),
        "output_side_seconds_per_neuron": mean_of([r.get("output_seconds") for r in rows]),
        "field_scorers": field_scorer_means(rows),
        **matched_summary(rows, seed),
    }


def field_scorer_means(rows: list[dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Each arm's mean detection, fuzzing, F1 and AUPRC; the matched arms over the neurons that have them."""
    def means(scorers: list[dict[str, Any] | None]) -> dict[str, float | None]:
        return {name: mean_of([(s or {}).get(name) for s in scorers]) for name in ("detection", "fuzzing", "f1", "auprc")}

    out = {arm: means([r[arm].get("scorers") for r in rows]) for arm in ("oneshot", "refined")}
    matched = [r["matched"] for r in rows if r.get("matched")]
    if matched:
        out |= {arm: means([m[arm].get("scorers") for m in matched]) for arm in ("best_of_k", "refit")}
    return out


def matched_summary(rows: list[dict[str, Any]], seed: int) -> dict[str, Any]:
    """Refined against best-of-k and the refit, paired over neurons, with each arm's cost per neuron (none
    without matched baselines: the LLM pass)."""
    scored = [r for r in rows if r.get("matched")]
    if not scored:
        return {}
    refined = [r["refined"]["score"] for r in scored]
    arms = {name: [r["matched"][name] for r in scored] for name in ("best_of_k", "refit")}
    return {
        "mean_best_of_k": mean_of([a["score"] for a in arms["best_of_k"]]),
        "mean_refit": mean_of([a["score"] for a in arms["refit"]]),
        "refined_minus_best_of_k": paired_gain([a["score"] for a in arms["best_of_k"]], refined, seed),
        "refined_minus_refit": paired_gain([a["score"] for a in arms["refit"]], refined, seed),
        "cost_per_neuron": {
            "refined": {"candidates": mean_of([r["matched"]["k"] for r in scored]), "probes": mean_of([r["probes"] for r in scored]),
                        "seconds": mean_of([r["seconds"] for r in scored]), "tokens": mean_of([r["tokens"] for r in scored])},
            **{name: {"candidates": mean_of([a["candidates"] for a in arm]), "probes": 0, "tokens": 0,
                      "seconds": mean_of([a["seconds"] for a in arm])} for name, arm in arms.items()},
        },
        "share_adopted_answering_counterexample": revision_share(scored),
        "adopted_by_kind": kinds_adopted(scored),
    }


async def run_pass(args: argparse.Namespace, subject: CachedSubject, neurons: list[tuple[int, int]], backend: Backend,
                   records_dir: Path, corpus: dict[int, np.ndarray], excerpts: np.ndarray) -> dict[str, Any]:
    model = subject.info.model_id
    name = label(args, backend)
    work = args.runs_dir / "bench" / "work" / args.name / f"{model}-{work_name(args, backend)}"
    settings = settings_for(args, backend, work, records_dir, model=model, max_excerpts=args.max_excerpts)
    fingerprint = {k: v for k, v in sizes_of(settings).items() if k not in ADDRESSES} | {
        "model": model, "label": name, "neurons": [list(n) for n in neurons]}
    rows_dir = work_dir(work, fingerprint, args.resume) / "rows"
    rows_dir.mkdir(exist_ok=True)
    rows = []
    async with open_refine_environment(settings, neurons, subject=subject) as env:  # type: ignore[arg-type]
        for layer, neuron in neurons:
            row_path, marker = rows_dir / f"{layer}-{neuron}.json", rows_dir / f"{layer}-{neuron}.started"
            if row_path.is_file():
                rows.append(json.loads(row_path.read_text()))
                print_row(rows[-1])
                continue
            # A neuron an earlier run started but did not finish goes on from its checkpoint: its
            # seconds then count only this run's part, and its row says so.
            resumed = marker.is_file()
            marker.touch()
            started = time.monotonic()
            final = await refine_neuron(env, layer, neuron)
            data = NeuronData(layer, neuron, env.store.read(layer, neuron), env.records_per_split)
            heldout = data.final_heldout()
            n_top = len(split_indices(Split.HELDOUT, len(data.record.most_positive_activation_records),
                                      len(data.record.random_sample), env.records_per_split).top)
            column = sorted(n for l_, n in neurons if l_ == layer).index(neuron)
            baselines = lookup_baselines(heldout, data.train(), excerpts, corpus[layer][:, :, column], subject.info.vocab_size)
            seconds = time.monotonic() - started
            matched = (await matched_baselines(env.run.root, data, env.backend.vocab, settings.n_explanations,
                                               settings.max_explanation_words, args.seed)
                       if backend == "builtin" else None)
            rows.append(neuron_row(layer, neuron, final, seconds, baselines, env.run.root, n_top, matched) | {"resumed": resumed})
            atomic_write_json(row_path, rows[-1])
            print_row(rows[-1])
    return {"model": model, "backend": backend, "label": name, "settings": sizes_of(settings),
            "neurons": rows, "summary": summary(rows, args.seed)}


def print_row(r: dict[str, Any]) -> None:
    b = r["baselines"]
    print(f"{r['layer']:>3}/{r['neuron']:<5}{fmt(r['oneshot']['score']):>7}{fmt(r['refined']['score']):>8}{fmt(r['gain']):>7}"
          f"{fmt(b['corpus_25']):>7}{fmt(b['ceiling']):>7}{r['refined']['words'] or 0:>6}{r['iterations']:>6}{r['seconds']:>7.0f}  "
          f"{(r['refined']['explanation'] or r['error'] or '')[:60]}", flush=True)


def print_pass(result: dict[str, Any]) -> None:
    s = result["summary"]
    gain = s["refined_minus_oneshot"]
    print(f"\n== {result['model']} / {result['label']}: {s['neurons']} neurons ==")
    print(f"held-out r: one-shot {fmt(s['mean_oneshot'], 3)} -> refined {fmt(s['mean_refined'], 3)}; gain {fmt(gain['mean'], 3)} "
          f"{fmt_ci(gain['ci'])} (paired bootstrap over {gain['n']} neurons)")
    print(f"worse by more than {WORSE}: {fmt(s['share_worse_by_more_than_0.02'], 3)} ({', '.join(s['worse']) or 'none'})")
    print(f"baselines (same held-out records): train-8 {fmt(s['mean_train_8'], 3)}, corpus-8 {fmt(s['mean_corpus_8'], 3)}, "
          f"corpus-25 {fmt(s['mean_corpus_25'], 3)}, ceiling {fmt(s['mean_ceiling'], 3)}; refined / ceiling "
          f"{fmt(s['refined_over_ceiling'], 3)}; refined - corpus-25 {fmt(s['refined_minus_corpus_25']['mean'], 3)} "
          f"{fmt_ci(s['refined_minus_corpus_25']['ci'])}")
    print(f"random records only: one-shot {fmt(s['mean_oneshot_random_only'], 3)}, refined {fmt(s['mean_refined_random_only'], 3)}; "
          f"refined words: mean {fmt(s['mean_refined_words'], 1)}, max {s['max_refined_words']}")
    print(f"per neuron {fmt(s['tokens_per_neuron'], 0)} LLM tokens, ${fmt(s['usd_per_neuron'], 4)}, {fmt(s['seconds_per_neuron'], 1)} s wall; "
          f"output side {fmt(s['output_side_seconds_per_neuron'], 1)} s")
    if "refined_minus_refit" in s:
        for name in ("best_of_k", "refit"):
            diff, cost = s[f"refined_minus_{name}"], s["cost_per_neuron"][name]
            print(f"refined - {name} {fmt(diff['mean'], 3)} {fmt_ci(diff['ci'])} over {diff['n']} neurons (mean {name} "
                  f"{fmt(s[f'mean_{name}'], 3)}; {fmt(cost['candidates'], 1)} candidates, {fmt(cost['seconds'], 1)} s per neuron)")
        print(f"adopted revisions that answered a named counterexample: {fmt(s['share_adopted_answering_counterexample'], 3)}")
    for arm, means in s["field_scorers"].items():
        print(f"  {arm:<10} detection {fmt(means['detection'])}  fuzzing {fmt(means['fuzzing'])}  F1 {fmt(means['f1'])}  "
              f"AUPRC {fmt(means['auprc'])}")
    if s["failed"]:
        print(f"failed: {', '.join(s['failed'])}")


async def run(args: argparse.Namespace) -> tuple[list[dict[str, Any]], dict[str, str]]:
    passes, unavailable = [], {}
    for model in args.models.split(","):
        try:
            base = load_subject(model, cache_dir=args.cache_dir)
        except AssetMissingError as err:
            unavailable[model] = str(err)
            print(f"\n{model}: not measured, not available on this machine ({str(err).split('.')[0]})")
            continue
        neurons = args.neuron_list or sample_neurons(base.info.n_layers, base.info.d_mlp, args.layer_list, args.per_layer, args.seed)
        records_dir = args.runs_dir / "bench" / "real-records" / f"{model}-{args.max_excerpts}"
        settings = settings_for(args, "builtin", args.runs_dir, records_dir, model=model, max_excerpts=args.max_excerpts)
        records = open_records(settings, base)
        excerpts = np.asarray(records.excerpts)
        subject = CachedSubject(base, excerpts)
        records.subject = subject  # type: ignore[assignment]
        wanted = {layer: sorted(n for l_, n in neurons if l_ == layer) for layer in sorted({layer for layer, _ in neurons})}
        folder = args.runs_dir / "bench" / "real-corpus" / f"{model}-{args.max_excerpts}"
        corpus = corpus_activations(base, excerpts, wanted, {layer: folder / f"{layer}.npz" for layer in wanted})
        for layer, layer_neurons in wanted.items():
            subject.add_layer(layer, layer_neurons, corpus[layer])
            ensure_records(records, layer, layer_neurons, settings)
        for backend in backends(args):
            result = await run_pass(args, subject, neurons, backend, records_dir, corpus, excerpts)
            print_pass(result)
            passes.append(result)
        print(f"subject forwards: {subject.forwarded:,} texts run, {subject.served:,} corpus excerpts served from the pass")
    return passes, unavailable


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="smollm2-135m,gpt2", help="subject models; those not on this machine are reported as such")
    parser.add_argument("--layers", default=LAYERS, help="layers to sample from (GPT-2 small: pass layers < 12)")
    parser.add_argument("--per-layer", type=int, default=8, help="neurons sampled per layer")
    parser.add_argument("--max-excerpts", type=int, default=3000, help="corpus excerpts the records are built from")
    parser.add_argument("--neurons", help="explicit LAYER/NEURON,... instead of the sample (e.g. a subset for a slow endpoint)")
    parser.add_argument("--name", default="real", help="results file NAME.json and work folder")
    parser.add_argument("--resume", action="store_true",
                        help="go on from an earlier run of the same --name and settings: neurons it finished are read "
                             "back, one it left unfinished goes on from its checkpoint (its row says `resumed`)")
    add_options(parser)
    args = parser.parse_args()
    args.layer_list = [int(x) for x in args.layers.split(",")]
    args.neuron_list = [tuple(int(v) for v in item.split("/")) for item in args.neurons.split(",")] if args.neurons else None
    configure_logging(args.log_level)
    started = time.monotonic()
    print(f"{'neuron':<9}{'1-shot':>7}{'refined':>8}{'gain':>7}{'c-25':>7}{'ceil':>7}{'words':>6}{'iters':>6}{'sec':>7}  refined explanation")
    with llm_endpoint(args):
        passes, unavailable = asyncio.run(run(args))
    result = {"layers": args.layer_list, "per_layer": args.per_layer, "neurons": args.neurons, "max_excerpts": args.max_excerpts,
              "unavailable_models": unavailable, "passes": passes, "wall_seconds": round(time.monotonic() - started, 1)}
    print(f"\nwritten {write_result(args.name, json.loads(json.dumps(result)), args.runs_dir, benchmark='real')}")


if __name__ == "__main__":
    main()
