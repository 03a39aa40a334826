"""bench/planted: planted neurons whose rules compute their own activations; a perfect explanation scores about 1."""

from __future__ import annotations

from typing import Any

from bench.report.core import Renderer, cell, code, interval, num, table


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
                   f"{h['neurons'] - len(h['not_recovered'])} of {h['neurons']} rules recovered (r ≥ 0.9)")
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
                                      "iterations", "tokens", "refined explanation"], rows), summary])


def _rules(d: dict[str, Any]) -> str:
    rows = [[r["name"], cell(r["kind"]), cell(r["description"]), cell(r.get("note") or "", 70)] for r in d.get("rules", [])]
    return ("Rules (each computes its activations from its own definition; the ground truth in words is what every "
            "simulator reads when it scores the truth):\n\n" + table(["rule", "kind", "ground truth", "note"], rows)) if rows else ""


def details(d: dict[str, Any]) -> str:
    return "\n\n".join(part for part in [_rules(d), *(_pass(p) for p in d["passes"])] if part) or "No pass ran."


RENDERER = Renderer(headline, details)
