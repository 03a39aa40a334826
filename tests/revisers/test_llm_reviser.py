from __future__ import annotations

from collections.abc import Callable

import pytest

from bench.support.brain import brain_behaviour
from bench.support.chat_server import ChatServer, Respond
from prompts import Message
from tools.explainers.base import DEFAULT_MAX_WORDS, NoExplanationError, UnchangedExplanation, word_count
from tools.explainers.llm_explainer import LLMExplainer, explain_messages
from tools.explainers.sampling import output_cap
from tools.formats.openai import ActivationRecord
from tools.llm.config import LLMConfig
from tools.llm.fake import ScriptedLLM
from tools.llm.openai_client import OpenAIChatLLM
from tools.llm.protocol import LLMError, LLMRequest, LLMResponse, Usage
from tools.probes.types import Counterexample
from tools.prompt_window import peak_window
from tools.revisers.base import Reviser, RevisionContext
from tools.revisers.llm_reviser import (
    MAX_COUNTEREXAMPLES,
    LLMReviser,
    counterexample_block,
    history_text,
    predicted_records_text,
    records_text,
    refit_messages,
    revise_messages,
    revise_prompt_values,
    select_counterexamples,
)

CURRENT = 'the token " object"'


def counterexample(kind: str, error: float, tokens: list[str] | None = None, real: list[float] | None = None,
                   predicted: list[float] | None = None, offending: list[int] | None = None) -> Counterexample:
    tokens = tokens or ["a", " b"]
    return Counterexample(kind=kind, generator="llm-near-miss", text="".join(tokens), tokens=tokens,  # type: ignore[arg-type]
                          real=real or [0.0] * len(tokens), predicted=predicted or [0.0] * len(tokens),
                          offending=offending or [], error=error)


def context(**changes: object) -> RevisionContext:
    values: dict[str, object] = {
        "explanation": CURRENT, "score": 0.31, "train": [], "max_activation": 4.0,
        "best_records": [ActivationRecord(tokens=["An", " object"], activations=[0.0, 2.0])],
        "worst_records": [ActivationRecord(tokens=[" class", " def"], activations=[4.0, 0.0])],
        "counterexamples": [counterexample("false_negative", 9.0, [" my", " class"], [0.0, 4.0], [0.0, 0.0], [1])],
    }
    return RevisionContext.model_validate({**values, **changes})


def test_values_are_normalized_by_the_neurons_maximum_not_per_block() -> None:
    values = revise_prompt_values(context())
    assert values["best_records"] == "1. An object[5]"  # 2.0 of 4.0, although it is this block's own maximum
    assert values["worst_records"].startswith("1.  class[10] def")
    assert values["score"] == "0.31"
    assert values["explanation"] == CURRENT


def test_worst_records_name_the_tokens_the_prediction_misses_with_both_values() -> None:
    record = ActivationRecord(tokens=["a", " black", " moon", "less", " night"], activations=[0.0, 9.0, 0.0, 0.0, 0.0])
    text = predicted_records_text([record], [[0.0, 6.0, 6.0, 6.4, 2.0]], max_activation=9.0)
    # " black" is off by 4, " moon" and "less" by 6; " night" by 2 is within WRONG_BY and not named.
    assert text == ('1. a black[10] moonless night\n'
                    '   Wrong on: " black" (real 10, predicted 6), " moon" (real 0, predicted 6), "less" (real 0, predicted 6)')
    assert predicted_records_text([record], [[0.0, 10.0, 0.0, 0.0, 0.0]], max_activation=9.0) == "1. a black[10] moonless night"


def test_long_records_are_cut_around_their_peak() -> None:
    record = ActivationRecord(tokens=[f" t{i}" for i in range(64)], activations=[1.0 if i == 40 else 0.0 for i in range(64)])
    text = records_text([record], 1.0)
    assert text == "1. …" + "".join(f" t{i}" + ("[10]" if i == 40 else "") for i in range(22, 46)) + "…"
    assert peak_window(64, 2) == range(0, 24) and peak_window(64, 63) == range(40, 64)


def test_at_most_three_records_per_group() -> None:
    records = [ActivationRecord(tokens=[f"r{i}"], activations=[1.0]) for i in range(5)]
    text = records_text(records, 1.0)
    assert text.splitlines() == ["1. r0[10]", "2. r1[10]", "3. r2[10]"]
    assert records_text([], 1.0) == "(none)"


