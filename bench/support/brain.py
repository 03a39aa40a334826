"""A rule-following fake LLM for end-to-end tests: it reads our prompts and answers in their formats.

This is the mock at the true edge (the LLM's answers): the explainer gets a fixed explanation; the
chat-logprob simulator gets a faithful re-emission of every record with value 10 on tokens named
(quoted) in the explanation and 0 elsewhere, with logprobs and as many alternatives per value as a
real server gives (the numbered variant: the same values by line number); the reviser gets `revised`
if given, else the current explanation with every token its false-negative counterexamples'
`Wrong on:` lines name as missed added as a quoted literal (`... or " class"`), and an `Answers:` line naming those
counterexamples; the chat-highlight simulator gets a `word<TAB>10` line for each named token its text
holds, or `none`; the prober gets a fenced JSON object of two fixed texts per kind built around the
explanation's first quoted token; the detection and fuzzing judge gets a JSON list with 1 for each
text that holds a named token (detection) or whose marked tokens are all named (fuzzing), 0
elsewhere. It serves the loopback HTTP server (`brain_behaviour`) and the in-process `ScriptedLLM`
(`brain_response`) alike.

Prompts are told apart by how their system message starts: "We are studying neurons" (explain),
"You predict how strongly" (simulate), "You mark where" (simulate by highlighting), "You revise
explanations of neurons" (revise), "You write test texts" (probe), "You check an endpoint" (the
explainer's preflight; the simulator's preflight is a simulation), "You check an explanation" (the judge).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from bench.support.chat_server import Answer, Behaviour
from bench.support.replies import Piece, answer, certain, plain, record
from tools.llm.protocol import LLMRequest, LLMResponse, TokenLogprob, TopLogprob, Usage
from tools.prompting import unescape_token

_RECORD = re.compile(r"<record (\d+)>\n(.*?)\n</record \1>", re.DOTALL)
_EXPLANATION = re.compile(r"^Explanation: (.*)$", re.MULTILINE)
_QUOTED = re.compile(r'"([^"]+)"')
_CURRENT = re.compile(r"^Current explanation: the main thing this neuron does is find (.*)$", re.MULTILINE)
_TEXT = re.compile(r"^Text \d+: (.*)$", re.MULTILINE)
_HIGHLIGHT_TEXT = re.compile(r"<text>\n(.*)\n</text>\s*$", re.DOTALL)
_MARKED = re.compile(r"\[\[(.*?)\]\]")
_FALSE_NEGATIVE = re.compile(r"^Counterexample (\d+) \(false negative[^\n]*\n   Wrong on: (.*)$", re.MULTILINE)
_WRONG = re.compile(r'"([^"]+)" \(real (\d+), predicted (\d+)\)')


_PADDING = [(text, -30.0) for text in ("ten", "zero", "one", " 10", " 0", " 1", "x", "-", " none", " high", " low", " max",
                                       " min", " n")]
"""Alternatives that are no value token, so that each value slot carries as many alternatives as the
logprob simulators ask for (15), as a real server's answer does, without moving any expected value."""


def value(number: int) -> list[Piece]:
    """A value slot the model is sure of, with a real server's count of alternatives."""
    [(text, logprob, top)] = certain(number)
    return [(text, logprob, [*top, *_PADDING])]


def named_tokens(explanation: str) -> set[str]:
    return {q.strip().lower() for q in re.findall(r'"([^"]+)"', explanation)}


def simulate_answer(user_text: str) -> Answer:
    explanation = _EXPLANATION.findall(user_text)[-1]
    names = named_tokens(explanation)
    blocks = []
    for number, body in _RECORD.findall(user_text.split("Explanation: " + explanation, 1)[1]):
        lines = body.split("\n")
        blocks.append(record(int(number), [
            (unescape_token(line), value(10 if unescape_token(line).strip().lower() in names else 0)) for line in lines
        ]))
    return answer(*blocks)


def highlight_answer(user_text: str) -> str:
    """chat-highlight: each named token that occurs as a word of the text, with strength 10; else none."""
    names = named_tokens(_EXPLANATION.findall(user_text)[-1])
    [text] = _HIGHLIGHT_TEXT.findall(user_text)
    found = [name for name in sorted(names) if re.search(rf"(?<!\w){re.escape(name)}(?!\w)", text, re.IGNORECASE)]
    return "\n".join(f"{name}\t10" for name in found) or "none"


def judge_answer(user_text: str) -> str:
    """One 0/1 per text: detection says 1 where a named token appears as a word of the text; fuzzing (texts with
    marks) where every marked token is named."""
    names = named_tokens(_EXPLANATION.findall(user_text)[-1])
    said = []
    for text in _TEXT.findall(user_text):
        marked = [m.strip().lower() for m in _MARKED.findall(text)]
        if "[[" in text:
            said.append(int(bool(marked) and all(m in names for m in marked)))
        else:
            said.append(int(any(w.lower() in names for w in re.findall(r"\w+", text))))
    return json.dumps(said)


