"""bench/planted: planted neurons whose rules compute their own activations; a perfect explanation scores about 1."""

from __future__ import annotations

from typing import Any

from bench.report.core import Renderer, adopted_kinds, cell, code, interval, num, table


def _status(row: dict[str, Any], key: str) -> str:
    score = row[key]["score"]
    if score is None and row.get("status") not in ("ok", "degraded") and row.get("error"):
        return f"failed: {cell(row['error'], 60)}"
    return num(score)


def headline(d: dict[str, Any]) -> str:
    out = []
    for p in d["passes"]:
        h, gain = p["headline"], p["headline"]["refined_minus_oneshot"]
        out.append(f"{cell(p['label'], 40)}: held-out r one-shot {num(h['mean_oneshot'])} → refined **{num(h['mean_refined'])}** "
                   f"(gain {num(gain['mean'], 3, sign=True)} {interval(gain['ci'])}); "
                   f"{h['neurons'] - len(h['not_recovered'])} of {h['neurons']} rules recovered (r ≥ 0.9)"
                   + (f"; refined − refit {num(h['refined_minus_refit']['mean'], 3, sign=True)} {interval(h['refined_minus_refit']['ci'])}, "
                      f"− best-of-k {num(h['refined_minus_best_of_k']['mean'], 3, sign=True)}; detection of the ground truth on token "
                      f"rules {num(h['truth_detection_token_rules'])}, of a shuffled one {num(h['field_scorers']['shuffled']['detection'])}"
                      if "refined_minus_refit" in h else ""))
    return "; ".join(out) or "no pass"


def _pass(p: dict[str, Any]) -> str:
    s, h = p["settings"], p["headline"]
    gain = h["refined_minus_oneshot"]
    rows = [[r["rule"], cell(r["kind"]), _status(r, "oneshot"), _status(r, "refined"), "yes" if r["recovered"] else "no",
             num(r["truth_in_words"]["score"]), str(r["refined"].get("words") or "—"), str(r["iterations"]),
             f"{r['tokens']:,}", code(r["refined"]["explanation"] or "—", 90)]
            for r in p["neurons"]]
    heldout = {r.get("heldout_records") for r in p["neurons"]} - {None}
    intro = (f"Pass **{cell(p['label'])}**, simulator `{p['simulator']}`, records per split "
             f"{s.get('records_per_split') or 'all'}" + (f" (held-out {', '.join(map(str, sorted(heldout)))} records per neuron)" if heldout else "")
             + f", max_iters {s.get('max_iters')}, n_explanations {s.get('n_explanations')}, n_revisions "
             f"{s.get('n_revisions')}, probes_per_generator {s.get('probes_per_generator')}.")
    summary = (f"Mean held-out r: one-shot {num(h['mean_oneshot'])}, refined **{num(h['mean_refined'])}**, the ground truth in "
               f"words {num(h['mean_truth_in_words'])}; refined − one-shot **{num(gain['mean'], 3, sign=True)}** {interval(gain['ci'])} "
               f"({gain['method']}, {gain['n']} neurons). Recovered (refined r ≥ 0.9): {num(h['share_refined_recovered'])} "
               f"(one-shot {num(h['share_oneshot_recovered'])}); not recovered: {', '.join(h['not_recovered']) or 'none'}. "
               f"Refined explanations average {num(h['mean_refined_words'], 1)} words. Per neuron: "
               f"{num(h['tokens_per_neuron'], 0)} LLM tokens, ${num(h['usd_per_neuron'], 4)}, {num(h['seconds_per_neuron'], 1)} s."
               + (f" Failed: {', '.join(h['failed'])}." if h["failed"] else ""))
    return "\n\n".join([intro, table(["rule", "kind", "one-shot", "refined", "recovered", "truth in words", "words",
                                      "iterations", "tokens", "refined explanation"], rows), summary, *_matched(p)])


ARMS = (("truth_in_words", "truth"), ("shuffled", "shuffled"), ("oneshot", "one-shot"), ("refined", "refined"),
        ("best_of_k", "best-of-k"), ("refit", "refit"))


def _arm(row: dict[str, Any], key: str) -> dict[str, Any]:
    part: dict[str, Any] = (row.get("matched") or {}).get(key) or row.get(key) or {}
    return part


def _three(part: dict[str, Any]) -> str:
    s = part.get("scorers") or {}
    return f"{num(s.get('detection'))} / {num(s.get('fuzzing'))} / {num(s.get('f1'))}"


def _matched(p: dict[str, Any]) -> list[str]:
    """Matched baselines and the field's scorers, in results that have them."""
    h = p["headline"]
    if "refined_minus_refit" not in h:
        return []
    rows = [[r["rule"], num(_arm(r, "best_of_k").get("score")), num(_arm(r, "refit").get("score")),
             str((r.get("matched") or {}).get("k", "—")), *(_three(_arm(r, key)) for key, _ in ARMS)] for r in p["neurons"]]
    means = [[label, *(num(h["field_scorers"][key][name]) for name in ("detection", "fuzzing", "f1", "auprc"))]
             for key, label in ARMS]
    text = []
    for name, label in (("best_of_k", "best-of-k"), ("refit", "refit")):
        gain = h[f"refined_minus_{name}"]
        text.append(f"refined − {label} **{num(gain['mean'], 3, sign=True)}** {interval(gain['ci'])} over {gain['n']} rules "
                    f"(mean {label} {num(h[f'mean_{name}'])})")
    summary = ("Matched baselines (docs/benchmarks.md#matched-baselines), same held-out records and simulator: "
               + "; ".join(text) + f"; best-of-k draws k = {num(h['mean_k'], 1)} candidates per rule on average. "
               f"Adopted revisions that answered a named counterexample: {num(h['share_adopted_answering_counterexample'])}"
               f"{adopted_kinds(h.get('adopted_by_kind'))}. "
               f"The ground truth's detection on token rules: **{num(h['truth_detection_token_rules'])}**; the shuffled "
               "control is another rule's ground truth on this rule's records.")
    return [summary,
            "Per rule: held-out r of the matched baselines, and detection / fuzzing balanced accuracy / F1 (random records) "
            "of each arm (undefined where the held-out records hold only one class or no active random token):",
            table(["rule", "best-of-k r", "refit r", "k", *(label for _, label in ARMS)], rows),
            "Means over rules (docs/science.md#field-scorers):",
            table(["arm", "detection", "fuzzing", "F1", "AUPRC"], means)]


def _rules(d: dict[str, Any]) -> str:
    rows = [[r["name"], cell(r["kind"]), cell(r["description"]), cell(r.get("note") or "", 70)] for r in d.get("rules", [])]
    return ("Rules (each computes its activations from its own definition; the ground truth in words is what every "
            "simulator reads when it scores the truth):\n\n" + table(["rule", "kind", "ground truth", "note"], rows)) if rows else ""


def details(d: dict[str, Any]) -> str:
    return "\n\n".join(part for part in [_rules(d), *(_pass(p) for p in d["passes"])] if part) or "No pass ran."


RENDERER = Renderer(headline, details)
