"""Write the explanation that best fits the evidence in a few words.

Candidate clauses come from the evidence the way a person would group it: words, forms of a word,
token classes, word endings, a word in a context, any token in a context, position in the text.
Clauses are added greedily, each time the one (and the strength) that raises the weighted
correlation between the explanation's simulation and the real activations the most per word it
costs, until the word budget is spent or no clause helps. The masks used here mean exactly what
the builtin simulator reads from the written text, so the fitted score is the simulated score.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from tools.builtin.evidence import Evidence, weighted_pearson
from tools.builtin.grammar import (
    Clause,
    Condition,
    ConditionKind,
    Explanation,
    Item,
    Position,
    PositionMode,
    render,
    render_condition,
    render_item,
)
from tools.builtin.vocab import LIKE_FLOOR, LIKE_FULL, VocabIndex
from tools.explainers.base import word_count

LEVELS = (10.0, 8.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0)
TOKEN_CANDIDATES = 80
CONTEXT_TOKENS = 12
MIN_GAIN = 0.002
"""A clause must raise the fitted correlation by more than this to be worth its words."""
MIN_SUPPORT = 2
"""Occurrences a clause needs in the evidence before it can be chosen."""
STEM_ENDINGS = ("ations", "ation", "ings", "ing", "ness", "ment", "ions", "ion", "ies", "ers", "ly", "ed", "er", "es", "s", "al", "ive")
CONDITION_CLASSES = ("punctuation", "number", "capitalized", "article", "preposition", "pronoun", "conjunction",
                     "auxiliary", "negation")
STRUCTURES: tuple[ConditionKind, ...] = ("line_start", "sentence_start", "inside_parens", "inside_quotes")
LIKE_SEEDS = 20
COMPANION_CLOSENESS = 0.5
"""A strong word joins a `words like` group when its closeness to the group's seed is at least this (0-1 scale)."""


@dataclass(frozen=True)
class Feature:
    """One clause without its strength, and where it fires in the evidence."""

    item: Item | None
    condition: Condition | None
    position: tuple[PositionMode, int] | None
    support: np.ndarray
    """Occurrence indices where it fires."""
    grade: np.ndarray
    """How strongly it fires there, 0-1 (1 but for `rising`)."""
    words: int
    """Words it costs standing in a clause of its own, strength excluded."""
    fold_weights: np.ndarray
    """(2, support): each occurrence's weight in its half of the evidence (0 in the other half)."""
    fold_weighted_acts: np.ndarray
    """(2, support): weight times activation, likewise."""

    @property
    def groupable(self) -> bool:
        return self.item is not None and self.condition is None and self.item.kind in ("word", "family", "class", "suffix", "like")


def word_value(piece: str) -> str:
    """How a token is quoted for a reader: " Paris" is the word "Paris"; pieces stay as they are."""
    return piece[1:] if piece.startswith(" ") and len(piece) > 1 and not piece[1].isspace() else piece


def _stems(word: str) -> list[str]:
    lower = word.strip().lower()
    out = []
    for ending in STEM_ENDINGS:
        if lower.endswith(ending) and len(lower) - len(ending) >= 4:
            out.append(lower[: -len(ending)])
    if len(lower) >= 5:
        out.append(lower)
    return list(dict.fromkeys(out))


@dataclass
class CandidatePool:
    evidence: Evidence
    vocab: VocabIndex
    features: list[Feature] = field(default_factory=list)

    def add(self, item: Item | None, condition: Condition | None, fires: np.ndarray, grade: np.ndarray | None = None,
            position: tuple[PositionMode, int] | None = None, words: int | None = None) -> None:
        support = np.flatnonzero(fires)
        if len(support) < MIN_SUPPORT:
            return
        if words is None:
            words = (word_count(render_item(item)) if item is not None else 0) + (
                word_count(render_condition(condition)) if condition is not None else 0)
        ev = self.evidence
        halves = np.stack([ev.text[support] % 2 == k for k in (0, 1)])
        weights = halves * ev.weight[support]
        self.features.append(Feature(item, condition, position, support,
                                     grade[support] if grade is not None else np.ones(len(support)), words,
                                     weights, weights * ev.act[support]))


