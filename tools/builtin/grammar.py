"""The explanation grammar shared by the builtin explainer (which writes it) and simulator (which reads it).

Written form, e.g.:
    the tokens " Paris" (10), " London" (6); numbers (3); mostly after " in"
- a quoted string is a literal token (JSON string escapes), optionally followed by a weight (1-10);
- a token-class keyword (numbers, capitalized words, punctuation, ...) optionally with a weight;
- `after "X"` gates predictions on the previous token being X (`only after`: hard gate,
  `mostly after`/`after`: soft), `unless after "X"` suppresses them after X;
- `words ending in "X"` (a suffix), optionally with a weight;
- position in the text: `the first N tokens of the text` (every token before position N), and
  `rising with position, full at token N` (weight grows linearly from the first token to token N);
- any other content word of free text is a weaker literal (LLM-written explanations).
Parsing never fails: text it does not understand simply contributes nothing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

DEFAULT_LITERAL_WEIGHT = 10.0
FREE_WORD_WEIGHT = 6.0

# keyword regex -> class name; order matters (first match wins for overlapping phrases).
CLASS_KEYWORDS: tuple[tuple[str, str], ...] = (
    (r"\b(numbers?|digits?|numerals?)\b", "number"),
    (r"\bcapitali[sz]ed( words?)?\b|\bproper nouns?\b|\buppercase\b", "capitalized"),
    (r"\bclosing (brackets?|parenthes[ie]s)\b", "close_bracket"),
    (r"\bopening (brackets?|parenthes[ie]s)\b", "open_bracket"),
    (r"\bpunctuation\b", "punctuation"),
    (r"\b(line starts?|new ?lines?|line breaks?)\b", "newline"),
    (r"\bquot(es?|ation marks?)\b", "quote"),
    (r"\b(word pieces|subwords?|suffix(es)?|word endings?)\b", "word_piece"),
    (r"\b(any|every) tokens?\b", "any"),
)
CLASS_LABELS = {
    "number": "numbers", "capitalized": "capitalized words", "close_bracket": "closing brackets",
    "open_bracket": "opening brackets", "punctuation": "punctuation", "newline": "line breaks", "quote": "quotes",
    "word_piece": "word pieces", "any": "any token",
}
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"|“([^”]*)”|\'([^\'\n]{1,40})\'')
_WEIGHT = re.compile(r"\s*\((\d+(?:\.\d+)?)\)")
_CONTEXT = re.compile(r"\b(unless|except|not|only|mostly|usually)?\s*(?:after|following|preceded by)\s+", re.IGNORECASE)
_SUFFIX = re.compile(r'\b(?:words? |tokens? )?ending in "((?:[^"\\]|\\.)+)"(\s*\((\d+(?:\.\d+)?)\))?', re.IGNORECASE)
_FIRST = re.compile(r"\b(?:the )?first (\d+) tokens?(?: of (?:the|each|every) (?:text|excerpt))?", re.IGNORECASE)
_RISING = re.compile(r"\brising with position,? full at token (\d+)", re.IGNORECASE)
_STOPWORDS = frozenset(
    """a an and are as at be by for from has have in into is it its of on or that the their this to was were
    which with word words token tokens text texts neuron neurons main thing does find finds finding fires fire
    activates activate mostly mainly especially often usually also other such like related various
    certain specific particular context contexts mention mentions mentioning about when where before after
    following preceded appear appears appearing used use uses sentence sentences phrase phrases""".split()
)


@dataclass(frozen=True)
class Literal:
    text: str
    weight: float
    quoted: bool = True


@dataclass(frozen=True)
class TokenClass:
    name: str
    weight: float


@dataclass(frozen=True)
class Context:
    """A condition on the previous token: `mode` is 'only', 'mostly' or 'unless'."""

    previous: tuple[str, ...]
    mode: str


@dataclass(frozen=True)
class Suffix:
    """Whole words and word pieces (letters only) ending in `ending`, any case."""

    ending: str
    weight: float


@dataclass(frozen=True)
class Position:
    """Where a token sits in its text: `first` = positions below `n`; `rising` = weight * min(1, position / n)."""

    mode: str
    n: int
    weight: float


@dataclass
class StructuredExplanation:
    literals: list[Literal] = field(default_factory=list)
    classes: list[TokenClass] = field(default_factory=list)
    contexts: list[Context] = field(default_factory=list)
    suffixes: list[Suffix] = field(default_factory=list)
    positions: list[Position] = field(default_factory=list)


def _unquote(match: re.Match[str]) -> str:
    if match.group(1) is not None:
        try:
            return str(json.loads(f'"{match.group(1)}"'))
        except json.JSONDecodeError:
            return match.group(1)
    return match.group(2) if match.group(2) is not None else match.group(3)


def _weight_of(match: re.Match[str] | None) -> float:
    return max(0.0, min(10.0, float(match.group(1)))) if match else DEFAULT_LITERAL_WEIGHT


def parse(text: str) -> StructuredExplanation:
    """Read any explanation text into the structure the builtin simulator predicts from."""
    out = StructuredExplanation()
    # Suffixes quote their ending: take them out before quoted strings are read as literal tokens.
    for match in _SUFFIX.finditer(text):
        weight = float(match.group(3)) if match.group(3) else DEFAULT_LITERAL_WEIGHT
        out.suffixes.append(Suffix(_unquote(match), max(0.0, min(10.0, weight))))
    text = _blank(text, [m.span() for m in _SUFFIX.finditer(text)])
    consumed: list[tuple[int, int]] = []
    context_spans = [(m.start(), m.end(), (m.group(1) or "").lower()) for m in _CONTEXT.finditer(text)]
    for match in _QUOTED.finditer(text):
        literal = _unquote(match)
        if not literal:
            continue
        start, end = match.span()
        governing = next((c for c in context_spans if c[1] == start or text[c[1]:start].strip(" ,") == ""), None)
        if governing is not None and governing[1] <= start:
            mode = {"unless": "unless", "except": "unless", "not": "unless", "only": "only"}.get(governing[2], "mostly")
            out.contexts.append(Context((literal,), mode))
            consumed.append((governing[0], end))
            continue
        weight = DEFAULT_LITERAL_WEIGHT
        tail = _WEIGHT.match(text, end)
        if tail:
            weight = max(0.0, min(10.0, float(tail.group(1))))
            end = tail.end()
        out.literals.append(Literal(literal, weight))
        consumed.append((start, end))
    rest = _blank(text, consumed)
    for regex, mode in ((_FIRST, "first"), (_RISING, "rising")):
        for match in list(regex.finditer(rest)):
            tail = _WEIGHT.match(rest, match.end())
            if int(match.group(1)) > 0:
                out.positions.append(Position(mode, int(match.group(1)), _weight_of(tail)))
            rest = _blank(rest, [(match.start(), tail.end() if tail else match.end())])
    for pattern, name in CLASS_KEYWORDS:
        match = re.search(pattern, rest, flags=re.IGNORECASE)
        if match is None:
            continue
        tail = _WEIGHT.match(rest, match.end())
        weight = max(0.0, min(10.0, float(tail.group(1)))) if tail else DEFAULT_LITERAL_WEIGHT * 0.6
        out.classes.append(TokenClass(name, weight))
        rest = _blank(rest, [(match.start(), tail.end() if tail else match.end())])
    if not out.literals:
        for word in re.findall(r"[A-Za-z][A-Za-z'-]{2,}", rest):
            if word.lower() not in _STOPWORDS:
                out.literals.append(Literal(word, FREE_WORD_WEIGHT, quoted=False))
    return out


def _blank(text: str, spans: list[tuple[int, int]]) -> str:
    chars = list(text)
    for start, end in spans:
        for i in range(start, min(end, len(chars))):
            chars[i] = " "
    return "".join(chars)


def render(explanation: StructuredExplanation) -> str:
    """The readable form, e.g. `the tokens " Paris" (10), " London" (6); numbers (3); mostly after " in"`."""
    parts: list[str] = []
    if explanation.literals:
        items = ", ".join(f"{json.dumps(lit.text, ensure_ascii=False)} ({lit.weight:g})" for lit in explanation.literals)
        parts.append(f"the token{'s' if len(explanation.literals) > 1 else ''} {items}")
    parts.extend(f"{CLASS_LABELS[c.name]} ({c.weight:g})" for c in explanation.classes)
    parts.extend(f"words ending in {json.dumps(s.ending, ensure_ascii=False)} ({s.weight:g})" for s in explanation.suffixes)
    for pos in explanation.positions:
        where = f"the first {pos.n} tokens of the text" if pos.mode == "first" else f"rising with position, full at token {pos.n}"
        parts.append(f"{where} ({pos.weight:g})")
    for ctx in explanation.contexts:
        quoted = " or ".join(json.dumps(p, ensure_ascii=False) for p in ctx.previous)
        parts.append(f"{'unless' if ctx.mode == 'unless' else ctx.mode} after {quoted}")
    return "; ".join(parts) if parts else "nothing recognizable"
