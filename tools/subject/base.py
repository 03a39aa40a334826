"""The subject-model seam: tokenize text and read MLP neuron values.

Every subject (a transformer-lens bridge around SmolLM2 or GPT-2, a tiny random model for tests,
a synthetic subject with planted neurons in benchmarks) implements `SubjectModel`. Activations are
raw MLP post-nonlinearity values (`blocks.{L}.mlp.hook_post`), one row per real token of the input:
the BOS a model prepends and any padding are never part of what is returned.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np
from pydantic import BaseModel, Field

from tools.errors import BadInputError

if TYPE_CHECKING:
    import torch

    from tools.subject.output_side import OutputSide


class SubjectInfo(BaseModel):
    """Identity and shape of a subject model."""

    model_id: str = Field(description="Name the user selected, e.g. 'smollm2-135m' or 'gpt2'.")
    n_layers: int
    d_mlp: int = Field(description="Number of MLP neurons per layer.")
    vocab_size: int
    prepend_bos: bool = Field(description="Whether a BOS token is prepended before every forward pass.")
    bos_token: str | None = None
    tokenizer_sha256: str = Field(description="Fingerprint of the tokenizer, so cached token ids match it.")
    device: str = Field("cpu", description="torch device the forwards run on, e.g. 'cpu', 'cuda:0', 'mps'.")
    dtype: str = Field("float32", description="Floating dtype of the model's weights and forwards (activations are returned as float32).")


class TokenizedText(BaseModel):
    """A text as the subject tokenizes it (no BOS): ids and their decoded pieces, leading spaces kept."""

    text: str
    ids: list[int]
    tokens: list[str]


@runtime_checkable
class SubjectModel(Protocol):
    @property
    def info(self) -> SubjectInfo: ...

    def tokenize(self, texts: Sequence[str]) -> list[TokenizedText]:
        """Tokenize without special tokens; `tokens[i]` is the decoded piece of `ids[i]`."""
        ...

    def token_strings(self, ids: Sequence[int]) -> list[str]:
        """Decoded piece of each id (leading spaces kept)."""
        ...

    def activations(
        self, sequences: Sequence[Sequence[int]], layer: int, neurons: Sequence[int] | None = None
    ) -> list[np.ndarray]:
        """Raw MLP neuron values for each sequence: a float32 array of shape (len(seq), n_neurons).

        `neurons=None` means the whole layer. Sequences may differ in length; padding never leaks, and
        a sequence's values are the same whatever other sequences it is passed with.
        """
        ...


@runtime_checkable
class TensorSubject(Protocol):
    """Subjects whose forwards run on a torch device and can hand activations over without leaving it
    (the records pass accumulates on the same device)."""

    def activations_tensor(self, ids: np.ndarray, layer: int, neurons: Sequence[int] | None = None) -> torch.Tensor:
        """Activations of equal-length sequences `ids` (b, T): float32 (b, T, n_neurons) on the subject's device."""
        ...

    def batch_size(self, seq_len: int, kept_neurons: int) -> int:
        """Sequences per forward that suit the device (its free memory on a GPU)."""
        ...


@runtime_checkable
class TextGenerator(Protocol):
    """Subjects that can sample continuations (used by model-primed probes)."""

    def generate(self, prompts: Sequence[Sequence[int]], max_new_tokens: int, temperature: float,
                 seeds: Sequence[int]) -> list[list[int]]:
        """Per prompt, sampled continuation ids (without the prompt), drawn from a generator seeded
        with its seed: the same whatever other prompts are sampled with it."""
        ...


@runtime_checkable
class OutputReader(Protocol):
    """Subjects whose weights and forwards can say what a neuron does to the output (VocabProj, TokenChange)."""

    def output_side(self, layer: int, neuron: int, sequences: Sequence[Sequence[int]]) -> OutputSide:
        """The neuron's vocabulary projection, and the effect of zeroing and doubling it on `sequences` (its top
        records, cut by `output_side.ablation_windows`)."""
        ...


def check_layer(info: SubjectInfo, layer: int) -> None:
    if not 0 <= layer < info.n_layers:
        raise BadInputError(
            f"layer {layer} is out of range for {info.model_id}: valid layers are 0-{info.n_layers - 1}"
        )


def check_neurons(info: SubjectInfo, neurons: Sequence[int]) -> None:
    bad = [n for n in neurons if not 0 <= n < info.d_mlp]
    if bad:
        shown = ", ".join(str(n) for n in bad[:5]) + (" ..." if len(bad) > 5 else "")
        raise BadInputError(
            f"neuron index {shown} is out of range for {info.model_id}: valid neurons are 0-{info.d_mlp - 1}"
        )
