"""bench/simulation: how much of an LLM's simulation can be read, per answer format, and what it scores."""

from __future__ import annotations

from typing import Any

from bench.report.core import Renderer, num, table


def _share(p: dict[str, Any]) -> str:
    return f"{num(100 * p['share_read'], 1)}%" if p["share_read"] is not None else "n/a"


def _output(p: dict[str, Any]) -> str:
    # prompt-logprob scores the prompt itself: no answer is generated
    tokens = p["output_tokens_per_record"]
    return "nothing generated" if tokens is None else f"{num(tokens, 0)} output tokens per record"


def headline(d: dict[str, Any]) -> str:
    parts = [f"{p['simulator']}: **{_share(p)}** of {p['records']} records read, {p['rules_scoring_above_0']}/{len(p['rules'])} "
             f"rules' ground truth scored above 0, {_output(p)}"
             for p in d["passes"]]
    return f"{d['label']}: " + "; ".join(parts)


def details(d: dict[str, Any]) -> str:
    rows = []
    for p in d["passes"]:
        for rule in p["rules"]:
            rows.append([p["simulator"], rule["rule"], rule["description"], f"{rule['read']}/{rule['records']}", num(rule["score"], 3)])
    per_rule = table(["format", "rule", "ground truth in words (simulated)", "read", "r"], rows)
    formats = table(
        ["format", "records read", "output tokens / record", "seconds / record", "failure reasons"],
        [[p["simulator"], f"{_share(p)} of {p['records']}", num(p["output_tokens_per_record"], 0),
          num(p["seconds_per_record"], 1), ", ".join(f"{k} ({v})" for k, v in p["failure_reasons"].items()) or "none"]
         for p in d["passes"]],
    )
    return (f"{d['label']}, simulating each planted rule's ground truth in words on its held-out records "
            f"(half top-activating, half random), one record per request.\n\n{formats}\n\n{per_rule}")


RENDERER = Renderer(headline, details)
