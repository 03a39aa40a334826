"""A preflight before the first paid call: one cheap call per role says whether the endpoint answers,
the key works, the endpoint returns what the chosen simulator reads, and the simulator reads values
that follow an explanation.

A refused key or an unknown model or path (401/403/404) would fail every neuron in turn, each paying
for its own failure; an endpoint without logprobs would fail every simulated record after the call.
Both stop the command here instead, after at most one call per role (simulator, then explainer when
it is another model).

The simulator's call is a real simulation, by the chosen method's own code, of a tiny record whose
explanation names one of its words (`READING_EXPLANATION`, `READING_TOKENS`): a simulator that
reads its own values puts that word at least `READING_MARGIN` points (of 10) above every other
token. One that does not (an answer it cannot read back, flat or misplaced values) is reported, not
refused: one short record is a weak test, and a small model that fails it may still be worth its
scores. With `--simulator auto` the preflight then tries the next method (`AUTO_ORDER`) with one
more call and takes it if it passes; a run that already resolved `auto` keeps its method, so a
resumed run never mixes two. That second call comes only after a first that the endpoint served
properly, and it never stops the command: a preflight that does costs at most one call per role. The same answer says whether the simulator model writes "10" as one
token, when it wrote one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import cast

import prompts
from tools.errors import BadInputError
from tools.llm.budget import BudgetExhausted
from tools.llm.protocol import (
    LLM,
    LLMError,
    LLMRequest,
    LLMResponse,
    PromptScorer,
    PromptScoreRequest,
    PromptScoreResponse,
    Purpose,
    TokenLogprob,
)
from tools.simulators.base import RecordSimulation
from tools.simulators.select import LLMSimulatorMethod, choose_llm_simulator

TOP_LOGPROBS = 15
"""What the logprob simulators ask for at every position (their default)."""
FATAL_STATUSES = frozenset({401, 403, 404})
"""Answers no retry and no other neuron can change: a refused key, a forbidden or unknown model or path."""
OUTPUT_TOKENS = 3

LOGPROB_METHODS = frozenset({"chat-logprob", "chat-logprob-numbered"})
AUTO_ORDER: tuple[LLMSimulatorMethod, ...] = ("prompt-logprob", "chat-logprob", "chat-logprob-numbered")
"""`--simulator auto`'s methods, best first; prompt-logprob only where the server scores prompts."""

READING_EXPLANATION = 'the word "apple"'
READING_TOKENS = ("She", " put", " an", " apple", " on", " the", " table", ".")
READING_NAMED = 3
"""The index of the token the explanation names."""
READING_MARGIN = 3.0
"""How far (0-10 scale) the named token's simulated value must stand above every other token's."""

JOURNAL_SCOPE = "preflight"
"""The call journal's scope of the preflight's answers: every command pays its own, apart from any neuron's."""


@dataclass(frozen=True)
class Reading:
    """One method's simulation of the reading record."""

    method: str
    reads: bool | None
    """Whether the simulator read its own values (None: the call failed, nothing to tell)."""
    found: str
    """What it simulated, in words: the named token's value and the highest other one, or why it failed."""
    ten_is_one_token: bool | None = None
    """What its answer says of the simulator model's "10" (see `ten_is_one_token`)."""


@dataclass(frozen=True)
class Preflight:
    """What the preflight found, and the simulator method it resolved."""

    method: str
    calls: int
    ten_is_one_token: bool | None
    """Whether the simulator model writes "10" as one token (None: no logprobs, or no 10 written, to tell)."""
    readings: list[Reading] = field(default_factory=list)
    """The simulator methods tried on the reading record, in order (none for builtin, or without a call)."""

    @property
    def reads_values(self) -> bool | None:
        """Whether the resolved method read its own values (None: not checked)."""
        chosen = [r for r in self.readings if r.method == self.method]
        return chosen[-1].reads if chosen else None

    @property
    def switched(self) -> bool:
        """`--simulator auto` took another method than its first because the first did not read its values."""
        return bool(self.readings) and self.readings[0].method != self.method


