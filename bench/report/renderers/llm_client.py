"""bench/llm_client: CPU per call of the real LLM client, against a bare HTTP request."""

from __future__ import annotations

from typing import Any

from bench.report.core import Renderer, num, table

WAYS = {"client": "the client (`OpenAIChatLLM`)", "sdk": "the openai SDK alone", "bare": "bare httpx POST + json (baseline)"}


def headline(d: dict[str, Any]) -> str:
    ways = d["ways"]
    return (f"CPU per call: the client {num(ways['client']['cpu_ms_per_call'])} ms, **{num(ways['client']['ratio_to_bare'])} ×** "
            f"a bare HTTP request ({num(ways['bare']['cpu_ms_per_call'])} ms); at {d['calls_per_neuron']:g} calls per neuron, "
            f"{num(d['client_ms_per_neuron'], 0)} ms of CPU per neuron ({d['concurrency']} calls in flight)")


def details(d: dict[str, Any]) -> str:
    rows = [[WAYS[name], f"{num(way['cpu_ms_per_call'])} ms", f"**{num(way['ratio_to_bare'])}**", num(way["calls_per_s"], 0)]
            for name, way in d["ways"].items()]
    return (f"{d['calls']:,} calls per way, {d['concurrency']} in flight, to a loopback server in its own process answering at once "
            f"with {d['tokens']} tokens × {d['top_logprobs']} top alternatives. CPU of the calling process per call (all threads).\n\n"
            + table(["way", "CPU per call", "÷ bare", "calls/s"], rows))


RENDERER = Renderer(headline, details)
