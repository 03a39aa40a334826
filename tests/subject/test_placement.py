"""A subject on a device and in a dtype: float32 activations back whatever the model computes in,
the records pass's on-device tensors equal to the numpy path, and a real CUDA forward when a GPU is there."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tools.subject.base import TensorSubject
from tools.subject.bridge import BridgeSubject
from tools.subject.device import DEFAULT_CPU_BATCH, accelerators, resolve_device
from tools.subject.registry import load_subject

TEXTS = ["for item in sequence: pass", "The value of x is returned when the loop ends."]


def test_auto_runs_where_the_machine_says(tiny_subject: BridgeSubject) -> None:
    subject = load_subject("tiny-llama", device="auto")
    device = resolve_device("auto", accelerators())
    assert subject.info.device == device and subject.device == torch.device(device)
    # Unit-tier fixtures always run on the CPU in float32.
    assert (tiny_subject.info.device, tiny_subject.info.dtype) == ("cpu", "float32")


def test_bfloat16_model_returns_float32_close_to_the_float32_model(tiny_subject: BridgeSubject) -> None:
    half = load_subject("tiny-llama", device="cpu", dtype="bfloat16")
    assert half.info.dtype == "bfloat16"
    assert next(half.hf_model.parameters()).dtype == torch.bfloat16
    ids = [t.ids for t in tiny_subject.tokenize(TEXTS)]
    full, low = tiny_subject.activations(ids, 2), half.activations(ids, 2)
    for a, b in zip(full, low, strict=True):
        assert b.dtype == np.float32 and a.shape == b.shape
        # bfloat16 keeps 8 bits of mantissa: agreement to a few percent of the layer's scale, not to float32 rounding.
        assert np.abs(a - b).max() < 0.05 * np.abs(a).max() + 1e-3
        assert not np.array_equal(a, b), "the bfloat16 model must really compute in bfloat16"


def test_activations_tensor_is_the_stacked_activations(tiny_subject: BridgeSubject) -> None:
    assert isinstance(tiny_subject, TensorSubject)
    rng = np.random.default_rng(0)
    ids = rng.integers(2, tiny_subject.info.vocab_size, size=(5, 12))
    expected = np.stack(tiny_subject.activations(ids.tolist(), 1, [3, 0, 77]))
    got = tiny_subject.activations_tensor(ids, 1, [3, 0, 77])
    assert got.dtype == torch.float32 and tuple(got.shape) == (5, 12, 3)
    np.testing.assert_allclose(got.numpy(), expected, atol=1e-6)
    whole = tiny_subject.activations_tensor(ids, 1)
    np.testing.assert_array_equal(whole[..., [3, 0, 77]].numpy(), got.numpy())


def test_cpu_batches_keep_their_defaults(tiny_subject: BridgeSubject) -> None:
    assert tiny_subject.batch_size(64, 128) == DEFAULT_CPU_BATCH


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_cuda_forward_matches_the_cpu(tiny_subject: BridgeSubject, dtype: str) -> None:
    gpu = load_subject("tiny-llama", device="cuda", dtype=dtype)
    assert gpu.info.device == "cuda:0" and gpu.info.dtype == dtype
    assert next(gpu.hf_model.parameters()).device.type == "cuda"
    ids = [t.ids for t in tiny_subject.tokenize(TEXTS)]
    tolerance = 1e-4 if dtype == "float32" else 0.05
    for a, b in zip(tiny_subject.activations(ids, 3), gpu.activations(ids, 3), strict=True):
        assert isinstance(b, np.ndarray) and b.dtype == np.float32
        assert np.abs(a - b).max() <= tolerance * max(1.0, float(np.abs(a).max()))
    on_device = gpu.activations_tensor(np.array([ids[0]]), 3)
    assert on_device.device.type == "cuda" and on_device.dtype == torch.float32
    assert gpu.batch_size(64, 128) >= 1
    assert gpu.generate([ids[0]], 4, 1.0, [1]) == gpu.generate([ids[0]], 4, 1.0, [1])
