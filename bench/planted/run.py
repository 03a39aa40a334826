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

from agent.refine_job import RefineEnvironment, refine_neuron
from agent.refine_setup import open_refine_environment
from bench.options import Backend, fresh_dir, label, settings_for, sizes_of, work_name
from bench.planted.rules import Rule
from bench.planted.subject import PlantedSubject
from bench.stats import mean_of, paired_gain, share
from tools.builtin.simulator import BuiltinSimulator
from tools.evaluate import score_explanation
from tools.explainers.base import word_count
from tools.records.neuron_data import NeuronData
from tools.simulators.base import Simulator
from tools.simulators.select import choose_llm_simulator

RECOVERED = 0.9


def pass_simulator(env: RefineEnvironment, method: str) -> Simulator:
    """The simulator the agent's explanations were scored by (`method` as in settings)."""
    if method == "builtin":
        assert env.vocab is not None
        return BuiltinSimulator(env.vocab)
    assert env.llm is not None
    return choose_llm_simulator(env.llm, method)  # type: ignore[arg-type]


def _held(final: dict[str, Any], key: str) -> dict[str, Any]:
    part = final.get(key) or {}
    text = part.get("explanation")
    return {"explanation": text, "words": word_count(text) if text else None, "score": part.get("heldout_score"),
            "ci": part.get("heldout_ci")}


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


def headline(rows: list[dict[str, Any]], seed: int) -> dict[str, Any]:
    return {
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
        simulator = pass_simulator(env, settings.simulator)
        for neuron, rule in enumerate(subject.rules):
            started = time.monotonic()
            final = await refine_neuron(env, 0, neuron)
            seconds = time.monotonic() - started
            heldout = NeuronData(0, neuron, env.store.read(0, neuron), env.records_per_split).final_heldout()
            truth = await score_explanation(rule.description, heldout, simulator, "test", with_ci=True, seed=settings.seed)
            words = {"explanation": rule.description, "score": truth.score, "ci": truth.ci, "failed_records": truth.n_failed}
            rows.append(neuron_row(rule, neuron, final, words, seconds) | {"heldout_records": len(heldout)})
    return {
        "backend": backend, "label": name, "simulator": simulator.method, "settings": sizes_of(settings),
        "neurons": rows, "headline": headline(rows, settings.seed),
    }
