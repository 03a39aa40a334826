"""Planted neurons: known rules over a token sequence, each with its ground truth in words.

A rule maps the token ids of one text to one activation per token. Every rule is causal (the value
at token i depends only on tokens 0..i), as a real decoder's neurons are, and deterministic, so a
probe re-run on the same text reads the same values. Each rule computes its activations from its
own definitions in this file, never from the builtin backend's classes or explanation language, so
the benchmark never measures the builtin in its own terms. The ground truth is `description`, what a
person would write; every simulator reads it. `note` says when a rule is known to lie beyond the
builtin explanation language (graded word length, the second word of a sentence): such rules run and
are reported like the others.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

NOISE = 0.005
"""Half-width of the deterministic jitter added to every value, so no rule is a perfect step."""

Fire = Callable[[np.ndarray], np.ndarray]
"""Token ids of one text (1-D int array) -> activation per token (1-D float array, before jitter)."""

SENTENCE_END = (".", "!", "?")


def _plain(piece: str) -> str:
    return piece.strip().lower()


class TokenTable:
    """Per-vocabulary facts the rules read, each defined here: decoded pieces, a few word classes, structure."""

    def __init__(self, pieces: Sequence[str]) -> None:
        self.pieces = list(pieces)
        self.size = len(self.pieces)
        self._ids = {p: i for i, p in reversed(list(enumerate(self.pieces)))}
        stripped = [p.strip() for p in self.pieces]
        self.classes = {
            "number": np.array([bool(s) and s.replace(",", "").replace(".", "").isdigit() for s in stripped]),
            "capitalized": np.array([bool(s) and s[0].isupper() and s.isalpha() for s in stripped]),
            "close_bracket": np.array([bool(s) and all(ch in ")]}" for ch in s) for s in stripped]),
        }
        self.word_letters = np.array(
            [len(p) - 1 if p[:1] == " " and p[1:].isalpha() else 0 for p in self.pieces], dtype=np.float64
        )
        self.paren_delta = np.array([p.count("(") - p.count(")") for p in self.pieces], dtype=np.int64)
        self.starts_word = np.array([p[:1] == " " and p[1:2].isalnum() for p in self.pieces])
        self.ends_sentence = np.array(
            ["\n" in p or s.rstrip(")'\"").endswith(SENTENCE_END) for p, s in zip(self.pieces, stripped, strict=True)])

    def id_of(self, piece: str) -> int:
        """The id of a piece that must be a single token of the vocabulary."""
        if piece not in self._ids:
            raise KeyError(f"{piece!r} is not a single token of this vocabulary")
        return self._ids[piece]

    def variants(self, word: str) -> np.ndarray:
        """Ids of every piece equal to `word` ignoring case and surrounding space."""
        key = _plain(word)
        return np.array([i for i, p in enumerate(self.pieces) if _plain(p) == key])

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
    build: Callable[[TokenTable], Fire]
    note: str = ""
    """What the builtin explanation language is known to lack for this rule, if anything."""


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


def after_any(previous: Sequence[str], piece: str) -> Callable[[TokenTable], Fire]:
    """Fires on `piece` only right after one of the words `previous` (any case, with or without a space)."""

    def build(table: TokenTable) -> Fire:
        prev_ids = np.concatenate([table.variants(p) for p in previous])
        piece_id = table.id_of(piece)
        return lambda ids: ((ids == piece_id) & np.isin(_previous(ids), prev_ids)).astype(np.float64)

    return build


def inside_parentheses() -> Callable[[TokenTable], Fire]:
    """Every token after an opening parenthesis that is not closed yet."""

    def build(table: TokenTable) -> Fire:
        def fire(ids: np.ndarray) -> np.ndarray:
            depth_before = np.concatenate([[0], np.cumsum(table.paren_delta[ids])[:-1]])
            return (depth_before > 0).astype(np.float64)

        return fire

    return build


def second_word() -> Callable[[TokenTable], Fire]:
    """The tokens of each sentence's second word (a sentence starts the text or follows . ! ? or a line break)."""

    def build(table: TokenTable) -> Fire:
        def fire(ids: np.ndarray) -> np.ndarray:
            out = np.zeros(len(ids))
            word = 0
            for i, token in enumerate(ids.tolist()):
                if i == 0 or table.ends_sentence[ids[i - 1]]:
                    word = 1
                elif table.starts_word[token]:
                    word += 1
                out[i] = float(word == 2)
            return out

        return fire

    return build