def _fatal(err: LLMError, purpose: Purpose, model: str, host: str) -> BadInputError:
    # The server's body is left out: some quote the key they were sent.
    return BadInputError(f"the endpoint {host} refused the {purpose} model {model!r} (HTTP {err.status}): check "
                         "OPENAI_API_KEY, --llm-base-url and --llm-explainer-model/--llm-simulator-model; nothing was run")


OnAnswer = Callable[[Purpose, LLMResponse | PromptScoreResponse], None]


async def _ask(llm: LLM, purpose: Purpose, model: str, host: str, on_answer: OnAnswer) -> LLMResponse | None:
    """The explainer's one call; None when it failed for a reason a neuron may still get past (5xx after retries)."""
    request = LLMRequest(purpose=purpose, messages=prompts.load("preflight").render(number="10"), max_tokens=OUTPUT_TOKENS)
    try:
        response = await llm.complete(request)
    except LLMError as err:
        if err.status in FATAL_STATUSES:
            raise _fatal(err, purpose, model, host) from None
        return None
    on_answer(purpose, response)
    return response


class _CallFailed(Exception):
    """The preflight simulation's call failed: carried past the simulator, which would turn an
    `LLMError` into a failed record (and log its message, which may quote the key)."""

    def __init__(self, error: LLMError) -> None:
        super().__init__(str(error))
        self.error = error


class _Once:
    """The LLM of one preflight simulation: passes its call on and keeps the answer."""

    def __init__(self, llm: LLM, on_answer: OnAnswer) -> None:
        self.llm, self.on_answer = llm, on_answer
        self.answer: LLMResponse | PromptScoreResponse | None = None

    async def complete(self, request: LLMRequest) -> LLMResponse:
        try:
            answer = await self.llm.complete(request)
        except LLMError as err:
            raise _CallFailed(err) from None
        self.answer = answer
        self.on_answer("simulator", answer)
        return answer

    async def score_prompt(self, request: PromptScoreRequest) -> PromptScoreResponse:
        assert isinstance(self.llm, PromptScorer), "prompt-logprob is chosen only for a client that scores prompts"
        try:
            scored = await self.llm.score_prompt(request)
        except LLMError as err:
            raise _CallFailed(err) from None
        self.answer = scored
        self.on_answer("simulator", scored)
        return scored


def judge_reading(simulation: RecordSimulation) -> tuple[bool, str]:
    """Whether a simulation of the reading record puts the named token clearly above the others, and what it found."""
    if not simulation.ok or simulation.expected is None:
        return False, f"its answer could not be read ({simulation.error})"
    named = simulation.expected[READING_NAMED]
    others = max(v for i, v in enumerate(simulation.expected) if i != READING_NAMED)
    found = f"{READING_TOKENS[READING_NAMED]!r} {named:.1f}, the highest other token {others:.1f} (0-10)"
    return named - others >= READING_MARGIN, found


def _reads_logprobs(tokens: Sequence[TokenLogprob]) -> bool:
    return any(len(t.top) >= TOP_LOGPROBS for t in tokens)


def ten_is_one_token(tokens: Sequence[TokenLogprob], alternatives: bool = True) -> bool | None:
    """From an answer's tokens (a chat answer's generated ones, or a scored prompt's, whose example
    holds a 10): True when "10" is a token (written, or among the `alternatives`), False when it was
    written "1" then "0", None when no 10 was written to tell. A scored prompt's alternatives are left
    out: our local server adds a "10" candidate where the tokenizer splits it (`split_ten`)."""
    texts = [t.token.strip() for t in tokens]
    if "10" in texts or (alternatives and any(alt.token.strip() == "10" for t in tokens for alt in t.top)):
        return True
    if any(a == "1" and b == "0" for a, b in zip(texts, texts[1:], strict=False)):
        return False
    return None