def test_counterexample_shows_kind_real_values_and_what_the_prediction_got_wrong() -> None:
    fp = counterexample("false_positive", 8.0, ["Two", "\t", " apples"], [0.0, 0.0, 0.5], [7.6, 2.5, 0.0], [0])
    assert counterexample_block(2, fp, max_activation=1.0) == (
        "Counterexample 2 (false positive; probe llm-near-miss): Two\\t apples[5]\n"
        '   Wrong on: "Two" (real 0, predicted 8)')
    fn = counterexample_block(1, context().counterexamples[0], max_activation=4.0)
    assert fn == 'Counterexample 1 (false negative; probe llm-near-miss):  my class[10]\n   Wrong on: " class" (real 10, predicted 0)'


def test_long_counterexample_is_windowed_around_its_worst_offending_token() -> None:
    tokens = [f" t{i}" for i in range(60)]
    real = [0.0] * 60
    real[50] = 1.0
    ce = counterexample("false_negative", 10.0, tokens, real, [0.0] * 60, [5, 50])
    first, wrong = counterexample_block(1, ce, max_activation=1.0).splitlines()
    assert first.endswith(": … t32" + "".join(f" t{i}" + ("[10]" if i == 50 else "") for i in range(33, 56)) + "…")
    assert wrong == '   Wrong on: " t50" (real 10, predicted 0)'  # t5 is offending too, but outside the window


def test_the_digest_of_train_and_evidence_records_is_in_the_prompt() -> None:
    train = [ActivationRecord(tokens=["I", " want", " tea"], activations=[0.0, 4.0, 0.0])]
    evidence = [ActivationRecord(tokens=["I", " want", " it", " want"], activations=[0.0, 4.0, 0.0, 0.4])]
    digest = revise_prompt_values(context(train=train, evidence=evidence))["digest"]
    assert digest.splitlines() == ['- "want": 7.0 on average, fired 2 of 3 times',
                                   'Just before its 2 strong responses (5 or more) came: "I" (2).']


def test_counterexamples_are_capped_and_alternate_kinds_by_error() -> None:
    fps = [counterexample("false_positive", 9.0 - i / 10) for i in range(10)]
    fns = [counterexample("false_negative", 5.0 - i / 10) for i in range(2)]
    chosen = select_counterexamples(fps + fns)
    assert len(chosen) == MAX_COUNTEREXAMPLES
    assert [c.kind for c in chosen[:4]] == ["false_positive", "false_negative"] * 2
    assert [c.error for c in chosen if c.kind == "false_positive"] == [9.0, 8.9, 8.8, 8.7, 8.6, 8.5]
    assert revise_prompt_values(context(counterexamples=[]))["counterexamples"] == "(none)"


def test_history_lists_earlier_explanations_with_scores_but_not_the_current_one() -> None:
    history = [("numbers", 0.2), (CURRENT, 0.31), ("words", None), ("numbers", 0.25)]
    assert history_text(history, CURRENT) == "- score undefined: words\n- score 0.25: numbers"
    assert history_text([(f"e{i}", 0.1) for i in range(12)], CURRENT, limit=2) == "- score 0.10: e10\n- score 0.10: e11"
    assert history_text([], CURRENT) == "(none)"


def test_the_prompt_ends_with_the_prefix_to_complete() -> None:
    messages = revise_messages(context(score=None))
    assert messages[0].role == "system" and messages[0].content.startswith("You revise explanations of neurons")
    assert messages[-1].content.endswith("Improved explanation: the main thing this neuron does is find")
    assert "Its score: undefined" in messages[-1].content


def is_refit(request: LLMRequest) -> bool:
    return request.messages[0].content.startswith("We are studying neurons")


def by_kind(edits: dict[tuple[int, bool], str], refits: dict[int, str]) -> Callable[[LLMRequest], str]:
    """Answers by the prompt's kind and seed (an edit's follow-up is its seed asked again), so the test does not
    depend on the order the two kinds' concurrent calls arrive in."""
    return lambda request: refits[request.seed] if is_refit(request) else edits[(request.seed, len(request.messages) > 2)]


