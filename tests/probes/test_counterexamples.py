"""Counterexamples: the probes where an explanation's simulation and the neuron disagree most (tools/probes/counterexamples.py)."""

from __future__ import annotations

from tools.probes.counterexamples import counterexample_of, top_counterexamples
from tools.probes.types import ProbeResult

MAX_ACTIVATION = 2.0  # real 2.0 is 10 on the simulator's scale


def probe(text: str, real: list[float], predicted: list[float] | None) -> ProbeResult:
    tokens = text.split()
    return ProbeResult(generator="llm-should-fire", text=text, token_ids=list(range(len(tokens))), tokens=tokens, real=real,
                       predicted=predicted)


def test_a_disagreement_is_a_false_positive_or_negative_at_its_offending_tokens() -> None:
    over = counterexample_of(probe("the red fox", [0.0, 0.0, 0.0], [0.0, 8.0, 1.0]), MAX_ACTIVATION)
    assert over is not None and (over.kind, over.offending, over.error) == ("false_positive", [1], 8.0)
    under = counterexample_of(probe("the red fox", [0.0, 2.0, 0.0], [0.0, 1.0, 0.0]), MAX_ACTIVATION)
    assert under is not None and (under.kind, under.offending, under.error) == ("false_negative", [1], 9.0)


def test_agreement_within_the_threshold_or_a_failed_simulation_is_no_counterexample() -> None:
    assert counterexample_of(probe("the red fox", [0.0, 2.0, 0.0], [1.0, 8.0, 0.0]), MAX_ACTIVATION) is None
    assert counterexample_of(probe("the red fox", [0.0, 2.0, 0.0], None), MAX_ACTIVATION) is None


def test_the_largest_come_first_alternating_kinds() -> None:
    probes = [probe("a b", [0.0, 0.0], [0.0, 5.0]), probe("c d", [0.0, 0.0], [0.0, 9.0]),
              probe("e f", [2.0, 0.0], [0.0, 0.0]), probe("g h", [0.0, 0.0], [0.0, 7.0])]
    found = top_counterexamples(probes, MAX_ACTIVATION, k=3)
    assert [(c.kind, c.text) for c in found] == [("false_negative", "e f"), ("false_positive", "c d"), ("false_positive", "g h")]