def mask_of(vocab_mask: np.ndarray, ids: np.ndarray) -> np.ndarray:
    return np.where(ids >= 0, vocab_mask[np.where(ids >= 0, ids, 0)], False)


def candidate_features(evidence: Evidence, vocab: VocabIndex) -> list[Feature]:
    pool = CandidatePool(evidence, vocab)
    ev = evidence
    if len(ev) == 0:
        return []
    base = ev.base
    ids, counts, means = ev.token_stats()
    # Words, ranked by how much of the activation's variance they could carry.
    by_value: dict[str, list[int]] = defaultdict(list)
    for i in ids:
        by_value[word_value(vocab.pieces[i])].append(int(i))
    weight_of = dict(zip(ids.tolist(), counts.tolist(), strict=True))
    mean_of = dict(zip(ids.tolist(), means.tolist(), strict=True))
    scored = []
    for value, members in by_value.items():
        count = sum(weight_of[i] for i in members)
        mean = sum(weight_of[i] * mean_of[i] for i in members) / count
        if mean > base:
            scored.append((count * (mean - base) ** 2, value))
    scored.sort(reverse=True)
    top_words = [v for _, v in scored[:TOKEN_CANDIDATES]]
    for value in top_words:
        vocab_mask = np.zeros(vocab.size, dtype=bool)
        vocab_mask[vocab.word_ids(value)] = True
        pool.add(Item("word", (value,)), None, mask_of(vocab_mask, ev.ids))
    _like_features(pool, top_words[:LIKE_SEEDS])
    # Forms of a word: several distinct tokens sharing a stem.
    seen_stems: set[str] = set()
    for value in top_words[:30]:
        if not value.strip().isalpha():
            continue
        for stem in _stems(value):
            if stem in seen_stems:
                continue
            seen_stems.add(stem)
            fires = mask_of(vocab.containing(stem), ev.ids)
            if len(np.unique(ev.ids[fires])) >= 2:
                pool.add(Item("family", (stem,)), None, fires)
    # Classes and word endings.
    for name, vocab_mask in vocab.classes.items():
        if name != "any":
            pool.add(Item("class", (name,)), None, mask_of(vocab_mask, ev.ids))
    endings: dict[str, int] = defaultdict(int)
    for value in top_words[:40]:
        word = value.strip().lower()
        if word.isalpha():
            for size in (2, 3, 4):
                if len(word) > size + 1:
                    endings[word[-size:]] += 1
    for ending, hits in endings.items():
        if hits >= 3:
            pool.add(Item("suffix", (ending,)), None, mask_of(vocab.ending_with(ending), ev.ids))
    _context_features(pool, top_words[:CONTEXT_TOKENS], base)
    _position_features(pool)
    return pool.features


def _like_features(pool: CandidatePool, seeds: Sequence[str]) -> None:
    """`words like "poison", "murder"`: a word and its closest strong companions, generalized through the
    subject's embeddings exactly as the simulator will read them."""
    ev, vocab = pool.evidence, pool.vocab
    if vocab.embeddings is None:
        return
    known = ev.ids >= 0
    present, where = np.unique(np.where(known, ev.ids, 0), return_inverse=True)
    for value in seeds:
        seed_ids = vocab.word_ids(value)
        if not seed_ids or not value.strip().isalpha():
            continue
        companions: list[str] = []
        for other in seeds:
            other_ids = vocab.word_ids(other)
            if other == value or not other.strip().isalpha() or not other_ids or len(companions) == 2:
                continue
            close = vocab.closeness(seed_ids, LIKE_FLOOR, LIKE_FULL, among=np.asarray(other_ids))
            if close is not None and float(close.max()) >= COMPANION_CLOSENESS:
                companions.append(other)
        for examples in dict.fromkeys([(value,), (value, *companions)]):
            ids = [i for w in examples for i in vocab.word_ids(w)]
            grade_present = vocab.closeness(ids, LIKE_FLOOR, LIKE_FULL, among=present)
            assert grade_present is not None
            grade_present[np.isin(present, ids)] = 1.0
            grade = np.where(known, grade_present[where], 0.0)
            pool.add(Item("like", examples), None, grade > 0, grade=grade)


