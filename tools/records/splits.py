"""OpenAI's interleaved splits (docs/science.md#splits), as pure functions over record indices.

Top records go to `train, calibration, valid, test` (index i to split i mod 4); random records go
to `calibration, valid, test` (index i to split i mod 3). Each split is then cut to its first
`n_per_split` records. neuron-refinery uses `train` to explain, `valid` (named `selection` here) to
choose between explanations, and `test` (named `heldout`) only to report the final score.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

T = TypeVar("T")

TOP_SPLITS = ("train", "calibration", "valid", "test")
RANDOM_SPLITS = ("calibration", "valid", "test")


class Split(StrEnum):
    TRAIN = "train"
    CALIBRATION = "calibration"
    SELECTION = "valid"
    HELDOUT = "test"


@dataclass(frozen=True)
class SplitIndices:
    """Indices into the top and random record lists that make up one split (top first)."""

    top: tuple[int, ...]
    random: tuple[int, ...]


def interleaved_indices(n_records: int, splits: tuple[str, ...], split: str, n_per_split: int | None) -> tuple[int, ...]:
    """Indices i < n_records with i mod len(splits) == position of `split`, first `n_per_split` of them.

    With `n_per_split=None` every split gets `n_records // len(splits)` records, as in OpenAI's code.
    """
    if split not in splits:
        return ()
    stride = len(splits)
    per_split = n_records // stride if n_per_split is None else n_per_split
    start = splits.index(split)
    return tuple(range(start, n_records, stride))[:per_split]


def split_indices(split: Split | str, n_top: int, n_random: int, n_per_split: int | None = None) -> SplitIndices:
    """Which top and random records form `split`; e.g. `test` with n=5 is top 3,7,11,15,19 + random 2,5,8,11,14."""
    name = Split(split).value
    return SplitIndices(
        top=interleaved_indices(n_top, TOP_SPLITS, name, n_per_split),
        random=interleaved_indices(n_random, RANDOM_SPLITS, name, n_per_split),
    )


def select_split(top: list[T], random: list[T], split: Split | str, n_per_split: int | None = None) -> list[T]:
    """The records of `split`: its top records first, then its random records."""
    idx = split_indices(split, len(top), len(random), n_per_split)
    return [top[i] for i in idx.top] + [random[i] for i in idx.random]
