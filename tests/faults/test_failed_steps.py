"""No silent failure: an LLM step that produces nothing usable (explain, revise, probe) is a typed trace
event with its reason, and its neuron ends `degraded` (or `failed` when nothing usable remains),
never `ok / converged`. Shown in the result, summary.json, `refinery trace`, the report and the exit
code. Through the real HTTP client against the loopback server; the fault plan is the LLM's answers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent.cli.main import main
from agent.sweep.select import select
from agent.sweep.session import sweep
from bench.support.brain import brain_behaviour
from bench.support.chat_server import ChatServer, Respond, Status
from bench.support.faults import MAX_ATTEMPTS, Fault, call_kind, read_run, sweep_args
from graphs.trace import Finalized, ModelCalled, StepFailed, read_trace, trace_path
from tests.faults.conftest import NEURONS, Serve, http_settings
from tests.sweep.conftest import EXPLANATION, LAYER


def _events(run_root: Path, neuron: int, kind: type) -> list[Any]:
    return [e for e in read_trace(trace_path(run_root, LAYER, neuron)) if isinstance(e, kind)]


def test_a_reviser_that_always_errors_ends_degraded_with_its_reason(
    tmp_path: Path, session_cache: Path, sweep_records: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    brain = brain_behaviour(EXPLANATION)
    # Every reviser call fails, every attempt. Three rounds allowed and a patience of two: before, two
    # empty rounds ended the neuron `ok`, stopped as `converged`.
    server = ChatServer(default=Respond(lambda body: Status(500, "reviser down") if call_kind(body) == "revise" else brain(body)))
    runs = tmp_path / "runs"
    with server:
        code = main([*sweep_args(runs, session_cache, sweep_records, server.base_url, neurons="1"),
                     "--max-iters", "3", "--patience", "2"])
        revise_attempts = sum(call_kind(r.body) == "revise" for r in server.requests)
    run_root = runs / "s"
    assert code == 1, "a degraded neuron is work that failed: exit 1"
    assert revise_attempts == MAX_ATTEMPTS, "the loop stops at the first failed revision (no more paid probes)"

    result = json.loads((run_root / "results" / str(LAYER) / "1.json").read_text())
    assert result["status"] == "degraded" and result["stop"] == "error", result
    [problem] = result["problems"]
    assert problem.startswith("revision failed in round 1: no usable reviser answer") and "HTTP 500" in problem
    # Scored all the same: the one-shot explanation, on the held-out split.
    assert result["refined"]["explanation"] == EXPLANATION and result["paired"]["n_records"] > 0
    [event] = _events(run_root, 1, StepFailed)
    assert event.step == "revise" and "HTTP 500" in event.reason and event.iteration == 1
    assert [c.error is not None for c in _events(run_root, 1, ModelCalled) if c.purpose == "reviser"] == [True]

    row = read_run(run_root).rows[f"{LAYER}/1"]
    assert row["status"] == "degraded" and row["problems"] == problem and row["refined_explanation"] == EXPLANATION
    capsys.readouterr()
    assert main(["trace", "s", "--runs-dir", str(runs)]) == 0
    table = capsys.readouterr().out
    assert f"{LAYER}/1     degraded" in table and "degraded: revision failed in round 1" in table.replace("\n", " ")
    assert main(["trace", "s", "--runs-dir", str(runs), "--neuron", f"{LAYER}/1"]) == 0
    story = capsys.readouterr().out.replace("\n", " ")
    assert "· degraded · stopped: error" in story and "error in revise: no usable reviser answer" in story
    assert main(["report", "s", "--runs-dir", str(runs)]) == 0
    page = (run_root / "report" / "index.html").read_text()
    assert '"status":"degraded"' in page and "revision failed in round 1" in page


async def test_failed_explain_and_probe_steps_are_events_with_reasons(
    serve: Serve, tmp_path: Path, session_cache: Path, sweep_records: Path,
) -> None:
    # Neuron 1's explainer never answers: nothing usable, it fails. Neuron 2's prober never answers:
    # (the first to probe: neuron 1 never gets there) its other probe generators still run and it is
    # revised, but it ends degraded. Neuron 3 is ok.
    server, _ = serve([Fault("500", "explain", nth=0, times=MAX_ATTEMPTS + 1), Fault("500", "probe", nth=0, times=MAX_ATTEMPTS + 1)])
    report = await sweep(http_settings(tmp_path, session_cache, sweep_records, server.base_url), select(NEURONS))
    run_root = tmp_path / "runs" / "s"
    rows = read_run(run_root).rows

    assert rows[f"{LAYER}/1"]["status"] == "failed" and "no explanation" in rows[f"{LAYER}/1"]["error"]
    assert [e.step for e in _events(run_root, 1, StepFailed)] == ["explain"]
    degraded = rows[f"{LAYER}/2"]
    assert degraded["status"] == "degraded" and degraded["stop"] == "max_iters", degraded
    assert degraded["problems"].startswith("probe writing failed in round 1:") and "HTTP 500" in degraded["problems"]
    assert degraded["probes"] > 0 and degraded["refined_explanation"]
    [event] = _events(run_root, 2, StepFailed)
    assert event.step == "probe" and "HTTP 500" in event.reason
    assert rows[f"{LAYER}/3"]["status"] == "ok" and not _events(run_root, 3, StepFailed)
    assert [d["neuron"] for d in report["degraded"]] == [f"{LAYER}/2"] and report["totals"]["degraded"] == 1
    [final] = _events(run_root, 2, Finalized)
    assert final.status == "degraded" and final.problems == [degraded["problems"]]
