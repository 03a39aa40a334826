"""bench/real: one-shot vs refined held-out scores on a fixed sample of real neurons.

Summary fields this renderer does not know (new baselines, say) are listed under the summary
rather than dropped, so a new figure shows up before its renderer is taught about it."""

from __future__ import annotations

from typing import Any

from bench.report.core import Renderer, cell, code, flatten, interval, num, table

KNOWN_SUMMARY = {"neurons", "mean_oneshot", "median_oneshot", "mean_refined", "median_refined", "refined_minus_oneshot",
                 "share_oneshot_at_least_0.8", "share_refined_at_least_0.8", "tokens_per_neuron", "usd_per_neuron",
                 "seconds_per_neuron", "by_layer", "failed"}


def headline(d: dict[str, Any]) -> str:
    out = []
    for p in d["passes"]:
        s = p["summary"]
        gain = s["refined_minus_oneshot"]
        out.append(f"{p['model']} / {cell(p['label'], 40)}, {s['neurons']} neurons: held-out {num(s['mean_oneshot'], 3)} → "
                   f"**{num(s['mean_refined'], 3)}**, gain {num(gain['mean'], 3, sign=True)} {interval(gain['ci'])}")
    missing = sorted(d.get("unavailable_models") or {})
    if missing:
        out.append(f"not measured (not on the machine): {', '.join(missing)}")
    return "; ".join(out) or "no pass"


def _gain(row: dict[str, Any]) -> str:
    one, ref = row["oneshot"]["score"], row["refined"]["score"]
    return num(ref - one, sign=True) if one is not None and ref is not None else "n/a"


def _pass(p: dict[str, Any]) -> str:
    s, settings = p["summary"], p["settings"]
    gain = s["refined_minus_oneshot"]
    intro = (f"Pass **{p['model']} / {cell(p['label'])}**, simulator `{settings.get('simulator')}`, records per split "
             f"{settings.get('records_per_split') or 'all'}, max_iters {settings.get('max_iters')}, n_explanations "
             f"{settings.get('n_explanations')}, n_revisions {settings.get('n_revisions')}, probes_per_generator "
             f"{settings.get('probes_per_generator')}.")
    rows = [[f"{r['layer']}/{r['neuron']}", num(r["oneshot"]["score"]), num(r["refined"]["score"]), _gain(r),
             str(r["iterations"]), f"{r['tokens']:,}", num(r["seconds"], 0),
             code(r["refined"]["explanation"] or r.get("error") or "—", 80)] for r in p["neurons"]]
    neurons = table(["neuron", "one-shot", "refined", "gain", "iterations", "tokens", "wall s", "refined explanation"], rows)
    summary = table(["", "one-shot", "refined"], [
        ["mean held-out score", num(s["mean_oneshot"], 3), num(s["mean_refined"], 3)],
        ["median", num(s["median_oneshot"], 3), num(s["median_refined"], 3)],
        ["share ≥ 0.8", num(s["share_oneshot_at_least_0.8"]), num(s["share_refined_at_least_0.8"])],
    ])
    layers = ", ".join(f"layer {layer}: {num(v['mean_oneshot'])} → {num(v['mean_refined'])}" for layer, v in s["by_layer"].items())
    text = (f"Refined − one-shot: **{num(gain['mean'], 3, sign=True)}** {interval(gain['ci'])} (paired bootstrap over "
            f"{gain['n']} neurons). By layer (mean one-shot → refined): {layers}. Per neuron: "
            f"{num(s['tokens_per_neuron'], 0)} LLM tokens, ${num(s['usd_per_neuron'], 4)}, {num(s['seconds_per_neuron'], 1)} s wall."
            + (f" Failed: {', '.join(s['failed'])}." if s["failed"] else ""))
    extra = flatten({k: v for k, v in s.items() if k not in KNOWN_SUMMARY})
    parts = [intro, neurons, summary, text]
    if extra:
        parts.append("Other figures of the summary:\n\n" + table(["figure", "value"], [[code(k), cell(v)] for k, v in extra]))
    return "\n\n".join(parts)


def details(d: dict[str, Any]) -> str:
    parts = [_pass(p) for p in d["passes"]]
    for model, reason in sorted((d.get("unavailable_models") or {}).items()):
        parts.append(f"`{model}` was not measured: {cell(reason, 200)}")
    return "\n\n".join(parts) or "No pass ran."


RENDERER = Renderer(headline, details)
