"""The run's checkpointer and LangGraph's public one, opened by name: bench/llm_client measures what the
first saves, tests/agent/test_checkpoints_contract.py checks that both store the same."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from agent.checkpoints import open_checkpointer

Saver = Literal["inline", "async"]
"""`inline`: `InlineSqliteSaver` (agent/checkpoints.py, what runs use); `async`: LangGraph's `AsyncSqliteSaver`."""


@asynccontextmanager
async def open_saver(kind: Saver, path: Path) -> AsyncIterator[BaseCheckpointSaver[Any]]:
    if kind == "inline":
        with open_checkpointer(path) as inline:
            yield inline
    else:
        async with AsyncSqliteSaver.from_conn_string(str(path)) as public:
            yield public
