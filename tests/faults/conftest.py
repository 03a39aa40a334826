"""Fault-suite fixtures: sweeps of the tiny model through the real HTTP client, against a loopback
server that injects faults (`bench/support/faults.py`)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.settings import Settings
from bench.support.chat_server import ChatServer, Respond
from bench.support.faults import MAX_RETRIES, TIMEOUT_S, Fault, FaultPlan
from tests.sweep.conftest import EXPLANATION, LAYER, sweep_settings

NEURONS = [(LAYER, n) for n in (1, 2, 3)]
"""Neurons that all finish ok when nothing goes wrong (neuron 0 fails its one-shot scoring)."""


@pytest.fixture(autouse=True)
def _no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # the loopback server is the only LLM


def http_settings(tmp_path: Path, cache: Path, records: Path, base_url: str, **overrides: Any) -> Settings:
    """Sweep settings on the real client (those of `sweep_args`): bounded retries, a per-attempt
    timeout. One neuron at a time, so calls that share a request body never overlap and the
    server's per-call account holds; no triage, so neurons run in the given order."""
    base: dict[str, Any] = {"llm_base_url": base_url, "llm_max_retries": MAX_RETRIES, "llm_timeout_s": TIMEOUT_S,
                            "concurrency": 1, "triage": "none"}
    return sweep_settings(tmp_path, cache, records, **(base | overrides))


Serve = Callable[[list[Fault]], tuple[ChatServer, FaultPlan]]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """`serve(faults)` starts a loopback server answering with a `FaultPlan` of those faults; every
    server started is stopped after the test."""
    servers: list[ChatServer] = []

    def start(faults: list[Fault]) -> tuple[ChatServer, FaultPlan]:
        plan = FaultPlan(EXPLANATION, faults)
        servers.append(ChatServer(default=Respond(plan)).start())
        return servers[-1], plan

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def records_copy(sweep_records: Path, tmp_path: Path) -> Path:
    """A private copy of the session's records, free to damage."""
    return Path(shutil.copytree(sweep_records, tmp_path / "records"))

