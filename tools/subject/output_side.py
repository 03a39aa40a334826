"""What a neuron does to the model's output (docs/science.md#output-side; Gur-Arieh et al., ACL 2025).

- VocabProj: the neuron's output weight vector (its column of the MLP down-projection) times the
  unembedding, raw and with each model dimension scaled by the final norm's weight: the top tokens
  are what it promotes, the bottom ones what it suppresses.
- TokenChange: on its top records, the neuron's post-activation set to 0 (and, separately, doubled)
  at every position by a hook on `blocks.{L}.mlp.hook_post`; the change in mean next-token loss,
  and the tokens whose probability, averaged over positions, rises or falls most.

The hook changes one column of one layer's tensor during one forward and nothing else: the other
neurons of that layer and everything before it are bit for bit what a clean forward computes, and
the model keeps no hook afterwards.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, Field

TOP_TOKENS = 10
RECORDS = 5
"""Top records the ablation runs on."""
WINDOW = 16
"""Tokens of each record the ablation reads: the window ending on the token after its peak. A causal
model's predictions there do not depend on what comes later, and the forward is the cost (each record
three times: clean, zeroed, doubled)."""
FACTORS = {"zeroed": 0.0, "doubled": 2.0}


class TokenValue(BaseModel):
    token: str
    value: float


class VocabProjection(BaseModel):
    """Logit contributions of one unit of the neuron's activation (raw units of the model's logits)."""

    promoted: list[TokenValue] = Field(description="Highest entries of W_out[n] @ W_U: tokens the neuron pushes up.")
    suppressed: list[TokenValue] = Field(description="Lowest entries: tokens it pushes down.")
    promoted_normed: list[TokenValue] = Field(description="The same with W_out[n] scaled by the final norm's weight.")
    suppressed_normed: list[TokenValue]


class TokenChange(BaseModel):
    """The neuron's activation scaled by `factor` at every position of its top records."""

    factor: float
    loss_clean: float = Field(description="Mean next-token cross-entropy (nats) over the records' predicted positions.")
    loss_changed: float = Field(description="The same with the neuron scaled.")
    delta_loss: float = Field(description="loss_changed - loss_clean (nats; > 0: the model predicts worse without it).")
    risen: list[TokenValue] = Field(description="Tokens whose next-token probability rose most, mean over positions.")
    fallen: list[TokenValue] = Field(description="Tokens whose probability fell most (negative values).")
    positions: int


class OutputSide(BaseModel):
    vocab: VocabProjection
    changes: dict[str, TokenChange] = Field(description="'zeroed' and 'doubled'.")
    records: int = Field(description="Top records the ablation ran on (each cut to the window ending after its peak).")
    seconds: float = Field(description="Wall time to compute all of it.")


