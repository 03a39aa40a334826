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
    from tools.llm.llama_engine import LlamaEngine

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


def test_a_prompt_longer_than_the_context_is_refused(engine: LlamaEngine) -> None:
    from tools.llm.llama_engine import EngineError

    with pytest.raises(EngineError, match="context"):
        engine.score("word " * 3000, 5)
    assert _slots(engine, RECORDS[0])  # and the engine still serves


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
