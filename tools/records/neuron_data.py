"""A neuron's records, split, with the held-out split sealed until the final score.

Every consumer gets records through this object: the explainer only `train`, selection between
candidates `selection`, and only `final_heldout()` opens the held-out split. `heldout_opened`
lets tests and the agent assert that no step before finalize touched it.

The one-shot choice between candidates uses OpenAI's `valid` and `calibration` splits together
(correlation is unchanged by linear calibration, so the calibration split is free, and twice the
records make the choice less noisy). After it, the refinement loop learns from the calibration
split (`evidence`) and chooses on the valid split alone (`judging_parts`), so no record both shapes
a revision and judges it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tools.formats.openai import ActivationRecord, NeuronRecord
from tools.records.splits import Split, select_split, split_indices


@dataclass
class NeuronData:
    layer: int
    neuron: int
    record: NeuronRecord
    n_per_split: int | None = None
    heldout_opened: bool = field(default=False, init=False)

    def _split(self, split: Split) -> list[ActivationRecord]:
        return select_split(self.record.most_positive_activation_records, self.record.random_sample, split, self.n_per_split)

    def train(self) -> list[ActivationRecord]:
        return self._split(Split.TRAIN)

    def parts(self, *splits: Split) -> tuple[list[ActivationRecord], list[ActivationRecord]]:
        """(top records, random records) of the given splits together."""
        top, rand = self.record.most_positive_activation_records, self.record.random_sample
        found = [split_indices(s, len(top), len(rand), self.n_per_split) for s in splits]
        return [top[i] for p in found for i in p.top], [rand[i] for p in found for i in p.random]

    def selection_parts(self) -> tuple[list[ActivationRecord], list[ActivationRecord]]:
        """(top records, random records) of the valid and calibration splits together."""
        return self.parts(Split.SELECTION, Split.CALIBRATION)

    def selection(self) -> list[ActivationRecord]:
        """The valid and calibration splits together, top records first: the one-shot choice is made on them."""
        top, rand = self.selection_parts()
        return top + rand

    def evidence(self) -> list[ActivationRecord]:
        """The calibration split: records the refinement loop may learn from (after the one-shot choice)."""
        top, rand = self.parts(Split.CALIBRATION)
        return top + rand

    def judging_parts(self) -> tuple[list[ActivationRecord], list[ActivationRecord]]:
        """The valid split alone: the refinement loop chooses between explanations on it, never learns from it."""
        return self.parts(Split.SELECTION)

    @property
    def top_threshold(self) -> float:
        """The smallest maximum activation among the top records: text that reaches it would have made the list."""
        tops = self.record.most_positive_activation_records
        return min((max(r.activations) for r in tops if r.activations), default=0.0)

    def final_heldout(self) -> list[ActivationRecord]:
        self.heldout_opened = True
        return self._split(Split.HELDOUT)

    @property
    def heldout_top_count(self) -> int:
        """How many of the held-out records are top records (they come first; the rest are random)."""
        top, rand = self.record.most_positive_activation_records, self.record.random_sample
        return len(split_indices(Split.HELDOUT, len(top), len(rand), self.n_per_split).top)

    def heldout_excerpts(self) -> set[int]:
        """Corpus indices of held-out excerpts (so probes can avoid them) without opening the split."""
        return {r.excerpt_index for r in self._split(Split.HELDOUT) if r.excerpt_index is not None}

    @property
    def max_activation(self) -> float:
        return self.record.max_activation
