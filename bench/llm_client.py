"""bench/llm_client: CPU per call of the real LLM client, against a bare HTTP request in the same run.

    .venv/bin/python -m bench.llm_client [--calls 2000] [--concurrency 32] [--tokens 40] [--prompt-tokens 300]

A sweep against a fast endpoint spends its CPU between LLM calls, and every call itself costs CPU
on this side: building the request, the HTTP exchange, parsing the answer and its logprobs. A
loopback OpenAI-format server in its own process (bench/support/chat_server, so its work is not
counted here) answers every request at once with a chat completion of `--tokens` tokens, each with
5 top alternatives (the shape of a simulation's answer). This process makes `--calls` calls,
`--concurrency` in flight, four ways:

- client: `OpenAIChatLLM.complete`, as refinement uses it (langchain-openai's `ChatOpenAI` over the
  openai SDK, with our retries, limits, logprob parsing and accounting), `ChatOpenAI` handed the
  answer's JSON body as a dict (`_PlainChatCompletions`, the default);
- client_public: the same client with `ChatOpenAI` over the SDK's own chat client (public APIs
  only: the SDK parses the answer into its typed models, which `ChatOpenAI` dumps back to a dict);
- sdk: the openai SDK's `chat.completions.create` alone, same body;
- bare (the baseline): an httpx POST of the same body and `json.loads` of the answer.

Then prompt scoring (the reference simulator on vLLM or a local server), two ways: the client's
`score_prompt` and a bare POST to /completions, answered with `--prompt-tokens` echoed prompt
tokens, each with 15 alternatives.

Then the run's LangGraph checkpointer on a loop kept busy by those calls: `--concurrency` threads
of a small graph, each `--graph-steps` steps of one chat call, checkpointed by `InlineSqliteSaver`
(agent/checkpoints.py, the default: SqliteSaver's queries inline on the event loop) and by
LangGraph's `AsyncSqliteSaver` (public: every query handed to aiosqlite's thread).

CPU seconds of this process (all its threads) per call, and each way's ratio to bare; the public
path's ratio to the chosen one (client_public / client, async / inline) is printed too. The sweep's
calls per neuron (bench/sweep: about 30) times the client's CPU per call is what the client adds to
a neuron's CPU when the LLM is a real endpoint instead of bench/sweep's in-process script. No
thresholds: the numbers are written to bench/results/llm_client.json.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import tempfile
import time
from collections.abc import Awaitable, Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, TypedDict

import httpx
import openai
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph

from agent.logs import configure_logging
from bench.common import write_result
from bench.support.chat_server import Answer, Behaviour, ChatServer, Echo, Respond
from bench.support.checkpointers import Saver, open_saver
from prompts import Message
from tools.llm.config import LLMConfig
from tools.llm.openai_client import OpenAIChatLLM
from tools.llm.protocol import LLMRequest, PromptScoreRequest

MODEL = "bench-model"
PROMPT = "Predict the neuron's activation on each token of this text. " * 40  # about a simulation prompt's size
TOP = 5
PROMPT_TOP = 15
WARMUP_CALLS = 20


def _serve(tokens: int, prompt_tokens: int, conn: Connection) -> None:
    """The server process: a canned chat completion or echoed prompt for every request, until the parent says stop."""
    logprobs = [(f" t{i}", -0.1, [(f" a{j}", -1.0 - j) for j in range(TOP)]) for i in range(tokens)]
    answer = Answer(content="".join(t for t, _, _ in logprobs), logprobs=logprobs, completion_tokens=tokens)
    echoed = [(f" p{i}", None if i == 0 else -0.5, {} if i == 0 else {f" b{j}": -1.0 - j for j in range(PROMPT_TOP)})
              for i in range(prompt_tokens + 1)]
    echo = Echo(tokens=echoed)  # the prompt's tokens, then one generated

    def reply(body: Any) -> Behaviour:
        return echo if "prompt" in body else answer

    with ChatServer(default=Respond(reply)) as server:
        conn.send(server.base_url)
        conn.recv()


async def _measure(call: Callable[[], Awaitable[object]], calls: int, concurrency: int) -> dict[str, float]:
    slots = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with slots:
            await call()

    await asyncio.gather(*(one() for _ in range(WARMUP_CALLS)))  # connections opened, code paths warm
    cpu, wall = time.process_time(), time.monotonic()
    await asyncio.gather(*(one() for _ in range(calls)))
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    return {"cpu_ms_per_call": 1000 * cpu / calls, "calls_per_s": calls / wall, "seconds": round(wall, 2)}


async def _bare(base_url: str, path: str, body: dict[str, Any], args: argparse.Namespace) -> dict[str, float]:
    """The baseline: POST `body` to `path` and decode the JSON answer, nothing else."""
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
        async def post() -> object:
            response = await http.post(path, json=body)
            response.raise_for_status()
            return response.json()

        return await _measure(post, args.calls, args.concurrency)


def _client(base_url: str, args: argparse.Namespace, *, plain_chat_bodies: bool = True) -> OpenAIChatLLM:
    return OpenAIChatLLM(LLMConfig(base_url=base_url, explainer_model=MODEL, simulator_model=MODEL, prices={},
                                   concurrency=args.concurrency), plain_chat_bodies=plain_chat_bodies)


def _chat_request(args: argparse.Namespace) -> LLMRequest:
    return LLMRequest(purpose="simulator", messages=[Message(role="user", content=PROMPT)], max_tokens=args.tokens,
                      logprobs=True, top_logprobs=TOP)


def _with_ratios(results: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    for way in results.values():
        way["ratio_to_bare"] = way["cpu_ms_per_call"] / results["bare"]["cpu_ms_per_call"]
    return results


def _ratio(public: dict[str, float], chosen: dict[str, float]) -> float:
    """CPU per call of the public-API path over the chosen one: above 1, the chosen path saves CPU."""
    return public["cpu_ms_per_call"] / chosen["cpu_ms_per_call"]


async def chat_calls(base_url: str, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    messages = [{"role": "user", "content": PROMPT}]
    results = {"bare": await _bare(base_url, "/chat/completions", {"model": MODEL, "messages": messages, "max_tokens": args.tokens,
                                                                    "temperature": 0.0, "logprobs": True, "top_logprobs": TOP}, args)}
    sdk_client = openai.AsyncOpenAI(base_url=base_url, api_key="not-needed", max_retries=0)
    try:
        async def sdk() -> object:
            return await sdk_client.chat.completions.create(model=MODEL, messages=messages,  # type: ignore[arg-type]  # plain dicts, as on the wire
                                                            max_tokens=args.tokens, temperature=0.0, logprobs=True, top_logprobs=TOP)

        results["sdk"] = await _measure(sdk, args.calls, args.concurrency)
    finally:
        await sdk_client.close()
    results["client"] = await _client_chat(base_url, args, plain_chat_bodies=True)
    results["client_public"] = await _client_chat(base_url, args, plain_chat_bodies=False)
    return _with_ratios(results)


async def _client_chat(base_url: str, args: argparse.Namespace, *, plain_chat_bodies: bool) -> dict[str, float]:
    request = _chat_request(args)
    async with _client(base_url, args, plain_chat_bodies=plain_chat_bodies) as client:
        async def ours() -> object:
            response = await client.complete(request)
            assert response.logprobs is not None and len(response.logprobs) == args.tokens
            return response

        return await _measure(ours, args.calls, args.concurrency)


class _Steps(TypedDict):
    step: int
    answers: list[str]


async def checkpoints(base_url: str, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """`--concurrency` graph threads of `--graph-steps` chat calls each, checkpointed after every step by each saver."""
    request = _chat_request(args)
    results: dict[str, dict[str, float]] = {}
    async with _client(base_url, args) as client:
        async def call(state: _Steps) -> dict[str, Any]:
            response = await client.complete(request)
            return {"step": state["step"] + 1, "answers": [*state["answers"], response.text]}

        builder = StateGraph(_Steps)
        builder.add_node("call", call)
        builder.add_edge(START, "call")
        builder.add_conditional_edges("call", lambda state: "call" if state["step"] < args.graph_steps else END)
        kinds: tuple[Saver, ...] = ("inline", "async")
        for kind in kinds:
            with tempfile.TemporaryDirectory(prefix="bench-llm-client-") as folder:
                async with open_saver(kind, Path(folder) / "checkpoints.sqlite") as saver:
                    results[kind] = await _graph_threads(builder.compile(checkpointer=saver), args)
    return results


async def _graph_threads(graph: Any, args: argparse.Namespace) -> dict[str, float]:
    """A warm-up round of `--concurrency` threads, then the measured round."""
    async def thread(name: str) -> None:
        config: RunnableConfig = {"configurable": {"thread_id": name}, "recursion_limit": args.graph_steps + 5}
        final = await graph.ainvoke({"step": 0, "answers": []}, config)
        assert final["step"] == args.graph_steps

    await asyncio.gather(*(thread(f"warm-{i}") for i in range(args.concurrency)))
    cpu, wall = time.process_time(), time.monotonic()
    await asyncio.gather(*(thread(f"t{i}") for i in range(args.concurrency)))
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    steps = args.concurrency * args.graph_steps
    return {"cpu_ms_per_step": 1000 * cpu / steps, "steps_per_s": steps / wall, "seconds": round(wall, 2)}


async def prompt_scoring(base_url: str, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    prompt = "".join(f" p{i}" for i in range(args.prompt_tokens))
    results = {"bare": await _bare(base_url, "/completions", {"model": MODEL, "prompt": prompt, "echo": True, "logprobs": PROMPT_TOP,
                                                               "max_tokens": 1, "temperature": 0.0}, args)}
    async with _client(base_url, args) as client:
        async def ours() -> object:
            scored = await client.score_prompt(PromptScoreRequest(prompt=prompt, top_logprobs=PROMPT_TOP))
            assert len(scored.tokens) == args.prompt_tokens - 1  # the first prompt token has no logprob
            return scored

        results["client"] = await _measure(ours, args.calls, args.concurrency)
    return _with_ratios(results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000, help=f"measured calls per way (after {WARMUP_CALLS} warm-up calls)")
    parser.add_argument("--concurrency", type=int, default=32, help="calls in flight at once")
    parser.add_argument("--tokens", type=int, default=40, help=f"answer tokens, each with {TOP} top alternatives")
    parser.add_argument("--prompt-tokens", type=int, default=300, help=f"prompt tokens echoed when scoring a prompt, each with {PROMPT_TOP} alternatives")
    parser.add_argument("--graph-steps", type=int, default=20, help="checkpointer: steps (one chat call each) of every graph thread")
    parser.add_argument("--calls-per-neuron", type=float, default=30.0,
                        help="for the per-neuron figure: LLM calls per neuron (bench/sweep measures about 30)")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"), help="default runs: results go to bench/results/ (committed); any other DIR: to DIR/bench/")
    args = parser.parse_args()
    configure_logging("error")
    context = multiprocessing.get_context("spawn")
    parent_end, child_end = context.Pipe()
    server = context.Process(target=_serve, args=(args.tokens, args.prompt_tokens, child_end), daemon=True)
    server.start()
    try:
        base_url = parent_end.recv()
        results = asyncio.run(chat_calls(base_url, args))
        prompt_results = asyncio.run(prompt_scoring(base_url, args))
        saver_results = asyncio.run(checkpoints(base_url, args))
    finally:
        parent_end.send("stop")
        server.join(10)
    print(f"{args.calls} calls per way, {args.concurrency} in flight, answers of {args.tokens} tokens x {TOP} alternatives; "
          "CPU of this process per call:")
    for name, way in results.items():
        print(f"  {name:>6}: {way['cpu_ms_per_call']:6.2f} ms ({way['ratio_to_bare']:.2f} x bare), {way['calls_per_s']:7.1f} calls/s")
    print(f"prompt scoring, {args.prompt_tokens} prompt tokens x {PROMPT_TOP} alternatives:")
    for name, way in prompt_results.items():
        print(f"  {name:>6}: {way['cpu_ms_per_call']:6.2f} ms ({way['ratio_to_bare']:.2f} x bare), {way['calls_per_s']:7.1f} calls/s")
    per_neuron = results["client"]["cpu_ms_per_call"] * args.calls_per_neuron
    print(f"  the client at {args.calls_per_neuron:g} calls per neuron: {per_neuron:.0f} ms of CPU per neuron")
    chat_ratio = _ratio(results["client_public"], results["client"])
    print(f"  public path (ChatOpenAI over the SDK's typed parse) / chosen (JSON body as a dict): {chat_ratio:.2f} x the CPU per call")
    print(f"checkpointer, {args.concurrency} graph threads x {args.graph_steps} steps of one chat call:")
    for name, kind in saver_results.items():
        print(f"  {name:>6}: {kind['cpu_ms_per_step']:6.2f} ms CPU per step, {kind['steps_per_s']:7.1f} steps/s")
    inline, public = saver_results["inline"], saver_results["async"]
    saver_ratios = {"cpu": public["cpu_ms_per_step"] / inline["cpu_ms_per_step"], "rate": public["steps_per_s"] / inline["steps_per_s"]}
    print(f"  public path (AsyncSqliteSaver) / chosen (InlineSqliteSaver): {saver_ratios['cpu']:.2f} x the CPU per step, "
          f"{saver_ratios['rate']:.2f} x the steps per second")
    path = write_result("llm_client", {"calls": args.calls, "concurrency": args.concurrency, "tokens": args.tokens, "top_logprobs": TOP,
                                       "calls_per_neuron": args.calls_per_neuron, "client_ms_per_neuron": per_neuron,
                                       "ways": results, "public_to_chosen": chat_ratio,
                                       "prompt_tokens": args.prompt_tokens, "prompt_top_logprobs": PROMPT_TOP,
                                       "prompt_ways": prompt_results, "graph_steps": args.graph_steps,
                                       "checkpointers": saver_results, "checkpointer_public_to_chosen": saver_ratios}, args.runs_dir)
    print(f"written {path}")


if __name__ == "__main__":
    main()