async def test_samples_edits_and_refits_concurrently_with_distinct_seeds_and_keeps_distinct_changed_ones() -> None:
    # Edit 1 repeats the current explanation: it is asked once more, and its second answer counts. Refit 0 is
    # edit 0 again (a trailing period does not count), so it is dropped.
    answer = by_kind({(0, False): 'objects or " class"', (1, False): CURRENT, (1, True): "the word class after my", (2, False): ""},
                     {0: 'objects or " class".', 1: "the main thing this neuron does is find classes"})
    llm = ScriptedLLM([answer] * 6)
    discarded: list[list[str]] = []
    reviser = LLMReviser(llm, on_discarded=lambda purpose, reasons: discarded.append(reasons))
    assert isinstance(reviser, Reviser) and reviser.name == "llm"
    out = await reviser.revise(context(), 5)  # 3 edits and 2 refits
    assert [(r.text, r.note) for r in out] == [('objects or " class"', "edit"), ("the word class after my", "edit"),
                                               ("classes", "refit")]
    edits = [r for r in llm.requests if not is_refit(r)]
    refits = [r for r in llm.requests if is_refit(r)]
    assert [(r.seed, r.temperature) for r in edits] == [(0, 0.0), (1, 0.7), (1, 0.7), (2, 0.7)]  # greedy first: the best guess
    assert [(r.seed, r.temperature) for r in refits] == [(0, 0.0), (1, 0.7)]
    assert all(r.purpose == "reviser" and r.max_tokens == output_cap(DEFAULT_MAX_WORDS) for r in llm.requests)
    follow_up = next(r for r in edits if len(r.messages) > 2).messages
    assert follow_up[:-2] == edits[1].messages
    assert follow_up[-2] == Message(role="assistant", content=CURRENT)
    assert follow_up[-1].role == "user" and "Wrong on" in follow_up[-1].content
    assert discarded == [["repeated the current explanation (asked again)", "empty answer"],
                         ["the same explanation as an edit (refit)"]]


def test_a_refit_is_the_explainers_prompt_over_the_texts_that_found_the_explanation_wrong() -> None:
    """It never shows the current explanation (a small model copies it); its digest covers train, evidence and
    counterexamples."""
    evidence = [ActivationRecord(tokens=["My", " class"], activations=[0.0, 4.0])]
    messages = refit_messages(context(evidence=evidence))
    assert messages[0].content.startswith("We are studying neurons") and len(messages) == 4  # the explainer's prompt
    last = messages[-1].content
    assert CURRENT not in last and "object" in last  # the best record is shown, the explanation is not
    shown = last.split("<start>")
    assert shown[1] == "\n my\t0\n class\t10\n<end>\n"  # the counterexample comes first, then worst and best
    assert '- "class": 10.0 on average, fired 2 of 2 times' in last  # evidence and counterexample, not the worst record
    assert last.endswith("Explanation of neuron B behavior: the main thing this neuron does is find")


async def test_with_one_revision_a_round_writes_an_edit_only() -> None:
    llm = ScriptedLLM(["classes"])
    out = await LLMReviser(llm).revise(context(), 1)
    assert [(r.text, r.note) for r in out] == [("classes", "edit")] and not is_refit(llm.requests[0])


async def test_no_usable_answer_of_either_kind_raises_and_repeats_of_both_kinds_say_so() -> None:
    llm = ScriptedLLM([by_kind({(0, False): CURRENT, (0, True): CURRENT}, {0: CURRENT})] * 3)
    with pytest.raises(UnchangedExplanation):
        await LLMReviser(llm).revise(context(), 2)
    llm = ScriptedLLM([by_kind({(0, False): CURRENT, (0, True): CURRENT}, {0: ""})] * 3)
    with pytest.raises(NoExplanationError) as raised:
        await LLMReviser(llm).revise(context(), 2)
    assert not isinstance(raised.value, UnchangedExplanation) and "empty answer" in str(raised.value)
    llm = ScriptedLLM([by_kind({(0, False): CURRENT, (0, True): CURRENT}, {0: "classes after my"})] * 3)
    assert [r.note for r in await LLMReviser(llm).revise(context(), 2)] == ["refit"]


async def test_the_current_explanation_behind_a_framing_verb_is_a_repeat() -> None:
    """Qwen2.5-1.5B answered "identify color words, most strongly blue" for "color words, most strongly
    blue": the same explanation, asked again; a verb that is part of the content stays."""
    llm = ScriptedLLM([f"Identify {CURRENT}", "classes after my", f"detects  {CURRENT.upper()}", "identify classes after my",
                       "count the objects"])
    discarded: list[list[str]] = []
    out = await LLMReviser(llm, on_discarded=lambda purpose, reasons: discarded.append(reasons)).revise(context(), 3)
    assert [r.text for r in out] == ["classes after my", "count the objects"]
    assert discarded == [["repeated the current explanation (asked again)", "repeated the current explanation (asked again)",
                          "the same explanation as another sample"]]


async def test_failed_calls_are_tolerated_while_one_sample_is_usable() -> None:
    llm = ScriptedLLM([LLMError("HTTP 500: boom", retryable=True, status=500), "classes"])
    assert [r.text for r in await LLMReviser(llm).revise(context(), 2)] == ["classes"]


