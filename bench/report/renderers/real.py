"""bench/real: one-shot vs refined held-out scores on a fixed sample of real neurons.

Summary fields this renderer does not know (new baselines, say) are listed under the summary
rather than dropped, so a new figure shows up before its renderer is taught about it."""

from __future__ import annotations

from typing import Any

from bench.report.core import Renderer, adopted_kinds, cell, code, flatten, interval, num, table

KNOWN_SUMMARY = {"neurons", "mean_oneshot", "median_oneshot", "mean_refined", "median_refined", "refined_minus_oneshot",
                 "share_oneshot_at_least_0.8", "share_refined_at_least_0.8", "tokens_per_neuron", "usd_per_neuron",
                 "seconds_per_neuron", "by_layer", "failed", "share_worse_by_more_than_0.02", "worse",
                 "mean_oneshot_random_only", "mean_refined_random_only", "mean_train_8", "mean_corpus_8", "mean_corpus_25",
                 "mean_ceiling", "refined_minus_corpus_25", "refined_over_ceiling", "mean_refined_words",
                 "max_refined_words", "gain_ci_method", "gain_per_neuron_interval"}


def headline(d: dict[str, Any]) -> str:
    out = []
    for p in d["passes"]:
        s = p["summary"]
        gain = s["refined_minus_oneshot"]
        if p["settings"].get("max_iters") == 0:  # no loop ran: "refined" is the one-shot itself
            out.append(f"{p['model']} / {cell(p['label'], 40)}, {s['neurons']} neurons, one-shot only (max_iters 0): held-out "
                       f"**{num(s['mean_oneshot'], 3)}**; 25-token corpus lookup {num(s.get('mean_corpus_25'), 3)}; "
                       f"detection {num(s.get('field_scorers', {}).get('oneshot', {}).get('detection'))}")
            continue
        out.append(f"{p['model']} / {cell(p['label'], 40)}, {s['neurons']} neurons: held-out {num(s['mean_oneshot'], 3)} → "
                   f"**{num(s['mean_refined'], 3)}**, gain {num(gain['mean'], 3, sign=True)} {interval(gain['ci'])}; "
                   f"worse by > 0.02: {num(s.get('share_worse_by_more_than_0.02'))}; 25-token corpus lookup "
                   f"{num(s.get('mean_corpus_25'), 3)}; refined ÷ token-identity ceiling **{num(s.get('refined_over_ceiling'))}**"
                   + (f"; refined − refit on the same data {num(s['refined_minus_refit']['mean'], 3, sign=True)} "
                      f"{interval(s['refined_minus_refit']['ci'])}, − best-of-k {num(s['refined_minus_best_of_k']['mean'], 3, sign=True)} "
                      f"{interval(s['refined_minus_best_of_k']['ci'])}" if "refined_minus_refit" in s else ""))
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
             num(r["refined"].get("random_only")), num((r.get("baselines") or {}).get("train_8")), num((r.get("baselines") or {}).get("corpus_8")),
             num((r.get("baselines") or {}).get("corpus_25")), num((r.get("baselines") or {}).get("ceiling")), str(r["refined"].get("words") or "—"),
             str(r["iterations"]), num(r["seconds"], 0), code(r["refined"]["explanation"] or r.get("error") or "—", 80)]
            for r in p["neurons"]]
    neurons = table(["neuron", "one-shot", "refined", "gain", "refined, random records", "train 8", "corpus 8", "corpus 25",
                     "ceiling", "words", "iterations", "wall s", "refined explanation"], rows)
    summary = table(["", "mean held-out r"], [
        ["one-shot", num(s["mean_oneshot"], 3)],
        ["refined", num(s["mean_refined"], 3)],
        ["one-shot, random records only (unbiased sample)", num(s.get("mean_oneshot_random_only"), 3)],
        ["refined, random records only", num(s.get("mean_refined_random_only"), 3)],
        ["train records' 8-token lookup", num(s.get("mean_train_8"), 3)],
        ["corpus lookup, best 8 tokens", num(s.get("mean_corpus_8"), 3)],
        ["corpus lookup, best 25 tokens", num(s.get("mean_corpus_25"), 3)],
        ["token-identity ceiling (every token's corpus mean)", num(s.get("mean_ceiling"), 3)],
    ])
    layers = ", ".join(f"layer {layer}: {num(v['mean_oneshot'])} → {num(v['mean_refined'])} (corpus 25 "
                       f"{num(v.get('mean_corpus_25'))}, ceiling {num(v.get('mean_ceiling'))})" for layer, v in s["by_layer"].items())
    vs25 = s.get("refined_minus_corpus_25") or {}
    text = (f"Refined − one-shot: **{num(gain['mean'], 3, sign=True)}** {interval(gain['ci'])} (paired bootstrap over "
            f"{gain['n']} neurons); worse by more than 0.02: {num(s.get('share_worse_by_more_than_0.02'))} of neurons "
            f"({', '.join(s.get('worse') or []) or 'none'}). Refined − 25-token corpus lookup: "
            f"{num(vs25.get('mean'), 3, sign=True)} {interval(vs25.get('ci'))}; refined ÷ token-identity ceiling "
            f"**{num(s.get('refined_over_ceiling'))}**. Refined explanations: {num(s.get('mean_refined_words'), 1)} words on "
            f"average, {s.get('max_refined_words')} at most. By layer (mean one-shot → refined): {layers}. Per neuron: "
            f"{num(s['tokens_per_neuron'], 0)} LLM tokens, ${num(s['usd_per_neuron'], 4)}, {num(s['seconds_per_neuron'], 1)} s wall."
            + (f" Not ok: {', '.join(s['failed'])}." if s["failed"] else ""))
    extra = flatten({k: v for k, v in s.items() if k not in KNOWN_SUMMARY and k not in MATCHED_SUMMARY})
    parts = [intro, neurons, summary, text, *_matched(s, settings)]
    if extra:
        parts.append("Other figures of the summary:\n\n" + table(["figure", "value"], [[code(k), cell(v)] for k, v in extra]))
    return "\n\n".join(parts)