def simulate_numbered_answer(user_text: str) -> Answer:
    """chat-logprob-numbered: `N<TAB>value` lines, 10 on the named tokens."""
    explanation = _EXPLANATION.findall(user_text)[-1]
    names = named_tokens(explanation)
    blocks = []
    for number, body in _RECORD.findall(user_text.split("Explanation: " + explanation, 1)[1]):
        pieces = [plain(f"<record {number}>"), plain("\n")]
        for line in body.split("\n"):
            index, token = line.split("\t", 1)
            pieces += [plain(index), plain("\t"), *value(10 if unescape_token(token).strip().lower() in names else 0),
                       plain("\n")]
        blocks.append([*pieces, plain(f"</record {number}>")])
    return answer(*blocks)


def revise_answer(user_text: str) -> str:
    """The current explanation plus, as quoted literals, the tokens its false negatives' `Wrong on:`
    lines name as missed (real above predicted); then the `Answers:` line naming the counterexamples
    whose tokens it added."""
    current = _CURRENT.findall(user_text)[-1]
    named = named_tokens(current)
    added: list[str] = []
    answered: list[str] = []
    for number, wrong in _FALSE_NEGATIVE.findall(user_text):
        for token, real, predicted in _WRONG.findall(wrong):
            key = token.strip().lower()
            if int(real) > int(predicted) and key and key not in named:
                named.add(key)
                added.append(token)
                answered += [number] if number not in answered else []
    return current + "".join(f' or "{token}"' for token in added) + f"\nAnswers: {', '.join(answered) or 'none'}"


def probe_answer(user_text: str) -> str:
    """Two texts per kind; the near misses are the should-fire texts with the quoted token swapped out."""
    quoted = _QUOTED.findall(_EXPLANATION.findall(user_text)[-1])
    word = quoted[0].strip() if quoted else "word"
    templates = ["The note said {} twice.", "At the end of the line came {} again."]
    texts = {
        "should_fire": [t.format(word) for t in templates],
        "should_not_fire": ["The weather stayed mild all week.", "She packed her bag and left early."],
        "near_miss": [t.format("something") for t in templates],
    }
    return "```json\n" + json.dumps(texts) + "\n```"


def respond(messages: list[dict[str, str]], explanation: str, revised: str | None = None) -> Answer:
    system = messages[0]["content"] if messages and messages[0]["role"] == "system" else ""
    last_user = next(m["content"] for m in reversed(messages) if m["role"] == "user")
    if system.startswith("We are studying neurons"):
        return Answer(content=explanation, completion_tokens=8)
    if system.startswith("You predict how strongly"):
        return simulate_numbered_answer(last_user) if "Do not copy the tokens" in system else simulate_answer(last_user)
    if system.startswith("You mark where"):
        return Answer(content=highlight_answer(last_user), completion_tokens=4)
    if system.startswith("You revise explanations of neurons"):
        # The first request of the conversation holds the explanation and its counterexamples; a follow-up
        # (asked when an answer repeated the explanation) gets the same answer, as a stubborn model gives.
        first_user = next(m["content"] for m in messages if m["role"] == "user")
        return Answer(content=revised if revised is not None else revise_answer(first_user), completion_tokens=12)
    if system.startswith("You write test texts"):
        return Answer(content=probe_answer(last_user), completion_tokens=60)
    if system.startswith("You check an explanation"):
        return Answer(content=judge_answer(last_user), completion_tokens=10)
    if system.startswith("You check an endpoint"):
        # One "10" token, with as many alternatives as the logprob simulators ask for.
        top = [(str(v), 0.0 if v == 10 else -20.0) for v in range(11)] + [(w, -30.0) for w in ("ten", " 10", "1", "0")]
        return Answer(content="10", logprobs=[("10", 0.0, top)], completion_tokens=1)
    raise AssertionError(f"the fake brain does not know this prompt: {system[:80]!r}")


def brain_behaviour(explanation: str, revised: str | None = None) -> Callable[[Any], Behaviour]:
    """For `Respond(...)` on the loopback chat server."""
    return lambda body: respond(body["messages"], explanation, revised)


def brain_response(explanation: str, revised: str | None = None) -> Callable[[LLMRequest], LLMResponse]:
    """For `ScriptedLLM` script items."""

    # One object per distinct generated piece, shared by every answer: answers repeat the same few
    # hundred pieces, and nothing downstream mutates a response's logprobs. Building them anew would be
    # most of the fake's time, which a sweep benchmark would count as the agent's.
    tokens: dict[tuple[str, float, tuple[tuple[str, float], ...]], TokenLogprob] = {}

    def token(text: str, logprob: float, top: list[tuple[str, float]]) -> TokenLogprob:
        key = (text, logprob, tuple(top))
        if key not in tokens:
            tokens[key] = TokenLogprob(token=text, logprob=logprob, top=[TopLogprob(token=a, logprob=b) for a, b in top])
        return tokens[key]

    def reply(request: LLMRequest) -> LLMResponse:
        ans = respond([m.model_dump() for m in request.messages], explanation, revised)
        logprobs = None if ans.logprobs is None else [token(*piece) for piece in ans.logprobs]
        return LLMResponse(text=ans.content, logprobs=logprobs, finish_reason=ans.finish_reason,
                           usage=Usage(model="brain", prompt_tokens=ans.prompt_tokens, completion_tokens=ans.completion_tokens))

    return reply
