"""The output-side hint for the LLM explainer (`--explain-output-hint`; docs/science.md#output-side).

One prompt line naming the top tokens the neuron's output weights promote through the unembedding
(VocabProj, with the final norm's scale): what the neuron makes the model predict next, as a hint
for a description of what it responds to. It is read from the weights alone, so no record (and
no held-out record) enters it.
"""

from __future__ import annotations

from collections.abc import Sequence

import prompts
from tools.prompting import escape_token
from tools.records.neuron_data import NeuronData
from tools.subject.output_side import ablation_windows
from tools.subject.service import ActivationService

HINT_TOKENS = 10
"""Promoted tokens the hint names."""


def hint_values(promoted: Sequence[str]) -> dict[str, str]:
    """`$tokens` of `prompts/explain_output_hint.txt`: the first `HINT_TOKENS`, quoted and escaped as the records
    show tokens (a leading space is part of the token, \\n a line break)."""
    return {"tokens": ", ".join('"' + escape_token(t).replace('"', '\\"') + '"' for t in promoted[:HINT_TOKENS])}


def hint_line(promoted: Sequence[str] | None) -> str:
    """The line (with its newline) the explainer prompt gets for `promoted`; empty without them."""
    if not promoted:
        return ""
    return prompts.load("explain_output_hint").render(**hint_values(promoted))[0].content + "\n"


async def promoted_tokens(service: ActivationService, data: NeuronData, k: int = HINT_TOKENS) -> list[str] | None:
    """The `k` tokens the neuron promotes most (scaled by the final norm), or None when the subject has no
    weights to read. Read by the same call the neuron's output side is read with at its end, kept by the
    service until then, so asking early costs nothing more."""
    tops = data.record.most_positive_activation_records
    windows = ablation_windows([(r.token_ids or [], r.activations) for r in tops])
    side = await service.output_side(data.layer, data.neuron, windows, keep=True) if windows else None
    return [t.token for t in side.vocab.promoted_normed[:k]] if side is not None else None
