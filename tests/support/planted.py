"""Weight surgery on the tiny Llama: make one MLP neuron of layer 0 fire on one token.

Embedding dimension 0 is cleared for every token but the trigger, which gets a large value; layer
0's attention output is kept off dimension 0; the neuron's gate and up rows read dimension 0 only.
The neuron then responds strongly at the trigger and near zero elsewhere, through the real bridge.
"""

from __future__ import annotations

from typing import Any

import torch


def _linear(module: Any) -> torch.nn.Linear:
    return getattr(module, "original_component", module)


def plant_token_neuron(hf_model: Any, neuron: int, token_id: int, strength: float = 30.0) -> None:
    with torch.no_grad():
        embed = hf_model.model.embed_tokens.weight
        embed[:, 0] = 0.0
        embed[token_id, 0] = strength
        layer = hf_model.model.layers[0]
        _linear(layer.self_attn.o_proj).weight[0, :] = 0.0
        for name in ("gate_proj", "up_proj"):
            weight = _linear(getattr(layer.mlp, name)).weight
            weight[neuron, :] = 0.0
            weight[neuron, 0] = 3.0
