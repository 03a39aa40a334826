"""The explanation language the builtin backend writes and its simulator reads.

An explanation is a few clauses separated by semicolons, each with an optional strength (0-10,
default 10) in parentheses at its end, e.g.

    "than" after "more" or "less" (10); forms of "direct" (6); the piece "op" in words like "opera" (4); numbers (2)

What a clause can name:
- words in quotes: `"Paris", "London"`. A quoted word means the word as a person writes it: the
  token with a leading space and the one without, in that case. A quoted text that itself begins
  with a space (`" Paris"`, the older written form) means exactly that token;
- `forms of "direct"`: every word or word piece containing the stem (for stems under 4 letters,
  starting with it), in any case;
- `the piece "op" in words like "opera", "opinion"`: the sub-word piece in any case, at the start
  of a word or inside it; the example words are for the reader and are not matched themselves;
- `words like "red", "blue", "green"`: the examples and words similar to them (the subject's own
  token embeddings decide how similar);
- token classes (`numbers`, `capitalized words`, `punctuation`, `prepositions`, ...), word
  endings (`words ending in "ing"`), `any token`;
- a condition on the context: `after "more" or "less"` (only there), `unless after "not"`,
  `mostly after "in"` (weaker elsewhere), `after punctuation` (or another class), `at the start of
  a line`, `at the start of a sentence`, `inside parentheses`, `inside quotes`;
- position in the text: `the first 4 tokens of the text`, `rising with position, full at token 64`.
A clause that is only a condition applies to every other clause. Words of free text (an LLM's
explanation) are read as weaker, looser literals. Parsing never fails: text it does not
understand contributes nothing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Literal

DEFAULT_WEIGHT = 10.0
FREE_WORD_WEIGHT = 6.0

PositionMode = Literal["first", "rising"]
ItemKind = Literal["word", "piece", "family", "like", "class", "suffix", "free"]
ConditionKind = Literal["after", "unless_after", "mostly_after", "after_class", "line_start", "sentence_start",
                        "inside_parens", "inside_quotes"]

CLASS_LABELS: dict[str, str] = {
    "number": "numbers", "capitalized": "capitalized words", "close_bracket": "closing brackets",
    "open_bracket": "opening brackets", "punctuation": "punctuation", "newline": "line breaks", "quote": "quotes",
    "word_piece": "the middle of words", "article": "articles", "preposition": "prepositions",
    "pronoun": "pronouns", "conjunction": "conjunctions", "auxiliary": "auxiliary verbs", "negation": "negations",
    "any": "any token",
}
# keyword regex -> class name; first match wins where phrases overlap.
CLASS_KEYWORDS: tuple[tuple[str, str], ...] = (
    (r"\b(numbers?|digits?|numerals?)\b", "number"),
    (r"\bcapitali[sz]ed( words?)?\b|\bproper nouns?\b|\buppercase\b", "capitalized"),
    (r"\bclosing (brackets?|parenthes[ie]s)\b", "close_bracket"),
    (r"\bopening (brackets?|parenthes[ie]s)\b", "open_bracket"),
    (r"\bpunctuation( marks?)?\b", "punctuation"),
    (r"\b(line starts?|new ?lines?|line breaks?)\b", "newline"),
    (r"\bquot(es?|ation marks?)\b", "quote"),
    (r"\b(the )?middles? of words\b|\b(word pieces|subwords?|suffix(es)?|word endings?)\b", "word_piece"),
    (r"\barticles?\b|\bdeterminers?\b", "article"),
    (r"\bprepositions?\b", "preposition"),
    (r"\bpronouns?\b", "pronoun"),
    (r"\bconjunctions?\b", "conjunction"),
    (r"\bauxiliar(y|ies)( verbs?)?\b|\bmodal verbs?\b", "auxiliary"),
    (r"\bnegations?\b|\bnegative words?\b", "negation"),
    (r"\b(any|every) tokens?\b|\banything\b", "any"),
)
_CONDITION_CLASS_WORDS: tuple[tuple[str, str], ...] = tuple((p, n) for p, n in CLASS_KEYWORDS if n != "any")

_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"|“([^”]*)”')
_WEIGHT_END = re.compile(r"\(\s*(\d+(?:\.\d+)?)\s*\)\s*$")
_WEIGHT_AT = re.compile(r"\s*\(\s*(\d+(?:\.\d+)?)\s*\)")
_QUOTES_LIST = r'(?:"(?:[^"\\]|\\.)*"|“[^”]*”)(?:\s*(?:,|\bor\b|\band\b|/)\s*(?:"(?:[^"\\]|\\.)*"|“[^”]*”))*'
_AFTER = re.compile(r"\b(only |mostly |usually |unless |except |not )?(?:right )?(?:after|following|preceded by)\s+(?:the (?:words?|tokens?) )?(" + _QUOTES_LIST + ")", re.I)
_AFTER_MODES: dict[str, ConditionKind] = {"unless": "unless_after", "except": "unless_after", "not": "unless_after",
                                      "mostly": "mostly_after", "usually": "mostly_after"}
_AFTER_CLASS = re.compile(r"\b(only |unless |except )?(?:right )?(?:after|following|preceded by)\s+(?:an? |the )?(\w[\w ]{2,30})", re.I)
_LINE_START = re.compile(r"\b(?:at|on) the (?:start|beginning) of (?:a |the )?(?:new )?lines?\b", re.I)
_SENTENCE_START = re.compile(r"\b(?:at|on) the (?:start|beginning) of (?:a |the )?sentences?\b", re.I)
_INSIDE_PARENS = re.compile(r"\b(?:inside|within|in|between) (?:round )?(?:parenthes[ie]s|brackets)\b", re.I)
_INSIDE_QUOTES = re.compile(r"\b(?:inside|within|in|between) (?:quotes|quotation marks)\b", re.I)
_FAMILY = re.compile(r"\b(?:forms|variants|inflections) of\s+(" + _QUOTES_LIST + ")", re.I)
_PIECE = re.compile(r"\b(?:the )?(?:word )?pieces?\s+(" + _QUOTES_LIST + r")(?:\s+(?:at the start of or )?(?:in|inside) (?:words|tokens)(?: like\s+(?:" + _QUOTES_LIST + r"|[\w ,]+))?)?", re.I)
_LIKE = re.compile(r"\b(?:words|tokens|things|names) (?:like|such as)\s+(" + _QUOTES_LIST + ")", re.I)
_SUFFIX = re.compile(r'\b(?:words? |tokens? )?ending in\s+(' + _QUOTES_LIST + ")", re.I)
_FIRST = re.compile(r"\b(?:in )?(?:the )?first (\d+) tokens?(?: of (?:the|each|every|a) (?:text|excerpt))?", re.I)
_RISING = re.compile(r"\brising with position,? full at token (\d+)", re.I)
_STOPWORDS = frozenset(
    """a an and are as at be by for from has have in into is it its of on or that the their this to was were
    which with word words token tokens text texts neuron neurons main thing does find finds finding fires fire
    activates activate mostly mainly especially often usually also other such like related various
    certain specific particular context contexts mention mentions mentioning about when where before after
    following preceded appear appears appearing used use uses sentence sentences phrase phrases
    weak weaker weakly strong stronger strongly most more less forms form piece pieces only unless except""".split()
)


@dataclass(frozen=True)
class Item:
    """What a clause fires on. `values` are quoted texts, stems, class names or free words."""

    kind: ItemKind
    values: tuple[str, ...]
    weights: tuple[float | None, ...] = ()
    """Per-value strengths written right after a value (`"a" (10), "b" (6)`); None = the clause's."""
    examples: tuple[str, ...] = ()
    """Words shown to the reader (`the piece "op" in words like "opera"`); never matched themselves."""


