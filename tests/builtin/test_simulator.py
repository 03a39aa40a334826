"""The builtin simulator reads every clause kind as the grammar documents it, on a small vocabulary."""

from __future__ import annotations

import numpy as np

from tools.builtin.simulator import BuiltinSimulator
from tools.builtin.vocab import VocabIndex

PIECES = [" the", " more", " less", " than", "than", " rather", " direct", " directly", " Indirect", "op", " op", "era",
          " (", ")", " know", " not", "'t", " don", ".", "\n", " I", " am", " Ein", "stein", " Paris", "Paris", " 3", "4",
          " in", " red", " blue", " table", " going", "ing", ' "', " of"]


def simulator(embeddings: np.ndarray | None = None) -> BuiltinSimulator:
    return BuiltinSimulator(VocabIndex(PIECES, embeddings))


def predict(text: str, tokens: list[str], embeddings: np.ndarray | None = None) -> list[float]:
    return simulator(embeddings).predict(text, tokens).tolist()


def test_words_pieces_families_and_words_of_several_pieces() -> None:
    tokens = [" Paris", "Paris", " the", " directly", " Indirect", " op", "op", "era", " Ein", "stein", " the"]
    assert predict('"Paris" (10)', tokens)[:3] == [10, 10, 0]
    assert predict('" Paris" (10)', tokens)[:3] == [10, 0, 0]  # a leading space means that token exactly
    assert predict('forms of "direct" (6)', tokens)[3:5] == [6, 6]
    assert predict('the piece "op" inside words (4)', tokens)[5:8] == [4, 4, 0]
    assert predict('"Einstein" (9)', tokens)[8:] == [9, 9, 0]


def test_classes_suffixes_and_positions() -> None:
    tokens = [" 3", " going", " of", " the", "4", "ing"]
    assert predict("numbers (5)", tokens) == [5, 0, 0, 0, 5, 0]
    assert predict('words ending in "ing" (8)', tokens) == [0, 8, 0, 0, 0, 8]
    assert predict("prepositions (7); articles (2)", tokens) == [0, 0, 7, 2, 0, 0]
    assert predict("the first 2 tokens of the text (8)", tokens) == [8, 8, 0, 0, 0, 0]
    np.testing.assert_allclose(predict("rising with position, full at token 4 (10)", tokens[:5]), [0, 2.5, 5, 7.5, 10])


def test_context_conditions() -> None:
    tokens = [" more", " than", " rather", " than", " (", " know", " not", " know", ")", ".", " I", " am", "\n", " the"]
    assert predict('"than" after "more" or "less" (10)', tokens)[:4] == [0, 10, 0, 0]
    assert predict('"know" unless after "not" (8)', tokens)[5:8] == [8, 0, 0]
    assert predict("any token inside parentheses (7)", tokens)[4:10] == [0, 7, 7, 7, 7, 0]
    assert predict("any token at the start of a sentence (5)", tokens)[9:11] == [0, 5]
    assert predict("any token at the start of a line (5)", tokens)[12:] == [0, 5]
    assert predict("any token after punctuation (6)", tokens)[10:12] == [6, 0]
    assert predict('any token (10); only after " I"', tokens)[10:12] == [0, 10]
    # A condition alone in its clause applies to every clause; `mostly` keeps a quarter elsewhere.
    assert predict('"than" (8); mostly after "more"', tokens)[:4] == [0, 8, 0, 2]


def test_words_like_generalize_through_the_embeddings() -> None:
    rng = np.random.default_rng(0)
    embeddings = rng.normal(size=(len(PIECES), 16))
    colour = rng.normal(size=16)
    for piece in (" red", " blue"):
        embeddings[PIECES.index(piece)] = colour + 0.1 * rng.normal(size=16)
    values = predict('words like "red" (10)', [" red", " blue", " table"], embeddings)
    assert values[0] == 10 and values[1] > 8 and values[2] == 0
