"""bench/llm_client: CPU per call of the real LLM client, against a bare HTTP request."""

from __future__ import annotations

from typing import Any

from bench.report.core import Renderer, num, table

WAYS = {"client": "the client (`OpenAIChatLLM`)",
        "client_public": "the client, `ChatOpenAI` over the SDK's typed parse (public path)",
        "sdk": "the openai SDK alone", "bare": "bare httpx POST + json (baseline)"}
"""The ways a call is made, as the tables name them."""
SAVERS = {"inline": "`InlineSqliteSaver` (queries inline)", "async": "LangGraph's `AsyncSqliteSaver` (public path)"}


def headline(d: dict[str, Any]) -> str:
    chat, prompt = d["ways"]["client"], d["prompt_ways"]["client"]
    return (f"CPU per call: the client's chat call {num(chat['cpu_ms_per_call'])} ms, **{num(chat['ratio_to_bare'])} ×** "
            f"a bare HTTP request; its prompt scoring {num(prompt['cpu_ms_per_call'])} ms, **{num(prompt['ratio_to_bare'])} ×**; "
            f"at {d['calls_per_neuron']:g} chat calls per neuron, {num(d['client_ms_per_neuron'], 0)} ms of CPU per neuron "
            f"({d['concurrency']} calls in flight)")


def _rows(ways: dict[str, Any], call: str) -> list[list[str]]:
    return [[call, WAYS[name], f"{num(way['cpu_ms_per_call'])} ms", f"**{num(way['ratio_to_bare'])}**", num(way["calls_per_s"], 0)]
            for name, way in ways.items()]


def details(d: dict[str, Any]) -> str:
    chat = f"chat, {d['tokens']} tokens × {d['top_logprobs']} alternatives"
    prompt = f"prompt scoring, {d['prompt_tokens']} tokens × {d['prompt_top_logprobs']} alternatives"
    return (f"{d['calls']:,} calls per way, {d['concurrency']} in flight, to a loopback server in its own process answering at once. "
            "CPU of the calling process per call (all threads).\n\n"
            + table(["call", "way", "CPU per call", "÷ bare", "calls/s"], _rows(d["ways"], chat) + _rows(d["prompt_ways"], prompt))
            + _public_paths(d))


def _public_paths(d: dict[str, Any]) -> str:
    """What each override saves against the public API, measured in the same run (results since issue 26)."""
    if "checkpointers" not in d:
        return ""
    savers = d["checkpointers"]
    rows = [[SAVERS[name], f"{num(kind['cpu_ms_per_step'])} ms", num(kind["steps_per_s"], 1)] for name, kind in savers.items()]
    ratios = d["checkpointer_public_to_chosen"]
    return (f"\n\nChat, the public path over the chosen one: **{num(d['public_to_chosen'])} ×** the CPU per call.\n\n"
            f"Checkpointer, {d['concurrency']} graph threads × {d['graph_steps']} steps of one chat call each, checkpointed every step:\n\n"
            + table(["saver", "CPU per step", "steps/s"], rows)
            + f"\n\nThe public saver over the chosen one: **{num(ratios['cpu'])} ×** the CPU per step, {num(ratios['rate'])} × the steps per second.")


RENDERER = Renderer(headline, details)