COLOURS = (" red", " blue", " green", " black", " white", " yellow", " brown", " grey", " gray", " pink", " purple", " orange")
FAMILY = (" mother", " father", " brother", " sister", " son", " daughter", " wife", " husband")
WEEKDAYS = (" Monday", " Tuesday", " Wednesday", " Thursday", " Friday", " Saturday", " Sunday")

RULES: tuple[Rule, ...] = (
    Rule("money", "single token", 'the word "money"', tokens({" money": 1})),
    Rule("water", "single token", 'the word "water"', tokens({" water": 1})),
    Rule("colours", "token set", "colour words such as red, blue, green, black, white, yellow", tokens(dict.fromkeys(COLOURS, 1.0))),
    Rule("family", "token set", "family members: mother, father, brother, sister, son, daughter, wife, husband",
         tokens(dict.fromkeys(FAMILY, 1.0))),
    Rule("after-I", "previous token", 'whatever word comes right after "I" (the verb in "I am", "I think")', after(" I")),
    Rule("the-world", "token after a given token", '"world" only in the phrase "the world", not in "this world" or "a world"',
         after(" the", " world")),
    Rule("new-york", "two-token phrase", 'the phrase "New York" (on "York")', after(" New", " York")),
    Rule("more-than", "token after given tokens", '"than" after "more" or "less" (not in "rather than", "other than")',
         after_any((" more", " less"), " than")),
    Rule("numbers", "token class", "digits and numbers", token_class("number")),
    Rule("capitalised", "token class", "capitalised words", token_class("capitalized")),
    Rule("close-bracket", "token class", "closing brackets and parentheses", token_class("close_bracket")),
    Rule("text-start", "position", "the first four tokens of every text, whatever they are", first_positions(4)),
    Rule("position-ramp", "position (graded)", "every token, more strongly the later it comes in the text", position_ramp(64)),
    Rule("inside-parens", "structure", "every token inside parentheses", inside_parentheses()),
    Rule("second-word", "structure", "the second word of every sentence", second_word(),
         note="the builtin language has no position within a sentence"),
    Rule("know-unless-not", "negation-gated", '"know", except when it is negated ("not know", "don\'t know")',
         unless_after(" know", (" not", "'t"))),
    Rule("love-or-question", "polysemantic OR", 'two unrelated things: the word "love", and question marks',
         tokens({" love": 1, "?": 1})),
    Rule("punctuation-graded", "graded", 'sentence punctuation, graded: strongest on "!", half as strong on ".", weakest on ","',
         tokens({"!": 1, ".": 0.5, ",": 0.25})),
    Rule("long-words", "graded", "long words: nothing under 7 letters, stronger the longer the word, full strength at 12 letters",
         word_length(7, 12), note="the builtin language has no word-length condition"),
    Rule("ing-suffix", "token class (suffix)", 'words and word pieces ending in "-ing"', suffix("ing")),
    Rule("einstein", "rare", 'the name "Einstein"', tokens({" Einstein": 1})),
    Rule("weekdays", "rare", "days of the week (Monday to Sunday)", tokens(dict.fromkeys(WEEKDAYS, 1.0))),
)


def jitter(ids: np.ndarray, rule: str) -> np.ndarray:
    """Deterministic noise in [-NOISE, NOISE] from (rule, previous id, id): the same text always reads the same."""
    salt = np.uint64(zlib.crc32(rule.encode()))
    mixed = (ids.astype(np.uint64) * np.uint64(2654435761) + (_previous(ids) + 1).astype(np.uint64) * np.uint64(40503)
             + salt) % np.uint64(10007)
    return (mixed.astype(np.float64) / 10006 * 2 - 1) * NOISE
