from __future__ import annotations

from tools.formats.openai import ActivationRecord
from tools.records.token_digest import TokenResponse, digest_lines, token_digest


def record(tokens: list[str], values: list[float]) -> ActivationRecord:
    return ActivationRecord(tokens=tokens, activations=values)


def test_a_word_seen_often_ranks_above_one_seen_once_at_the_top() -> None:
    often = [record(["the", " red", " car"], [0.0, 8.0, 0.0]) for _ in range(20)]
    once = record(["a", " blue", " sky"], [0.0, 10.0, 0.0])
    digest = token_digest([*often, once], max_activation=10.0)
    assert [t.token for t in digest.strongest] == ["red", "blue"]
    assert digest.strongest[0] == TokenResponse("red", seen=20, fired=20, mean=8.0)


def test_a_token_that_fires_only_sometimes_says_so() -> None:
    records = [record(["I", " want"], [0.0, 10.0]), record(["they", " want"], [0.0, 0.0]),
               record(["I", " want"], [0.0, 9.0]), record(["you", " want"], [0.0, 1.0])]
    digest = token_digest(records, max_activation=10.0)
    assert digest.strongest == [TokenResponse("want", seen=4, fired=2, mean=5.0)]
    assert digest.preceding == [("I", 2)] and digest.strong == 2
    assert digest_lines(digest).splitlines() == [
        '- "want": 5.0 on average, fired 2 of 4 times',
        'Just before its 2 strong responses (5 or more) came: "I" (2).',
    ]


def test_whitespace_tokens_are_named_by_their_escape_and_forms_differing_in_spaces_merge() -> None:
    records = [record(["a", "\n", "b", " b"], [0.0, 10.0, 0.0, 10.0])]
    digest = token_digest(records, max_activation=10.0)
    assert {t.token: (t.seen, t.mean) for t in digest.strongest} == {"\\n": (1, 10.0), "b": (2, 5.0)}
    assert ("a", 1) in digest.preceding and ("b", 1) in digest.preceding  # the "\n"'s and " b"'s predecessors


def test_tokens_at_or_below_the_overall_mean_or_under_one_are_left_out() -> None:
    records = [record(["x", "y", "z"], [0.5, 0.5, 0.5])]
    digest = token_digest(records, max_activation=10.0)
    assert digest.strongest == [] and digest.strong == 0
    assert digest_lines(digest) == "(the neuron does not respond in these texts)"
    assert token_digest([], 1.0).strongest == []


def test_at_most_limit_tokens_and_four_predecessors() -> None:
    records = [record([f"p{i}", f" w{i}"], [0.0, 10.0]) for i in range(12)]
    digest = token_digest(records, max_activation=10.0, limit=5)
    assert len(digest.strongest) == 5 and len(digest.preceding) == 4 and digest.strong == 12
    assert "strong response " not in digest_lines(digest)
    assert "its 1 strong response (5" in digest_lines(token_digest(records[:1], 10.0))
