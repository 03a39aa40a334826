"""One benchmark pass: refine every planted neuron with one backend, then score the ground truth.

The oracle is scored by the very simulator that scored the agent's explanations, on the very
held-out records of the neuron, so refined/oracle says how much of what that simulator *could*
credit the agent recovered. With the builtin simulator (the builtin backend, or an LLM explaining
with `--simulator builtin`) the oracle is the rule in the builtin grammar, and its words are scored
too, as `oracle_words` (how well the builtin simulator reads a person's sentence); with an LLM
simulator the oracle is the rule's words.
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
from bench.stats import mean_of, paired_gain, ratio, share
from tools.builtin.simulator import BuiltinSimulator
from tools.evaluate import ExplanationScore, score_explanation
from tools.formats.openai import ActivationRecord
from tools.records.neuron_data import NeuronData
from tools.simulators.base import Simulator
from tools.simulators.select import choose_llm_simulator

NEAR_ORACLE = 0.9


def oracle_simulator(env: RefineEnvironment, method: str) -> Simulator:
    """The simulator the agent's explanations were scored by (`method` as in settings)."""
    if method == "builtin":
        assert env.vocab is not None
        return BuiltinSimulator(env.vocab)
    assert env.llm is not None
    return choose_llm_simulator(env.llm, method)  # type: ignore[arg-type]


def _scored(result: ExplanationScore | None, explanation: str | None) -> dict[str, Any]:
    if result is None:
        return {"explanation": explanation, "score": None, "ci": None}
    return {"explanation": result.explanation, "score": result.score, "ci": result.ci, "failed_records": result.n_failed}


def _held(final: dict[str, Any], key: str) -> dict[str, Any]:
    part = final.get(key) or {}
    return {"explanation": part.get("explanation"), "score": part.get("heldout_score"), "ci": part.get("heldout_ci")}


def neuron_row(rule: Rule, neuron: int, final: dict[str, Any], oracle: ExplanationScore | None,
               words: ExplanationScore | None, oracle_text: str | None, seconds: float) -> dict[str, Any]:
    oneshot, refined = _held(final, "oneshot"), _held(final, "refined")
    reference = oracle.score if oracle is not None else None
    row: dict[str, Any] = {
        "rule": rule.name, "kind": rule.kind, "neuron": neuron, "status": final["status"], "stop": final["stop"],
        "error": final.get("error"), "oneshot": oneshot, "refined": refined, "oracle": _scored(oracle, oracle_text),
        "oneshot_over_oracle": ratio(oneshot["score"], reference), "refined_over_oracle": ratio(refined["score"], reference),
        "iterations": final["iterations"], "probes": final["probes"], "tokens": final["tokens"],
        "cost_usd": final["cost_usd"], "seconds": round(seconds, 2),
    }
    if oracle_text is None:
        row["oracle_missing"] = rule.note
    if words is not None:
        row["oracle_words"] = _scored(words, rule.description)
    return row


def headline(rows: list[dict[str, Any]], seed: int) -> dict[str, Any]:
    refined_ratio = [r["refined_over_oracle"] for r in rows]
    with_ratio = [v for v in refined_ratio if v is not None]
    return {
        "neurons": len(rows),
        "neurons_with_oracle_ratio": len(with_ratio),
        "mean_oneshot_over_oracle": mean_of([r["oneshot_over_oracle"] for r in rows]),
        "mean_refined_over_oracle": mean_of(refined_ratio),
        "share_refined_at_least_0.9_oracle": share(refined_ratio, NEAR_ORACLE),
        "share_oneshot_at_least_0.9_oracle": share([r["oneshot_over_oracle"] for r in rows], NEAR_ORACLE),
        "refined_minus_oneshot": paired_gain([r["oneshot"]["score"] for r in rows], [r["refined"]["score"] for r in rows], seed),
        "mean_oneshot": mean_of([r["oneshot"]["score"] for r in rows]),
        "mean_refined": mean_of([r["refined"]["score"] for r in rows]),
        "mean_oracle": mean_of([r["oracle"]["score"] for r in rows]),
        "tokens_per_neuron": mean_of([r["tokens"] for r in rows]),
        "usd_per_neuron": mean_of([r["cost_usd"] for r in rows]),
        "seconds_per_neuron": mean_of([r["seconds"] for r in rows]),
        "failed": [r["rule"] for r in rows if r["status"] != "ok"],
    }


async def _score(text: str | None, records: list[ActivationRecord], simulator: Simulator, seed: int) -> ExplanationScore | None:
    if text is None:
        return None
    return await score_explanation(text, records, simulator, "test", with_ci=True, seed=seed)


async def run_pass(args: argparse.Namespace, subject: PlantedSubject, backend: Backend) -> dict[str, Any]:
    name = label(args, backend)
    work = fresh_dir(args.runs_dir / "bench" / "work" / args.name / work_name(args, backend))
    settings = settings_for(args, backend, work, work / "records")
    neurons = [(0, i) for i in range(len(subject.rules))]
    rows = []
    async with open_refine_environment(settings, neurons, subject=subject) as env:
        simulator = oracle_simulator(env, settings.simulator)
        builtin = settings.simulator == "builtin"
        for neuron, rule in enumerate(subject.rules):
            started = time.monotonic()
            final = await refine_neuron(env, 0, neuron)
            seconds = time.monotonic() - started
            heldout = NeuronData(0, neuron, env.store.read(0, neuron), env.records_per_split).final_heldout()
            oracle_text = rule.oracle if builtin else rule.description
            oracle = await _score(oracle_text, heldout, simulator, settings.seed)
            words = await _score(rule.description, heldout, simulator, settings.seed) if builtin else None
            rows.append(neuron_row(rule, neuron, final, oracle, words, oracle_text, seconds) | {"heldout_records": len(heldout)})
    return {
        "backend": backend, "label": name, "simulator": simulator.method, "settings": sizes_of(settings),
        "neurons": rows, "headline": headline(rows, settings.seed),
    }