def _after_mask(evidence: Evidence, vocab: VocabIndex, values: Sequence[str]) -> np.ndarray:
    prev_mask = np.zeros(vocab.size, dtype=bool)
    for value in values:
        # A context word is meant as a person means it: any case, with or without its space.
        prev_mask[vocab.word_ids(value) + vocab.loose_ids(value)] = True
    return mask_of(prev_mask, evidence.prev)


def condition_masks(evidence: Evidence, vocab: VocabIndex, high: Sequence[str], low: Sequence[str] = ()
                    ) -> list[tuple[Condition, np.ndarray]]:
    """Context conditions and where they hold: after each of the `high` previous words and after the strongest of
    them together, unless after each of the `low` ones (or the weakest together), previous-token classes, structure."""
    ev = evidence
    out: list[tuple[Condition, np.ndarray]] = []
    groups = [(v,) for v in high] + [tuple(high[:k]) for k in (2, 3) if len(high) >= k] + (
        [tuple(high)] if len(high) > 3 else [])
    for values in dict.fromkeys(groups):
        out.append((Condition("after", values), _after_mask(ev, vocab, values)))
    for values in dict.fromkeys([(v,) for v in low] + ([tuple(low[:2])] if len(low) >= 2 else [])):
        out.append((Condition("unless_after", values), ~_after_mask(ev, vocab, values)))
    for name in CONDITION_CLASSES:
        met = mask_of(vocab.classes[name], ev.prev)
        out.append((Condition("after_class", (name,)), met))
        out.append((Condition("unless_after", (f"class:{name}",)), ~met))
    for kind in STRUCTURES:
        out.append((Condition(kind), getattr(ev, kind)))
    return out


def top_previous(evidence: Evidence, vocab: VocabIndex, where: np.ndarray, limit: int = 4) -> tuple[list[str], list[str]]:
    """(previous words after which the neuron responds most, those after which it responds least) among the
    occurrences `where`, each seen at least twice there."""
    ev = evidence
    totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for p, a, weight in zip(ev.prev[where].tolist(), ev.act[where].tolist(), ev.weight[where].tolist(), strict=True):
        if p < 0:
            continue
        slot = totals[word_value(vocab.pieces[p]).strip().lower() or vocab.pieces[p]]
        slot[0] += weight * a
        slot[1] += weight
        slot[2] += 1
    means = sorted(((s[0] / s[1], v) for v, s in totals.items() if s[2] >= 2 and s[1] > 0), reverse=True)
    return [v for _, v in means[:limit]], [v for _, v in means[::-1][:2]]


def _context_features(pool: CandidatePool, words: Sequence[str], base: float) -> None:
    ev, vocab = pool.evidence, pool.vocab
    subjects: list[tuple[Item | None, np.ndarray]] = [(None, np.ones(len(ev), dtype=bool))]
    for value in words:
        vocab_mask = np.zeros(vocab.size, dtype=bool)
        vocab_mask[vocab.word_ids(value)] = True
        subjects.append((Item("word", (value,)), mask_of(vocab_mask, ev.ids)))
    for item, fires in subjects:
        if not fires.any():
            continue
        high, low = top_previous(ev, vocab, fires)
        for condition, met in condition_masks(ev, vocab, high, low):
            both = fires & met
            if not both.any() or both.sum() == fires.sum():
                continue
            mean_in = float(np.average(ev.act[both], weights=ev.weight[both])) if ev.weight[both].sum() > 0 else base
            if mean_in <= base:
                continue
            shown = item or Item("class", ("any",))
            pool.add(shown, condition, both)


