"""Generations decoded together against one at a time, in our llama.cpp server's scheduler.

    .venv/bin/python -m bench.local_batch [--gguf FILE --label TEXT] [--requests 16] [--parallel 8]

The workload is the chat-highlight simulator's: one request per 64-token record of the default
corpus, for an explanation, sent all at once (as the agent sends up to `--llm-concurrency` calls)
with the simulator's own answer cap. The same requests run twice on one loaded model: through a
scheduler that decodes one generation at a time (the baseline: the server before batching), then
through one that decodes up to `--parallel` together. It reports each way's seconds per request, the
ratio, and how many greedy answers came out the same (a batch moves logprobs a little; a near tie
can flip a greedy choice). Without `--gguf` it runs on SmolLM2-135M-Instruct, which only exercises
the plumbing; the measurement worth reading is on a chat model, e.g. the eval-only Qwen GGUF from
`python -m bench.qwen_gguf`.
"""

from __future__ import annotations

import argparse
import random
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from agent.logs import configure_logging
from agent.settings import default_cache_dir
from bench.common import DEFAULT_RUNS_DIR, print_json, write_result
from tools.corpus.corpus import load_corpus
from tools.llm.local_server import LOCAL_PARALLEL
from tools.simulators.rendering import chat_highlight_messages

if TYPE_CHECKING:  # llama_cpp is imported only when a model is measured
    from tools.llm.llama_engine import Generation, GenerationRequest
    from tools.llm.llama_scheduler import Scheduler

log = structlog.get_logger(__name__)

EXPLANATIONS = ("colour words, most strongly green", "words, most strongly first")
"""A specific explanation (short answers) and the vague kind small explainers write (long ones)."""
RECORD_WORDS = 48
"""About 64 tokens of English text."""


def record_texts(n: int, seed: int = 0) -> list[str]:
    documents = [d for d in load_corpus("default", default_cache_dir()).documents if len(d.split()) >= RECORD_WORDS]
    chosen = random.Random(seed).sample(documents, n)
    return [" ".join(d.split()[:RECORD_WORDS]) for d in chosen]


def _run(scheduler: Scheduler, requests: list[GenerationRequest]) -> tuple[float, list[Generation]]:
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        answers = list(pool.map(scheduler.generate, requests))
    return time.perf_counter() - started, answers


def measure(gguf: Path, texts: list[str], parallel: int, threads: int | None) -> dict[str, Any]:
    from tools.llm.llama_engine import GenerationRequest, LlamaEngine
    from tools.llm.llama_scheduler import Scheduler

    engine = LlamaEngine(gguf, n_threads=threads)
    try:
        requests = []
        for explanation in EXPLANATIONS:
            for text in texts:
                prompt = engine.chat_prompt([(m.role, m.content) for m in chat_highlight_messages(explanation, [text])])
                # The simulator's cap: 2 answer tokens per record token, and 24 more.
                cap = 2 * len(engine.tokenize(text, special=False)) + 24
                requests.append(GenerationRequest(prompt, True, cap, 0.0, None, None))
        ways: dict[str, Any] = {}
        answers: dict[str, list[Generation]] = {}
        for way, streams in (("one_at_a_time", 1), ("batched", parallel)):
            engine.clear_all()
            scheduler = Scheduler(engine, streams)
            try:
                seconds, answers[way] = _run(scheduler, requests)
            finally:
                scheduler.close()
            tokens = sum(len(a.tokens) for a in answers[way])
            ways[way] = {"streams": streams, "peak_streams": scheduler.peak_streams, "seconds": round(seconds, 2),
                         "seconds_per_request": round(seconds / len(requests), 3), "answer_tokens": tokens,
                         "answer_tokens_per_s": round(tokens / seconds, 2)}
            log.info("way_measured", way=way, **ways[way])
        same = sum(a.text == b.text for a, b in zip(answers["one_at_a_time"], answers["batched"], strict=True))
        return {
            "requests": len(requests), "explanations": list(EXPLANATIONS), "threads": engine.n_threads,
            "prompt_tokens_mean": round(sum(a.prompt_tokens for a in answers["batched"]) / len(requests), 1),
            "ways": ways,
            "speedup": round(ways["one_at_a_time"]["seconds"] / ways["batched"]["seconds"], 2),
            "same_answers": same,
            "examples": [{"explanation": explanation, "text": texts[0], "answer": answers["batched"][i * len(texts)].text}
                         for i, explanation in enumerate(EXPLANATIONS)],
        }
    finally:
        engine.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.local_batch", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gguf", type=Path, default=None, help="chat model (default: SmolLM2-135M-Instruct, plumbing only)")
    parser.add_argument("--label", default=None, help="how the results name the model (default: the file name)")
    parser.add_argument("--requests", type=int, default=16, help="records per explanation (default 16)")
    parser.add_argument("--parallel", type=int, default=LOCAL_PARALLEL,
                        help=f"generations decoded together (default {LOCAL_PARALLEL}, the local server's)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: all cores)")
    parser.add_argument("--runs-dir", type=Path, default=DEFAULT_RUNS_DIR)
    parser.add_argument("--name", default="local-batch")
    args = parser.parse_args(argv)
    configure_logging()
    gguf = args.gguf
    if gguf is None:
        from tools.subject import smollm2

        gguf = smollm2.ensure_gguf(default_cache_dir())
    result = {"model": args.label or gguf.name, **measure(gguf, record_texts(args.requests), args.parallel, args.threads)}
    path = write_result(args.name, result, args.runs_dir, benchmark="local_batch")
    print_json(result)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
