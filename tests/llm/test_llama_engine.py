"""The local server's engine and HTTP layer on a real GGUF (SmolLM2-135M-Instruct; `local_llm` tier).

What must hold for the simulator: a record's logprobs are the same bits however much of its prompt
came from the cache, and named offsets give the values a full scoring gives. What must hold for
the roles that generate: greedy answers repeat, seeded samples repeat, caps and errors are honest.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from agent.settings import default_cache_dir
from tools.simulators.rendering import all_at_once_prompt

if TYPE_CHECKING:  # llama_cpp is imported by the fixtures, so collecting this file needs no build
    from tools.llm.llama_engine import Generation, LlamaEngine

pytestmark = pytest.mark.local_llm

RECORDS = [["The", " cat", " sat", " on", " the", " mat", "."],
           ["He", " paid", " ten", " dollars", " for", " a", " book", "."]]


@pytest.fixture(scope="module")
def gguf() -> Path:
    from tools.subject import smollm2

    return smollm2.ensure_gguf(default_cache_dir())


@pytest.fixture(scope="module")
def engine(gguf: Path) -> Iterator[LlamaEngine]:
    from tools.llm.llama_engine import LlamaEngine

    loaded = LlamaEngine(gguf, n_ctx=2048, n_threads=1)
    yield loaded
    loaded.close()


def _slots(engine: LlamaEngine, tokens: list[str]) -> list[list[tuple[str, float]]]:
    prompt = all_at_once_prompt("money and prices", tokens)
    scored = engine.score(prompt.text, 15, prompt.slots)
    return [t.top for t in scored if t.top is not None]


def test_a_record_s_logprobs_do_not_depend_on_the_cached_prefix(engine: LlamaEngine) -> None:
    engine.clear()
    cold = _slots(engine, RECORDS[1])
    _slots(engine, RECORDS[0])  # caches the instructions, the example and the explanation
    warm = _slots(engine, RECORDS[1])
    assert len(cold) == len(RECORDS[1]) and warm == cold  # the same bits


def test_named_offsets_give_the_values_of_a_full_scoring(engine: LlamaEngine) -> None:
    prompt = all_at_once_prompt("money and prices", RECORDS[1])
    full = engine.score(prompt.text, 15)
    sparse = engine.score(prompt.text, 15, prompt.slots)
    assert [t.text for t in full] == [t.text for t in sparse]
    scored = [i for i, t in enumerate(sparse) if t.logprob is not None]
    assert len(scored) == len(RECORDS[1])
    for i in scored:
        assert sparse[i].top == full[i].top and sparse[i].logprob == full[i].logprob


def test_generation_is_greedy_at_zero_seeded_above_and_capped(engine: LlamaEngine) -> None:
    prompt = engine.chat_prompt([("user", "Name three colours.")])
    first = engine.generate(prompt, special=True, max_tokens=12, temperature=0.0, seed=None, top_k=3)
    again = engine.generate(prompt, special=True, max_tokens=12, temperature=0.0, seed=None, top_k=3)
    assert first.text == again.text and first.text
    assert all(t.logprob is not None and t.logprob <= 0 and t.top and len(t.top) <= 3 for t in first.tokens)
    assert "".join(t.text for t in first.tokens) == first.text
    samples = [engine.generate(prompt, special=True, max_tokens=8, temperature=1.0, seed=s, top_k=None).text
               for s in (1, 1, 2)]
    assert samples[0] == samples[1]
    short = engine.generate(prompt, special=True, max_tokens=2, temperature=0.0, seed=None, top_k=None)
    assert short.finish_reason == "length" and len(short.tokens) == 2


QUESTIONS = ["Name three colours.", "What is two plus two?", "Say hello to Ann.", "Name a fruit.", "Count to five."]


def _alone(engine: LlamaEngine, prompts: list[str], caps: list[int]) -> list[Generation]:
    return [engine.generate(p, special=True, max_tokens=cap, temperature=0.0, seed=None, top_k=2)
            for p, cap in zip(prompts, caps, strict=True)]


def _same_answers(together: list[Generation], alone: list[Generation]) -> None:
    for got, want in zip(together, alone, strict=True):
        assert got.text == want.text and got.finish_reason == want.finish_reason and got.prompt_tokens == want.prompt_tokens
        # Not the same bits: what else shares the batch and the cache moved a logprob by up to 0.15 on
        # this Q4_1 model (measured; the values depend on the other streams' lengths, not on their
        # texts, and a prompt batched with a copy of itself gives the same bits as alone).
        assert [t.logprob for t in got.tokens] == pytest.approx([t.logprob for t in want.tokens], abs=0.3)
        assert all(t.top and len(t.top) == 2 and t.top[0][0] == t.text for t in got.tokens)


def test_streams_decoded_together_answer_as_each_prompt_alone(engine: LlamaEngine) -> None:
    """Batching is only an economy: greedy answers with their logprobs are what each prompt gets on
    its own, though the streams share a prefix, start together and end at different steps."""
    from tools.llm.llama_engine import GenerationRequest

    prompts = [engine.chat_prompt([("system", "Answer briefly."), ("user", q)]) for q in QUESTIONS]
    caps = [12, 3, 9, 1, 12]
    alone = _alone(engine, prompts, caps)
    engine.clear()
    streams = [engine.open(GenerationRequest(p, True, cap, 0.0, None, 2), sequence=i + 1)
               for i, (p, cap) in enumerate(zip(prompts, caps, strict=True))]
    steps = 0
    while any(s.finish is None for s in streams):
        engine.step(streams)
        steps += 1
    together = [s.result(engine) for s in streams]
    for stream in streams:
        engine.release(stream)
    _same_answers(together, alone)
    assert steps == max(len(g.tokens) + (g.finish_reason == "stop") for g in alone)  # one step per token, for all at once


def test_the_scheduler_batches_concurrent_requests_and_runs_scoring_alone(engine: LlamaEngine) -> None:
    """Requests from many threads, more than the streams it decodes at once, with a prompt scoring
    among them: every caller gets its own answer, the scoring the values it gets on an idle engine,
    and a failing request fails alone."""
    from concurrent.futures import ThreadPoolExecutor

    from tools.llm.llama_engine import EngineError, GenerationRequest
    from tools.llm.llama_scheduler import Scheduler

    # Continuations with wide margins: a batch moves logprobs a little (see _same_answers) and must
    # not flip a greedy choice here.
    prompts = ["1, 2, 3, 4, 5, 6,", "Monday, Tuesday, Wednesday,", "January, February, March, April,", "A, B, C, D, E,",
               "one, two, three, four,", "10, 20, 30, 40,", "red, orange, yellow,", "Sunday, Monday,",
               "a, b, c, d,", "2, 4, 6, 8,"]
    caps = [8, 2, 5, 1, 8, 4, 8, 3, 6, 7]
    alone = [engine.generate(p, special=False, max_tokens=cap, temperature=0.0, seed=None, top_k=2)
             for p, cap in zip(prompts, caps, strict=True)]
    scored_alone = _slots(engine, RECORDS[1])
    scheduler = Scheduler(engine, max_streams=3)
    try:
        with ThreadPoolExecutor(max_workers=12) as pool:
            answers = [pool.submit(scheduler.generate, GenerationRequest(p, False, cap, 0.0, None, 2))
                       for p, cap in zip(prompts, caps, strict=True)]
            scoring = pool.submit(scheduler.exclusive, lambda e: _slots(e, RECORDS[1]))
            too_long = pool.submit(scheduler.generate, GenerationRequest("word " * 3000, False, 4, 0.0, None, None))
            together = [a.result(timeout=300) for a in answers]
            assert scoring.result(timeout=300) == scored_alone
            with pytest.raises(EngineError, match="context"):
                too_long.result(timeout=300)
    finally:
        scheduler.close()
    _same_answers(together, alone)
    assert scheduler.peak_streams == 3


def test_a_prompt_longer_than_the_context_is_refused(engine: LlamaEngine) -> None:
    from tools.llm.llama_engine import EngineError

    with pytest.raises(EngineError, match="context"):
        engine.score("word " * 3000, 5)
    assert _slots(engine, RECORDS[0])  # and the engine still serves


TEN_RECORD = ["He", " paid", " 10", " dollars", " for", " 100", " books", "."]


def test_smollm2_writes_ten_as_two_digits(engine: LlamaEngine) -> None:
    assert engine.ten_split is not None
    assert [engine.token_text(t) for t in engine.ten_split] == ["1", "0"]


def test_zero_after_one_is_what_a_plain_forward_of_the_truncated_prompt_gives(engine: LlamaEngine) -> None:
    """P("0" | prefix, "1") from the extra batch of shared-cell sequences equals a forward of the
    prompt cut at the slot with "10" written there, at every slot."""
    import math

    prompt = all_at_once_prompt("numbers of ten and more", TEN_RECORD)
    tokens = engine.tokenize(prompt.text, special=False)
    scored = engine.score(prompt.text, 15, prompt.slots)
    positions = [i for i, t in enumerate(scored) if t.top is not None]
    assert len(positions) == len(TEN_RECORD)
    split = engine.zero_after_one(tokens, positions)
    for slot, position in zip(prompt.slots, positions, strict=True):
        plain = engine.score(prompt.text[:slot] + "10", 1, [slot + 1])
        zero = next(t for t in plain if t.logprob is not None)
        assert zero.text == "0" and zero.logprob is not None
        assert split[position] == pytest.approx(math.exp(zero.logprob), abs=1e-4)


def test_split_ten_moves_the_one_candidate_s_ten_share_and_leaves_the_rest(engine: LlamaEngine) -> None:
    import math

    prompt = all_at_once_prompt("numbers of ten and more", TEN_RECORD)
    plain = [t.top for t in engine.score(prompt.text, 15, prompt.slots) if t.top is not None]
    split = [t.top for t in engine.score(prompt.text, 15, prompt.slots, split_ten=True) if t.top is not None]
    assert [t.top for t in engine.score(prompt.text, 15, prompt.slots) if t.top is not None] == plain  # cache intact
    assert len(split) == len(plain) == len(TEN_RECORD)
    for before, after in zip(plain, split, strict=True):
        one, got = dict(before), dict(after)
        assert "10" not in one and "1" in one  # the words of this record all have some "1" mass
        assert math.exp(got["10"]) + math.exp(got.get("1", -math.inf)) == pytest.approx(math.exp(one["1"]), rel=1e-9)
        assert {k: v for k, v in got.items() if k not in ("1", "10")} == {k: v for k, v in one.items() if k != "1"}
        assert [lp for _, lp in after] == sorted((lp for _, lp in after), reverse=True)


def _post(base_url: str, path: str, body: object) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(f"{base_url}{path}", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=120) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_the_server_answers_bad_requests_with_a_json_error(gguf: Path) -> None:
    from tools.llm.local_server import LocalServer

    with LocalServer(gguf, n_ctx=2048, n_threads=1) as server:
        status, body = _post(server.base_url, "/completions", {"prompt": "x", "logprob_offsets": "3"})
        assert status == 400 and "logprob_offsets" in body["error"]["message"]
        status, body = _post(server.base_url, "/completions", {"prompt": "x", "echo": True, "logprobs": 1, "split_ten": True})
        assert status == 400 and "split_ten" in body["error"]["message"]
        status, body = _post(server.base_url, "/chat/completions", {"messages": []})
        assert status == 400 and "messages" in body["error"]["message"]
        status, body = _post(server.base_url, "/completions", {"prompt": "word " * 3000, "echo": True, "logprobs": 1})
        assert status == 400 and "context" in body["error"]["message"]
        status, body = _post(server.base_url, "/nowhere", {})
        assert status == 404
        status, body = _post(server.base_url, "/chat/completions",
                             {"messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 3, "temperature": 0})
        assert status == 200 and body["usage"]["completion_tokens"] <= 3


def test_the_server_exits_when_the_command_that_started_it_is_killed(gguf: Path, tmp_path: Path) -> None:
    """The server runs in its own session, so a SIGKILLed command cannot stop it in order; it must not
    stay behind, busy with its last request."""
    import os
    import signal
    import subprocess
    import sys
    import time

    pid_file = tmp_path / "server.pid"
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from tools.llm.local_server import LocalServer\n"
        f"server = LocalServer(Path({str(gguf)!r}), n_ctx=512, n_threads=1)\n"
        "server.start()\n"
        f"Path({str(pid_file)!r}).write_text(str(server._proc.pid))\n"
        "time.sleep(600)\n"
    )
    command = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 120
        while not pid_file.is_file() and time.monotonic() < deadline:
            time.sleep(0.2)
        server_pid = int(pid_file.read_text())
        os.kill(command.pid, signal.SIGKILL)
        command.wait()
        deadline = time.monotonic() + 15
        alive = True
        while alive and time.monotonic() < deadline:
            try:
                os.kill(server_pid, 0)
                time.sleep(0.2)
            except ProcessLookupError:
                alive = False
        assert not alive, "the server outlived the command that started it"
    finally:
        if command.poll() is None:
            command.kill()


async def test_the_simulator_reads_ten_through_the_local_server(gguf: Path) -> None:
    """A digit-splitting tokenizer: through our server the simulator's slots get a "10" candidate
    with P("1") * P("0" | "1") of the mass, and without split_ten they stay as the model wrote them."""
    import math

    from tools.llm.local_server import LocalServer
    from tools.llm.openai_client import OpenAIChatLLM
    from tools.llm.protocol import PromptScoreRequest
    from tools.simulators.prompt_logprob import PromptLogprobSimulator

    prompt = all_at_once_prompt("numbers of ten and more", TEN_RECORD)
    with LocalServer(gguf, n_ctx=2048, n_threads=1) as server:
        async with OpenAIChatLLM(server.llm_config()) as llm:
            (simulated,) = await PromptLogprobSimulator(llm).simulate("numbers of ten and more", [TEN_RECORD])
            plain = await llm.score_prompt(PromptScoreRequest(prompt=prompt.text, offsets=prompt.slots))
            split = await llm.score_prompt(PromptScoreRequest(prompt=prompt.text, offsets=prompt.slots, split_ten=True))
    plain_tops = [{a.token: a.logprob for a in t.top} for t in plain.tokens if t.top]
    split_tops = [{a.token: a.logprob for a in t.top} for t in split.tokens if t.top]
    assert len(plain_tops) == len(split_tops) == len(TEN_RECORD)
    for before, after in zip(plain_tops, split_tops, strict=True):
        assert "10" not in before and "10" in after
        assert math.exp(after["10"]) + math.exp(after.get("1", -math.inf)) == pytest.approx(math.exp(before["1"]), rel=1e-6)
    assert simulated.status == "ok"
    assert simulated.distribution_values is not None and simulated.distribution_probabilities is not None
    for slot, values, probabilities in zip(split_tops, simulated.distribution_values,
                                           simulated.distribution_probabilities, strict=True):
        total = sum(math.exp(lp) for t, lp in slot.items() if t in {str(v) for v in range(11)})
        ten = dict(zip(values, probabilities, strict=True))[10]
        assert ten == pytest.approx(math.exp(slot["10"]) / total, rel=1e-6)
