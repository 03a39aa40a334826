"""The local LLM server: start/stop logic, its errors and the CLI (fast tier, no build needed);
real calls against the real server with SmolLM2-135M-Instruct (`local_llm` tier, after `make local`).

The fast tier stands a tiny Python HTTP server in for ours (same argv slot, same readiness probe), so
the subprocess handling is tested for real without the compiled library.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.cli.main import main
from agent.settings import default_cache_dir
from prompts import Message
from tests.support.processes import interruptible
from tools.errors import AssetMissingError
from tools.llm import local_server as ls
from tools.llm.config import LLMConfig
from tools.llm.openai_client import OpenAIChatLLM
from tools.llm.protocol import LLMRequest, PromptScoreRequest
from tools.subject import smollm2

SMOLLM2 = ls.model_alias(Path(smollm2.GGUF_FILE))
"""The name the local server answers to with the default GGUF."""

# --- fast tier: no llama.cpp needed ------------------------------------------------------------

FAKE_SERVER = textwrap.dedent(
    """
    import json, sys
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"object": "list", "data": [{"id": "fake-model", "object": "model"}]}).encode()
            self.send_response(200 if self.path == "/v1/models" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    print("fake server starting", flush=True)
    HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
    """
)


@pytest.fixture
def gguf(tmp_path: Path) -> Path:
    path = tmp_path / "Tiny-Model.Q8_0.gguf"
    path.write_bytes(b"GGUF")
    return path


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend llama-cpp-python[server] is installed (the fakes below replace the server itself)."""
    monkeypatch.setattr(ls, "missing_modules", lambda: [])


def fake_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, script: str) -> None:
    path = tmp_path / "fake_server.py"
    path.write_text(script)
    monkeypatch.setattr(ls, "server_command", lambda gguf, port, **kw: [sys.executable, str(path), str(port)])


def test_missing_llama_cpp_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, gguf: Path) -> None:
    real_find_spec = ls.importlib.util.find_spec
    monkeypatch.setattr(
        ls.importlib.util, "find_spec", lambda name, *a: None if name == "llama_cpp" else real_find_spec(name, *a)
    )
    assert "llama_cpp" in ls.missing_modules()
    with pytest.raises(AssetMissingError, match=r"missing: llama_cpp.*make local.*pip install '\.\[local\]'"):
        ls.require_llama_cpp()
    server = ls.LocalServer(gguf)
    with pytest.raises(AssetMissingError, match="make local"):
        server.start()
    assert server.port is None  # nothing was started, not even a port chosen
    with pytest.raises(AssetMissingError, match="make local"), ls.LocalServer(gguf):
        pass


