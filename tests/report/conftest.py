"""Run folders for the view and report tests: a synthetic one with fixed content (goldens, XSS) and a
real one made by `refinery refine` on the tiny model against the loopback LLM server."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.report.fixture_run import write_fixture_run

REPO = Path(__file__).resolve().parents[2]
PLANTED_KEY = "sk-PLANTED-abc123"
XSS_LINE = ' The object <script>alert(1)</script> and "><img src=x onerror=alert(1)> appear here. '


@pytest.fixture(scope="session")
def fixture_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fixture_run(tmp_path_factory.mktemp("fixture-runs"))


@dataclass(frozen=True)
class RealRun:
    root: Path
    """Everything the run wrote: the run folder, its records and the corpus."""
    runs_dir: Path
    run_dir: Path
    output: str
    """stdout and stderr of every command (debug logs included)."""
    authorizations: list[str]
    """The Authorization headers the LLM server received."""


def refinery(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agent.cli.main", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300, check=False)


@pytest.fixture(scope="session")
def real_run(tmp_path_factory: pytest.TempPathFactory, session_cache: Path) -> RealRun:
    """Two neurons refined with the LLM backend over real HTTP, with an API key in the environment and
    a corpus in which every third document carries markup meant to run in a browser."""
    from bench.support.brain import brain_behaviour
    from bench.support.chat_server import ChatServer, Respond, Status
    from tools.corpus.sources import pydoc_documents

    root = tmp_path_factory.mktemp("real-run")
    corpus = root / "corpus.txt"
    corpus.write_text("\n\n".join(d + (XSS_LINE if i % 3 == 0 else "") for i, d in enumerate(pydoc_documents()[:400])),
                      encoding="utf-8")
    env = os.environ | {"OPENAI_API_KEY": PLANTED_KEY}
    outputs = []
    with ChatServer() as server:
        # One overloaded answer first, so a retried call is in the trace too.
        server.script(Status(503, "overloaded"))
        server.default = Respond(brain_behaviour('the token " object" and "<script>"'))
        for neuron in ("3", "5"):
            done = refinery("refine", "--layer", "1", "--neuron", neuron, "--model", "tiny-llama", "--corpus", str(corpus),
                            "--cache-dir", str(session_cache), "--excerpt-tokens", "32", "--max-excerpts", "200",
                            "--records", str(root / "records"), "--run", "llm", "--runs-dir", str(root / "runs"),
                            "--top-k", "20", "--n-random", "15", "--n", "2", "--probes-per-generator", "2", "--max-iters", "2",
                            "--backend", "llm", "--llm-base-url", server.base_url, "--log-level", "debug", "--json", env=env)
            assert done.returncode == 0, done.stderr[-2000:]
            outputs += [done.stdout, done.stderr]
        authorizations = [r.headers.get("authorization", "") for r in server.requests]
    return RealRun(root=root, runs_dir=root / "runs", run_dir=root / "runs" / "llm", output="\n".join(outputs),
                   authorizations=authorizations)


@pytest.fixture(scope="session")
def real_report(real_run: RealRun) -> Path:
    """`refinery report` on the real run; the path of its index.html."""
    done = refinery("report", "llm", "--runs-dir", str(real_run.runs_dir))
    assert done.returncode == 0, done.stderr
    return Path(done.stdout.strip())