@dataclass(frozen=True)
class Condition:
    """Where in the text a clause applies: previous token, structure around the token."""

    kind: ConditionKind
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class Position:
    """Where a token sits in its text: `first` = positions below `n`; `rising` = weight * min(1, position / n)."""

    mode: PositionMode
    n: int
    weight: float


@dataclass
class Clause:
    items: list[Item] = field(default_factory=list)
    conditions: list[Condition] = field(default_factory=list)
    weight: float = DEFAULT_WEIGHT


@dataclass
class Explanation:
    clauses: list[Clause] = field(default_factory=list)
    positions: list[Position] = field(default_factory=list)
    conditions: list[Condition] = field(default_factory=list)
    """Conditions that stand alone in their clause: they apply to every clause."""

    def items(self) -> list[Item]:
        return [item for clause in self.clauses for item in clause.items]


def _unquote(raw: str) -> str:
    if raw.startswith("“"):
        return raw[1:-1]
    try:
        return str(json.loads(raw))
    except json.JSONDecodeError:
        return raw[1:-1]


def _quoted(text: str) -> list[str]:
    return [_unquote(m.group(0)) for m in _QUOTED.finditer(text) if len(m.group(0)) > 2]


def _split_clauses(text: str) -> list[str]:
    """Split at semicolons outside quotes."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == ";" and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def _blank(text: str, span: tuple[int, int]) -> str:
    start, end = span
    return text[:start] + " " * (end - start) + text[end:]


def _clamp(value: str) -> float:
    return max(0.0, min(10.0, float(value)))


def _condition_class(words: str) -> str | None:
    for pattern, name in _CONDITION_CLASS_WORDS:
        if re.match(r"\s*" + pattern, words, flags=re.I):
            return name
    return None


def _read_conditions(text: str) -> tuple[list[Condition], str]:
    found: list[Condition] = []
    for match in list(_AFTER.finditer(text)):
        mode = (match.group(1) or "").strip().lower()
        kind = _AFTER_MODES.get(mode, "after")
        found.append(Condition(kind, tuple(_quoted(match.group(2)))))
        text = _blank(text, match.span())
    structure: tuple[tuple[re.Pattern[str], ConditionKind], ...] = (
        (_LINE_START, "line_start"), (_SENTENCE_START, "sentence_start"),
        (_INSIDE_PARENS, "inside_parens"), (_INSIDE_QUOTES, "inside_quotes"))
    for regex, structural in structure:
        for match in list(regex.finditer(text)):
            found.append(Condition(structural))
            text = _blank(text, match.span())
    for match in list(_AFTER_CLASS.finditer(text)):
        name = _condition_class(match.group(2))
        if name is not None:
            negated = (match.group(1) or "").strip().lower() in ("unless", "except")
            found.append(Condition("unless_after" if negated else "after_class", (name,)) if not negated
                         else Condition("unless_after", (f"class:{name}",)))
            text = _blank(text, match.span())
    return found, text


def _read_items(text: str) -> tuple[list[Item], list[Position], str]:
    items: list[Item] = []
    positions: list[Position] = []
    listed: tuple[tuple[re.Pattern[str], ItemKind], ...] = (
        (_FAMILY, "family"), (_PIECE, "piece"), (_LIKE, "like"), (_SUFFIX, "suffix"))
    for regex, kind in listed:
        for match in list(regex.finditer(text)):
            items.append(Item(kind, tuple(_quoted(match.group(1)))))
            text = _blank(text, match.span())
    ordinal: tuple[tuple[re.Pattern[str], PositionMode], ...] = ((_FIRST, "first"), (_RISING, "rising"))
    for regex, mode in ordinal:
        for match in list(regex.finditer(text)):
            tail = _WEIGHT_AT.match(text, match.end())
            if int(match.group(1)) > 0:
                positions.append(Position(mode, int(match.group(1)), _clamp(tail.group(1)) if tail else DEFAULT_WEIGHT))
            text = _blank(text, (match.start(), tail.end() if tail else match.end()))
    quoted = list(_QUOTED.finditer(text))
    if quoted:
        values, weights = [], []
        for match in quoted:
            value = _unquote(match.group(0))
            tail = _WEIGHT_AT.match(text, match.end())
            if value:
                values.append(value)
                weights.append(_clamp(tail.group(1)) if tail else None)
        for match in reversed(quoted):
            tail = _WEIGHT_AT.match(text, match.end())
            text = _blank(text, (match.start(), tail.end() if tail else match.end()))
        if values:
            items.append(Item("word", tuple(values), tuple(weights)))
    for pattern, name in CLASS_KEYWORDS:
        keyword = re.search(pattern, text, flags=re.I)
        if keyword is not None:
            items.append(Item("class", (name,)))
            text = _blank(text, keyword.span())
    return items, positions, text


def parse(text: str) -> Explanation:
    """Read any explanation text into the structure the builtin simulator predicts from."""
    out = Explanation()
    free: list[str] = []
    for raw in _split_clauses(text):
        weight = DEFAULT_WEIGHT
        tail = _WEIGHT_END.search(raw)
        if tail is not None:
            weight = _clamp(tail.group(1))
            raw = raw[: tail.start()]
        conditions, rest = _read_conditions(raw)
        items, positions, rest = _read_items(rest)
        for position in positions:
            # A lone position clause carries its strength at the clause's end.
            out.positions.append(Position(position.mode, position.n, weight) if not items and tail is not None else position)
        if items:
            out.clauses.append(Clause(items, conditions, weight))
        elif conditions:
            out.conditions.extend(conditions)
        free += [w for w in re.findall(r"[A-Za-z][A-Za-z'-]{2,}", rest) if w.lower() not in _STOPWORDS]
    if free and not out.clauses:
        out.clauses.append(Clause([Item("free", tuple(dict.fromkeys(free)))], [], FREE_WORD_WEIGHT))
    return out


def _quote(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _quotes(values: tuple[str, ...], joiner: str = ", ") -> str:
    return joiner.join(_quote(v) for v in values)


def render_item(item: Item) -> str:
    if item.kind == "word":
        parts = [_quote(v) + (f" ({w:g})" if w is not None else "") for v, w in zip(item.values, item.weights or (None,) * len(item.values), strict=True)]
        return ", ".join(parts)
    if item.kind == "family":
        return f"forms of {_quotes(item.values, ' or ')}"
    if item.kind == "piece":
        where = f"in words like {_quotes(item.examples)}" if item.examples else "inside words"
        return f"the piece{'s' if len(item.values) > 1 else ''} {_quotes(item.values, ' or ')} {where}"
    if item.kind == "like":
        return f"words like {_quotes(item.values)}"
    if item.kind == "suffix":
        return f"words ending in {_quotes(item.values, ' or ')}"
    if item.kind == "class":
        return " or ".join(CLASS_LABELS[v] for v in item.values)
    return " ".join(item.values)


def render_condition(condition: Condition) -> str:
    kind = condition.kind
    if kind in ("after", "unless_after", "mostly_after"):
        prefix = {"after": "after", "unless_after": "unless after", "mostly_after": "mostly after"}[kind]
        named = [CLASS_LABELS[v.removeprefix("class:")] if v.startswith("class:") else _quote(v) for v in condition.values]
        return f"{prefix} {' or '.join(named)}"
    if kind == "after_class":
        return f"after {' or '.join(CLASS_LABELS[v] for v in condition.values)}"
    return {"line_start": "at the start of a line", "sentence_start": "at the start of a sentence",
            "inside_parens": "inside parentheses", "inside_quotes": "inside quotes"}[kind]


def render_clause(clause: Clause) -> str:
    text = ", ".join(render_item(i) for i in clause.items)
    if clause.conditions:
        text += " " + " ".join(render_condition(c) for c in clause.conditions)
    return f"{text} ({clause.weight:g})"


def render(explanation: Explanation) -> str:
    """The written form, clauses in the order given."""
    parts = [render_clause(c) for c in explanation.clauses]
    for pos in explanation.positions:
        where = f"the first {pos.n} tokens of the text" if pos.mode == "first" else f"rising with position, full at token {pos.n}"
        parts.append(f"{where} ({pos.weight:g})")
    parts.extend(render_condition(c) for c in explanation.conditions)
    return "; ".join(parts) if parts else "nothing recognizable"
