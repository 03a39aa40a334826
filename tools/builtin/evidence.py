"""Token-level evidence about a neuron, accumulated from any records with real activations.

The builtin explainer and reviser both read this table: train records at first, then every probe
the agent runs, so the explanation improves as evidence grows. Keys are token pieces (strings),
so records from any source, OpenAI's files included, contribute.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from tools.builtin.vocab import piece_classes

PEAK_SHARE = 0.6


@dataclass
class TokenEvidence:
    sums: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    counts: Counter[str] = field(default_factory=Counter)
    total: float = 0.0
    n: int = 0
    max_activation: float = 0.0
    peaks: list[tuple[str, str, float]] = field(default_factory=list)
    """(previous piece, piece, activation) at each record's maximum, when it is positive."""

    def add(self, tokens: Sequence[str], activations: Sequence[float]) -> None:
        best = -1
        for i, (piece, value) in enumerate(zip(tokens, activations, strict=True)):
            self.sums[piece] += value
            self.counts[piece] += 1
            self.total += value
            self.n += 1
            if best < 0 or value > activations[best]:
                best = i
        if best >= 0 and activations[best] > 0:
            self.max_activation = max(self.max_activation, activations[best])
            self.peaks.append((tokens[best - 1] if best > 0 else "", tokens[best], activations[best]))

    def add_all(self, records: Iterable[tuple[Sequence[str], Sequence[float]]]) -> None:
        for tokens, activations in records:
            self.add(tokens, activations)

    @property
    def base(self) -> float:
        return self.total / self.n if self.n else 0.0

    def shrunk_means(self, prior_count: float = 1.0) -> dict[str, float]:
        """Mean activation per piece, pulled towards the overall mean by `prior_count` pseudo-observations."""
        base = self.base
        return {p: (self.sums[p] + prior_count * base) / (c + prior_count) for p, c in self.counts.items()}

    def strong_peaks(self) -> list[tuple[str, str, float]]:
        return [p for p in self.peaks if p[2] >= PEAK_SHARE * self.max_activation]


def shared_previous(peaks: Sequence[tuple[str, str, float]], min_share: float = 0.4, min_count: int = 3) -> str | None:
    """The previous token common to many peaks while the peak tokens themselves vary, if any."""
    if len(peaks) < min_count:
        return None
    prev_counts = Counter(p[0] for p in peaks if p[0])
    if not prev_counts:
        return None
    prev, count = prev_counts.most_common(1)[0]
    token_share = Counter(p[1] for p in peaks).most_common(1)[0][1] / len(peaks)
    if count >= min_count and count / len(peaks) >= min_share and token_share < 0.5:
        return prev
    return None


def dominant_class(peaks: Sequence[tuple[str, str, float]], min_share: float = 0.6, min_distinct: int = 3) -> str | None:
    """A token class covering most distinct peak tokens (numbers, capitalized words, ...), if any."""
    distinct = {p[1] for p in peaks}
    if len(distinct) < min_distinct:
        return None
    counts: Counter[str] = Counter()
    for piece in distinct:
        for name, flag in piece_classes(piece).items():
            if flag and name != "any":
                counts[name] += 1
    if not counts:
        return None
    name, count = counts.most_common(1)[0]
    return name if count / len(distinct) >= min_share else None