async def _simulate(llm: LLM, method: LLMSimulatorMethod, model: str, host: str, on_answer: OnAnswer,
                    first: bool) -> Reading:
    """One simulation of the reading record by `method`. On the first method tried, an endpoint that
    cannot serve it stops the command (BadInputError); on a later one it only fails the reading."""
    once = _Once(llm, on_answer)
    simulator = choose_llm_simulator(once, method, prompt_logprobs_supported=True)
    try:
        [simulation] = await simulator.simulate(READING_EXPLANATION, [list(READING_TOKENS)])
    except _CallFailed as failed:
        status = failed.error.status
        if first and status in FATAL_STATUSES:
            raise _fatal(failed.error, "simulator", model, host) from None
        if first and method == "prompt-logprob":
            raise BadInputError(f"the endpoint {host} did not score a prompt (HTTP {status}): prompt-logprob "
                                "needs prompt logprobs; use --simulator chat-logprob, or chat-highlight or chat-json (no logprobs needed)") from None
        return Reading(method, None, f"the call failed (HTTP {status})" if status else "the call failed")
    if isinstance(once.answer, PromptScoreResponse):
        if not any(t.top for t in once.answer.tokens):
            if first:
                raise BadInputError(f"the endpoint {host} returns no prompt logprobs: prompt-logprob cannot read its "
                                    "values; use --simulator chat-logprob, or chat-highlight or chat-json (no logprobs needed)")
            return Reading(method, False, "the endpoint returned no prompt logprobs")
        tokens, scored = once.answer.tokens, True
    else:
        tokens, scored = (once.answer.logprobs or []) if once.answer is not None else [], False
        if method in LOGPROB_METHODS and not _reads_logprobs(tokens):
            if first:
                raise BadInputError(
                    f"the endpoint {host} returned no logprobs with {TOP_LOGPROBS} alternatives for {model!r}: "
                    f"{method} reads its values from them; use --simulator chat-highlight or chat-json (values written as text)")
            return Reading(method, False, f"no logprobs with {TOP_LOGPROBS} alternatives")
    reads, found = judge_reading(simulation)
    return Reading(method, reads, found, ten_is_one_token(tokens, alternatives=not scored))


def _candidates(method: str, llm: LLM, prompt_logprobs: bool, pinned: str | None) -> list[LLMSimulatorMethod]:
    """The methods to try, in order: the one asked for; for auto, the run's earlier choice alone, or
    the first two of `AUTO_ORDER` the endpoint may serve."""
    if method != "auto":
        return [cast(LLMSimulatorMethod, method)]  # a method name the settings validated
    if pinned in AUTO_ORDER:
        return [pinned]
    scores = prompt_logprobs and isinstance(llm, PromptScorer)
    return [m for m in AUTO_ORDER if scores or m != "prompt-logprob"][:2]


async def preflight(llm: LLM, method: str, models: dict[Purpose, str], host: str, prompt_logprobs: bool,
                    on_answer: OnAnswer, pinned: str | None = None) -> Preflight:
    """Check the endpoint for `method` ("auto" resolves to what the endpoint offers and reads; "builtin"
    needs only the explainer); raise BadInputError when it cannot serve the command. `pinned`: the
    method an earlier command of the run resolved "auto" to, kept. `on_answer` sees every paid answer
    (the run's ledger counts them)."""
    calls, ten, readings = 0, None, []
    if method != "builtin":
        candidates = _candidates(method, llm, prompt_logprobs, pinned)
        for index, candidate in enumerate(candidates):
            try:
                reading = await _simulate(llm, candidate, models["simulator"], host, on_answer, first=index == 0)
            except BudgetExhausted:
                if index == 0:
                    raise
                break  # the first method stays; the command's budget is for the neurons
            calls += 1
            readings.append(reading)
            ten = reading.ten_is_one_token if ten is None else ten
            if reading.reads is not False:
                break
        passed = [r.method for r in readings if r.reads]
        method = passed[0] if passed else candidates[0]
    if method == "builtin" or models["explainer"] != models["simulator"]:
        calls += 1
        await _ask(llm, "explainer", models["explainer"], host, on_answer)
    return Preflight(method=method, calls=calls, ten_is_one_token=ten, readings=readings)
