"""The run's LangGraph checkpointer: SQLite, queried inline on the event loop.

`AsyncSqliteSaver` sends every query to aiosqlite's one worker thread and awaits it. Under a busy
event loop (a sweep with dozens of neurons in flight) each of those hand-offs waits for the GIL, up
to the interpreter's switch interval (5 ms by default), and a checkpoint write takes several of
them behind the saver's one lock. A write in WAL mode with synchronous=NORMAL is short, so this
saver runs the sync `SqliteSaver`'s queries directly in its async methods instead. What that saves
against `AsyncSqliteSaver`: bench/llm_client; what it relies on in LangGraph:
tests/agent/test_checkpoints_contract.py.

WAL lets several processes of one host share the file (the Ray executor's workers); a writer
waits for another's lock up to `busy_timeout_s`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import ChannelVersions, Checkpoint, CheckpointMetadata, CheckpointTuple
from langgraph.checkpoint.sqlite import SqliteSaver


class InlineSqliteSaver(SqliteSaver):
    """`SqliteSaver` whose async methods (those an async graph calls) run its sync queries inline."""

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return self.get_tuple(config)

    async def alist(self, config: RunnableConfig | None, *, filter: dict[str, Any] | None = None,  # noqa: A002 - the base class's name
                    before: RunnableConfig | None = None, limit: int | None = None) -> AsyncIterator[CheckpointTuple]:
        for item in self.list(config, filter=filter, before=before, limit=limit):
            yield item

    async def aput(self, config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata,
                   new_versions: ChannelVersions) -> RunnableConfig:
        return self.put(config, checkpoint, metadata, new_versions)

    async def aput_writes(self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str,
                          task_path: str = "") -> None:
        self.put_writes(config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        self.delete_thread(thread_id)

    async def aget_delta_channel_history(self, *, config: RunnableConfig, channels: Sequence[str]) -> Mapping[str, Any]:
        return self.get_delta_channel_history(config=config, channels=channels)


@contextmanager
def open_checkpointer(path: Path, busy_timeout_s: float = 30.0) -> Iterator[InlineSqliteSaver]:
    with closing(sqlite3.connect(path, timeout=busy_timeout_s, check_same_thread=False)) as conn:
        saver = InlineSqliteSaver(conn)
        saver.setup()  # WAL
        # No fsync per commit (every graph step): a commit survives a killed process, not a power loss.
        conn.execute("PRAGMA synchronous=NORMAL")
        yield saver
