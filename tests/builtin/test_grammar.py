"""The explanation language: every clause kind is written, read back, and counted in words."""

from __future__ import annotations

import pytest

from tools.builtin.grammar import Clause, Condition, Explanation, Item, Position, parse, render
from tools.explainers.base import word_count

CLAUSES = [
    Clause([Item("word", ("than",))], [Condition("after", ("more", "less"))], 10.0),
    Clause([Item("family", ("direct",))], [], 6.0),
    Clause([Item("piece", ("op",), examples=("opera", "opinion"))], [], 4.0),
    Clause([Item("like", ("red", "blue"))], [], 5.0),
    Clause([Item("class", ("number",))], [], 2.0),
    Clause([Item("word", ("know",))], [Condition("unless_after", ("not", "'t"))], 8.0),
    Clause([Item("class", ("any",))], [Condition("inside_parens")], 7.0),
    Clause([Item("class", ("any",))], [Condition("sentence_start")], 3.0),
    Clause([Item("class", ("preposition",))], [Condition("after_class", ("article",))], 1.0),
    Clause([Item("suffix", ("ing",))], [Condition("line_start")], 9.0),
]


@pytest.mark.parametrize("clause", CLAUSES, ids=lambda c: c.items[0].kind + "-" + (c.conditions[0].kind if c.conditions else "plain"))
def test_every_clause_kind_reads_back_as_written(clause: Clause) -> None:
    text = render(Explanation(clauses=[clause]))
    back = parse(text)
    assert len(back.clauses) == 1, text
    got = back.clauses[0]
    assert got.weight == clause.weight and got.conditions == clause.conditions, text
    assert [(i.kind, i.values) for i in got.items] == [(i.kind, i.values) for i in clause.items], text


def test_a_whole_explanation_round_trips_and_its_words_are_counted() -> None:
    text = ('"than" after "more" or "less" (10); forms of "direct" (6); the piece "op" in words like "opera", "opinion" (4); '
            'numbers (2); the first 3 tokens of the text (5)')
    back = parse(text)
    assert [c.weight for c in back.clauses] == [10.0, 6.0, 4.0, 2.0]
    assert back.positions == [Position("first", 3, 5.0)]
    assert render(back) == text.replace('in words like "opera", "opinion"', "inside words")
    assert word_count(text) == 29


def test_words_of_one_strength_share_a_clause_and_per_word_strengths_still_read() -> None:
    grouped = parse('"Paris", "London", words like "Rome" (7)')
    assert {(i.kind, i.values) for i in grouped.clauses[0].items} == {("word", ("Paris", "London")), ("like", ("Rome",))}
    assert grouped.clauses[0].weight == 7.0
    # The older written form: a strength after each token, and a context clause for the whole.
    old = parse('the tokens " Paris" (10), " London" (6); numbers (3); mostly after " in"')
    words = old.clauses[0].items[0]
    assert words.values == (" Paris", " London") and words.weights == (10.0, None) and old.clauses[0].weight == 6.0
    assert old.conditions == [Condition("mostly_after", (" in",))]


def test_free_text_never_fails_and_keeps_its_content_words() -> None:
    back = parse("colour words, most strongly green")
    assert [(i.kind, i.values) for i in back.clauses[0].items] == [("free", ("colour", "green"))]
    for junk in ("", ";;;", '"', "(10)", 'after "', "the first 0 tokens"):
        parse(junk)