MATCHED_SUMMARY = {"mean_best_of_k", "mean_refit", "refined_minus_best_of_k", "refined_minus_refit", "cost_per_neuron",
                   "share_adopted_answering_counterexample", "adopted_by_kind", "output_side_seconds_per_neuron",
                   "field_scorers"}


SCORERS = ("detection", "fuzzing", "f1", "auprc")


def _matched(s: dict[str, Any], settings: dict[str, Any]) -> list[str]:
    """Every arm's held-out r and the field's scorers; with matched baselines, refined − arm and cost per arm.

    The one-shot's cost is its n candidates; its seconds and tokens are not timed apart from the loop's."""
    if "field_scorers" not in s:
        return []
    fields = s["field_scorers"]
    if "refined_minus_refit" not in s:
        rows = [[label, num(s[f"mean_{key}"], 3), *(num(fields[key][name]) for name in SCORERS)]
                for key, label in (("oneshot", "one-shot"), ("refined", "refined"))]
        return [table(["arm", "mean held-out r", "detection", "fuzzing", "F1", "AUPRC"], rows),
                f"Output side read per neuron in {num(s.get('output_side_seconds_per_neuron'), 1)} s (docs/science.md#field-scorers)."]
    cost = s["cost_per_neuron"] | {"oneshot": {"candidates": settings.get("n_explanations"), "probes": 0, "seconds": None, "tokens": None}}
    rows = [[label, num(s[f"mean_{key}"], 3),
             "—" if key == "refined" else f"{num(s[f'refined_minus_{key}']['mean'], 3, sign=True)} {interval(s[f'refined_minus_{key}']['ci'])}",
             num(cost[key]["candidates"], 1), num(cost[key]["probes"], 0), num(cost[key]["seconds"], 1), num(cost[key]["tokens"], 0),
             *(num(fields[key][name]) for name in SCORERS)]
            for key, label in (("refined", "refined"), ("oneshot", "one-shot"), ("best_of_k", "best-of-k"), ("refit", "refit"))]
    return [table(["arm", "mean held-out r", "refined − arm (paired CI over neurons)", "candidates simulated", "probes",
                   "seconds", "LLM tokens", "detection", "fuzzing", "F1", "AUPRC"], rows),
            f"Adopted revisions that answered a named counterexample: {num(s['share_adopted_answering_counterexample'])}"
            f"{adopted_kinds(s.get('adopted_by_kind'))}. Output side read per neuron in {num(s['output_side_seconds_per_neuron'], 1)} s "
            "(docs/benchmarks.md#matched-baselines, docs/science.md#field-scorers). The one-shot's cost is its candidates; "
            "its seconds are not timed apart from the loop's."]


def details(d: dict[str, Any]) -> str:
    parts = [_pass(p) for p in d["passes"]]
    for model, reason in sorted((d.get("unavailable_models") or {}).items()):
        parts.append(f"`{model}` was not measured: {cell(reason, 200)}")
    return "\n\n".join(parts) or "No pass ran."


RENDERER = Renderer(headline, details)
