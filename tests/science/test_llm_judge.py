"""The LLM judge of detection and fuzzing, through the scripted model: answers land on the right items
whatever the shuffle, the balanced accuracy is the hand-computed one, the calls' cost is summed, and an
answer that is not one 0/1 per text is counted and its texts left out, never guessed at."""

from __future__ import annotations

import re

import pytest

from tools.llm.fake import ScriptedLLM
from tools.llm.protocol import LLMRequest
from tools.llm_judge import UnreadableJudgement, answered_accuracy, llm_judge, llm_judged, parse_judgement
from tools.science.classification import Excerpt, balanced_accuracy

# Four positives and two negatives; the judge below says 1 exactly where a text holds "yes".
ITEMS = [Excerpt(["a", " yes"], True, [1]), Excerpt(["b", " yes"], True, [1]), Excerpt(["c", " yes"], True, [1]),
         Excerpt(["d", " no"], True, [1]), Excerpt(["e", " no"], False, [0]), Excerpt(["f", " yes"], False, [1])]


def by_content(request: LLMRequest) -> str:
    texts = re.findall(r"^Text \d+: (.*)$", request.messages[-1].content, flags=re.MULTILINE)
    return str([int("yes" in t) for t in texts])


@pytest.mark.parametrize("kind", ["detection", "fuzzing"])
async def test_answers_reach_their_items_and_score_as_computed_by_hand(kind: str) -> None:
    llm = ScriptedLLM([by_content, by_content], cost_usd_per_call=0.01)
    outcome = await llm_judge(llm, kind, "affirmations", ITEMS, seed=3)  # type: ignore[arg-type]
    assert outcome.answers == [True, True, True, False, False, True]
    # TPR 3/4 (one positive missed), TNR 1/2 (one negative said yes): (0.75 + 0.5) / 2.
    assert balanced_accuracy([i.positive for i in ITEMS], outcome.answers).value == pytest.approx(0.625)
    assert outcome.calls == 2 and [len(re.findall("^Text ", r.messages[-1].content, re.MULTILINE)) for r in llm.requests] == [5, 1]
    assert outcome.cost_usd == pytest.approx(0.02) and outcome.prompt_tokens > 0 and outcome.completion_tokens > 0
    marked = "[[yes]]" in llm.requests[0].messages[-1].content
    assert marked == (kind == "fuzzing")


async def test_an_answer_with_the_wrong_count_leaves_its_texts_out_and_is_counted() -> None:
    """The second prompt (one text) answers two numbers: that text is unanswered, the first five are scored."""
    outcome = await llm_judge(ScriptedLLM([by_content, "[1, 0]"]), "detection", "affirmations", ITEMS, seed=3)
    assert outcome.unreadable == ("2 answers for 1 texts",) and outcome.calls == 2
    assert sum(a is None for a in outcome.answers) == 1
    left_out = outcome.answers.index(None)
    kept = [i for i in range(len(ITEMS)) if i != left_out]
    expected = balanced_accuracy([ITEMS[i].positive for i in kept], [outcome.answers[i] for i in kept]).value
    assert answered_accuracy(ITEMS, outcome.answers) == expected


async def test_garbage_everywhere_is_no_score_at_all() -> None:
    records = [(["a", " yes"], [0.0, 2.0]), (["c", " no"], [0.0, 0.1])]
    outcome = await llm_judged(ScriptedLLM(["I think so!", "no idea"]), "affirmations", records, 1.0)
    assert (outcome.detection, outcome.fuzzing) == (None, None)
    assert outcome.unanswered == 4 and outcome.texts == 2 and outcome.unreadable == ["no JSON list in the answer"] * 2


@pytest.mark.parametrize(("text", "expected"), [
    ("[1, 0, 1]", [True, False, True]), ('Sure: ["1", "0", "0"]', [True, False, False]), ("[true, false, 0]", [True, False, False]),
])
def test_readable_answers(text: str, expected: list[bool]) -> None:
    assert parse_judgement(text, 3) == expected


@pytest.mark.parametrize("text", ["1, 0, 1", "[1, 0, 2]", "[1, 0]", "[1, 0, 1,]"])
def test_unreadable_answers(text: str) -> None:
    with pytest.raises(UnreadableJudgement):
        parse_judgement(text, 3)


def by_marks(request: LLMRequest) -> str:
    """Fuzzing (the texts carry marks): 1 where "yes" is marked; detection: 1 where "yes" is anywhere."""
    texts = re.findall(r"^Text \d+: (.*)$", request.messages[-1].content, flags=re.MULTILINE)
    fuzzing = any("[[" in t for t in texts)
    return str([int("[[yes]]" in t if fuzzing else "yes" in t) for t in texts])


async def test_both_scorers_on_held_out_records_with_their_cost() -> None:
    """Two positives (a token >= 1.0, "yes") and a negative holding "yes" after its copied mark: detection says
    yes to all three, (1 + 0) / 2; fuzzing sees the negative's mark on "no", (1 + 1) / 2."""
    records = [(["a", " yes"], [0.0, 2.0]), (["b", " yes"], [0.0, 1.5]), (["c", " no", " yes"], [0.0, 0.1, 0.1])]
    outcome = await llm_judged(ScriptedLLM([by_marks, by_marks], cost_usd_per_call=0.01), "affirmations", records, 1.0)
    assert (outcome.detection, outcome.fuzzing) == (0.5, 1.0)
    assert outcome.calls == 2 and outcome.cost_usd == pytest.approx(0.02) and outcome.prompt_tokens > 0
    assert outcome.model == "scripted" and outcome.unanswered == 0 and outcome.unreadable == [] and outcome.cached_calls == 0
