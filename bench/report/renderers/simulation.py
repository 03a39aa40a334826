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


def _speed(p: dict[str, Any]) -> str:
    speed = p.get("speed")
    if not speed:
        return ""
    base = speed["baseline"]
    against = (f", {num(base['speedup'], 1)}× faster than llama-cpp-python's own server on the same {base['records']} records"
               if base["speedup"] is not None else "")
    return (f"; {num(speed['seconds_per_record'], 1)} s per record, **{num(speed['ratio_to_plain_forward'], 2)} ×** a plain "
            f"forward of the same prompts{against}")


def headline(d: dict[str, Any]) -> str:
    parts = [f"{p['simulator']}: **{_share(p)}** of {p['records']} records read, {p['rules_scoring_above_0']}/{len(p['rules'])} "
             f"rules' ground truth scored above 0 (mean r {num(p['mean_score'], 3)}), {_output(p)}{_speed(p)}"
             for p in d["passes"]]
    return f"{d['label']}: " + "; ".join(parts)


def _speed_table(passes: list[dict[str, Any]]) -> str:
    rows = []
    for p in passes:
        speed = p.get("speed")
        if not speed:
            continue
        base = speed["baseline"]
        rows.append([p["simulator"], num(speed["seconds_per_record"], 2), num(speed["plain_forward_seconds_per_record"], 2),
                     num(speed["ratio_to_plain_forward"], 3), f"{base['records']}", num(base["seconds_per_record"], 1),
                     num(base["local_server_seconds_per_record"], 1), num(base["speedup"], 1),
                     num(base["max_expected_value_difference"], 4)])
    if not rows:
        return ""
    return "\n\n" + table(
        ["format", "s / record", "plain forward s / record", "÷ plain forward", "baseline records",
         "llama-cpp-python s / record", "ours on them", "speed-up", "largest EV difference"], rows)


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
            f"(half top-activating, half random), one record per request.\n\n{formats}{_speed_table(d['passes'])}\n\n{per_rule}")


RENDERER = Renderer(headline, details)
