"""Prompt-logprob simulator: the reference "all at once" method, on servers that score prompt tokens.

One raw prompt per record holds the explanation and the record's tokens as `token<TAB>unknown`
lines; the server returns the prompt's own logprobs, and at each placeholder position (the first
token after each tab) the top candidates say what the model would have written there: values
"0".."10" kept, renormalized, EV. Nothing is generated, so the model never has to copy tokens.

Placeholders are mapped to prompt tokens by character offsets: `slot_token_indices` aligns the
server's token texts with the prompt from the end (tolerating a BOS text or a dummy leading space
at the front) and requires a token to start exactly at each placeholder; otherwise the record fails.

"10" on tokenizers that write it as "1","0": the prompt goes on with the placeholder, so the
continuation after a "1" candidate is not in the scored prompt. Requests ask for `split_ten`: our
local server (`serve-local`, LLMConfig.prompt_logprob_offsets) then reads P("0" | "1") at each slot
and returns a "10" candidate beside "1", so 10 is read correctly there. Other servers return "1"
alone, which counts as 1: a lower bound for such tokenizers. With them, prefer a model whose
tokenizer has a "10" token, or the chat-logprob method.
"""

from __future__ import annotations

from collections.abc import Sequence

from tools.llm.protocol import PromptScorer, PromptScoreRequest, PromptScoreResponse
from tools.science.expected_value import value_distribution
from tools.simulators.base import RecordSimulation, simulate_in_groups
from tools.simulators.rendering import (
    AllAtOncePrompt,
    UnreadableAnswer,
    all_at_once_prompt,
    slot_token_indices,
)

METHOD = "prompt-logprob"


class PromptLogprobSimulator:
    """`Simulator` over a `PromptScorer` (vLLM `prompt_logprobs`, llama.cpp with echo and logits_all)."""

    def __init__(self, scorer: PromptScorer, top_logprobs: int = 15) -> None:
        if not 1 <= top_logprobs <= 20:
            raise ValueError("top_logprobs must be between 1 and 20")
        self._scorer = scorer
        self._top_logprobs = top_logprobs

    @property
    def method(self) -> str:
        return METHOD

    async def simulate(self, explanation: str, records: Sequence[Sequence[str]]) -> list[RecordSimulation]:
        async def score(group: Sequence[Sequence[str]]) -> tuple[AllAtOncePrompt, PromptScoreResponse]:
            prompt = all_at_once_prompt(explanation, group[0])
            request = PromptScoreRequest(purpose="simulator", prompt=prompt.text, top_logprobs=self._top_logprobs,
                                         offsets=prompt.slots, split_ten=True)
            return prompt, await self._scorer.score_prompt(request)

        # One record per request: the prompt's own logprobs are read, so records cannot share one.
        return await simulate_in_groups(METHOD, records, 1, score, _read_scores)


def _read_scores(
    records: Sequence[Sequence[str]], scored: tuple[AllAtOncePrompt, PromptScoreResponse]
) -> list[RecordSimulation]:
    """The one record's simulation from its scored prompt."""
    (tokens,) = records
    prompt, response = scored
    try:
        indices = slot_token_indices(
            prompt.text, prompt.slots, response.unscored_prefix, [t.token for t in response.tokens]
        )
        empty_top = next(
            (number for number, at in enumerate(indices) if not response.tokens[at].top), None
        )
        if empty_top is not None:
            raise UnreadableAnswer(f"token {empty_top}: no top logprobs at its placeholder")
    except UnreadableAnswer as err:
        return [RecordSimulation.failed(METHOD, tokens, str(err))]
    distributions = [
        value_distribution((alt.token, alt.logprob) for alt in response.tokens[at].top) for at in indices
    ]
    return [RecordSimulation.from_slots(METHOD, tokens, distributions)]
