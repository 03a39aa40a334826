"""The output side on tiny random models: the ablation hook touches one neuron and leaves no trace."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from tools.subject.base import OutputReader
from tools.subject.bridge import BridgeSubject
from tools.subject.output_side import (
    FACTORS,
    output_weights,
    padded_batch,
    scale_neuron,
    token_change,
    vocab_projection,
)
from tools.subject.registry import load_subject

LAYER, NEURON = 1, 5
TEXTS = ["The value of x is returned.", "A list of numbers, sorted in place."]


@pytest.fixture(scope="module", params=["tiny-llama", "tiny-gpt2"])
def subject(request: pytest.FixtureRequest) -> BridgeSubject:
    loaded: BridgeSubject = load_subject(request.param)
    return loaded


def _posts(subject: BridgeSubject, ids: torch.Tensor, hooks: list[tuple[str, Any]]) -> dict[int, torch.Tensor]:
    """Every layer's hook_post after `hooks` ran (a capture hook after them sees what the model goes on with)."""
    seen: dict[int, torch.Tensor] = {}

    def keep(layer: int) -> Any:
        def hook(act: torch.Tensor, hook: Any) -> None:
            seen[layer] = act.clone()
        return hook

    capture = [(f"blocks.{layer}.mlp.hook_post", keep(layer)) for layer in range(subject.info.n_layers)]
    with torch.inference_mode():
        subject.bridge.run_with_hooks(ids, fwd_hooks=hooks + capture)
    return seen


@pytest.mark.parametrize("factor", [0.0, 2.0])
def test_the_hook_scales_one_neuron_and_nothing_before_it(subject: BridgeSubject, factor: float) -> None:
    ids = torch.tensor([[subject.tokenizer.bos_token_id, *subject.tokenize(TEXTS[:1])[0].ids]])
    clean = _posts(subject, ids, [])
    changed = _posts(subject, ids, [(f"blocks.{LAYER}.mlp.hook_post", scale_neuron(NEURON, factor))])
    others = [n for n in range(subject.info.d_mlp) if n != NEURON]
    # Bit for bit: the layer's other neurons, and every neuron of the layers before it.
    assert torch.equal(changed[LAYER][..., others], clean[LAYER][..., others])
    assert torch.equal(changed[LAYER][..., NEURON], clean[LAYER][..., NEURON] * factor)
    for layer in range(LAYER):
        assert torch.equal(changed[layer], clean[layer])
    # The change does reach the layers after it.
    assert not torch.equal(changed[LAYER + 1], clean[LAYER + 1])


def test_reading_the_output_side_leaves_the_model_as_it_was(subject: BridgeSubject) -> None:
    sequences = [t.ids for t in subject.tokenize(TEXTS)]
    before = subject.activations(sequences, LAYER + 1)
    weights = [p.detach().clone() for p in subject.hf_model.parameters()]
    side = subject.output_side(LAYER, NEURON, sequences)
    after = subject.activations(sequences, LAYER + 1)
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))
    assert all(torch.equal(a, b) for a, b in zip(weights, subject.hf_model.parameters(), strict=True))
    assert all(not h.fwd_hooks for h in subject.bridge.hook_dict.values())
    assert isinstance(subject, OutputReader)
    assert set(side.changes) == {"zeroed", "doubled"} and side.records == 2
    zeroed = side.changes["zeroed"]
    assert zeroed.positions == sum(len(s) for s in sequences)  # every real token is predicted (from BOS on)
    assert zeroed.delta_loss == pytest.approx(zeroed.loss_changed - zeroed.loss_clean, abs=1e-5)
    assert zeroed.delta_loss != 0 and len(zeroed.risen) == 10 and zeroed.fallen[0].value <= 0 <= zeroed.risen[0].value


