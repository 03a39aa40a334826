"""llama-cpp-python's own OpenAI-compatible server: the prompt-scoring path the local server replaced.

Kept for benchmarks and the `local_llm` tests only, as the baseline that the local server's speed and
logprobs are measured against (it comes with the `local` extra). Its echoed prompt logprobs sort the
whole vocabulary and detokenize the whole prefix again for every prompt token, and come one token
off (`LLMConfig.prompt_logprobs_shifted` realigns them).
"""

from __future__ import annotations

import sys
from pathlib import Path

DESCRIPTION = "llama-cpp-python 0.3 server, echo=True prompt logprobs (every position, realigned)"


def command(gguf: Path, port: int, *, alias: str, n_ctx: int | None = None, n_threads: int | None = None,
            parallel: int | None = None) -> list[str]:
    """The argv that starts llama-cpp-python's server on loopback with every position's logits kept.
    It serves one request at a time whatever `parallel` says."""
    argv = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", alias,
            "--host", "127.0.0.1", "--port", str(port), "--logits_all", "True", "--chat_format", "chatml"]
    if n_ctx is not None:
        argv += ["--n_ctx", str(n_ctx)]
    if n_threads is not None:
        argv += ["--n_threads", str(n_threads), "--n_threads_batch", str(n_threads)]
    return argv
