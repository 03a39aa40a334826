"""Builders of scripted simulator answers for the loopback server: chat re-emissions and prompt echoes."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

from bench.support.chat_server import Answer, Echo
from tools.prompting import escape_token
from tools.simulators.rendering import PLACEHOLDER

Piece = tuple[str, float, list[tuple[str, float]]]
"""One generated token as the chat server scripts it: (text, logprob, top alternatives)."""


def plain(text: str) -> Piece:
    """A generated token that is certain (no value slot)."""
    return (text, 0.0, [(text, 0.0)])


def slot(written: str, probabilities: Mapping[str, float]) -> Piece:
    """A generated value token with its top candidates given as probabilities."""
    return (
        written,
        math.log(probabilities[written]),
        [(text, math.log(p)) for text, p in probabilities.items()],
    )


def record(number: int, lines: Sequence[tuple[str, Sequence[Piece]]]) -> list[Piece]:
    """A re-emitted record block: per line, the token as written (escaped here) and its value pieces."""
    pieces = [plain(f"<record {number}>"), plain("\n")]
    for token, value in lines:
        pieces += [plain(escape_token(token)), plain("\t"), *value, plain("\n")]
    return [*pieces, plain(f"</record {number}>")]


def certain(value: int) -> list[Piece]:
    """The value pieces of a slot where the model is sure of `value` (a one-token "10")."""
    return [slot(str(value), {str(value): 1.0})]


def answer(*blocks: list[Piece], finish_reason: str = "stop") -> Answer:
    pieces = [piece for i, block in enumerate(blocks) for piece in ([plain("\n")] if i else []) + block]
    return Answer(
        content="".join(text for text, _, _ in pieces), logprobs=pieces, finish_reason=finish_reason
    )


_PIECE = re.compile(r" ?[A-Za-z]+| ?[0-9]| ?[^\sA-Za-z0-9]+|\s")


def toy_tokenize(text: str) -> list[str]:
    """Words, digits and punctuation with an optional leading space; each other whitespace char alone."""
    pieces = _PIECE.findall(text)
    assert "".join(pieces) == text
    return pieces


def echo(pieces: Sequence[str], tops: Sequence[Mapping[str, float]], bos: str = "<s>") -> Echo:
    """The server's echo of a prompt tokenized as `pieces`: the i-th placeholder (a token right
    after a tab) gets the i-th of `tops` as its candidates (probabilities)."""
    tokens: list[tuple[str, float | None, Mapping[str, float]]] = [(bos, None, {})]
    remaining = iter(tops)
    for index, piece in enumerate(pieces):
        top: Mapping[str, float] = {}
        if index and pieces[index - 1] == "\t" and piece == PLACEHOLDER:
            top = {text: math.log(p) for text, p in next(remaining).items()}
        tokens.append((piece, -1.0, top))
    return Echo(tokens=[*tokens, (" done", -1.0, {})])