def _position_features(pool: CandidatePool) -> None:
    ev = pool.evidence
    length = int(ev.position.max()) + 1 if len(ev) else 0
    for n in (1, 2, 3, 4, 6, 8, 12, 16):
        if n < length:
            words = word_count(f"the first {n} tokens of the text")
            pool.add(None, None, ev.position < n, position=("first", n), words=words)
    if length >= 4:
        grade = np.minimum(1.0, ev.position / max(1, length - 1))
        pool.add(None, None, np.ones(len(ev), dtype=bool), grade=grade, position=("rising", length - 1),
                 words=word_count(f"rising with position, full at token {length - 1}"))


@dataclass
class Chosen:
    feature: Feature
    level: float


def explanation_of(chosen: Sequence[Chosen]) -> Explanation:
    """The written structure: plain clauses of one strength share a clause, strongest first."""
    groups: dict[float, list[Item]] = defaultdict(list)
    clauses: list[Clause] = []
    positions: list[Position] = []
    for c in chosen:
        f = c.feature
        if f.position is not None:
            positions.append(Position(f.position[0], f.position[1], c.level))
        elif f.groupable:
            assert f.item is not None
            groups[c.level].append(f.item)
        else:
            assert f.item is not None
            clauses.append(Clause([f.item], [f.condition] if f.condition else [], c.level))
    for level, items in groups.items():
        # `words like "a"` and `words like "b"` read the same as `words like "a", "b"`: one group, fewer words;
        # and a word that is already an example of the group is said once.
        likes = tuple(dict.fromkeys(v for i in items if i.kind == "like" for v in i.values))
        words = tuple(v for i in items if i.kind == "word" for v in i.values if v not in likes)
        merged = ([Item("word", words, (None,) * len(words))] if words else []) + ([Item("like", likes)] if likes else [])
        clauses.append(Clause(merged + [i for i in items if i.kind not in ("word", "like")], [], level))
    clauses.sort(key=lambda c: -c.weight)
    positions.sort(key=lambda p: -p.weight)
    return Explanation(clauses=clauses, positions=positions)


def _cost(feature: Feature, level: float, chosen: Sequence[Chosen]) -> int:
    if feature.groupable and any(c.feature.groupable and c.level == level for c in chosen):
        return feature.words
    return feature.words + 1


@dataclass
class Fit:
    text: str
    words: int
    fitted_r: float | None
    """Weighted correlation on the evidence it was fitted to (optimistic)."""


