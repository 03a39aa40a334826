"""Token-level evidence about a neuron, accumulated from any records with real activations.

The builtin explainer and reviser both read this table: train records at first, then every probe
the agent runs, so the explanation improves as evidence grows. Keys are token pieces (strings),
so records from any source, OpenAI's files included, contribute.
"""

from __future__ import annotations

import math
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
    position_sums: dict[int, float] = field(default_factory=lambda: defaultdict(float))
    position_counts: Counter[int] = field(default_factory=Counter)
    """Activation by position in its record or probe text, for neurons that respond to where, not what."""
    total_sq: float = 0.0

    def add(self, tokens: Sequence[str], activations: Sequence[float]) -> None:
        best = -1
        for i, (piece, value) in enumerate(zip(tokens, activations, strict=True)):
            self.sums[piece] += value
            self.counts[piece] += 1
            self.position_sums[i] += value
            self.position_counts[i] += 1
            self.total += value
            self.total_sq += value * value
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

    def position_correlation(self, feature: Sequence[float]) -> float:
        """Pearson r over all tokens between activation and `feature[position]` (0 when undefined)."""
        if self.n < 2:
            return 0.0
        n, mean_a = self.n, self.total / self.n
        var_a = self.total_sq / n - mean_a**2
        ex = exx = exa = 0.0
        for pos, count in self.position_counts.items():
            x = feature[pos] if pos < len(feature) else feature[-1]
            ex += x * count / n
            exx += x * x * count / n
            exa += x * self.position_sums[pos] / n
        var_x = exx - ex**2
        if var_a <= 1e-12 or var_x <= 1e-12:
            return 0.0
        return (exa - ex * mean_a) / math.sqrt(var_a * var_x)

    def position_mean(self, below: int) -> float:
        count = sum(c for p, c in self.position_counts.items() if p < below)
        return sum(s for p, s in self.position_sums.items() if p < below) / count if count else 0.0

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


MAX_FIRST = 16
MIN_POSITION_R = 0.5


def first_positions(evidence: TokenEvidence, min_r: float = MIN_POSITION_R) -> int | None:
    """N for which "the first N tokens of the text" best tracks the activations, if well enough (r >= min_r)."""
    length = max(evidence.position_counts, default=-1) + 1
    best, best_r = None, min_r
    for n in range(1, min(MAX_FIRST, length - 1) + 1):
        r = evidence.position_correlation([1.0] * n + [0.0] * (length - n))
        if r >= best_r:
            best, best_r = n, r
    return best


def rising_position(evidence: TokenEvidence, min_r: float = MIN_POSITION_R) -> int | None:
    """The length of the texts seen, when activation rises linearly with position (r >= min_r)."""
    length = max(evidence.position_counts, default=-1) + 1
    if length < 4:
        return None
    r = evidence.position_correlation([float(p) for p in range(length)])
    return length if r >= min_r else None


def dominant_suffix(
    peaks: Sequence[tuple[str, str, float]], min_share: float = 0.6, min_distinct: int = 4, open_share: float = 0.75
) -> str | None:
    """The longest word ending (2-4 letters) shared by most distinct peak words, if any.

    Only for an open class, where most peaks are different words (`open_share`): a closed set that
    happens to share an ending (weekdays in "-day") is better said as its list, which does not also
    claim "today" and "holiday"."""
    words = {p[1].strip().lower() for p in peaks if p[1].strip().isalpha()}
    distinct = {p[1] for p in peaks}
    if len(words) < min_distinct or len(distinct) < open_share * len(peaks):
        return None
    for size in (4, 3, 2):
        endings = Counter(w[-size:] for w in words if len(w) > size)
        if endings:
            ending, count = endings.most_common(1)[0]
            if count >= min_distinct and count / len(distinct) >= min_share:
                return ending
    return None
