"""The refinement graph end to end on the tiny model: offline (builtin) and with a scripted LLM."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from bench.support.brain import brain_response
from graphs.trace import CandidateJudged, Decided, ModelCalled, Scored, SpanStarted, read_trace, trace_path
from tests.agent.conftest import refine, tiny_settings
from tests.support.planted import plant_token_neuron
from tools.llm.fake import ScriptedLLM
from tools.probes.runner import read_probe_batches
from tools.prompting import escape_token
from tools.records.neuron_data import NeuronData
from tools.records.store import RecordStore
from tools.subject.registry import load_subject

TRIGGER = " object"


def brain_llm(explanation: str = 'the token " object"', revised: str | None = None, cost: float = 0.0, calls: int = 400,
              latency_s: float = 0.0) -> ScriptedLLM:
    return ScriptedLLM([brain_response(explanation, revised)] * calls, cost_usd_per_call=cost, latency_s=latency_s)


async def test_builtin_loop_refines_a_planted_neuron_with_real_probes(tmp_path: Path, session_cache: Path) -> None:
    subject = load_subject("tiny-llama")
    token = subject.tokenize([TRIGGER])[0].ids[0]
    plant_token_neuron(subject.hf_model, 7, token)
    settings = tiny_settings(tmp_path, session_cache, backend="builtin")
    [final] = await refine(settings, [(0, 7)], subject=subject)
    assert final["status"] == "ok" and final["stop"] in ("converged", "max_iters", "target")
    assert final["refined"]["heldout_score"] > 0.9
    assert final["probes"] > 0 and final["iterations"] >= 1
    # The field's scorers sit beside r, and the planted token is what the neuron's top records hold.
    assert final["refined"]["scorers"]["detection"] is not None and final["refined"]["scorers"]["threshold"] > 0
    assert set(final["output"]["changes"]) == {"zeroed", "doubled"} and final["output"]["records"] == 5
    # Probes really went through the subject: their stored activations are the model's.
    run = settings.runs_dir / "t"
    batches = sorted((run / "probes" / "0" / "7").glob("iter*.jsonl"))
    probes = read_probe_batches(batches)
    assert {p.generator for p in probes} >= {"builtin-insert", "edit-remove", "corpus-fresh", "subject-continuation"}
    sample = probes[:: max(1, len(probes) // 10)]
    real = subject.activations([p.token_ids for p in sample], 0, [7])
    for probe, values in zip(sample, real, strict=True):
        np.testing.assert_allclose(probe.real, values[:, 0], atol=1e-5)
    inserted = [p for p in probes if p.generator == "builtin-insert" and token in p.token_ids]
    assert inserted and all(max(p.real) > 1.0 for p in inserted)


async def test_llm_loop_uses_every_role_and_exports_openai_format(tmp_path: Path, session_cache: Path) -> None:
    settings = tiny_settings(tmp_path, session_cache)
    llm = brain_llm()
    [final] = await refine(settings, [(1, 3)], llm=llm)
    assert final["status"] == "ok", final
    assert final["oneshot"]["explanation"] == 'the token " object"'
    events = read_trace(trace_path(settings.runs_dir / "t", 1, 3))
    purposes = {e.purpose for e in events if isinstance(e, ModelCalled)}
    assert purposes == {"explainer", "simulator", "prober", "reviser"}
    assert final["method"] == "chat-logprob"
    exported = (settings.runs_dir / "t" / "explanations" / "1" / "3.jsonl").read_text()
    assert json.loads(exported)["dataclass_name"] == "NeuronSimulationResults"
    assert json.loads(exported)["output_side"]["vocab"]["promoted"], "the export's extra field: what the neuron does"


async def test_a_worse_revision_is_recorded_not_adopted(tmp_path: Path, session_cache: Path) -> None:
    settings = tiny_settings(tmp_path, session_cache, max_iters=2, patience=5)
    [final] = await refine(settings, [(1, 3)], llm=brain_llm(revised='the token " zzqq"'))
    events = read_trace(trace_path(settings.runs_dir / "t", 1, 3))
    rejected = [e for e in events if isinstance(e, Decided) and e.decision == "rejected"]
    assert rejected and all(e.explanation == 'the token " zzqq"' for e in rejected)
    assert final["refined"]["explanation"] == final["oneshot"]["explanation"] == 'the token " object"'
    assert final["stop"] == "max_iters" and final["iterations"] == 2


@pytest.mark.parametrize(
    ("limit", "kind"),
    [({"per_neuron_usd": 0.6}, "usd"), ({"per_neuron_tokens": 3000}, "tokens"), ({"per_neuron_minutes": 1e-6}, "seconds"),
     # `refine`'s budget for the whole command, on its one neuron: the same stop, with room for the held-out score.
     ({"budget_usd": 0.6, "one_neuron": True}, "usd"), ({"budget_tokens": 3000, "one_neuron": True}, "tokens")],
)
async def test_each_budget_stops_the_loop_without_overshooting(tmp_path: Path, session_cache: Path, limit: dict, kind: str) -> None:
    cost = 0.002
    limit = dict(limit)
    one_neuron = limit.pop("one_neuron", False)
    settings = tiny_settings(tmp_path, session_cache, max_iters=20, patience=20, **limit)
    llm = brain_llm(cost=cost, calls=5000)

    def estimate(request: object) -> tuple[float, int]:
        # An upper bound, as the real estimator is: the brain counts at most 71 tokens per call.
        return cost, 100

    [final] = await refine(settings, [(1, 3)], llm=llm, estimator=estimate, one_neuron=one_neuron)
    assert final["stop"] == "budget", final
    events = read_trace(trace_path(settings.runs_dir / "t", 1, 3))
    assert any(isinstance(e, Decided) and e.decision == "budget" for e in events)
    ledger = json.loads((settings.runs_dir / "t" / "ledger.json").read_text())["paid"]["total"]
    if kind == "usd":
        assert ledger["cost_usd"] <= 0.6 + cost + 1e-9
    if kind == "tokens":
        assert ledger["prompt_tokens"] + ledger["completion_tokens"] <= 3000 + 100
    if kind in ("usd", "tokens"):
        assert final["iterations"] >= 1, "the budget should allow some rounds"
        assert final["refined"] is not None and final["status"] == "ok", "the final reserve must leave room for held-out scoring"
    if kind == "seconds":
        assert final["status"] == "failed" and ledger["calls"] == 0


async def test_a_wall_time_budget_stops_the_loop_in_time_for_the_heldout_score(tmp_path: Path, session_cache: Path) -> None:
    """A neuron's minutes were spent on the loop and none were left for the held-out score: every timed
    neuron ended failed. The loop now stops early by the time the one-shot's scoring says the held-out
    scoring will take."""
    settings = tiny_settings(tmp_path, session_cache, max_iters=500, patience=500, per_neuron_minutes=0.15)
    # Slow calls, so the 9 s run out in the loop, long before 500 rounds.
    [final] = await refine(settings, [(1, 3)], llm=brain_llm(calls=20_000, latency_s=0.02))
    assert final["stop"] == "budget" and final["iterations"] >= 1, final
    assert final["status"] == "ok" and final["refined"]["heldout_score"] is not None, final
    stop = next(e for e in read_trace(trace_path(settings.runs_dir / "t", 1, 3)) if isinstance(e, Decided) and e.decision == "budget")
    assert "kept for the held-out score" in stop.reason


async def test_one_shot_candidates_that_an_llm_simulator_shows_beaten_on_the_valid_split_go_no_further(
        tmp_path: Path, session_cache: Path) -> None:
    """Every simulated record is a call: a candidate the leader beats on the valid split (half the selection
    records) with the adoption confidence is not simulated on the calibration split too."""
    right, wrong = 'the token " object"', ['the token " zzqq"', 'the token " qqzz"']
    settings = tiny_settings(tmp_path, session_cache, n_explanations=3, max_iters=1)
    llm = ScriptedLLM([right, *wrong] + [brain_response(right)] * 400)
    [final] = await refine(settings, [(1, 3)], llm=llm)
    assert final["oneshot"]["explanation"] == right
    events = read_trace(trace_path(settings.runs_dir / "t", 1, 3))
    one_shot = [e for e in events if isinstance(e, Scored) and e.iteration == 0]
    valid = NeuronData(1, 3, RecordStore(settings.records).read(1, 3), settings.records_per_split).judging_parts()
    n_valid = sum(len(part) for part in valid)
    for text in wrong:
        assert [e.n_records for e in one_shot if e.explanation == text] == [n_valid], "simulated on the valid split only"
        [dropped] = [e for e in events if isinstance(e, CandidateJudged) and e.explanation == text]
        assert not dropped.adopted and dropped.reason.startswith("dropped after the valid split")
    assert [e.n_records for e in one_shot if e.explanation == right] == [n_valid, 2 * n_valid]


async def test_the_free_builtin_simulator_scores_every_one_shot_candidate_on_the_whole_selection(
        tmp_path: Path, session_cache: Path) -> None:
    settings = tiny_settings(tmp_path, session_cache, backend="builtin", max_iters=0)
    await refine(settings, [(1, 3)])
    events = read_trace(trace_path(settings.runs_dir / "t", 1, 3))
    assert not [e for e in events if isinstance(e, CandidateJudged) and e.reason.startswith("dropped")]
    one_shot = [e for e in events if isinstance(e, Scored) and e.iteration == 0 and e.split == "valid"]
    assert len(one_shot) >= 2 and len({e.n_records for e in one_shot}) == 1


async def test_max_iters_is_a_budget_of_rounds(tmp_path: Path, session_cache: Path) -> None:
    settings = tiny_settings(tmp_path, session_cache, max_iters=1, patience=5)
    [final] = await refine(settings, [(1, 3)], llm=brain_llm())
    assert final["stop"] == "max_iters" and final["iterations"] == 1


async def test_heldout_records_reach_no_prompt_before_finalize(tmp_path: Path, session_cache: Path) -> None:
    settings = tiny_settings(tmp_path, session_cache)
    await refine(settings, [(1, 3)], llm=brain_llm())
    record = RecordStore(settings.records).read(1, 3)
    data = NeuronData(1, 3, record)
    heldout_only = {tuple(r.tokens) for r in data.final_heldout()} - {tuple(r.tokens) for r in data.selection() + data.train()}
    blocks = ["\n".join(escape_token(t) for t in tokens) for tokens in heldout_only]
    assert blocks
    node = "?"
    seen_before, seen_in_finalize = [], []
    for event in read_trace(trace_path(settings.runs_dir / "t", 1, 3)):
        if isinstance(event, SpanStarted):
            node = event.node
        if isinstance(event, ModelCalled):
            text = "\n".join(m["content"] for m in event.messages)
            hits = [b for b in blocks if b in text]
            (seen_in_finalize if node == "finalize" else seen_before).extend(hits)
    assert not seen_before, "a held-out record was shown to the LLM before finalize"
    assert seen_in_finalize, "finalize must score on the held-out records (positive control)"


async def test_a_finished_neuron_is_not_run_again(tmp_path: Path, session_cache: Path) -> None:
    settings = tiny_settings(tmp_path, session_cache, max_iters=1)
    llm = brain_llm()
    [first] = await refine(settings, [(1, 3)], llm=llm)
    calls = len(llm.requests)
    [again] = await refine(settings, [(1, 3)], llm=llm)
    assert again == first and len(llm.requests) == calls


async def test_heldout_scores_of_one_shot_and_refined_share_one_round_trip(tmp_path: Path, session_cache: Path) -> None:
    # The planted neuron fires on " object"; the explainer says " the", the reviser " object", which is adopted.
    subject = load_subject("tiny-llama")
    plant_token_neuron(subject.hf_model, 7, subject.tokenize([TRIGGER])[0].ids[0])
    settings = tiny_settings(tmp_path, session_cache, max_iters=1, patience=5)
    latency = 0.2
    llm = ScriptedLLM([brain_response('the token " the"', 'the token " object"')] * 400, latency_s=latency)
    [final] = await refine(settings, [(0, 7)], llm=llm, subject=subject)
    assert (final["oneshot"]["explanation"], final["refined"]["explanation"]) == ('the token " the"', 'the token " object"')
    events = read_trace(trace_path(settings.runs_dir / "t", 0, 7))
    [span] = [e.span_id for e in events if isinstance(e, SpanStarted) and e.node == "finalize"]
    ended: dict[str, list[float]] = {'" the"': [], '" object"': []}
    for e in events:
        if isinstance(e, ModelCalled) and e.span_id == span:
            prompt = "\n".join(m["content"] for m in e.messages)
            [quoted] = [q for q in ended if f"the token {q}" in prompt]
            ended[quoted].append(datetime.fromisoformat(e.ts).timestamp())
    assert all(ended.values())
    # Asked one after the other, the second explanation's calls would end a whole call later.
    everything = [t for times in ended.values() for t in times]
    assert max(everything) - min(everything) < latency
