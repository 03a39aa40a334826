"""`--device` / `--dtype` resolution and batch sizes from free memory: pure functions, with the machine injected."""

from __future__ import annotations

import pytest

from tools.errors import BadInputError
from tools.subject.device import (
    Accelerators,
    batch_size_for_memory,
    forward_bytes_per_sequence,
    resolve_device,
    resolve_dtype,
)

CPU_ONLY = Accelerators()
CPU_BUILD_OF_CUDA = Accelerators(cuda_build="13.0")
TWO_GPUS = Accelerators(cuda_devices=2, bf16_cuda=True, cuda_build="13.0")
OLD_GPU = Accelerators(cuda_devices=1, bf16_cuda=False, cuda_build="12.6")
MAC = Accelerators(mps=True)


@pytest.mark.parametrize(
    ("have", "expected"),
    [(CPU_ONLY, "cpu"), (TWO_GPUS, "cuda:0"), (MAC, "mps"), (Accelerators(cuda_devices=1, mps=True), "cuda:0")],
)
def test_auto_prefers_cuda_then_mps_then_cpu(have: Accelerators, expected: str) -> None:
    assert resolve_device("auto", have) == expected


def test_explicit_devices_are_concrete_names() -> None:
    assert resolve_device("cpu", TWO_GPUS) == "cpu"
    assert resolve_device("cuda", TWO_GPUS) == "cuda:0"
    assert resolve_device("CUDA:1", TWO_GPUS) == "cuda:1"
    assert resolve_device("mps", MAC) == "mps"


@pytest.mark.parametrize(
    ("requested", "have", "message"),
    [
        ("cuda", CPU_ONLY, "CPU-only build"),
        ("cuda", CPU_BUILD_OF_CUDA, "built for CUDA 13.0 but sees no GPU"),
        ("cuda:2", TWO_GPUS, "has 2 CUDA device(s), cuda:0-cuda:1"),
        ("mps", CPU_ONLY, "MPS"),
        ("gpu", TWO_GPUS, "unknown device 'gpu'"),
        ("cuda:x", TWO_GPUS, "unknown device"),
    ],
)
def test_unusable_devices_are_clear_errors(requested: str, have: Accelerators, message: str) -> None:
    with pytest.raises(BadInputError) as err:
        resolve_device(requested, have)
    assert message in str(err.value)


def test_auto_dtype_is_float32_on_cpu_and_bfloat16_on_gpus_that_have_it() -> None:
    assert resolve_dtype("auto", "cpu", TWO_GPUS) == "float32"
    assert resolve_dtype("auto", "cuda:1", TWO_GPUS) == "bfloat16"
    assert resolve_dtype("auto", "mps", MAC) == "bfloat16"
    # Before Ampere, bfloat16 is emulated and slow: stay in float32.
    assert resolve_dtype("auto", "cuda:0", OLD_GPU) == "float32"


def test_explicit_dtypes_are_kept_and_unknown_ones_refused() -> None:
    assert resolve_dtype("float16", "cuda:0", OLD_GPU) == "float16"
    assert resolve_dtype("bfloat16", "cpu", CPU_ONLY) == "bfloat16"
    with pytest.raises(BadInputError, match="unknown dtype 'fp8'"):
        resolve_dtype("fp8", "cuda:0", TWO_GPUS)


def test_forward_memory_grows_with_length_width_and_precision() -> None:
    base = forward_bytes_per_sequence(64, 576, 1536, 9, 4, 1536)
    assert forward_bytes_per_sequence(128, 576, 1536, 9, 4, 1536) > 2 * base  # attention scores grow with T^2
    assert forward_bytes_per_sequence(64, 576, 1536, 9, 2, 1536) < base
    assert forward_bytes_per_sequence(64, 1600, 6400, 25, 4, 6400) > 3 * base
    # SmolLM2-135M, 64 tokens, float32, the whole layer kept: 64 * (4 * (8*576 + 3*1536 + 9*64) + 16*1536) bytes.
    assert base == 64 * (4 * (8 * 576 + 3 * 1536 + 9 * 64) + 16 * 1536)


def test_batch_size_uses_half_the_free_memory_within_bounds() -> None:
    per_sequence = 10 * 2**20
    assert batch_size_for_memory(8 * 2**30, per_sequence) == 409  # 4 GiB / 10 MiB
    assert batch_size_for_memory(80 * 2**30, per_sequence) == 1024  # capped: a GPU is saturated long before
    assert batch_size_for_memory(2**20, per_sequence) == 1  # always at least one sequence
    assert batch_size_for_memory(8 * 2**30, per_sequence, fraction=0.25) == 204
    with pytest.raises(ValueError):
        batch_size_for_memory(2**30, 0)
