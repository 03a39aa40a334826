"""Pytest fixtures for the support servers. Register with `pytest_plugins = ["tests.support.fixtures"]`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.support.chat_server import ChatServer


@pytest.fixture
def chat_server() -> Iterator[ChatServer]:
    """A started `ChatServer`; the test fails if a request arrived after the script ran out."""
    with ChatServer() as server:
        yield server
    if server.unscripted:
        paths = ", ".join(request.path for request in server.unscripted)
        pytest.fail(f"chat_server got {len(server.unscripted)} request(s) beyond its script: {paths}")


@pytest.fixture(scope="session")
def sweep_records(tmp_path_factory: pytest.TempPathFactory, session_cache: Path) -> Path:
    """One records directory for every sweep test (tests/sweep, tests/faults), built in one pass over
    the corpus. Read-only: a test that damages records works on a copy."""
    from agent.records_job import ensure_records, open_records
    from tests.sweep.conftest import LAYER, NEURONS, sweep_settings

    records = tmp_path_factory.mktemp("sweep-records")
    settings = sweep_settings(tmp_path_factory.mktemp("unused"), session_cache, records)
    ensure_records(open_records(settings), LAYER, list(NEURONS), settings)
    return records
