"""Planted neurons: known rules over a token sequence, each with its ground truth in two forms.

A rule maps the token ids of one text to one activation per token. Every rule is causal (the value
at token i depends only on tokens 0..i), as a real decoder's neurons are, and deterministic, so a
probe re-run on the same text reads the same values. The ground truth comes as:
- `description`: what a person would write (read by LLM simulators, and by the builtin one as free text);
- `oracle`: the same rule in the builtin explanation grammar (`tools/builtin/grammar.py`), or None
  when that grammar cannot express the rule (graded word length): such a rule still runs, and the
  results say that its builtin ratio is undefined rather than hiding it.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from tools.builtin.vocab import normalize_piece, piece_classes

NOISE = 0.005
"""Half-width of the deterministic jitter added to every value, so no rule is a perfect step."""

Fire = Callable[[np.ndarray], np.ndarray]
"""Token ids of one text (1-D int array) -> activation per token (1-D float array, before jitter)."""


class TokenTable:
    """Per-vocabulary facts the rules read: decoded pieces, the builtin token classes, word lengths."""

    def __init__(self, pieces: Sequence[str]) -> None:
        self.pieces = list(pieces)
        self.size = len(self.pieces)
        self._ids = {p: i for i, p in reversed(list(enumerate(self.pieces)))}
        flags = [piece_classes(p) for p in self.pieces]
        # The same class definitions as the builtin simulator's, so "numbers" means one thing here and there.
        self.classes = {name: np.array([f[name] for f in flags]) for name in flags[0]}
        self.word_letters = np.array(
            [len(p) - 1 if p[:1] == " " and p[1:].isalpha() else 0 for p in self.pieces], dtype=np.float64
        )

    def id_of(self, piece: str) -> int:
        """The id of a piece that must be a single token of the vocabulary."""
        if piece not in self._ids:
            raise KeyError(f"{piece!r} is not a single token of this vocabulary")
        return self._ids[piece]

    def variants(self, word: str) -> np.ndarray:
        """Ids of every piece equal to `word` ignoring case and surrounding space."""
        key = normalize_piece(word)
        return np.array([i for i, p in enumerate(self.pieces) if normalize_piece(p) == key])

    def lookup(self, weights: Mapping[str, float]) -> np.ndarray:
        """A value per vocabulary id: `weights[piece]` for the named pieces, 0 elsewhere."""
        table = np.zeros(self.size)
        for piece, weight in weights.items():
            table[self.id_of(piece)] = weight
        return table


@dataclass(frozen=True)
class Rule:
    name: str
    kind: str
    description: str
    oracle: str | None
    build: Callable[[TokenTable], Fire]
    note: str = ""
    """Why the builtin grammar cannot state the rule, when `oracle` is None."""


def _previous(ids: np.ndarray) -> np.ndarray:
    return np.concatenate([[-1], ids[:-1]])


def tokens(weights: Mapping[str, float]) -> Callable[[TokenTable], Fire]:
    """Fires on the named pieces with their weights (a single token, a set, graded, or an OR of unrelated ones)."""

    def build(table: TokenTable) -> Fire:
        values = table.lookup(weights)
        return lambda ids: values[ids]

    return build


def token_class(name: str) -> Callable[[TokenTable], Fire]:
    def build(table: TokenTable) -> Fire:
        values = table.classes[name].astype(np.float64)
        return lambda ids: values[ids]

    return build


def after(previous: str, piece: str | None = None) -> Callable[[TokenTable], Fire]:
    """Fires on `piece` (any token when None) only when the previous token is the word `previous`,
    in any case and with or without its leading space ("the", " The", ...), as a person means it."""

    def build(table: TokenTable) -> Fire:
        prev_ids = table.variants(previous)
        piece_id = table.id_of(piece) if piece is not None else None

        def fire(ids: np.ndarray) -> np.ndarray:
            hit = np.isin(_previous(ids), prev_ids)
            if piece_id is not None:
                hit &= ids == piece_id
            return hit.astype(np.float64)

        return fire

    return build


def unless_after(piece: str, blockers: Sequence[str]) -> Callable[[TokenTable], Fire]:
    """Fires on `piece` except right after one of `blockers` (negation-gated)."""

    def build(table: TokenTable) -> Fire:
        piece_id = table.id_of(piece)
        blocked = np.array([table.id_of(b) for b in blockers])
        return lambda ids: ((ids == piece_id) & ~np.isin(_previous(ids), blocked)).astype(np.float64)

    return build


def first_positions(n: int) -> Callable[[TokenTable], Fire]:
    def build(table: TokenTable) -> Fire:
        return lambda ids: (np.arange(len(ids)) < n).astype(np.float64)

    return build


def position_ramp(full_at: int) -> Callable[[TokenTable], Fire]:
    """Grows linearly with the position in the text: 0 at the first token, 1 at `full_at`."""

    def build(table: TokenTable) -> Fire:
        return lambda ids: np.arange(len(ids), dtype=np.float64) / full_at

    return build


def word_length(shortest: int, full: int) -> Callable[[TokenTable], Fire]:
    """Whole-word tokens, graded by letters: 0 below `shortest`, rising to 1 at `full` letters."""

    def build(table: TokenTable) -> Fire:
        letters = table.word_letters
        values = np.where(letters >= shortest, np.clip((letters - shortest + 1) / (full - shortest + 1), 0, 1), 0.0)
        return lambda ids: values[ids]

    return build


def suffix(ending: str) -> Callable[[TokenTable], Fire]:
    def build(table: TokenTable) -> Fire:
        values = np.array([float(p.strip().isalpha() and p.strip().lower().endswith(ending)) for p in table.pieces])
        return lambda ids: values[ids]

    return build


def _each(pieces: Sequence[str], weight: float = 10) -> str:
    return "the tokens " + ", ".join(f'"{p}" ({weight:g})' for p in pieces)


COLOURS = (" red", " blue", " green", " black", " white", " yellow", " brown", " grey", " gray", " pink", " purple", " orange")
FAMILY = (" mother", " father", " brother", " sister", " son", " daughter", " wife", " husband")
WEEKDAYS = (" Monday", " Tuesday", " Wednesday", " Thursday", " Friday", " Saturday", " Sunday")

RULES: tuple[Rule, ...] = (
    Rule("money", "single token", 'the word "money"', 'the token " money" (10)', tokens({" money": 1})),
    Rule("water", "single token", 'the word "water"', 'the token " water" (10)', tokens({" water": 1})),
    Rule("colours", "token set", "colour words such as red, blue, green, black, white, yellow",
         _each(COLOURS), tokens(dict.fromkeys(COLOURS, 1.0))),
    Rule("family", "token set", "family members: mother, father, brother, sister, son, daughter, wife, husband",
         _each(FAMILY), tokens(dict.fromkeys(FAMILY, 1.0))),
    Rule("after-I", "previous token", 'whatever word comes right after "I" (the verb in "I am", "I think")',
         'any token (10); only after " I"', after(" I")),
    Rule("the-world", "token after a given token", '"world" only in the phrase "the world", not in "this world" or "a world"',
         'the token " world" (10); only after " the"', after(" the", " world")),
    Rule("new-york", "two-token phrase", 'the phrase "New York" (on "York")',
         'the token " York" (10); only after " New"', after(" New", " York")),
    Rule("numbers", "token class", "digits and numbers", "numbers (10)", token_class("number")),
    Rule("capitalised", "token class", "capitalised words", "capitalized words (10)", token_class("capitalized")),
    Rule("close-bracket", "token class", "closing brackets and parentheses", "closing brackets (10)", token_class("close_bracket")),
    Rule("text-start", "position", "the first four tokens of every text, whatever they are",
         "the first 4 tokens of the text (10)", first_positions(4)),
    Rule("position-ramp", "position (graded)", "every token, more strongly the later it comes in the text",
         "rising with position, full at token 64 (10)", position_ramp(64)),
    Rule("know-unless-not", "negation-gated", '"know", except when it is negated ("not know", "don\'t know")',
         'the token " know" (10); unless after " not"; unless after "\'t"', unless_after(" know", (" not", "'t"))),
    Rule("love-or-question", "polysemantic OR", 'two unrelated things: the word "love", and question marks',
         'the tokens " love" (10), "?" (10)', tokens({" love": 1, "?": 1})),
    Rule("punctuation-graded", "graded", 'sentence punctuation, graded: strongest on "!", half as strong on ".", weakest on ","',
         'the tokens "!" (10), "." (5), "," (2.5)', tokens({"!": 1, ".": 0.5, ",": 0.25})),
    Rule("long-words", "graded", "long words: nothing under 7 letters, stronger the longer the word, full strength at 12 letters",
         None, word_length(7, 12), note="the builtin grammar has no word-length condition (only token lists)"),
    Rule("ing-suffix", "token class (suffix)", 'words and word pieces ending in "-ing"', 'words ending in "ing" (10)',
         suffix("ing")),
    Rule("einstein", "rare", 'the name "Einstein"', 'the token " Einstein" (10)', tokens({" Einstein": 1})),
    Rule("weekdays", "rare", "days of the week (Monday to Sunday)", _each(WEEKDAYS), tokens(dict.fromkeys(WEEKDAYS, 1.0))),
)


def jitter(ids: np.ndarray, rule: str) -> np.ndarray:
    """Deterministic noise in [-NOISE, NOISE] from (rule, previous id, id): the same text always reads the same."""
    salt = np.uint64(zlib.crc32(rule.encode()))
    mixed = (ids.astype(np.uint64) * np.uint64(2654435761) + (_previous(ids) + 1).astype(np.uint64) * np.uint64(40503)
             + salt) % np.uint64(10007)
    return (mixed.astype(np.float64) / 10006 * 2 - 1) * NOISE
