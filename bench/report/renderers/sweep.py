"""bench/sweep: sweep throughput against the LLM-bound ideal, and the budget overshoot."""

from __future__ import annotations

from typing import Any

from bench.report.core import Renderer, cell, num, table


def headline(d: dict[str, Any]) -> str:
    levels = ", ".join(f"{level['concurrency']} → **{num(level['ratio'])}**" for level in d["levels"])
    thread, budget = d["thread_subject"], d["budget"]
    return (f"achieved ÷ ideal neurons/s by concurrency at {d['latency_s']:g} s per call: {levels} "
            f"(subject in a thread instead of a process: {num(thread['ratio'])} at {thread['concurrency']}); "
            f"spend at the budget stop {num(budget['overshoot_calls'], sign=True)} calls past the limit "
            f"({d['waves']} waves of neurons per level)")


def _cpu(level: dict[str, Any]) -> str:
    own = f"{num(1000 * level['cpu_s_per_neuron'], 0)} ms"
    child = level["subject_cpu_s_per_neuron"]
    return own if child is None else f"{own} + {num(1000 * child, 0)} ms"


def details(d: dict[str, Any]) -> str:
    rows = [[f"{level['latency_s']:g} s", str(level["concurrency"]), level["subject"], str(level["neurons"]), num(level["neurons_per_s"]),
             num(level["ideal_neurons_per_s"]), f"**{num(level['ratio'], 3)}**",
             num(level["ratio_slots_busy"], 3), num(level["calls"] / level["neurons"], 1),
             _cpu(level), num(level["occupancy"], 3), f"{num(level['non_llm_s_mean'], 2)} s",
             f"{level['ok']} / {level['failed']}", num(level["seconds"], 1),
             " → ".join(num(x) for x in level["load_avg_1m"])]
            for level in [*d["levels"], d["thread_subject"]]]
    levels = table(["latency", "concurrency", "subject in a", "neurons", "achieved neurons/s", "ideal", "achieved ÷ ideal", "with slots busy",
                    "calls per neuron", "CPU per neuron (sweep + subject process)", "slots busy", "not LLM per neuron", "ok / failed",
                    "wall s", "load average"], rows)
    b = d["budget"]
    budget = (f"Budget: ${b['budget_usd']:g} at ${b['cost_per_call_usd']:g} per call, concurrency {b['concurrency']}: "
              f"spent ${num(b['paid_usd'], 3)} in {b['paid_calls']:,} calls, **overshoot "
              f"{num(b['overshoot_calls'], sign=True)} calls**; {b['ok']} done, {b['failed']} failed, {b['unfinished']} "
              f"unfinished. Stop: {cell(b['budget_stop'] or 'none')}. Peak RSS {num(b['peak_rss_mib'], 0)} MiB.")
    return (f"At each concurrency, {d['waves']} × concurrency neurons of the tiny model (at most {d['max_neurons']}), a scripted "
            f"LLM taking {d['latency_s']:g} s per call. Ideal = concurrency ÷ (calls on a neuron's critical path × latency). "
            "Achieved ÷ ideal is about slots busy × (critical path × latency) ÷ (that + not-LLM time per neuron): slots "
            "sit idle while the last neurons finish, and a neuron's own time between its LLM calls (CPU, the subject, "
            "waiting for the event loop) lengthens it. With slots busy: achieved ÷ ideal ÷ slots busy, the ratio of a "
            "sweep long enough that its last neurons' drain no longer counts. The subject's forwards and sampling run "
            "in a child process (`--subject-process`); the last row is the same sweep with them in a worker thread "
            "of the sweep's own process (the default), measured in the same run.\n\n"
            + levels + "\n\n" + budget)


RENDERER = Renderer(headline, details)
