"""bench/planted: planted neurons with known rules, one-shot and refined explanations against each rule's oracle."""

from __future__ import annotations

from typing import Any

from bench.report.core import Renderer, cell, code, interval, num, table


def _status(row: dict[str, Any], key: str) -> str:
    score = row[key]["score"]
    if score is None and row.get("status") != "ok" and row.get("error"):
        return f"failed: {cell(row['error'], 60)}"
    return num(score)


def headline(d: dict[str, Any]) -> str:
    out = []
    for p in d["passes"]:
        h, gain = p["headline"], p["headline"]["refined_minus_oneshot"]
        out.append(f"{cell(p['label'], 40)}: refined ÷ oracle **{num(h['mean_refined_over_oracle'])}** (one-shot "
                   f"{num(h['mean_oneshot_over_oracle'])}) over {h['neurons_with_oracle_ratio']}/{h['neurons']} rules; "
                   f"gain {num(gain['mean'], 3, sign=True)} {interval(gain['ci'])}")
    return "; ".join(out) or "no pass"


def _pass(p: dict[str, Any]) -> str:
    s, h = p["settings"], p["headline"]
    gain = h["refined_minus_oneshot"]
    rows = [[r["rule"], cell(r["kind"]), _status(r, "oneshot"), _status(r, "refined"), num(r["oracle"]["score"]),
             num(r["oneshot_over_oracle"]), num(r["refined_over_oracle"]), str(r["iterations"]), f"{r['tokens']:,}",
             num((r.get("oracle_words") or {}).get("score")), code(r["refined"]["explanation"] or "—", 90)]
            for r in p["neurons"]]
    heldout = {r.get("heldout_records") for r in p["neurons"]} - {None}
    intro = (f"Pass **{cell(p['label'])}**, simulator `{p['simulator']}`, records per split "
             f"{s.get('records_per_split') or 'all'}" + (f" (held-out {', '.join(map(str, sorted(heldout)))} records per neuron)" if heldout else "")
             + f", max_iters {s.get('max_iters')}, n_explanations {s.get('n_explanations')}, n_revisions "
             f"{s.get('n_revisions')}, probes_per_generator {s.get('probes_per_generator')}.")
    summary = (f"Mean refined ÷ oracle **{num(h['mean_refined_over_oracle'])}** (one-shot {num(h['mean_oneshot_over_oracle'])}) "
               f"over {h['neurons_with_oracle_ratio']}/{h['neurons']} rules with an oracle score; share ≥ 0.9 of the oracle: "
               f"{num(h['share_refined_at_least_0.9_oracle'])} (one-shot {num(h['share_oneshot_at_least_0.9_oracle'])}); "
               f"refined − one-shot held-out score **{num(gain['mean'], 3, sign=True)}** {interval(gain['ci'])} "
               f"({gain['method']}, {gain['n']} neurons). Per neuron: {num(h['tokens_per_neuron'], 0)} LLM tokens, "
               f"${num(h['usd_per_neuron'], 4)}, {num(h['seconds_per_neuron'], 1)} s."
               + (f" Failed: {', '.join(h['failed'])}." if h["failed"] else ""))
    return "\n\n".join([intro, table(["rule", "kind", "one-shot", "refined", "oracle", "one-shot ÷ oracle", "refined ÷ oracle",
                                      "iterations", "tokens", "oracle in words", "refined explanation"], rows), summary])


def _rules(d: dict[str, Any]) -> str:
    rows = [[r["name"], cell(r["kind"]), cell(r["description"]), code(r["oracle"], 70) if r.get("oracle") else
             f"none: {cell(r.get('note') or 'no oracle', 70)}"] for r in d.get("rules", [])]
    return "Rules (ground truth in words, read by LLM simulators; oracle in the builtin grammar):\n\n" + table(
        ["rule", "kind", "ground truth", "oracle"], rows) if rows else ""


def details(d: dict[str, Any]) -> str:
    return "\n\n".join(part for part in [_rules(d), *(_pass(p) for p in d["passes"])] if part) or "No pass ran."


RENDERER = Renderer(headline, details)
