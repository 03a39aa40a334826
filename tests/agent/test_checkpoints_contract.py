"""Contract with langgraph-checkpoint(-sqlite) that `InlineSqliteSaver` (agent/checkpoints.py) relies on.

The saver implements the async half of `BaseCheckpointSaver` by running `SqliteSaver`'s sync queries
inline on the event loop instead of handing each to aiosqlite's thread (bench/llm_client measures what
that saves against LangGraph's `AsyncSqliteSaver`). It relies on (1) every async method a graph can
call having a sync twin that `SqliteSaver` implements, with the same parameters, and (2) those sync
queries storing and reading back what `AsyncSqliteSaver` would. These tests fail on an upgrade of
LangGraph that adds an async method, changes a signature or changes what is stored: then fix the
saver, or open LangGraph's `AsyncSqliteSaver` in `open_checkpointer` (the public path).
"""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path
from typing import Any, TypedDict

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph

from agent.checkpoints import InlineSqliteSaver
from bench.support.checkpointers import Saver, open_saver


def _async_methods() -> dict[str, str]:
    """Each async method of the saver interface whose sync twin `SqliteSaver` implements itself: {async: sync}."""
    pairs = {}
    for name, member in inspect.getmembers(BaseCheckpointSaver):
        if not (inspect.iscoroutinefunction(member) or inspect.isasyncgenfunction(member)):
            continue
        sync = name[1:]
        if getattr(SqliteSaver, sync, None) is not getattr(BaseCheckpointSaver, sync, None):
            pairs[name] = sync
    return pairs


def test_every_async_method_sqlite_saver_can_serve_runs_inline() -> None:
    pairs = _async_methods()
    assert {"aget_tuple", "alist", "aput", "aput_writes"} <= set(pairs)  # what every checkpointed graph calls
    overridden = {name for name, member in vars(InlineSqliteSaver).items() if inspect.isfunction(member)}
    assert overridden == set(pairs), "LangGraph's async saver interface changed: InlineSqliteSaver must follow"


@pytest.mark.parametrize("name", sorted(_async_methods()))
def test_each_inline_method_takes_its_sync_twins_parameters(name: str) -> None:
    ours = inspect.signature(getattr(InlineSqliteSaver, name)).parameters
    twin = inspect.signature(getattr(SqliteSaver, _async_methods()[name])).parameters
    assert [(p.name, p.kind, p.default) for p in ours.values()] == [(p.name, p.kind, p.default) for p in twin.values()]


class _Count(TypedDict):
    step: int
    seen: list[str]


def _graph(saver: BaseCheckpointSaver[Any]) -> Any:
    async def step(state: _Count) -> dict[str, Any]:
        await asyncio.sleep(0)  # let the other threads' steps interleave with this one's checkpoints
        return {"step": state["step"] + 1, "seen": [*state["seen"], f"s{state['step']}"]}

    builder = StateGraph(_Count)
    builder.add_node("step", step)
    builder.add_edge(START, "step")
    builder.add_conditional_edges("step", lambda state: "step" if state["step"] < 3 else END)
    return builder.compile(checkpointer=saver)


async def _what_is_stored(kind: Saver, path: Path) -> dict[str, Any]:
    async with open_saver(kind, path) as saver:
        graph = _graph(saver)
        configs: list[RunnableConfig] = [{"configurable": {"thread_id": f"t{i}"}} for i in range(3)]
        finals = await asyncio.gather(*(graph.ainvoke({"step": 0, "seen": []}, config) for config in configs))
        history = [[(snap.values, snap.next, snap.metadata["step"] if snap.metadata else None)
                    async for snap in graph.aget_state_history(config)] for config in configs]
        latest = await saver.aget_tuple(configs[0])
        assert latest is not None
        older = [item.checkpoint["id"] async for item in saver.alist(configs[0], before=latest.config, limit=2)]
        await saver.adelete_thread("t1")
        deleted = await saver.aget_tuple(configs[1])
        return {"finals": finals, "history": history, "older": len(older), "deleted": deleted}


async def test_inline_saver_stores_what_langgraphs_async_saver_stores(tmp_path: Path) -> None:
    inline = await _what_is_stored("inline", tmp_path / "inline.sqlite")
    public = await _what_is_stored("async", tmp_path / "async.sqlite")
    assert inline == public
    assert inline["finals"][0] == {"step": 3, "seen": ["s0", "s1", "s2"]} and inline["older"] == 2 and inline["deleted"] is None


async def test_a_run_checkpointed_inline_resumes_under_langgraphs_async_saver(tmp_path: Path) -> None:
    """The file format is SqliteSaver's own: either saver reads what the other wrote."""
    path = tmp_path / "checkpoints.sqlite"
    config: RunnableConfig = {"configurable": {"thread_id": "t"}}
    async with open_saver("inline", path) as saver:
        await _graph(saver).ainvoke({"step": 0, "seen": []}, config)
    async with open_saver("async", path) as saver:
        state = await _graph(saver).aget_state(config)
    assert state.values == {"step": 3, "seen": ["s0", "s1", "s2"]}
