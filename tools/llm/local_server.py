"""The local LLM server (`tools.llm.llama_server`) as a loopback subprocess: a real LLM offline.

Optional: it needs the `local` extra (`make local`), which compiles llama.cpp. The server listens on
127.0.0.1 only and is started as

    python -m tools.llm.llama_server --model X.gguf --host 127.0.0.1 --port P --alias NAME
        [--n-ctx N] [--n-threads T]

It is neuron-refinery's own OpenAI-compatible server over llama.cpp's C API, not llama-cpp-python's:
that one's echoed prompt logprobs sort the whole vocabulary and detokenize the whole prefix again
for every prompt token, and come one token off. Ours compute logits only at the offsets a request
names and keep the KV cache of the prefix that consecutive requests share (`llama_engine`). The
server's own output goes to a log file, whose tail is quoted when it fails to start.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Protocol

import structlog

from tools.errors import AssetMissingError, RefineryError
from tools.llm.config import LLMConfig

log = structlog.get_logger(__name__)

HOST = "127.0.0.1"
LOCAL_PARALLEL = 8
"""Generations the server decodes together, and so the requests a client keeps in flight to it."""
SERVER_MODULE = "tools.llm.llama_server"
REQUIRED_MODULES = ("llama_cpp",)
INSTALL_HINT = "run `make local` (or `pip install '.[local]'`; it compiles llama.cpp, about 10 min on 2 cores)"
STARTUP_TIMEOUT_S = 180.0
STOP_GRACE_S = 10.0
_LOG_TAIL_CHARS = 2000
_POLL_S = 0.2


class LocalServerError(RefineryError):
    """the local LLM server died, or did not answer in time; the message quotes its log."""

    exit_code = 1


def missing_modules() -> list[str]:
    """The server's Python modules that this interpreter cannot import (empty when `make local` ran)."""
    # find_spec, not import: importing llama_cpp loads the compiled library, which is slow and
    # not needed to know whether it is there.
    return [name for name in REQUIRED_MODULES if importlib.util.find_spec(name) is None]


def require_llama_cpp() -> None:
    """Raise a clear `AssetMissingError` unless llama-cpp-python's server can run here."""
    missing = missing_modules()
    if missing:
        raise AssetMissingError(
            f"the local LLM server needs llama-cpp-python[server], which is not installed (missing: {', '.join(missing)}); "
            f"{INSTALL_HINT}"
        )


def free_port(host: str = HOST) -> int:
    """A TCP port on `host` that nothing listens on right now (the OS picks it)."""
    # Another process could take it before the server binds; the server then exits with
    # "address already in use", which `LocalServer.start` reports with the log tail.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def model_alias(gguf: Path) -> str:
    """The model name the server answers to: the whole file name without its `.gguf` suffix.

    `qwen2.5-7b-instruct.Q4_K_M.gguf` -> `qwen2.5-7b-instruct.Q4_K_M`. The name is the model's identity
    in the call journal, the simulation memo and the ledger, so it keeps everything that tells two
    files apart: the version after a dot (qwen2.5-coder-1.5b-instruct vs qwen2.5-7b-instruct, both
    "qwen2" up to the first dot) and the quantization tag (Q4_1 and Q8_0 answer differently).
    """
    name = gguf.name
    stem = name[: -len(".gguf")] if name.lower().endswith(".gguf") else name
    return stem or name


class ServerCommand(Protocol):
    def __call__(self, gguf: Path, port: int, *, alias: str, n_ctx: int | None = None,
                 n_threads: int | None = None, parallel: int | None = None) -> list[str]: ...


def server_command(
    gguf: Path,
    port: int,
    *,
    alias: str,
    n_ctx: int | None = None,
    n_threads: int | None = None,
    parallel: int | None = None,
) -> list[str]:
    """The argv that starts the local server on loopback."""
    argv = [sys.executable, "-m", SERVER_MODULE, "--model", str(gguf), "--alias", alias, "--host", HOST, "--port", str(port),
            "--exit-with-parent", str(os.getpid())]
    if n_ctx is not None:
        argv += ["--n-ctx", str(n_ctx)]
    if n_threads is not None:
        argv += ["--n-threads", str(n_threads)]
    if parallel is not None:
        argv += ["--parallel", str(parallel)]
    return argv


def local_llm_config(base_url: str, model: str, **overrides: object) -> LLMConfig:
    """The `LLMConfig` for the local server: every purpose on `model`, priced at $0.

    `model` is the name the server was started with (`LocalServer.alias`; `LocalServer.llm_config`
    passes it): it labels every call in the journal, the memo, the ledger and the logs, and the
    server answers whatever name a request carries, so a wrong one would be believed.

    The server decodes up to `LOCAL_PARALLEL` generations together, so that many requests are kept in
    flight; the per-attempt deadline is long (a 1.5B model on two cores reads a few thousand prompt
    tokens in minutes, and a request may wait for the others); `overrides` may say otherwise. Its prompt logprobs are aligned, and computed only at the offsets a request names.
    """
    settings: dict[str, object] = {
        "base_url": base_url,
        "explainer_model": model,
        "simulator_model": model,
        "prices": {},
        "concurrency": LOCAL_PARALLEL,
        "timeout_s": 900.0,
        "prompt_logprob_offsets": True,
    }
    return LLMConfig.model_validate(settings | overrides)


