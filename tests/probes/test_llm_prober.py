from __future__ import annotations

import json

import pytest

from bench.support.brain import brain_behaviour
from bench.support.chat_server import ChatServer, Respond
from tools.llm.config import LLMConfig
from tools.llm.fake import ScriptedLLM
from tools.llm.openai_client import OpenAIChatLLM
from tools.llm.protocol import LLMError
from tools.probes.llm_prober import (
    MAX_PROBE_CHARS,
    LLMProber,
    UnreadableProbeAnswer,
    parse_probe_answer,
    probe_messages,
    probe_prompt_values,
)
from tools.probes.types import Prober, ProbeRequest

EXPLANATION = 'the token " object"'


def request(**changes: object) -> ProbeRequest:
    values: dict[str, object] = {"explanation": EXPLANATION, "examples": [(["An", " object", "\n"], [0, 10, 0])], "per_kind": 2}
    return ProbeRequest.model_validate({**values, **changes})


def test_prompt_holds_the_explanation_examples_and_count() -> None:
    values = probe_prompt_values(request())
    assert values == {"explanation": EXPLANATION, "per_kind": "2",
                      "examples": "Text 1: An [[object]]\\n"}
    messages = probe_messages(request())
    assert messages[0].content.startswith("You write test texts")
    assert '"should_fire"' in messages[0].content and "near_miss" in messages[0].content
    assert messages[-1].content.endswith("Write 2 texts of each kind.")


def test_examples_are_plain_text_bounded_in_number_and_length() -> None:
    """Plain text with marked tokens, never token<TAB>value lines, which a small model copied back as its answer."""
    long = ([f" t{i}" for i in range(50)], [10 if i == 30 else 0 for i in range(50)])
    text = probe_prompt_values(request(examples=[long] * 5))["examples"]
    assert text.count("Text ") == 3 and "<start>" not in text and "\t" not in text
    assert text.startswith("Text 1 (tokens 13-36 of 50): t12 t13")
    assert " [[t30]] t31" in text
    assert probe_prompt_values(request(examples=[]))["examples"] == "(none)"


def test_parse_reads_plain_fenced_and_prose_wrapped_objects() -> None:
    answer = {"should_fire": ["An object."], "should_not_fire": ["Rain."], "near_miss": ["An item."]}
    plain = json.dumps(answer)
    assert parse_probe_answer(plain) == answer
    assert parse_probe_answer(f"```json\n{plain}\n```") == answer
    assert parse_probe_answer(f"Sure! Here they are:\n{plain}\nHope this helps.") == answer


def test_parse_drops_bad_items_and_fills_missing_kinds() -> None:
    text = json.dumps({
        "should_fire": ["  An object.  ", 3, None, "", "x" * (MAX_PROBE_CHARS + 1), "An object.", "Two objects."],
        "near_miss": "not a list",
        "should_not_fire": ["An object.", "Rain fell."],
    })
    assert parse_probe_answer(text) == {"should_fire": ["An object.", "Two objects."],
                                        "should_not_fire": ["Rain fell."], "near_miss": []}
    assert parse_probe_answer(text, limit=1)["should_fire"] == ["An object."]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("I cannot help with that.", "no JSON object"),
        ('{"should_fire": ["a", "b",], "near_miss": []}', "not valid JSON"),  # a trailing comma is not repaired
        ('{"texts": ["a"]}', "none of the keys"),
    ],
)
def test_parse_refuses_garbage(text: str, reason: str) -> None:
    with pytest.raises(UnreadableProbeAnswer, match=reason):
        parse_probe_answer(text)


async def test_write_asks_once_and_caps_each_kind() -> None:
    answer = json.dumps({"should_fire": ["a.", "b.", "c."], "should_not_fire": ["d."], "near_miss": ["e.", "f."]})
    llm = ScriptedLLM([answer])
    prober = LLMProber(llm)
    assert isinstance(prober, Prober)
    assert await prober.write(request()) == {"should_fire": ["a.", "b."], "should_not_fire": ["d."], "near_miss": ["e.", "f."]}
    [sent] = llm.requests
    assert sent.purpose == "prober" and sent.temperature == 0.8 and sent.max_tokens == 600


async def test_an_unreadable_answer_raises_with_its_reason() -> None:
    # Not empty lists: the graph's probe node records the failed step (the neuron ends degraded).
    with pytest.raises(UnreadableProbeAnswer, match="unreadable probe answer: no JSON object"):
        await LLMProber(ScriptedLLM(["no json here"])).write(request())


async def test_an_llm_error_propagates() -> None:
    with pytest.raises(LLMError, match="HTTP 500"):
        await LLMProber(ScriptedLLM([LLMError("HTTP 500: boom", status=500)])).write(request())


async def test_writes_probes_over_http_with_the_fake_brain(chat_server: ChatServer) -> None:
    chat_server.default = Respond(brain_behaviour("unused"))
    async with OpenAIChatLLM(LLMConfig(base_url=chat_server.base_url, max_retries=0)) as llm:
        out = await LLMProber(llm).write(request())
    assert out == {
        "should_fire": ["The note said object twice.", "At the end of the line came object again."],
        "should_not_fire": ["The weather stayed mild all week.", "She packed her bag and left early."],
        "near_miss": ["The note said something twice.", "At the end of the line came something again."],
    }
    [body] = chat_server.bodies
    assert body["temperature"] == 0.8


def test_the_examples_marks_copied_into_a_text_are_taken_out() -> None:
    """Qwen2.5-1.5B wrote "The flag is described as [[red]], [[white]]" as a should-fire text."""
    answer = json.dumps({"should_fire": ["The flag is [[red]] and [[white]]."], "should_not_fire": [], "near_miss": []})
    assert parse_probe_answer(answer)["should_fire"] == ["The flag is red and white."]