class Composer:
    """Greedy explanation fitting on one body of evidence; several word budgets share the candidate pool."""

    def __init__(self, evidence: Evidence, vocab: VocabIndex) -> None:
        self.evidence = evidence
        self.vocab = vocab
        self.features = candidate_features(evidence, vocab)

    def word_feature(self, value: str) -> Feature | None:
        """The plain clause `"value"`: the pool's, or built for it (a counterexample may name a word the pool
        ranked out); None where it occurs fewer than `MIN_SUPPORT` times in the evidence."""
        word = Item("word", (value,))
        for f in self.features:
            if f.condition is None and f.item == word:
                return f
        pool = CandidatePool(self.evidence, self.vocab)
        vocab_mask = np.zeros(self.vocab.size, dtype=bool)
        vocab_mask[self.vocab.word_ids(value)] = True
        pool.add(word, None, mask_of(vocab_mask, self.evidence.ids))
        return pool.features[0] if pool.features else None

    def fit(self, max_words: int, allow: Sequence[str] | None = None, replicate: bool = False,
            forced: Sequence[Feature] = (), banned: Callable[[Feature], bool] | None = None) -> Fit | None:
        """Greedy fit within `max_words`: each step adds the clause and strength with the largest gain in
        weighted correlation per word. With `replicate`, the gain must also show on both halves of the
        evidence's texts (alternate texts), so no clause fits a single record's quirk. `forced` clauses go in
        first, each at its best strength, whatever they gain; `banned` ones never go in (a reviser's answer to
        a counterexample, with the rest fitted around it)."""
        ev = self.evidence
        if not self.features or len(ev) < 2:
            return None
        features = [f for f in self.features if (allow is None or _kind(f) in allow) and not (banned and banned(f))]
        fits = _FoldSums(ev)
        if not fits.defined:
            return None
        pred = np.zeros(len(ev))
        chosen: list[Chosen] = []
        taken: set[int] = set()
        words = 0
        for f in forced:
            level = float(LEVELS[int(np.argmax(fits.r(fits.deltas(f, pred))[2]))])
            cost = _cost(f, level, chosen)
            if words + cost > max_words:
                continue
            new = np.maximum(pred[f.support], level * f.grade)
            fits.add(f.support, pred[f.support], new)
            pred[f.support] = new
            taken.update(i for i, g in enumerate(features) if g is f)
            words += cost
            chosen.append(Chosen(f, level))
        cache: dict[int, np.ndarray] = {}
        changed = np.ones(len(ev), dtype=bool)
        while True:
            best: tuple[float, int, float, int] | None = None
            current = fits.r(np.zeros((2, 3, 1)))
            for index, f in enumerate(features):
                if index in taken:
                    continue
                if index not in cache or changed[f.support].any():
                    cache[index] = fits.deltas(f, pred)
                gains = fits.r(cache[index]) - current  # (fold 0, fold 1, whole) x levels
                # Rounded, so levels that fit equally well (a lone clause fits at any level) go to the strongest.
                rounded = np.round(gains, 9)
                for k in np.argsort(-rounded[2], kind="stable")[:3]:
                    gain = float(rounded[2, k])
                    if gain <= MIN_GAIN or (replicate and float(rounded[:2, k].min()) <= 0):
                        continue
                    level = float(LEVELS[k])
                    cost = _cost(f, level, chosen)
                    if words + cost > max_words:
                        continue
                    if best is None or gain / cost > best[0] / best[3]:
                        best = (gain, index, level, cost)
            if best is None:
                break
            _, index, level, cost = best
            f = features[index]
            new = np.maximum(pred[f.support], level * f.grade)
            changed = np.zeros(len(ev), dtype=bool)
            changed[f.support[new > pred[f.support]]] = True
            fits.add(f.support, pred[f.support], new)
            pred[f.support] = new
            taken.add(index)
            words += cost
            chosen.append(Chosen(f, level))
        if not chosen:
            return None
        chosen = self._gate_words(chosen, features, max_words)
        text = render(explanation_of(chosen))
        while word_count(text) > max_words and chosen:
            chosen.pop()
            text = render(explanation_of(chosen))
        return Fit(text, word_count(text), self._fitted(chosen)) if chosen else None

    def _fitted(self, chosen: Sequence[Chosen]) -> float | None:
        pred = np.zeros(len(self.evidence))
        for c in chosen:
            s = c.feature.support
            pred[s] = np.maximum(pred[s], c.level * c.feature.grade)
        return weighted_pearson(pred, self.evidence.act, self.evidence.weight)

    def _gate_words(self, chosen: list[Chosen], features: Sequence[Feature], max_words: int) -> list[Chosen]:
        """A cheap plain word can block its own gated form (`"than"` before `"than" after "more"`), which fits
        better for more words: try each chosen word's context forms in its place while they fit better."""
        current = self._fitted(chosen) or 0.0
        improved = True
        while improved:
            improved = False
            for i, c in enumerate(chosen):
                item = c.feature.item
                if item is None or item.kind != "word" or c.feature.condition is not None:
                    continue
                trials = [[*chosen[:i], Chosen(g, c.level), *chosen[i + 1 :]] for g in features
                          if g.item == item and g.condition is not None]
                fitting = [(self._fitted(t) or 0.0, t) for t in trials if word_count(render(explanation_of(t))) <= max_words]
                if fitting:
                    score, trial = max(fitting, key=lambda st: st[0])
                    if score > current + MIN_GAIN:
                        chosen, current, improved = trial, score, True
                        break
        return chosen