def served_model(base_url: str, timeout_s: float = 5.0) -> str | None:
    """The first model id the server lists at `GET {base_url}/models`, or None if it lists none."""
    with _no_proxy_opener().open(f"{base_url}/models", timeout=timeout_s) as reply:
        body = json.loads(reply.read())
    models = body.get("data") or []
    return str(models[0]["id"]) if models else None


def _no_proxy_opener() -> urllib.request.OpenerDirector:
    # Loopback must never go through an HTTP(S)_PROXY from the environment.
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _tail(path: Path, chars: int = _LOG_TAIL_CHARS) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return text[-chars:].strip()


class LocalServer:
    """One llama.cpp server subprocess: `start()` returns once it answers, `stop()` ends it.

    Also a context manager: `with LocalServer(gguf) as server:` serves at `server.base_url` for the
    block. The server runs in its own session, so a Ctrl-C in the terminal
    reaches only us, and we stop it in order (terminate, then kill after a grace period).
    """

    def __init__(
        self,
        gguf: Path,
        port: int | None = None,
        *,
        alias: str | None = None,
        n_ctx: int | None = None,
        n_threads: int | None = None,
        parallel: int | None = None,
        log_path: Path | None = None,
        startup_timeout_s: float = STARTUP_TIMEOUT_S,
        command: ServerCommand | None = None,
    ) -> None:
        self.gguf = gguf
        self.port = port
        self.alias = alias or model_alias(gguf)
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.parallel = parallel
        """Generations decoded together (the server's own default, `LOCAL_PARALLEL`, when None)."""
        self.log_path = log_path
        self.startup_timeout_s = startup_timeout_s
        self.command = command
        """What starts the server (default `server_command`); bench/simulation starts llama-cpp-python's own with it."""
        self.startup_s: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError("the server has not been started")
        return f"http://{HOST}:{self.port}/v1"

    def llm_config(self, **overrides: object) -> LLMConfig:
        """`local_llm_config` for this server: its URL, and the model name it answers to."""
        return local_llm_config(self.base_url, self.alias, **overrides)

    def start(self) -> str:
        """Start the server and wait until `GET /v1/models` answers; returns the base URL."""
        require_llama_cpp()
        if not self.gguf.is_file():
            raise AssetMissingError(f"no GGUF model file at {self.gguf}")
        if self.port is None:
            self.port = free_port()
        if self.log_path is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="refinery-llama-")
            self.log_path = Path(self._tmp.name) / "server.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        argv = (self.command or server_command)(self.gguf, self.port, alias=self.alias, n_ctx=self.n_ctx, n_threads=self.n_threads,
                                                         parallel=self.parallel)
        log.info("local_server_start", argv=argv, log=str(self.log_path))
        started = time.monotonic()
        # A file, not a pipe: nobody reads a pipe while the server runs, and a full one would block it.
        with self.log_path.open("wb") as sink:
            self._proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            self._wait_ready(started)
        except BaseException:
            self.stop()
            raise
        self.startup_s = time.monotonic() - started
        log.info("local_server_ready", base_url=self.base_url, startup_s=round(self.startup_s, 2), model=self.alias)
        return self.base_url

    def _wait_ready(self, started: float) -> None:
        assert self._proc is not None
        opener = _no_proxy_opener()
        deadline = started + self.startup_timeout_s
        while True:
            code = self._proc.poll()
            if code is not None:
                raise LocalServerError(
                    f"the local LLM server exited with code {code} before answering; its log{self._where()} ends:\n"
                    f"{self.log_tail()}"
                )
            try:
                with opener.open(f"{self.base_url}/models", timeout=2.0) as reply:
                    if reply.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass  # not listening yet
            if time.monotonic() >= deadline:
                raise LocalServerError(
                    f"the local LLM server did not answer on {self.base_url} within {self.startup_timeout_s:g} s; "
                    f"its log{self._where()} ends:\n{self.log_tail()}"
                )
            time.sleep(_POLL_S)

    def _where(self) -> str:
        # A temporary log is deleted on stop: naming it would send the user to a missing file.
        return f" ({self.log_path})" if self._tmp is None and self.log_path is not None else ""

    def log_tail(self, chars: int = _LOG_TAIL_CHARS) -> str:
        return _tail(self.log_path, chars) if self.log_path is not None else ""

    def wait(self) -> int:
        """Block until the server exits on its own (Ctrl-C interrupts); returns its exit code."""
        assert self._proc is not None, "the server has not been started"
        return self._proc.wait()

    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """Terminate the server; kill it if it has not exited after `grace_s`. Safe to call twice."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                log.warning("local_server_kill", pid=proc.pid, grace_s=grace_s)
                proc.kill()
                proc.wait()
            log.info("local_server_stop", pid=proc.pid, code=proc.returncode)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
            self.log_path = None

    def __enter__(self) -> LocalServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


