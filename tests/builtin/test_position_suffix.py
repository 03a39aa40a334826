"""The builtin grammar's position and suffix terms: written, read back, simulated, and found in evidence."""

from __future__ import annotations

import numpy as np

from tools.builtin.evidence import TokenEvidence, dominant_suffix, first_positions, rising_position
from tools.builtin.explainer import explanations_from_evidence
from tools.builtin.grammar import Position, StructuredExplanation, Suffix, parse, render
from tools.builtin.simulator import BuiltinSimulator
from tools.builtin.vocab import VocabIndex

PIECES = [" the", " going", " being", "ing", " sing", " cat", " dog", ".", " Going", " king"]


def test_position_and_suffix_terms_round_trip() -> None:
    structure = StructuredExplanation(suffixes=[Suffix("ing", 10.0)], positions=[Position("first", 3, 7.0), Position("rising", 64, 5.0)])
    text = render(structure)
    assert text == 'words ending in "ing" (10); the first 3 tokens of the text (7); rising with position, full at token 64 (5)'
    back = parse(text)
    assert back.suffixes == structure.suffixes and back.positions == structure.positions
    # The suffix's quoted ending is not also read as a literal token, nor are the position words.
    assert back.literals == [] and back.classes == []


def test_simulator_applies_suffix_and_position_terms() -> None:
    simulator = BuiltinSimulator(VocabIndex(PIECES, None))
    tokens = [" the", " going", " cat", " Going", " king", "."]
    assert simulator.predict('words ending in "ing" (10)', tokens).tolist() == [0, 10, 0, 10, 10, 0]
    assert simulator.predict("the first 2 tokens of the text (8)", tokens).tolist() == [8, 8, 0, 0, 0, 0]
    rising = simulator.predict("rising with position, full at token 4 (10)", tokens)
    np.testing.assert_allclose(rising, [0, 2.5, 5, 7.5, 10, 10])


def test_evidence_finds_position_and_suffix_neurons() -> None:
    rng = np.random.default_rng(0)
    start, ramp = TokenEvidence(), TokenEvidence()
    for _ in range(12):
        tokens = [PIECES[i] for i in rng.integers(0, len(PIECES), 32)]
        start.add(tokens, [1.0 if p < 3 else 0.01 * rng.random() for p in range(32)])
        ramp.add(tokens, [p / 32 + 0.01 * rng.random() for p in range(32)])
    assert first_positions(start) == 3 and rising_position(start) is None
    assert rising_position(ramp) == 32 and first_positions(ramp) is None
    assert "the first 3 tokens of the text (10)" in explanations_from_evidence(start, 5)
    peaks = [("", w, 1.0) for w in (" going", " being", " sing", " king", " Going", " cat")]
    assert dominant_suffix(peaks) == "ing"
    assert dominant_suffix([("", " cat", 1.0), ("", " dog", 1.0), ("", " the", 1.0)]) is None
    # A closed set that shares an ending, each member peaking again and again, stays a token list.
    days = [("", d, 1.0) for d in (" Monday", " Friday", " Sunday", " Tuesday")] * 3
    assert dominant_suffix(days) is None