def test_cli_without_llama_cpp_says_make_local_and_fetches_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(ls, "missing_modules", lambda: ["llama_cpp"])
    monkeypatch.setattr(smollm2, "ensure_gguf", lambda *a, **kw: pytest.fail("downloaded before checking the build"))
    assert main(["serve-local", "--cache-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "make local" in err and "Traceback" not in err


def test_free_port_is_bindable_on_loopback() -> None:
    port = ls.free_port()
    assert 1024 <= port < 65536
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", port))


def test_server_command_runs_our_server_on_loopback(gguf: Path) -> None:
    argv = ls.server_command(gguf, 8123, alias="tiny", n_ctx=4096, n_threads=2)
    assert argv[:3] == [sys.executable, "-m", "tools.llm.llama_server"]
    flags = dict(zip(argv[3::2], argv[4::2], strict=True))
    assert flags == {"--model": str(gguf), "--alias": "tiny", "--host": "127.0.0.1", "--port": "8123",
                     "--exit-with-parent": str(os.getpid()), "--n-ctx": "4096", "--n-threads": "2"}


def test_model_alias_is_the_file_name_without_gguf() -> None:
    assert ls.model_alias(Path("/x/SmolLM2-135M-Instruct.Q4_1.gguf")) == "SmolLM2-135M-Instruct.Q4_1"
    assert ls.model_alias(Path("qwen2.5-7b-instruct.GGUF")) == "qwen2.5-7b-instruct"
    assert ls.model_alias(Path("model")) == "model"
    assert ls.LocalServer(Path("/x/qwen2.5-7b-instruct.gguf"), port=1).llm_config().simulator_model == "qwen2.5-7b-instruct"


async def test_two_ggufs_named_alike_up_to_the_first_dot_never_share_journal_answers(tmp_path: Path) -> None:
    """qwen2.5-coder-1.5b-instruct and qwen2.5-7b-instruct were both "qwen2": the journal, keyed by
    model and endpoint ("local" for every local server), would have answered one with the other's calls."""
    from agent.backends import Backend
    from tools.llm.fake import ScriptedLLM
    from tools.llm.journal import CallJournal, JournaledLLM
    from tools.llm.protocol import LLMResponse, Usage

    small, large = Path("qwen2.5-coder-1.5b-instruct.gguf"), Path("qwen2.5-7b-instruct.gguf")
    assert ls.model_alias(small) != ls.model_alias(large)
    journal = CallJournal(tmp_path / "journal.sqlite")
    request = LLMRequest(purpose="simulator", messages=[Message(role="user", content="colour words")], max_tokens=4)
    answers = []
    for gguf in (small, large, small):
        config = ls.local_llm_config("http://127.0.0.1:1/v1", ls.model_alias(gguf))
        backend = Backend(name="local", subject=None, max_words=30, simulator_method="chat-logprob",  # type: ignore[arg-type]
                          models={"simulator": config.simulator_model}, endpoint="local")
        inner = ScriptedLLM([LLMResponse(text=f"from {gguf.name}", usage=Usage(model=config.simulator_model))])
        answers.append((await JournaledLLM(inner, journal, "1/3", backend.identity).complete(request)).text)
    journal.close()
    # Each model pays its own call; the first one's answer is replayed to it alone.
    assert answers == ["from qwen2.5-coder-1.5b-instruct.gguf", "from qwen2.5-7b-instruct.gguf",
                       "from qwen2.5-coder-1.5b-instruct.gguf"]


def test_local_llm_config_is_local_free_and_uses_one_model() -> None:
    config = ls.local_llm_config("http://127.0.0.1:8123/v1", SMOLLM2)
    assert isinstance(config, LLMConfig)
    assert config.base_url == "http://127.0.0.1:8123/v1" and not config.is_openai
    assert {config.model_for(p) for p in ("explainer", "simulator", "prober", "reviser")} == {SMOLLM2}
    assert config.price_table == {}
    assert config.concurrency == ls.LOCAL_PARALLEL  # the requests the server decodes together
    # Our server's prompt logprobs are aligned, and it scores only the offsets a request names.
    assert config.prompt_logprob_offsets and not config.prompt_logprobs_shifted
    other = ls.local_llm_config("http://127.0.0.1:1/v1", model="qwen", concurrency=2)
    assert other.model_for("simulator") == "qwen" and other.concurrency == 2


def test_start_waits_for_models_endpoint_and_stop_ends_the_process(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, gguf: Path, installed: None
) -> None:
    fake_command(monkeypatch, tmp_path, FAKE_SERVER)
    server = ls.LocalServer(gguf, startup_timeout_s=30)
    with server as running:
        assert running.base_url == f"http://127.0.0.1:{server.port}/v1"
        assert ls.served_model(running.base_url) == "fake-model"
        proc = server._proc
        assert proc is not None and proc.poll() is None
        assert server.startup_s is not None and server.startup_s < 30
    assert proc.poll() is not None  # stopped on exit
    assert server.log_path is None  # its temporary log went with it
    server.stop()  # a second stop is harmless


def test_a_server_serves_at_its_base_url(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, gguf: Path, installed: None) -> None:
    fake_command(monkeypatch, tmp_path, FAKE_SERVER)
    port = ls.free_port()
    with ls.LocalServer(gguf, port=port, log_path=tmp_path / "logs" / "server.log") as server:
        assert server.base_url == f"http://127.0.0.1:{port}/v1"
    assert "fake server starting" in (tmp_path / "logs" / "server.log").read_text()


def test_a_server_that_dies_is_reported_with_its_log(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, gguf: Path, installed: None
) -> None:
    fake_command(monkeypatch, tmp_path, "import sys\nprint('error loading model: bad magic', file=sys.stderr)\nsys.exit(3)\n")
    with pytest.raises(ls.LocalServerError, match=r"(?s)exited with code 3.*error loading model: bad magic"):
        ls.LocalServer(gguf, startup_timeout_s=30).start()


def test_a_server_that_never_answers_times_out_and_is_killed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, gguf: Path, installed: None
) -> None:
    pid_file = tmp_path / "pid"
    fake_command(
        monkeypatch, tmp_path,
        f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\nprint('loading', flush=True)\ntime.sleep(60)\n",
    )
    server = ls.LocalServer(gguf, startup_timeout_s=1.0)
    with pytest.raises(ls.LocalServerError, match=r"(?s)did not answer .* within 1 s.*loading"):
        server.start()
    pid = int(pid_file.read_text())
    gone = subprocess.run(["kill", "-0", str(pid)], capture_output=True, check=False).returncode != 0
    assert gone, "the server process outlived its failed start"


def test_missing_gguf_is_a_clear_error(tmp_path: Path, installed: None) -> None:
    with pytest.raises(AssetMissingError, match="no GGUF model file"):
        ls.LocalServer(tmp_path / "absent.gguf").start()


def test_serve_local_help_explains_it(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["serve-local", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for needle in ("127.0.0.1", "--llm-base-url", "make local", "--port", "--gguf", "--cache-dir", "Ctrl-C", "SmolLM2"):
        assert needle in out, needle
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "serve-local" in capsys.readouterr().out


def test_serve_local_rejects_a_bad_port(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve-local", "--port", "70000"]) == 2
    assert "not a TCP port" in capsys.readouterr().err


# --- local_llm tier: the real llama.cpp server (`make local`) ----------------------------------


@pytest.fixture(scope="module")
def real_server() -> Iterator[str]:

    ls.require_llama_cpp()
    gguf = smollm2.ensure_gguf(default_cache_dir())
    with ls.LocalServer(gguf) as server:
        yield server.base_url


@pytest.mark.local_llm
def test_real_server_lists_the_alias(real_server: str) -> None:
    assert ls.served_model(real_server) == SMOLLM2


@pytest.mark.local_llm
async def test_real_complete_with_logprobs(real_server: str) -> None:
    request = LLMRequest(
        purpose="explainer",
        messages=[Message(role="user", content="What is the capital of France? Answer in one sentence.")],
        max_tokens=20,
        logprobs=True,
        top_logprobs=5,
    )
    async with OpenAIChatLLM(ls.local_llm_config(real_server, SMOLLM2)) as llm:
        response = await llm.complete(request)
    assert response.text.strip()
    assert "Paris" in response.text
    assert 0 < response.usage.completion_tokens <= 20
    assert response.usage.prompt_tokens > 0 and response.usage.cost_usd == 0.0
    assert response.logprobs is not None and len(response.logprobs) == response.usage.completion_tokens
    assert "".join(t.token for t in response.logprobs) == response.text
    for token in response.logprobs:
        assert token.logprob <= 0.0
        assert len(token.top) == 5
        assert token.top[0].logprob >= token.top[-1].logprob


@pytest.mark.local_llm
async def test_real_max_tokens_is_honoured(real_server: str) -> None:
    request = LLMRequest(
        purpose="explainer",
        messages=[Message(role="user", content="Write a long story about a dragon who learns to cook.")],
        max_tokens=5,
    )
    async with OpenAIChatLLM(ls.local_llm_config(real_server, SMOLLM2)) as llm:
        response = await llm.complete(request)
    assert response.usage.completion_tokens == 5
    assert response.finish_reason == "length"


@pytest.mark.local_llm
async def test_real_model_name_is_not_checked(real_server: str) -> None:
    """llama.cpp serves its one model whatever the request names: a default OpenAI name works too."""
    config = ls.local_llm_config(real_server, model="gpt-4o-mini")
    async with OpenAIChatLLM(config) as llm:
        response = await llm.complete(
            LLMRequest(purpose="simulator", messages=[Message(role="user", content="Say hi.")], max_tokens=4)
        )
    assert response.text and response.usage.cost_usd == 0.0


@pytest.mark.local_llm
async def test_real_prompt_scoring_is_aligned(real_server: str) -> None:
    """Each prompt token carries log P(token | the tokens before it): " Paris" after "... is" is likely
    (~ -0.26, as the fp32 HF conversion also gives), and is the top alternative at its own position."""
    async with OpenAIChatLLM(ls.local_llm_config(real_server, SMOLLM2)) as llm:
        scored = await llm.score_prompt(PromptScoreRequest(prompt="The capital of France is Paris", top_logprobs=5))
    assert scored.unscored_prefix == "The"
    assert [t.token for t in scored.tokens] == [" capital", " of", " France", " is", " Paris"]
    paris = scored.tokens[-1]
    assert paris.logprob is not None and paris.logprob > -1.0
    assert paris.top[0].token == " Paris" and paris.top[0].logprob == pytest.approx(paris.logprob)
    assert scored.usage.prompt_tokens == 6 and scored.usage.cost_usd == 0.0


@pytest.mark.local_llm
async def test_real_prompt_scoring_at_named_offsets_only(real_server: str) -> None:
    """With offsets, only the tokens starting there are scored, with the same values as a full scoring."""
    prompt = "The capital of France is Paris"
    async with OpenAIChatLLM(ls.local_llm_config(real_server, SMOLLM2)) as llm:
        full = await llm.score_prompt(PromptScoreRequest(prompt=prompt, top_logprobs=5))
        sparse = await llm.score_prompt(PromptScoreRequest(prompt=prompt, top_logprobs=5, offsets=[prompt.index(" France")]))
    assert sparse.unscored_prefix == "The capital of"
    assert [t.token for t in sparse.tokens] == [" France", " is", " Paris"]
    france, is_, paris = sparse.tokens
    assert is_.logprob is None and paris.logprob is None and not is_.top and not paris.top
    whole = full.tokens[2]
    assert whole.token == " France" and whole.logprob is not None and france.logprob is not None
    assert france.logprob == pytest.approx(whole.logprob, abs=1e-4)
    assert [t.token for t in france.top] == [t.token for t in whole.top]
    assert [t.logprob for t in france.top] == pytest.approx([t.logprob for t in whole.top], abs=1e-4)


@pytest.mark.local_llm
def test_real_serve_local_command_serves_until_ctrl_c(tmp_path: Path) -> None:

    cache = default_cache_dir()
    smollm2.ensure_gguf(cache)  # present already in this tier; keeps the command from downloading
    port = ls.free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent.cli.main", "serve-local", "--port", str(port), "--cache-dir", str(cache)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=interruptible,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(4)]
        assert f"use it with: --llm-base-url http://127.0.0.1:{port}/v1" in "".join(lines)
        assert ls.served_model(f"http://127.0.0.1:{port}/v1") == SMOLLM2
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "stopped" in out
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass  # the server went with the command


@pytest.mark.local_llm
async def test_real_simulator_slots_match_llama_cpp_python_within_1e_3(real_server: str) -> None:
    """The local server's fast path (logits only at the placeholders, the shared prefix's KV cache
    reused across records) gives the logprobs of llama-cpp-python's own server (every position,
    realigned) at every slot of 5 records."""
    from bench.support import llama_cpp_python
    from tools.simulators.rendering import all_at_once_prompt, slot_token_indices

    records = [
        ["The", " cat", " sat", " on", " the", " mat", "."],
        ["Money", " is", " the", " root", " of", " all", " evil", ",", " they", " say", "."],
        ["He", " paid", " ten", " dollars", " for", " a", " book", "."],
        ["\n", "Water", " boils", " at", " 100", " degrees", "."],
        ["I", " want", " to", " go", " home", " now", "!"],
    ]
    prompts = [all_at_once_prompt("money and prices", tokens) for tokens in records]

    async def slots(llm: OpenAIChatLLM, sparse: bool) -> list[list[dict[str, float]]]:
        out = []
        for prompt in prompts:
            scored = await llm.score_prompt(
                PromptScoreRequest(prompt=prompt.text, top_logprobs=15, offsets=prompt.slots if sparse else None)
            )
            at = slot_token_indices(prompt.text, prompt.slots, scored.unscored_prefix, [t.token for t in scored.tokens])
            out.append([{alt.token: alt.logprob for alt in scored.tokens[i].top} for i in at])
        return out

    async with OpenAIChatLLM(ls.local_llm_config(real_server, SMOLLM2)) as llm:
        ours = await slots(llm, sparse=True)
    gguf = smollm2.ensure_gguf(default_cache_dir())
    with ls.LocalServer(gguf, command=llama_cpp_python.command) as baseline:
        config = baseline.llm_config(prompt_logprob_offsets=False, prompt_logprobs_shifted=True)
        async with OpenAIChatLLM(config) as llm:
            theirs = await slots(llm, sparse=False)
    assert len(ours) == len(theirs) == 5
    compared = 0
    for mine, other in zip(ours, theirs, strict=True):
        assert len(mine) == len(other)
        for a, b in zip(mine, other, strict=True):
            shared = set(a) & set(b)
            assert len(shared) >= 12  # the same top candidates, give or take ties at the edge
            for token in shared:
                assert a[token] == pytest.approx(b[token], abs=1e-3), token
                compared += 1
    assert compared > 5 * 7 * 12