def output_weights(model: torch.nn.Module, layer: int, neuron: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(W_out[n] (d_model), the final norm's weight (d_model), W_U (vocab, d_model)) of a Hugging Face
    Llama-style (`model.layers`, `down_proj`, `norm`) or GPT-2 (`transformer.h`, Conv1D `c_proj`, `ln_f`) model."""
    body: Any = getattr(model, "model", None) or getattr(model, "transformer", None)
    if body is None:
        raise ValueError(f"unknown architecture {type(model).__name__}: no `model` or `transformer` body")
    if hasattr(body, "layers"):
        w_out = body.layers[layer].mlp.down_proj.weight[:, neuron]
        norm = body.norm.weight
    else:
        w_out = body.h[layer].mlp.c_proj.weight[neuron]  # Conv1D stores (d_mlp, d_model)
        norm = body.ln_f.weight
    unembed: Any = getattr(model, "lm_head", None)
    if unembed is None:
        raise ValueError(f"{type(model).__name__} has no `lm_head` unembedding")
    return w_out.detach().float(), norm.detach().float(), unembed.weight.detach().float()


def _ranked(values: torch.Tensor, strings: Callable[[Sequence[int]], list[str]], k: int, top: bool) -> list[TokenValue]:
    picked = values.topk(k, largest=top)
    ids = [int(i) for i in picked.indices]
    return [TokenValue(token=s, value=round(float(v), 5)) for s, v in zip(strings(ids), picked.values.tolist(), strict=True)]


def vocab_projection(w_out: torch.Tensor, norm: torch.Tensor, unembed: torch.Tensor,
                     strings: Callable[[Sequence[int]], list[str]], k: int = TOP_TOKENS) -> VocabProjection:
    raw = unembed @ w_out
    normed = unembed @ (w_out * norm)
    return VocabProjection(promoted=_ranked(raw, strings, k, True), suppressed=_ranked(raw, strings, k, False),
                           promoted_normed=_ranked(normed, strings, k, True), suppressed_normed=_ranked(normed, strings, k, False))


def scale_neuron(neuron: int, factors: torch.Tensor | float) -> Callable[[torch.Tensor, Any], torch.Tensor]:
    """A forward hook for `blocks.{L}.mlp.hook_post` that scales one neuron's column and leaves the rest alone;
    `factors` is one number, or one per batch row (shape (b, 1))."""

    def hook(act: torch.Tensor, hook: Any) -> torch.Tensor:
        out = act.clone()
        out[..., neuron] = act[..., neuron] * factors
        return out

    return hook


Run = Callable[[torch.Tensor, torch.Tensor, list[tuple[str, Any]]], torch.Tensor]
"""`run(ids, mask, hooks)`: the logits (b, T, vocab) of one forward with `hooks` on the subject."""


def token_change(run: Run, ids: torch.Tensor, mask: torch.Tensor, layer: int, neuron: int,
                 strings: Callable[[Sequence[int]], list[str]], k: int = TOP_TOKENS) -> dict[str, TokenChange]:
    """`ids` (b, T) right-padded, `mask` 1 on real tokens (BOS included where the model has one). Every real
    position whose next token is real predicts it; padding is never scored.

    One forward for everything: the records stacked once per variant (clean, then each of `FACTORS`), the
    hook scaling the neuron by its row's factor (1 leaves a clean row bit for bit as it came). On a busy CPU
    a forward's fixed cost (the bridge's hooks and Python, thread wake-ups) is a large share of a small
    batch's, so one forward of 3b rows costs less than three of b (docs/benchmarks.md#output-side-cost)."""
    rows = ids.shape[0]
    factors = torch.tensor([1.0, *FACTORS.values()], device=ids.device).repeat_interleave(rows)[:, None]
    logits = run(ids.repeat(len(FACTORS) + 1, 1), mask.repeat(len(FACTORS) + 1, 1),
                 [(f"blocks.{layer}.mlp.hook_post", scale_neuron(neuron, factors))])
    target, scored = ids[:, 1:], mask[:, 1:].bool()
    positions = int(scored.sum())
    variants = [logits[i * rows : (i + 1) * rows, :-1].float().log_softmax(-1)[scored] for i in range(len(FACTORS) + 1)]
    losses = [float(-v.gather(-1, target[scored][:, None]).sum()) / max(positions, 1) for v in variants]
    clean, clean_loss = variants[0].exp(), losses[0]
    out = {}
    for (key, factor), changed, changed_loss in zip(FACTORS.items(), variants[1:], losses[1:], strict=True):
        mean = (changed.exp() - clean).sum(0) / max(positions, 1)
        out[key] = TokenChange(factor=factor, loss_clean=round(clean_loss, 6), loss_changed=round(changed_loss, 6),
                               delta_loss=round(changed_loss - clean_loss, 6), risen=_ranked(mean, strings, k, True),
                               fallen=_ranked(mean, strings, k, False), positions=positions)
    return out


def ablation_windows(records: Sequence[tuple[Sequence[int], Sequence[float]]], n: int = RECORDS) -> list[list[int]]:
    """The ids of the first `n` (top) records, each cut to the `WINDOW` tokens ending on the token after its peak."""
    out = []
    for ids, acts in records[:n]:
        if len(ids):
            end = int(np.argmax(acts)) + 2
            out.append(list(ids[max(0, end - WINDOW) : end]))
    return out


def padded_batch(sequences: Sequence[Sequence[int]], bos: int | None, pad: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids, mask) of the sequences right-padded to the longest, BOS in front: with causal attention a real
    token never attends to the padding after it."""
    rows = [([bos] if bos is not None else []) + list(seq) for seq in sequences if seq]
    width = max((len(r) for r in rows), default=0)
    ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows], dtype=torch.long, device=device)
    mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows], dtype=torch.long, device=device)
    return ids, mask


def read_output_side(model: torch.nn.Module, run: Run, sequences: Sequence[Sequence[int]], bos: int | None, pad: int,
                     layer: int, neuron: int, strings: Callable[[Sequence[int]], list[str]]) -> OutputSide:
    started = time.monotonic()
    vocab = vocab_projection(*output_weights(model, layer, neuron), strings)
    device = next(model.parameters()).device
    changes = token_change(run, *padded_batch(sequences, bos, pad, device), layer, neuron, strings)
    return OutputSide(vocab=vocab, changes=changes, records=len(sequences),
                      seconds=round(time.monotonic() - started, 3))

