"""Kill a real `refinery refine` process mid-loop, rerun the same command: same result, no completed call repeated."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.support.brain import brain_behaviour
from bench.support.chat_server import ChatServer, Respond


def _command(tmp_path: Path, cache: Path, base_url: str, run: str) -> list[str]:
    return [sys.executable, "-m", "agent.cli.main", "refine", "--layer", "1", "--neuron", "3", "--model", "tiny-llama",
            "--corpus", "pydoc", "--cache-dir", str(cache), "--excerpt-tokens", "32", "--max-excerpts", "200",
            "--top-k", "20", "--n-random", "15", "--records", str(tmp_path / "records"), "--runs-dir", str(tmp_path / "runs"),
            "--run", run, "--llm-base-url", base_url, "--max-iters", "3", "--patience", "5", "--probes-per-generator", "2",
            "--llm-concurrency", "2", "--json"]


def test_kill_mid_loop_then_rerun(tmp_path: Path, session_cache: Path) -> None:
    env = {**os.environ, "OPENAI_API_KEY": ""}
    env.pop("OPENAI_API_KEY")
    with ChatServer(default=Respond(brain_behaviour('the token " object"'))) as server:
        clean = subprocess.run(_command(tmp_path, session_cache, server.base_url, "clean"), env=env, capture_output=True, check=True)
        uninterrupted_calls = len(server.requests)
        expected = json.loads(clean.stdout)

        trace = tmp_path / "runs" / "killed" / "traces" / "1" / "3.jsonl"
        proc = subprocess.Popen(_command(tmp_path, session_cache, server.base_url, "killed"), env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            if trace.exists() and trace.read_text().count('"node":"revise"') >= 1:
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL, "the process ended before it could be killed mid-loop"
        killed_calls = len(server.requests) - uninterrupted_calls

        resumed = subprocess.run(_command(tmp_path, session_cache, server.base_url, "killed"), env=env, capture_output=True, check=True)
        resumed_calls = len(server.requests) - uninterrupted_calls - killed_calls

    got = json.loads(resumed.stdout)
    for key in ("status", "stop", "oneshot", "refined", "iterations", "probes", "counterexamples", "method"):
        assert got[key] == expected[key], key
    # Calls answered before the kill come from the journal; only calls in flight at the kill (at
    # most the client's concurrency, 2) can be sent again, besides the rerun's own preflight (one
    # call: one model for both roles), which is never answered from the journal.
    assert killed_calls > 0
    assert killed_calls + resumed_calls <= uninterrupted_calls + 2 + 1
    assert resumed_calls < uninterrupted_calls