async def test_only_unchanged_or_failed_samples_is_an_error_naming_the_reason() -> None:
    # Only repeats: the model answered and proposes nothing new (the loop counts an empty round).
    with pytest.raises(UnchangedExplanation, match="repeated the current explanation"):
        await LLMReviser(ScriptedLLM([CURRENT, f"{CURRENT}.", CURRENT, CURRENT])).revise(context(), 2)
    # A repeat and a failed call: the step failed (the neuron ends degraded).
    with pytest.raises(NoExplanationError, match="repeated the current explanation") as raised:
        await LLMReviser(ScriptedLLM([CURRENT, LLMError("HTTP 500: boom", status=500), CURRENT, CURRENT])).revise(context(), 2)
    assert not isinstance(raised.value, UnchangedExplanation)
    with pytest.raises(NoExplanationError, match="HTTP 503"):
        await LLMReviser(ScriptedLLM([LLMError("HTTP 503: overloaded", status=503)])).revise(context(), 1)


async def test_an_error_that_is_not_an_llm_error_propagates() -> None:
    with pytest.raises(RuntimeError, match="bug"):
        await LLMReviser(ScriptedLLM(["classes", RuntimeError("bug")])).revise(context(), 2)


async def test_revises_over_http_with_the_fake_brain(chat_server: ChatServer) -> None:
    chat_server.default = Respond(brain_behaviour("unused"))
    async with OpenAIChatLLM(LLMConfig(base_url=chat_server.base_url, max_retries=0)) as llm:
        out = await LLMReviser(llm).revise(context(), 2)
    # The edit adds the false negative's missed token; the refit is the brain's explainer answer.
    assert [(r.text, r.note) for r in out] == [('the token " object" or " class"', "edit"), ("unused", "refit")]
    assert sorted(body["seed"] for body in chat_server.bodies) == [0, 0]


LONG = ("words after more or less; " * 12).strip()  # 60 words in 12 clauses


@pytest.mark.parametrize("max_words", [8, DEFAULT_MAX_WORDS])
async def test_the_word_cap_is_in_both_prompts_and_enforced_on_both_answers(max_words: int) -> None:
    # The scripted LLM stands in for the model's answers only; the cap is applied by the real code.
    explainer = LLMExplainer(ScriptedLLM([LONG]), max_words=max_words)
    [explained] = await explainer.explain(context().best_records, 1)
    [revised] = await LLMReviser(ScriptedLLM([LONG]), max_words=max_words).revise(context(), 1)
    for text in (explained, revised.text):
        assert 0 < word_count(text) <= max_words
        assert LONG.startswith(text.rstrip(";"))  # cut at a clause boundary, never mid-clause
    assert explained == revised.text  # one rule for both roles
    assert f"at most {max_words} words" in explain_messages([], max_words)[-1].content + explain_messages([], max_words)[0].content
    assert f"at most {max_words} words" in "".join(m.content for m in revise_messages(context(), max_words))
    assert explainer.max_tokens == output_cap(max_words)


def test_the_worst_records_show_the_prediction_beside_the_real_value() -> None:
    values = revise_prompt_values(context(worst_predictions=[[0.2, 6.6]]))
    # " class" fired at 10 and nothing was predicted; " def" was predicted at 7 and stayed silent.
    assert values["worst_records"] == '1.  class[10] def\n   Wrong on: " class" (real 10, predicted 0), " def" (real 0, predicted 7)'
    assert "Answers:" in revise_messages(context())[0].content, "the prompt asks which counterexamples a revision fixes"


async def test_answers_are_only_the_counterexamples_the_revision_names() -> None:
    shown = [counterexample("false_negative", 9.0, [" my", " class"], [0.0, 4.0], [0.0, 0.0], [1]),
             counterexample("false_positive", 8.0, [" the", " def"], [0.0, 0.0], [8.0, 0.0], [0])]
    labels = [c.label for c in select_counterexamples(shown)]
    llm = ScriptedLLM(['"class" after "my"\nAnswers: 1, 7', 'the token " class"\nAnswers: none', 'any " def"\nAnswers: 2'])
    revisions = await LLMReviser(llm).revise(context(counterexamples=shown), 3)
    # Number 7 was never shown: ignored. A revision that names none answers none (not every one shown).
    assert [(r.text, r.answers) for r in revisions] == [
        ('"class" after "my"', [labels[0]]), ('the token " class"', []), ('any " def"', [labels[1]])]


async def test_an_answer_cut_in_its_answers_line_keeps_its_explanation_whole() -> None:
    cut = LLMResponse(text='"class" after "my"\nAnswers: 1, 2', finish_reason="length", usage=Usage(model="m"))
    shown = [counterexample("false_negative", 9.0), counterexample("false_positive", 8.0)]
    [revision] = await LLMReviser(ScriptedLLM([cut])).revise(context(counterexamples=shown), 1)
    # The last number may be a fragment ("2" of "21"): dropped; the explanation above the line is whole.
    assert revision.text == '"class" after "my"' and revision.answers == [select_counterexamples(shown)[0].label]
