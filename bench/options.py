"""Command-line options shared by the refinement benchmarks, and the settings and LLM endpoint they resolve to.

Each benchmark runs the builtin backend always, and the LLM backend when `--llm-base-url` (any
OpenAI-compatible server) or `--local-gguf` (a GGUF served by llama.cpp on loopback for the run) is
given. The LLM path is slow on a CPU, so it has its own, smaller sizes (`--llm-*`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import shlex
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from agent.settings import Settings, default_cache_dir
from tools.atomic import atomic_write_json

Backend = Literal["builtin", "llm"]
ADDRESSES = ("llm_base_url",)
"""Settings that say where a pass was served, not what it measured (a local server picks a free port each run)."""
LOCAL_CONTEXT_TOKENS = 8192
"""llama.cpp's default context (2048) is too small for an explainer prompt of five 64-token records."""


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cache-dir", type=Path, default=default_cache_dir(), help="models, corpus and token caches")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"), help="work folders go to RUNS_DIR/bench/; results to bench/results/ with the default runs, else to RUNS_DIR/bench/")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    sizes = parser.add_argument_group("builtin backend sizes (the product defaults)")
    sizes.add_argument("--max-iters", type=int, default=6)
    sizes.add_argument("--n-explanations", type=int, default=5)
    sizes.add_argument("--n-revisions", type=int, default=3)
    sizes.add_argument("--probes-per-generator", type=int, default=4)
    sizes.add_argument("--records-per-split", type=int, default=None, help="default: all the records allow")
    llm = parser.add_argument_group("LLM backend (run only when an endpoint is given)")
    llm.add_argument("--llm-base-url", help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8080/v1")
    llm.add_argument("--local-gguf", type=Path, help="serve this GGUF with llama.cpp on 127.0.0.1 for the run")
    llm.add_argument("--local-threads", type=int, default=None,
                     help="local server threads (default: all cores); keep 1 on a busy machine, where llama.cpp's "
                          "threads stall at per-layer barriers whenever one is preempted")
    llm.add_argument("--llm-model", default="gpt-4o-mini", help="model name sent to the endpoint (explainer and simulator)")
    llm.add_argument("--label", help="the LLM's name in the results (default: --llm-model)")
    llm.add_argument("--simulator", default="chat-logprob", choices=["chat-logprob", "chat-logprob-numbered", "chat-json", "chat-highlight", "prompt-logprob", "builtin"],
                     help="how the LLM pass simulates; builtin = the LLM only explains, probes and revises")
    llm.add_argument("--llm-timeout-s", type=float, default=600.0)
    llm.add_argument("--llm-concurrency", type=int, default=1)
    llm.add_argument("--llm-max-iters", type=int, default=2)
    llm.add_argument("--llm-n-explanations", type=int, default=2)
    llm.add_argument("--llm-n-revisions", type=int, default=2)
    llm.add_argument("--llm-probes-per-generator", type=int, default=1)
    llm.add_argument("--llm-records-per-split", type=int, default=5)
    llm.add_argument("--llm-only", action="store_true", help="skip the builtin pass (an LLM-only measurement)")
    llm.add_argument("--explain-digest", action=argparse.BooleanOptionalAction, default=True,
                     help="the LLM pass's explainer prompt sums up its records (`refinery --explain-digest`)")
    llm.add_argument("--explain-output-hint", action=argparse.BooleanOptionalAction, default=False,
                     help="the LLM pass's explainer prompt names the tokens the neuron's output weights promote "
                          "(`refinery --explain-output-hint`); measure it on and off as two runs with different --name")
    llm.add_argument("--judge", default="builtin", choices=["builtin", "llm"],
                     help="llm: the LLM pass's held-out detection and fuzzing are also answered by the simulator model")


def backends(args: argparse.Namespace) -> list[Backend]:
    if getattr(args, "llm_only", False):
        if not args.llm_base_url:
            raise SystemExit("--llm-only needs an endpoint: --llm-base-url or --local-gguf")
        return ["llm"]
    return ["builtin", "llm"] if args.llm_base_url else ["builtin"]


def label(args: argparse.Namespace, backend: Backend) -> str:
    return "builtin" if backend == "builtin" else (args.label or args.llm_model)


def work_name(args: argparse.Namespace, backend: Backend) -> str:
    """A short folder name for a pass's work directory (labels can be long sentences)."""
    return "builtin" if backend == "builtin" else slug(args.llm_model)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-")[:60] or "run"


def fresh_dir(path: Path) -> Path:
    """An empty directory at `path` (a benchmark's own work folder: earlier checkpoints must not be resumed)."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def work_dir(path: Path, fingerprint: dict[str, Any], resume: bool) -> Path:
    """A pass's work folder: emptied, or with `resume` kept as an earlier run left it.

    Only a folder written with the same `fingerprint` (what shapes the pass's results) may be
    resumed: checkpoints and rows of other settings would be mixed into this run's numbers."""
    stamp = path / "pass.json"
    if resume and stamp.is_file():
        earlier = json.loads(stamp.read_text())
        if earlier != fingerprint:
            changed = sorted(k for k in fingerprint.keys() | earlier.keys() if earlier.get(k) != fingerprint.get(k))
            raise SystemExit(f"--resume: {path} was written with other settings ({', '.join(changed)}); "
                             "rerun without --resume to start afresh, or with the earlier settings")
        return path
    fresh_dir(path)
    atomic_write_json(stamp, fingerprint, indent=1)
    return path


def settings_for(args: argparse.Namespace, backend: Backend, work: Path, records: Path, **fixed: Any) -> Settings:
    """Settings of one benchmark pass: its own run folder under `work`, records in `records`."""
    common: dict[str, Any] = {
        "cache_dir": args.cache_dir, "corpus": "default", "excerpt_tokens": 64, "records": records, "runs_dir": work,
        "run": "run", "seed": args.seed, "log_level": args.log_level, "concurrency": 1,
    }
    if backend == "builtin":
        sizes = {"backend": "builtin", "simulator": "builtin", "max_iters": args.max_iters,
                 "n_explanations": args.n_explanations, "n_revisions": args.n_revisions,
                 "probes_per_generator": args.probes_per_generator, "records_per_split": args.records_per_split}
    else:
        sizes = {"backend": "llm", "simulator": args.simulator, "llm_base_url": args.llm_base_url,
                 "llm_explainer_model": args.llm_model, "llm_simulator_model": args.llm_model,
                 "llm_timeout_s": args.llm_timeout_s, "llm_concurrency": args.llm_concurrency,
                 "max_iters": args.llm_max_iters, "n_explanations": args.llm_n_explanations,
                 "n_revisions": args.llm_n_revisions, "probes_per_generator": args.llm_probes_per_generator,
                 "records_per_split": args.llm_records_per_split,
                 "explain_digest": args.explain_digest, "explain_output_hint": args.explain_output_hint, "judge": args.judge,
                 # A GGUF is served by the local server, as for --backend local.
                 "llm_prompt_logprob_offsets": args.local_gguf is not None}
    return Settings(**(common | sizes | fixed))


def sizes_of(settings: Settings) -> dict[str, Any]:
    """The settings that shape a pass, for the results file."""
    keys = ("backend", "simulator", "max_iters", "n_explanations", "n_revisions", "probes_per_generator",
            "records_per_split", "max_excerpts", "top_k", "n_random", "seed", "llm_base_url", "llm_explainer_model",
            "explain_digest", "explain_output_hint", "judge")
    dump = settings.public_dump()
    return {k: dump[k] for k in keys}


@contextlib.contextmanager
def llm_endpoint(args: argparse.Namespace) -> Iterator[None]:
    """With `--local-gguf`, serve it on loopback for the block and point `args.llm_base_url` at it."""
    if args.local_gguf is None:
        yield
        return
    from tools.llm.local_server import LocalServer

    with LocalServer(args.local_gguf, n_ctx=LOCAL_CONTEXT_TOKENS, n_threads=args.local_threads) as server:
        args.llm_base_url, args.llm_model = server.base_url, server.alias  # the GGUF's own name (model_alias)
        yield


def command_line(module: str, argv: list[str]) -> str:
    """The command as a person would retype it (the results file records it)."""
    return " ".join([".venv/bin/python", "-m", module, *(shlex.quote(a) for a in argv)])
