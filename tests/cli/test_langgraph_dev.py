"""`langgraph dev` serves the `refine` graph of langgraph.json: one neuron run through the server's HTTP
API, on loopback, writes the run folder `refinery refine` writes, and the CLI then finds it finished."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from agent.cli.main import main

pytestmark = pytest.mark.slow

pytest.importorskip("langgraph_api", reason="langgraph-cli[inmem] (the dev extra) is not installed")

REPO = Path(__file__).resolve().parents[2]
LAYER, NEURON, RUN = 1, 3, "studio"
# No traffic beyond loopback: no version check, no CLI analytics, no LangSmith tracing.
OFFLINE = {"LANGGRAPH_NO_VERSION_CHECK": "true", "LANGGRAPH_CLI_NO_ANALYTICS": "1", "LANGSMITH_TRACING": "false"}
STARTUP_S = 120.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def refinery_env(tmp_path: Path, cache: Path) -> dict[str, str]:
    """The tiny model on small records, as tests/agent's `tiny_settings`, through the environment."""
    return {
        "REFINERY_MODEL": "tiny-llama", "REFINERY_CORPUS": "pydoc", "REFINERY_CACHE_DIR": str(cache),
        "REFINERY_EXCERPT_TOKENS": "32", "REFINERY_MAX_EXCERPTS": "200", "REFINERY_RECORDS": str(tmp_path / "records"),
        "REFINERY_RUNS_DIR": str(tmp_path / "runs"), "REFINERY_TOP_K": "20", "REFINERY_N_RANDOM": "15",
        "REFINERY_PROBES_PER_GENERATOR": "2", "REFINERY_DEVICE": "cpu",
    }


def wait_until_serving(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    """Until the server lists the `refine` graph (it imports the graphs after it first answers /ok)."""
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"langgraph dev exited with {server.returncode}:\n{log.read_text()[-4000:]}")
        try:
            found = httpx.post(f"{url}/assistants/search", json={"graph_id": "refine"}, timeout=5).json()
            if found:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    pytest.fail(f"langgraph dev did not serve `refine` within {STARTUP_S:.0f} s:\n{log.read_text()[-4000:]}")


def app_dir(tmp_path: Path) -> Path:
    """The repository's langgraph.json, with the folders its graphs live in: the server keeps its threads
    in `.langgraph_api/` under its working directory, which is this, not the repository."""
    app = tmp_path / "app"
    app.mkdir()
    config = json.loads((REPO / "langgraph.json").read_text())
    (app / "langgraph.json").write_text(json.dumps(config))
    for top in {Path(spec.split(":")[0]).parts[0] for spec in config["graphs"].values()}:
        (app / top).symlink_to(REPO / top)
    return app


@pytest.fixture
def dev_server(tmp_path: Path, session_cache: Path) -> Iterator[str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REFINERY_", "LANGSMITH_", "LANGCHAIN_"))}
    env |= refinery_env(tmp_path, session_cache) | OFFLINE | {"PYTHONPATH": str(REPO)}
    log = tmp_path / "langgraph-dev.log"
    # --allow-blocking: the loop does synchronous work (SQLite checkpoints, records, scoring) on the event loop.
    command = [str(Path(sys.executable).with_name("langgraph")), "dev", "--host", "127.0.0.1", "--port", str(port),
               "--no-browser", "--no-reload", "--allow-blocking"]
    with log.open("wb") as out:
        server = subprocess.Popen(command, cwd=app_dir(tmp_path), env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_serving(url, server, log)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_a_neuron_run_through_the_dev_server_writes_the_run_folder(
    dev_server: str, tmp_path: Path, session_cache: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    with httpx.Client(base_url=dev_server, timeout=600) as client:
        thread = client.post("/threads", json={}).json()["thread_id"]
        request = {"layer": LAYER, "neuron": NEURON, "run": RUN, "backend": "builtin", "settings": {"max_iters": 2}}
        answer = client.post(f"/threads/{thread}/runs/wait", json={"assistant_id": "refine", "input": request}).json()
    assert "__error__" not in answer, answer
    result = answer["result"]
    assert (result["layer"], result["neuron"], result["status"]) == (LAYER, NEURON, "ok")
    assert result["iterations"] == 2 and result["refined"]["heldout_score"] is not None

    run = tmp_path / "runs" / RUN
    assert result["trace"] == str(run / "traces" / str(LAYER) / f"{NEURON}.jsonl")
    events = [json.loads(line)["type"] for line in Path(result["trace"]).read_text().splitlines()]
    assert events[0] == "neuron_started" and "finalized" in events
    assert json.loads((run / "results" / str(LAYER) / f"{NEURON}.json").read_text())["status"] == "ok"
    assert (run / "explanations" / str(LAYER) / f"{NEURON}.jsonl").is_file()
    assert (run / "scores" / str(LAYER) / str(NEURON) / "heldout-refined.json").is_file()
    assert json.loads((run / "config.json").read_text())["params"]["max_iters"] == 2
    # The loop checkpointed into the run folder, under the CLI's thread, not into the server.
    with closing(sqlite3.connect(run / "checkpoints.sqlite")) as db:
        assert db.execute("select distinct thread_id, checkpoint_ns from checkpoints").fetchall() == [(f"{LAYER}/{NEURON}", "")]

    # `refinery refine` on the same run finds the neuron finished and reports what the server did.
    for key, value in refinery_env(tmp_path, session_cache).items():
        monkeypatch.setenv(key, value)
    argv = ["refine", "--layer", str(LAYER), "--neuron", str(NEURON), "--run", RUN, "--backend", "builtin",
            "--max-iters", "2", "--json"]
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out) == result