class _FoldSums:
    """Weighted sums behind the correlation of the current prediction with the activations, on each half of
    the evidence's texts (alternate texts) and on the whole, so a clause's gain is known without refitting."""

    def __init__(self, evidence: Evidence) -> None:
        self.fold = evidence.text % 2
        self.w, self.a = evidence.weight, evidence.act
        self.total = np.array([self.w[self.fold == k].sum() for k in (0, 1)])
        self.ma = np.array([(self.w * self.a)[self.fold == k].sum() for k in (0, 1)]) / np.maximum(self.total, 1e-300)
        self.va = np.array([(self.w * (self.a - self.ma[k]) ** 2)[self.fold == k].sum() for k in (0, 1)])
        self.sums = np.zeros((2, 3))
        """Per fold: Σw·p, Σw·p², Σw·p·a."""
        self.levels = np.asarray(LEVELS)[:, None]
        ma_all = float((self.w * self.a).sum() / max(self.total.sum(), 1e-300))
        self._total = np.append(self.total, self.total.sum())[:, None]
        self._ma = np.append(self.ma, ma_all)[:, None]
        self._va = np.append(self.va, (self.w * (self.a - ma_all) ** 2).sum())[:, None]

    @property
    def defined(self) -> bool:
        return bool((self.total > 0).all() and (self.va > 0).all())

    def deltas(self, feature: Feature, pred: np.ndarray) -> np.ndarray:
        """(fold, sum, level): how the sums change if `feature` is added at each level."""
        old = pred[feature.support]
        new = np.maximum(old, self.levels * feature.grade)
        diff, diff2 = new - old, new * new - old * old
        w, wa = feature.fold_weights.T, feature.fold_weighted_acts.T
        return np.stack([diff @ w, diff2 @ w, diff @ wa]).transpose(2, 0, 1)

    def r(self, deltas: np.ndarray) -> np.ndarray:
        """(fold 0, fold 1, whole) x level correlations after adding `deltas` to the current sums."""
        sums = self.sums[:, :, None] + deltas
        every = np.concatenate([sums, sums.sum(axis=0, keepdims=True)])
        sp, spp, spa = every[:, 0], every[:, 1], every[:, 2]
        var_p = spp - sp**2 / self._total
        cov = spa - sp * self._ma
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(var_p > 1e-12, cov / np.sqrt(np.maximum(var_p, 1e-300) * self._va), 0.0)

    def add(self, support: np.ndarray, old: np.ndarray, new: np.ndarray) -> None:
        for k in (0, 1):
            m = self.fold[support] == k
            ws, wa = self.w[support][m], (self.w * self.a)[support][m]
            self.sums[k] += ((new[m] - old[m]) @ ws, (new[m] ** 2 - old[m] ** 2) @ ws, (new[m] - old[m]) @ wa)


def _kind(feature: Feature) -> str:
    if feature.position is not None:
        return "position"
    if feature.condition is not None:
        return "context"
    assert feature.item is not None
    return feature.item.kind


def candidate_explanations(evidence: Evidence, vocab: VocabIndex, n: int, max_words: int) -> list[Fit]:
    """Up to `n` distinct fitted explanations within `max_words`: the fullest first, then ones whose every clause
    replicates across the evidence, shorter ones and token lists. Which is best is for the selection records to say."""
    return composer_candidates(Composer(evidence, vocab), n, max_words)


def composer_candidates(composer: Composer, n: int, max_words: int) -> list[Fit]:
    """`candidate_explanations` from a composer already built (its candidate pool is most of the cost)."""
    plans: list[tuple[int, Sequence[str] | None, bool]] = [
        (max_words, None, False), (max_words, None, True), (max(4, (2 * max_words) // 3), None, True),
        (max_words, ("word", "like", "family", "class", "suffix"), False), (max(3, max_words // 3), None, False),
        (max_words, ("word",), False),
    ]
    out: list[Fit] = []
    for budget, allow, replicate in plans:
        if len(out) >= n:
            break
        fit = composer.fit(budget, allow, replicate)
        if fit is not None and all(fit.text != f.text for f in out):
            out.append(fit)
    return out
