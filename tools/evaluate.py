"""Score an explanation on a set of records: simulate, then correlate with the real activations.

The score is the pooled Pearson r (docs/science.md#pooled-correlation) between raw true activations and simulated
0-10 values, over the records whose simulation succeeded; failed records are counted and
excluded, never scored as zeros.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from pydantic import BaseModel, Field

from tools.formats.openai import (
    ActivationRecord,
    ActivationScale,
    ScoredExplanation,
    ScoredSequenceSimulation,
    ScoredSimulation,
    SequenceSimulation,
)
from tools.science.paired import PairedComparison, compare_paired, weighted_pooled_r
from tools.science.scoring import aggregate_correlation, bootstrap_ci, pearson
from tools.simulators.base import RecordSimulation, Simulator


class ExplanationScore(BaseModel):
    """An explanation's score on one split, with everything needed to audit or export it."""

    explanation: str
    method: str = Field(description="Simulator method that produced the score.")
    split: str = Field(description="Which records were scored: train, valid (selection), test (held-out), probes...")
    score: float | None = Field(description="Pooled Pearson r over ok records; None when undefined.")
    score_reason: str | None = None
    ci: tuple[float, float] | None = Field(None, description="95% bootstrap interval, resampling records.")
    n_records: int
    n_failed: int
    per_record: list[float | None]
    true_activations: list[list[float]] = Field(description="Raw neuron values per record.")
    simulations: list[RecordSimulation]
    weights: list[float] | None = Field(
        None, description="Per record, how much its tokens count (a selection set enlarged with many random excerpts); "
                          "None = every token counts once, as in the published score.")
    strata: list[int] | None = Field(None, description="Per record, its kind for resampling: 0 top records, 1 random excerpts.")
    value_mass: float | None = Field(
        None, description="Median over the read records of their value mass (RecordSimulation.value_mass, 0-1); None "
                          "when the method reads no logprobs.")

    def pairs(self) -> list[tuple[list[float], list[float]]]:
        return [(t, s.expected) for t, s in zip(self.true_activations, self.simulations, strict=True) if s.ok and s.expected is not None]

    def to_openai(self) -> ScoredExplanation:
        """OpenAI's ScoredExplanation (failed records are left out: there is no simulation to store)."""
        seqs = []
        for true, sim, r in zip(self.true_activations, self.simulations, self.per_record, strict=True):
            if not sim.ok or sim.expected is None:
                continue
            seqs.append(ScoredSequenceSimulation(
                simulation=SequenceSimulation(
                    tokens=sim.tokens, expected_activations=sim.expected,
                    activation_scale=ActivationScale.SIMULATED_NORMALIZED_ACTIVATIONS,
                    distribution_values=sim.distribution_values or [],
                    distribution_probabilities=sim.distribution_probabilities or [],
                ),
                true_activations=true, ev_correlation_score=r,
            ))
        return ScoredExplanation(
            explanation=self.explanation,
            scored_simulation=ScoredSimulation(scored_sequence_simulations=seqs, ev_correlation_score=self.score),
        )


def score_simulations(
    explanation: str, records: Sequence[ActivationRecord], simulations: Sequence[RecordSimulation], split: str,
    method: str, with_ci: bool = False, seed: int = 0, weights: Sequence[float] | None = None,
    strata: Sequence[int] | None = None,
) -> ExplanationScore:
    """Pure: correlate given simulations with the records' activations (weighted when `weights` are given)."""
    true = [list(r.activations) for r in records]
    per_record: list[float | None] = []
    pairs = []
    kept_weights = []
    for i, (t, sim) in enumerate(zip(true, simulations, strict=True)):
        if sim.ok and sim.expected is not None:
            if len(sim.expected) != len(t):
                raise ValueError(f"simulator {method} returned {len(sim.expected)} values for {len(t)} tokens")
            per_record.append(pearson(t, sim.expected).value)
            pairs.append((t, sim.expected))
            kept_weights.append(weights[i] if weights is not None else 1.0)
        else:
            per_record.append(None)
    n_failed = len(records) - len(pairs)
    agg = aggregate_correlation(pairs)
    value, reason = agg.value, agg.reason
    if weights is not None and pairs:
        value = weighted_pooled_r([t for t, _ in pairs], [p for _, p in pairs], kept_weights)
        reason = None if value is not None else (reason or "undefined weighted correlation")
    if not pairs and records:
        reason = f"all {len(records)} record simulations failed"
    return ExplanationScore(
        explanation=explanation, method=method, split=split, score=value, score_reason=reason,
        ci=bootstrap_ci(pairs, seed=seed) if with_ci else None, n_records=len(records), n_failed=n_failed,
        per_record=per_record, true_activations=true, simulations=list(simulations),
        weights=list(weights) if weights is not None else None, strata=list(strata) if strata is not None else None,
        value_mass=median_value_mass(simulations),
    )


def median_value_mass(simulations: Sequence[RecordSimulation]) -> float | None:
    """The median value mass of the records read with logprobs (None: no such record)."""
    masses = [s.value_mass for s in simulations if s.ok and s.value_mass is not None]
    return round(float(statistics.median(masses)), 6) if masses else None


async def score_explanation(
    explanation: str, records: Sequence[ActivationRecord], simulator: Simulator, split: str,
    with_ci: bool = False, seed: int = 0, weights: Sequence[float] | None = None, strata: Sequence[int] | None = None,
) -> ExplanationScore:
    simulations = await simulator.simulate(explanation, [r.tokens for r in records])
    return score_simulations(explanation, records, simulations, split, simulator.method, with_ci, seed, weights, strata)


def failed_records(score: ExplanationScore) -> list[int]:
    return [i for i, sim in enumerate(score.simulations) if not sim.ok or sim.expected is None]


def compare_on(a: ExplanationScore, b: ExplanationScore, records: Sequence[int], seed: int = 0) -> PairedComparison:
    """b's pooled r minus a's on the given records (each read by both), with a paired bootstrap interval
    resampled within the records' strata when the scores carry them."""
    strata = [a.strata[i] for i in records] if a.strata is not None else None
    return compare_paired([a.true_activations[i] for i in records], [a.simulations[i].expected or [] for i in records],
                          [b.simulations[i].expected or [] for i in records], strata=strata, seed=seed)


def score_on(score: ExplanationScore, records: Sequence[int]) -> float | None:
    """The pooled r of `score`'s simulations on the given records only (each must have been read)."""
    pairs = [(score.true_activations[i], score.simulations[i].expected or []) for i in records]
    return aggregate_correlation(pairs).value

