"""Matched baselines for the refinement loop (docs/benchmarks.md#matched-baselines), builtin backend.

A loop that does not beat both of these is an expensive way to sample:
- best-of-k: k = the distinct candidate explanations the agent simulated for the neuron. The builtin
  explainer is deterministic, so its diversity comes from what a sampler can vary: the first draw is
  the explainer's own candidates on all train records; every later draw refits on a bootstrap
  resample of the train records (same count, with replacement) at a word budget drawn uniformly from
  3 to the cap. The k distinct texts are scored on the selection split (valid + calibration) and the
  best is kept, as the one-shot choice is made.
- refit: the explainer fit once on everything the loop learned from (train, the calibration split,
  and every probe it ran, fresh corpus excerpts included, with their real activations), weighted as
  the reviser weights it, no loop; its candidates are chosen on the selection split the same way.
Both are scored on the same held-out records by the same simulator as the one-shot and refined
explanations, and compared with the refined one record by record (paired bootstrap).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from graphs.trace import CandidateJudged, ExplanationsProposed, read_trace, trace_path
from tools.builtin.compose import candidate_explanations
from tools.builtin.evidence import Evidence, EvidenceText
from tools.builtin.reviser import evidence_texts
from tools.builtin.simulator import BuiltinSimulator
from tools.builtin.vocab import VocabIndex
from tools.evaluate import ExplanationScore, compare_on, score_explanation
from tools.formats.openai import ActivationRecord
from tools.probes.runner import read_probe_batches
from tools.records.neuron_data import NeuronData
from tools.scorers import field_scores

ATTEMPTS_PER_CANDIDATE = 8
"""Resampled fits tried per wanted candidate before best-of-k settles for fewer distinct texts."""


REVISION_KINDS = ("edit", "refit", "answering refit")


def revision_kind(answers: Sequence[str], note: str | None) -> str:
    """What wrote an adopted revision (docs/science.md#revision): a refit answers no counterexample; an answering
    refit is the builtin reviser's refit around one ("refitted with ...", "refitted answering ..."); the rest edit."""
    if not answers:
        return "refit"
    return "answering refit" if (note or "").startswith("refitted") else "edit"


def loop_counts(run_dir: Path, layer: int, neuron: int) -> dict[str, Any]:
    """From the neuron's trace: distinct candidates simulated, adopted revisions, those naming a counterexample,
    and the adopted revisions by kind."""
    events = read_trace(trace_path(run_dir, layer, neuron))
    proposed = [e for e in events if isinstance(e, ExplanationsProposed)]
    candidates = {t for e in proposed for t in e.explanations}
    notes: dict[str, str | None] = {}
    for e in proposed:
        for text, note in zip(e.explanations, e.notes or [None] * len(e.explanations), strict=True):
            notes.setdefault(text, note)
    adopted = [e for e in events if isinstance(e, CandidateJudged) and e.adopted and (e.iteration or 0) > 0]
    kinds = [revision_kind(e.answers, notes.get(e.explanation)) for e in adopted]
    return {"candidates": len(candidates), "adopted_revisions": len(adopted),
            "adopted_answering_counterexample": sum(bool(e.answers) for e in adopted),
            "adopted_by_kind": {kind: kinds.count(kind) for kind in REVISION_KINDS}}


def _evidence(records: Sequence[ActivationRecord], vocab: VocabIndex) -> Evidence:
    return Evidence.from_texts((EvidenceText(r.tokens, r.activations) for r in records), vocab)


def diverse_candidates(train: Sequence[ActivationRecord], vocab: VocabIndex, k: int, max_words: int, seed: int) -> list[str]:
    """Up to `k` distinct builtin explanations: the explainer's own first, then fits on resampled train records
    at random word budgets."""
    rng = np.random.default_rng(seed)
    texts: list[str] = []
    for attempt in range(ATTEMPTS_PER_CANDIDATE * k):
        if len(texts) >= k:
            break
        if attempt == 0:
            subset, budget = list(train), max_words
        else:
            subset = [train[int(i)] for i in rng.integers(0, len(train), len(train))]
            budget = int(rng.integers(3, max_words + 1))
        for fit in candidate_explanations(_evidence(subset, vocab), vocab, 6, budget):
            if fit.text not in texts:
                texts.append(fit.text)
    return texts[:k]


def refit_candidates(data: NeuronData, probe_files: Sequence[Path], vocab: VocabIndex, n: int, max_words: int) -> list[str]:
    """The explainer fit once on train, the calibration split and every probe the loop ran."""
    top, rand = data.selection_parts()
    texts = evidence_texts(data.train(), data.evidence(), read_probe_batches(probe_files),
                           {"top": float(len(top)), "random": float(len(rand))}, data.top_threshold)
    return [f.text for f in candidate_explanations(Evidence.from_texts(texts, vocab), vocab, n, max_words)]


async def _best_on_selection(texts: Sequence[str], data: NeuronData, simulator: BuiltinSimulator) -> str | None:
    best: tuple[float, str] | None = None
    for text in texts:
        score = (await score_explanation(text, data.selection(), simulator, "valid")).score
        if score is not None and (best is None or score > best[0]):
            best = (score, text)
    return best[1] if best else (texts[0] if texts else None)


async def _arm(texts: Sequence[str], data: NeuronData, heldout: Sequence[ActivationRecord], simulator: BuiltinSimulator,
               refined: ExplanationScore | None, started: float, seed: int) -> dict[str, Any]:
    chosen = await _best_on_selection(texts, data, simulator)
    if chosen is None:
        return {"explanation": None, "score": None, "candidates": len(texts), "seconds": round(time.monotonic() - started, 3)}
    score = await score_explanation(chosen, heldout, simulator, "test", with_ci=True, seed=seed)
    both = [i for i, s in enumerate(score.simulations) if s.ok and refined is not None and refined.simulations[i].ok]
    paired = compare_on(score, refined, both, seed=seed) if refined is not None else None
    return {
        "explanation": chosen, "score": score.score, "ci": score.ci, "candidates": len(texts), "probes": 0, "tokens": 0,
        "scorers": field_scores(score, data.heldout_top_count, data.max_activation, seed).model_dump(),
        "refined_minus": None if paired is None else {"delta": paired.delta, "ci": paired.ci, "p_better": paired.p_better},
        "seconds": round(time.monotonic() - started, 3),
    }


async def matched_baselines(run_dir: Path, data: NeuronData, vocab: VocabIndex, n_explanations: int, max_words: int,
                            seed: int) -> dict[str, Any]:
    """Best-of-k and refit for one refined neuron, scored on its held-out split (opened here, after the loop)."""
    counts = loop_counts(run_dir, data.layer, data.neuron)
    simulator = BuiltinSimulator(vocab)
    heldout = data.final_heldout()
    path = run_dir / "scores" / str(data.layer) / str(data.neuron) / "heldout-refined.json"
    refined = ExplanationScore.model_validate_json(path.read_text(encoding="utf-8")) if path.is_file() else None
    probes = sorted((run_dir / "probes" / str(data.layer) / str(data.neuron)).glob("iter*.jsonl"))
    started = time.monotonic()
    best_of_k = await _arm(diverse_candidates(data.train(), vocab, max(counts["candidates"], 1), max_words, seed),
                           data, heldout, simulator, refined, started, seed)
    started = time.monotonic()
    refit = await _arm(refit_candidates(data, probes, vocab, n_explanations, max_words), data, heldout, simulator, refined,
                       started, seed)
    return {"k": counts["candidates"], "best_of_k": best_of_k, "refit": refit,
            "adopted_revisions": counts["adopted_revisions"],
            "adopted_answering_counterexample": counts["adopted_answering_counterexample"],
            "adopted_by_kind": counts["adopted_by_kind"]}


def revision_share(rows: Sequence[dict[str, Any]]) -> float | None:
    """Share of all adopted revisions that answered a named counterexample."""
    adopted = sum(r["matched"]["adopted_revisions"] for r in rows if r.get("matched"))
    answering = sum(r["matched"]["adopted_answering_counterexample"] for r in rows if r.get("matched"))
    return round(answering / adopted, 4) if adopted else None


def kinds_adopted(rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Adopted revisions over all neurons, by what wrote them: which kind wins."""
    return {kind: sum((r["matched"].get("adopted_by_kind") or {}).get(kind, 0) for r in rows if r.get("matched"))
            for kind in REVISION_KINDS}