def test_one_stacked_forward_reads_what_a_forward_per_variant_reads(subject: BridgeSubject) -> None:
    """The batched read (clean, zeroed and doubled rows in one forward) against the plain definition: a clean
    forward and one forward per factor with the whole batch scaled."""
    ids, mask = padded_batch([t.ids for t in subject.tokenize(TEXTS)], subject.tokenizer.bos_token_id,
                             subject.tokenizer.pad_token_id or 0, subject.device)

    def run(ids: torch.Tensor, mask: torch.Tensor, hooks: list[tuple[str, Any]]) -> torch.Tensor:
        logits: torch.Tensor = subject.bridge.run_with_hooks(ids, fwd_hooks=hooks, attention_mask=mask)
        return logits

    with torch.inference_mode():
        changes = token_change(run, ids, mask, LAYER, NEURON, subject.token_strings)
        scored = mask[:, 1:].bool()

        def log_probs(hooks: list[tuple[str, Any]]) -> torch.Tensor:
            return run(ids, mask, hooks)[:, :-1].float().log_softmax(-1)[scored]

        clean = log_probs([])
        loss = float(-clean.gather(-1, ids[:, 1:][scored][:, None]).mean())
        for key, factor in FACTORS.items():
            changed = log_probs([(f"blocks.{LAYER}.mlp.hook_post", scale_neuron(NEURON, factor))])
            mean = (changed.exp() - clean.exp()).mean(0)
            assert changes[key].loss_clean == pytest.approx(loss, abs=1e-5)
            assert changes[key].loss_changed == pytest.approx(float(-changed.gather(-1, ids[:, 1:][scored][:, None]).mean()), abs=1e-5)
            assert changes[key].risen[0].value == pytest.approx(float(mean.max()), abs=1e-5)
            assert changes[key].risen[0].token == subject.token_strings([int(mean.argmax())])[0]


def test_vocab_projection_is_the_output_row_through_the_unembedding(subject: BridgeSubject) -> None:
    w_out, norm, unembed = output_weights(subject._plain, LAYER, NEURON)
    assert w_out.shape == norm.shape == (subject.bridge.cfg.d_model,) and unembed.shape[0] == subject.info.vocab_size
    proj = vocab_projection(w_out, norm, unembed, subject.token_strings, k=3)
    logits = unembed @ w_out
    best = int(logits.argmax())
    assert proj.promoted[0].token == subject.token_strings([best])[0]
    assert proj.promoted[0].value == pytest.approx(float(logits[best]), abs=1e-5)
    assert proj.suppressed[0].value == pytest.approx(float(logits.min()), abs=1e-5)
    # Scaled by the norm's weight, a dimension's share changes: the normed top token is read from W_U @ (w * g).
    normed = unembed @ (w_out * norm)
    assert proj.promoted_normed[0].value == pytest.approx(float(normed.max()), abs=1e-5)


def test_ablation_windows_end_on_the_token_after_the_peak() -> None:
    from tools.subject.output_side import WINDOW, ablation_windows

    long_ids = list(range(40))
    acts = [0.0] * 40
    acts[30] = 5.0
    assert ablation_windows([(long_ids, acts), ([7, 8, 9], [1.0, 0.0, 0.0]), ([], [])]) == [
        long_ids[32 - WINDOW : 32], [7, 8]]


async def test_the_service_keeps_an_output_side_read_early_for_the_neurons_end(subject: BridgeSubject) -> None:
    """The explainer's hint reads it with `keep`; the neuron's end gets that same reading, and a third question is
    read anew (nothing is kept for ever)."""
    from tools.subject.service import ActivationService

    service = ActivationService(subject)
    windows = [t.ids for t in subject.tokenize(TEXTS)]
    early = await service.output_side(LAYER, NEURON, windows, keep=True)
    late = await service.output_side(LAYER, NEURON, windows)
    again = await service.output_side(LAYER, NEURON, windows)
    assert early is not None and late is early
    assert again is not None and again is not early and again.vocab == early.vocab
