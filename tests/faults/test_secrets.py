"""A planted API key, in use for a whole sweep with faults and echoed back by the server in its error
bodies, reaches no file the sweep and its report write: traces, debug logs, results, summary,
manifest, ledger, config, the checkpoint and journal databases, the HTML report."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bench.support.chat_server import ChatServer, Respond
from bench.support.faults import MAX_ATTEMPTS, REPO, Fault, FaultPlan, read_run, start_sweep, sweep_args
from tests.sweep.conftest import EXPLANATION

PLANTED = "sk-PLANTED-6f1d0c2b9a8e47d3b5c1a0f9e8d7c6b5"
WAIT_S = 300
"""A safety net for a hung subprocess, far above a sweep's few seconds; never what a test measures."""


def test_a_planted_key_reaches_no_file_of_the_sweep_or_its_report(tmp_path: Path, session_cache: Path, records_copy: Path) -> None:
    # The server quotes the key it was sent in its error bodies.
    plan = FaultPlan(EXPLANATION, [Fault("500", "explain", nth=1, times=MAX_ATTEMPTS + 1), Fault("429", "simulate", nth=0, times=2),
                                   Fault("non-json", "simulate", nth=3), Fault("500", "revise", nth=0)], echo=PLANTED)
    env = os.environ | {"OPENAI_API_KEY": PLANTED}
    log = tmp_path / "sweep-debug.log"
    with ChatServer(default=Respond(plan)) as server, log.open("wb") as stderr:
        args = [*sweep_args(tmp_path / "runs", session_cache, records_copy, server.base_url), "--log-level", "debug"]
        assert start_sweep(args, env=env, stderr=stderr).wait(timeout=WAIT_S) == 1  # neuron 2's explainer never answered
        keys = {request.headers.get("authorization") for request in server.requests}
    report = subprocess.run([sys.executable, "-m", "agent.cli.main", "report", "s", "--runs-dir", str(tmp_path / "runs"),
                             "--log-level", "debug"], cwd=REPO, env=env, capture_output=True, timeout=WAIT_S, check=False)
    assert report.returncode == 0, report.stderr[-2000:]

    assert keys == {f"Bearer {PLANTED}"}  # the key was really in use, on every request
    assert "llm_retry" in log.read_text()  # debug logs were on, and saw the faults
    reason = read_run(tmp_path / "runs" / "s").rows["1/2"]["error"]
    assert "HTTP 500" in reason and "(key [redacted] rejected)" in reason  # the echoed key was there to leak
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert {"index.html", "journal.sqlite", "checkpoints.sqlite", "ledger.json", "summary.json", "manifest.json",
            "config.json", "2.jsonl"} <= {p.name for p in files}
    assert [p for p in files if PLANTED.encode() in p.read_bytes()] == []
    assert PLANTED.encode() not in report.stdout + report.stderr
