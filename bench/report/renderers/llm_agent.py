"""bench/llm_agent: one LLM in every role, on planted rules and real neurons; each explanation read by both simulators."""

from __future__ import annotations

from typing import Any

from bench.report.core import Renderer, cell, code, interval, num, table

ARMS = (("llm_oneshot", "LLM one-shot"), ("llm_refined", "LLM refined"), ("builtin_refined", "builtin refined"),
        ("truth", "ground truth in words"))
JUDGED_ARMS = (("judged_oneshot", "LLM one-shot, builtin-judged loop"), ("judged_refined", "LLM refined, builtin-judged loop"))


def _arms(s: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    return ARMS + (JUDGED_ARMS if "judged" in s else ())


def _part_headline(name: str, s: dict[str, Any]) -> str:
    gain = s["llm_refined_minus_oneshot_llm_sim"]
    means = s["means"]["llm"]
    text = (f"{name} ({s['neurons']}): LLM-simulated r one-shot {num(means['llm_oneshot'])} → refined "
            f"**{num(means['llm_refined'])}** (gain {num(gain['mean'], 3, sign=True)} {interval(gain['ci'])})")
    if name == "real":
        text += f", refined ≥ one-shot on {num(s['share_refined_at_least_oneshot'])} of neurons"
    text += f", builtin refined {num(means['builtin_refined'])}; {num(s['seconds_per_neuron'], 0)} s per neuron"
    if "judged" in s:
        judged = s["judged"]["refined_minus_oneshot_builtin_sim"]
        text += (f"; with the builtin judging the LLM's loop ({s['judged']['neurons']}): builtin-simulated gain "
                 f"{num(judged['mean'], 3, sign=True)} {interval(judged['ci'])}")
    return text


def headline(d: dict[str, Any]) -> str:
    parts = [_part_headline(name, part["summary"]) for name, part in d["parts"].items()]
    done = "" if d["complete"] else f" (partial: {sum(p['summary']['neurons'] for p in d['parts'].values())} of {len(d['planned'])} neurons)"
    return f"{cell(d['label'], 60)}{done}: " + ("; ".join(parts) or "no neuron finished yet")


def _two_by_two(s: dict[str, Any], method: str) -> str:
    rows = [[label, num(s["means"]["llm"][arm], 3), num(s["means"]["builtin"][arm], 3)] for arm, label in _arms(s)]
    return table(["explanation", f"LLM simulator ({method})", "builtin simulator"], rows)


def _neurons(rows: list[dict[str, Any]]) -> str:
    out = []
    for r in rows:
        name = r["rule"] or f"{r['layer']}/{r['neuron']}"
        calls = r["llm"]["calls"]
        answered = [a for a in r["llm"]["adopted"] if a["answers"]]
        out.append([name, num(r["scores"]["llm"]["llm_oneshot"]), num(r["scores"]["llm"]["llm_refined"]),
                    num(r["scores"]["builtin"]["llm_refined"]), num(r["scores"]["llm"]["builtin_refined"]),
                    num(r["scores"]["llm"]["truth"]), str(sum(c["calls"] for c in calls.values())),
                    f"{sum(c['prompt_tokens'] + c['completion_tokens'] for c in calls.values()):,}",
                    num(r["llm"]["seconds"], 0) + (" (resumed: the last part)" if r["llm"].get("resumed") else ""), f"{len(r['llm']['adopted'])} ({len(answered)} answering)",
                    code(r["explanations"]["llm_refined"] or "—", 70)])
    return table(["neuron", "LLM 1-shot (LLM sim)", "LLM refined (LLM sim)", "LLM refined (builtin sim)",
                  "builtin refined (LLM sim)", "truth (LLM sim)", "calls", "tokens", "s", "adopted revisions",
                  "LLM refined explanation"], out)


def _examples(d: dict[str, Any], n: int = 5) -> str:
    rows = [r for part in d["parts"].values() for r in part["neurons"]][:n]
    return table(["neuron", "LLM one-shot", "LLM refined", "builtin refined", "ground truth"],
                 [[r["rule"] or f"{r['layer']}/{r['neuron']}"] + [code(r["explanations"][arm] or "—", 80) for arm, _ in ARMS]
                  for r in rows])


def details(d: dict[str, Any]) -> str:
    s = d["settings"]
    intro = (f"{cell(d['label'])} in every role (explainer, prober, reviser, {s['simulator']} simulator), loop sizes: "
             f"{s['max_iters']} rounds, best of {s['n_explanations']}, {s['n_revisions']} revisions and "
             f"{s['probes_per_generator']} probes per generator per round, {s['records_per_split']} records per split. "
             + ("" if d["complete"] else f"**Partial**: the run is resumable and holds {sum(p['summary']['neurons'] for p in d['parts'].values())} "
                f"of the {len(d['planned'])} planned neurons so far."))
    blocks = [intro]
    for name, part in d["parts"].items():
        blocks.append(f"**{name}**: mean held-out r by explanation and simulator (the same held-out records):\n\n"
                      + _two_by_two(part["summary"], s["simulator"]) + "\n\n" + _neurons(part["neurons"]))
    blocks.append("Example explanations, side by side:\n\n" + _examples(d))
    return "\n\n".join(blocks)


RENDERER = Renderer(headline, details)
