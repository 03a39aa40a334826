"""One benchmark pass: refine every planted neuron with one backend, and score the ground truth in words.

Every rule's activations come from its own definition, so a perfect explanation scores close to 1 on
the held-out records (the jitter keeps it just under). A rule counts as recovered when its refined
explanation scores at least 0.9 there. The rule's description (its ground truth in words) is scored
by the same simulator on the same records, which says how well that simulator reads a person's
sentence about the rule; the agent's explanations are judged against 1, not against that reading.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from agent.refine_job import refine_neuron
from agent.refine_setup import open_refine_environment
from bench.matched import kinds_adopted, matched_baselines, revision_share
from bench.options import Backend, fresh_dir, label, settings_for, sizes_of, work_name
from bench.planted.rules import Rule
from bench.planted.subject import PlantedSubject
from bench.stats import mean_of, paired_gain, share
from tools.evaluate import score_explanation
from tools.explainers.base import word_count
from tools.formats.openai import ActivationRecord
from tools.records.neuron_data import NeuronData
from tools.scorers import field_scores
from tools.simulators.base import Simulator

RECOVERED = 0.9
TOKEN_KINDS = ("single token", "token set", "token class", "token class (suffix)", "rare")
"""Rules that fire on tokens whatever their context: their ground truth in words should detect at >= 0.9."""


def _held(final: dict[str, Any], key: str) -> dict[str, Any]:
    part = final.get(key) or {}
    text = part.get("explanation")
    return {"explanation": text, "words": word_count(text) if text else None, "score": part.get("heldout_score"),
            "ci": part.get("heldout_ci"), "scorers": part.get("scorers")}


async def _scored(text: str, heldout: list[ActivationRecord], data: NeuronData, simulator: Simulator, seed: int) -> dict[str, Any]:
    """`text` on the held-out records, with r's interval and the field's scorers."""
    score = await score_explanation(text, heldout, simulator, "test", with_ci=True, seed=seed)
    return {"explanation": text, "score": score.score, "ci": score.ci, "failed_records": score.n_failed,
            "scorers": field_scores(score, data.heldout_top_count, data.max_activation, seed).model_dump()}


def neuron_row(rule: Rule, neuron: int, final: dict[str, Any], truth: dict[str, Any], seconds: float) -> dict[str, Any]:
    oneshot, refined = _held(final, "oneshot"), _held(final, "refined")
    row: dict[str, Any] = {
        "rule": rule.name, "kind": rule.kind, "neuron": neuron, "status": final["status"], "stop": final["stop"],
        "error": final.get("error"), "oneshot": oneshot, "refined": refined, "truth_in_words": truth,
        "recovered": refined["score"] is not None and refined["score"] >= RECOVERED,
        "iterations": final["iterations"], "probes": final["probes"], "tokens": final["tokens"],
        "cost_usd": final["cost_usd"], "seconds": round(seconds, 2),
    }
    if rule.note:
        row["note"] = rule.note
    return row


def _scorer_means(rows: list[dict[str, Any]], arm: str) -> dict[str, float | None]:
    def pick(r: dict[str, Any]) -> dict[str, Any]:
        part: dict[str, Any] = (r.get("matched") or {}).get(arm) or r.get(arm) or {}
        return part.get("scorers") or {}
    return {name: mean_of([pick(r).get(name) for r in rows]) for name in ("detection", "fuzzing", "f1", "auprc")}


def headline(rows: list[dict[str, Any]], seed: int) -> dict[str, Any]:
    token_rules = [r for r in rows if r["kind"] in TOKEN_KINDS]
    scored = [r for r in rows if r.get("matched")]
    return {
        "field_scorers": {arm: _scorer_means(rows, arm) for arm in ("truth_in_words", "shuffled", "oneshot", "refined",
                                                                     "best_of_k", "refit")},
        "truth_detection_token_rules": mean_of([(r["truth_in_words"].get("scorers") or {}).get("detection") for r in token_rules]),
        "mean_best_of_k": mean_of([r["matched"]["best_of_k"]["score"] for r in scored]),
        "mean_refit": mean_of([r["matched"]["refit"]["score"] for r in scored]),
        "refined_minus_best_of_k": paired_gain([r["matched"]["best_of_k"]["score"] for r in scored],
                                               [r["refined"]["score"] for r in scored], seed),
        "refined_minus_refit": paired_gain([r["matched"]["refit"]["score"] for r in scored], [r["refined"]["score"] for r in scored], seed),
        "mean_k": mean_of([r["matched"]["k"] for r in scored]),
        "share_adopted_answering_counterexample": revision_share(scored),
        "adopted_by_kind": kinds_adopted(scored),
        "neurons": len(rows),
        "mean_oneshot": mean_of([r["oneshot"]["score"] for r in rows]),
        "mean_refined": mean_of([r["refined"]["score"] for r in rows]),
        "refined_minus_oneshot": paired_gain([r["oneshot"]["score"] for r in rows], [r["refined"]["score"] for r in rows], seed),
        "share_refined_recovered": share([r["refined"]["score"] for r in rows], RECOVERED),
        "share_oneshot_recovered": share([r["oneshot"]["score"] for r in rows], RECOVERED),
        "not_recovered": [r["rule"] for r in rows if not r["recovered"]],
        "mean_truth_in_words": mean_of([r["truth_in_words"]["score"] for r in rows]),
        "mean_refined_words": mean_of([r["refined"]["words"] for r in rows]),
        "tokens_per_neuron": mean_of([r["tokens"] for r in rows]),
        "usd_per_neuron": mean_of([r["cost_usd"] for r in rows]),
        "seconds_per_neuron": mean_of([r["seconds"] for r in rows]),
        "failed": [r["rule"] for r in rows if r["status"] not in ("ok", "degraded")],
    }


async def run_pass(args: argparse.Namespace, subject: PlantedSubject, backend: Backend) -> dict[str, Any]:
    name = label(args, backend)
    work = fresh_dir(args.runs_dir / "bench" / "work" / args.name / work_name(args, backend))
    settings = settings_for(args, backend, work, work / "records")
    neurons = [(0, i) for i in range(len(subject.rules))]
    rows = []
    async with open_refine_environment(settings, neurons, subject=subject) as env:
        # The simulator the agent's explanations were scored by, on the backend's client (not its journal).
        simulator = env.backend.simulator()
        for neuron, rule in enumerate(subject.rules):
            started = time.monotonic()
            final = await refine_neuron(env, 0, neuron)
            seconds = time.monotonic() - started
            data = NeuronData(0, neuron, env.store.read(0, neuron), env.records_per_split)
            heldout = data.final_heldout()
            truth = await _scored(rule.description, heldout, data, simulator, settings.seed)
            # Another rule's ground truth on this rule's records: what a wrong explanation scores (chance: 0.5).
            other = subject.rules[(neuron + 1) % len(subject.rules)].description
            shuffled = await _scored(other, heldout, data, simulator, settings.seed)
            matched = (await matched_baselines(env.run.root, data, env.backend.vocab, settings.n_explanations,
                                               settings.max_explanation_words, settings.seed)
                       if backend == "builtin" else None)
            rows.append(neuron_row(rule, neuron, final, truth, seconds)
                        | {"heldout_records": len(heldout), "shuffled": shuffled, "matched": matched})
    return {
        "backend": backend, "label": name, "simulator": simulator.method, "settings": sizes_of(settings),
        "neurons": rows, "headline": headline(rows, settings.seed),
    }
