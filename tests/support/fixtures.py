"""Pytest fixtures for the support servers. Register with `pytest_plugins = ["tests.support.fixtures"]`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.chat_server import ChatServer


@pytest.fixture
def chat_server() -> Iterator[ChatServer]:
    """A started `ChatServer`; the test fails if a request arrived after the script ran out."""
    with ChatServer() as server:
        yield server
    if server.unscripted:
        paths = ", ".join(request.path for request in server.unscripted)
        pytest.fail(f"chat_server got {len(server.unscripted)} request(s) beyond its script: {paths}")
