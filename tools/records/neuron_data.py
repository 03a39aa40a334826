"""A neuron's records, split, with the held-out split sealed until the final score.

Every consumer gets records through this object: the explainer only `train`, selection between
candidates `selection`, and only `final_heldout()` opens the held-out split. `heldout_opened`
lets tests and the agent assert that no step before finalize touched it.

Selection uses OpenAI's `valid` and `calibration` splits together: correlation scores are
unchanged by linear calibration, so the calibration split is free, and twice the records make
choosing between close candidates less noisy (choosing by a noisy score overfits it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tools.formats.openai import ActivationRecord, NeuronRecord
from tools.records.splits import Split, select_split, split_indices


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

    def selection_parts(self) -> tuple[list[ActivationRecord], list[ActivationRecord]]:
        """(top records, random records) of the valid and calibration splits together."""
        top, rand = self.record.most_positive_activation_records, self.record.random_sample
        parts = [split_indices(s, len(top), len(rand), self.n_per_split) for s in (Split.SELECTION, Split.CALIBRATION)]
        return [top[i] for p in parts for i in p.top], [rand[i] for p in parts for i in p.random]

    def selection(self) -> list[ActivationRecord]:
        """The valid and calibration splits together, top records first."""
        top, rand = self.selection_parts()
        return top + rand

    def final_heldout(self) -> list[ActivationRecord]:
        self.heldout_opened = True
        return self._split(Split.HELDOUT)

    def heldout_excerpts(self) -> set[int]:
        """Corpus indices of held-out excerpts (so probes can avoid them) without opening the split."""
        return {r.excerpt_index for r in self._split(Split.HELDOUT) if r.excerpt_index is not None}

    @property
    def max_activation(self) -> float:
        return self.record.max_activation
