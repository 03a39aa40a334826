"""bench/local_batch: our llama.cpp server decoding concurrent generations together, against one at a time."""

from __future__ import annotations

from typing import Any

from bench.report.core import Renderer, cell, num, table

WAYS = {"one_at_a_time": "one generation at a time (baseline: the server before batching)",
        "batched": "decoded together (the server's default)"}


def headline(d: dict[str, Any]) -> str:
    one, batched = d["ways"]["one_at_a_time"], d["ways"]["batched"]
    return (f"{d['model']}: chat-highlight requests sent at once, {num(batched['seconds_per_request'])} s each "
            f"decoded together (up to {batched['streams']}) against {num(one['seconds_per_request'])} s one at a time, "
            f"**{num(d['speedup'])} ×**; {d['same_answers']}/{d['requests']} greedy answers the same")


def details(d: dict[str, Any]) -> str:
    rows = [[WAYS[name], str(way["peak_streams"]), num(way["seconds"], 1), num(way["seconds_per_request"]),
             f"{way['answer_tokens']:,}", num(way["answer_tokens_per_s"], 1)] for name, way in d["ways"].items()]
    examples = [[cell(e["explanation"]), cell(e["text"], 80), cell(e["answer"].replace("\n", " / ").replace("\t", " "), 80)]
                for e in d["examples"]]
    return (f"{d['requests']} requests (the chat-highlight simulator's prompt and answer cap, one 64-token record of "
            f"the default corpus each, for each of {len(d['explanations'])} explanations), all sent at once to one "
            f"loaded model, {d['threads']} threads; prompts average {num(d['prompt_tokens_mean'], 0)} tokens.\n\n"
            + table(["way", "most streams at once", "seconds", "s per request", "answer tokens", "answer tokens/s"], rows)
            + f"\n\nDecoded together over one at a time: **{num(d['speedup'])} ×** faster. Greedy answers the same "
              f"both ways: {d['same_answers']} of {d['requests']} (a batch moves logprobs a little, and a near tie "
              "can flip a choice).\n\nThe first answer for each explanation:\n\n"
            + table(["explanation", "text", "answer"], examples))


RENDERER = Renderer(headline, details)
