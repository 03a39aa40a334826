"""A neuron's records, split, with the held-out split sealed until the final score.

Every consumer gets records through this object: the explainer only `train`, selection between
candidates `selection`, and only `final_heldout()` opens the held-out split. `heldout_opened`
lets tests and the agent assert that no step before finalize touched it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tools.formats.openai import ActivationRecord, NeuronRecord
from tools.records.splits import Split, select_split


class SealedSplitError(RuntimeError):
    """The held-out split was requested by something other than the final scoring."""


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

    def selection(self) -> list[ActivationRecord]:
        return self._split(Split.SELECTION)

    def calibration(self) -> list[ActivationRecord]:
        return self._split(Split.CALIBRATION)

    def final_heldout(self) -> list[ActivationRecord]:
        self.heldout_opened = True
        return self._split(Split.HELDOUT)

    def heldout_excerpts(self) -> set[int]:
        """Corpus indices of held-out excerpts (so probes can avoid them) without opening the split."""
        return {r.excerpt_index for r in self._split(Split.HELDOUT) if r.excerpt_index is not None}

    @property
    def max_activation(self) -> float:
        return self.record.max_activation
