"""Where a subject runs and in what precision: `--device` and `--dtype`, and batch sizes from free memory.

The decisions are pure functions of what the machine has (`Accelerators`), so they are unit-tested
on a CPU-only machine; `accelerators()` and `free_memory()` are the thin shells that ask torch.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import torch

from tools.errors import BadInputError

DEVICE_CHOICES = "auto, cpu, cuda, cuda:N or mps"
DtypeName = Literal["float32", "bfloat16", "float16"]
DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
DEFAULT_CPU_BATCH = 32
"""Excerpts per records forward on the CPU: 2,048 tokens keeps the matmuls efficient and the
activations (a few MB per batch) in cache; free memory says nothing useful there."""
DEFAULT_CPU_BATCH_TOKENS = 4096
"""Tokens per probe forward on the CPU."""
_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


@dataclass(frozen=True)
class Accelerators:
    """What torch can use on this machine."""

    cuda_devices: int = 0
    mps: bool = False
    bf16_cuda: bool = False
    """Whether the CUDA devices compute in bfloat16 natively (compute capability 8.0 and later)."""
    cuda_build: str | None = None
    """torch's CUDA version (None: a CPU or macOS build), to say why no CUDA device was found."""


def accelerators() -> Accelerators:
    cuda = torch.cuda.is_available()
    return Accelerators(
        cuda_devices=torch.cuda.device_count() if cuda else 0,
        mps=bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()),
        bf16_cuda=bool(cuda and torch.cuda.is_bf16_supported(including_emulation=False)),
        cuda_build=torch.version.cuda,
    )


def resolve_device(requested: str, have: Accelerators) -> str:
    """`auto` is the first CUDA device, then Apple's MPS, else the CPU; an explicit device must exist.

    Returns a concrete device name ('cpu', 'cuda:N' or 'mps'), so records say exactly where they came from.
    """
    spec = requested.strip().lower()
    if not _DEVICE.fullmatch(spec):
        raise BadInputError(f"unknown device {requested!r}: use {DEVICE_CHOICES}")
    if spec == "auto":
        return "cuda:0" if have.cuda_devices else "mps" if have.mps else "cpu"
    if spec == "cpu":
        return "cpu"
    if spec == "mps":
        if not have.mps:
            raise BadInputError("--device mps: Apple's Metal (MPS) backend is not available here; use --device auto or cpu")
        return "mps"
    index = int(spec.partition(":")[2] or 0)
    if have.cuda_devices == 0:
        why = (f"this torch is built for CUDA {have.cuda_build} but sees no GPU (check the driver and CUDA_VISIBLE_DEVICES)"
               if have.cuda_build else "this torch is a CPU-only build (install the CUDA build: see the README)")
        raise BadInputError(f"--device {requested}: no CUDA device is available; {why}. Use --device auto or cpu.")
    if index >= have.cuda_devices:
        raise BadInputError(f"--device {requested}: this machine has {have.cuda_devices} CUDA device(s), cuda:0-cuda:{have.cuda_devices - 1}")
    return f"cuda:{index}"


def resolve_dtype(requested: str, device: str, have: Accelerators) -> DtypeName:
    """`auto` is float32 on the CPU and bfloat16 on a GPU (float32 on CUDA GPUs without native bfloat16)."""
    spec = requested.strip().lower()
    if spec == "auto":
        if device == "mps" or (device.startswith("cuda") and have.bf16_cuda):
            return "bfloat16"
        return "float32"
    if spec not in DTYPES:
        raise BadInputError(f"unknown dtype {requested!r}: use auto, {', '.join(DTYPES)}")
    return spec  # type: ignore[return-value]  # a key of DTYPES, checked just above


def forward_bytes_per_sequence(seq_len: int, d_model: int, d_mlp: int, n_heads: int, dtype_bytes: int, kept_neurons: int) -> int:
    """Peak working memory one sequence adds to a forward stopped after one layer, in bytes.

    Inference mode frees each layer's intermediates as it goes, so the peak is one layer's worth:
    the residual stream with its norm, attention projections and output (about 8 x d_model per
    token), the MLP's hidden activations (gate, up and their product: 3 x d_mlp), the attention
    scores (n_heads x seq_len per token, materialized by eager attention), and the neurons kept,
    as float32, about four times over: the captured copy, the records pass's batch and its
    temporaries (the per-excerpt maxima, the gathered entrants).
    """
    per_token = dtype_bytes * (8 * d_model + 3 * d_mlp + n_heads * seq_len) + 4 * 4 * kept_neurons
    return seq_len * per_token


def batch_size_for_memory(free_bytes: int, bytes_per_sequence: int, fraction: float = 0.5, cap: int = 1024) -> int:
    """Sequences per forward that fit in `fraction` of `free_bytes` (at least 1, at most `cap`).

    Half the free memory leaves room for the allocator's fragmentation and for what the estimate
    misses; past ~1,000 sequences a GPU is saturated and larger batches only delay the first result.
    """
    if bytes_per_sequence <= 0:
        raise ValueError("bytes_per_sequence must be positive")
    return max(1, min(cap, int(free_bytes * fraction) // bytes_per_sequence))


def free_memory(device: str) -> int | None:
    """Bytes this process could still allocate on `device`; None on the CPU, where batches keep their defaults."""
    if device.startswith("cuda"):
        index = torch.device(device).index or 0
        free, _total = torch.cuda.mem_get_info(index)
        # Memory torch's caching allocator holds but no tensor uses is free to us as well.
        return int(free + torch.cuda.memory_reserved(index) - torch.cuda.memory_allocated(index))
    if device == "mps":
        return int(torch.mps.recommended_max_memory() - torch.mps.driver_allocated_memory())
    return None



@contextlib.contextmanager
def one_cpu_thread(device: torch.device) -> Iterator[None]:
    """On the CPU, torch runs on one thread inside the block (elsewhere nothing changes).

    For small, memory-bound tensors (the records pass's updates, one-token decoding steps) more
    threads only add synchronization, and on a busy machine (other processes on the cores) every
    parallel operation then waits milliseconds for a descheduled thread, far longer than the
    operation itself takes.
    """
    if device.type != "cpu":
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
