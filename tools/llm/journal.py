"""The call journal: every completed LLM call of a run, so a resumed run never pays for it twice.

A node interrupted by a kill re-runs from its top on resume; its calls are then answered from
the journal. A call is identified by its scope (neuron, node, iteration), the request itself, and
how many identical requests the scope made before it, so concurrent calls may complete in any
order; a simulation, by its neuron and the request alone (see `JournaledLLM`). SQLite in WAL mode:
an entry survives a killed process once `complete()` returns. WAL lets several processes of one
host share the journal (Ray workers); synchronous=NORMAL skips the fsync per commit, which only a
power loss could undo (the call would then be paid again on resume).
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from tools.llm.protocol import (
    LLM,
    LLMRequest,
    LLMResponse,
    PromptScorer,
    PromptScoreRequest,
    PromptScoreResponse,
    Purpose,
)

R = TypeVar("R", LLMResponse, PromptScoreResponse)


def _prefix_end(prefix: str) -> str:
    """The least string above every string that starts with `prefix` (a range an index can serve, unlike LIKE)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1) if prefix else "\U0010ffff"


class CallJournal:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS calls (key TEXT PRIMARY KEY, scope TEXT NOT NULL, kind TEXT NOT NULL, "
            "purpose TEXT NOT NULL, response TEXT NOT NULL, created REAL DEFAULT (julianday('now')))"
        )
        # Every neuron start sums its earlier spend: by index, not by a scan of every call of the run.
        self._db.execute("CREATE INDEX IF NOT EXISTS calls_scope ON calls (scope)")

    def get(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT response FROM calls WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def put(self, key: str, scope: str, kind: str, purpose: str, response: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO calls (key, scope, kind, purpose, response) VALUES (?, ?, ?, ?, ?)",
                (key, scope, kind, purpose, response),
            )

    def spent(self, scope_prefix: str) -> tuple[float, int, int]:
        """(usd, tokens, calls) of the paid calls recorded under scopes starting with `scope_prefix`."""
        with self._lock:
            row = self._db.execute(
                "SELECT COALESCE(SUM(json_extract(response, '$.usage.cost_usd')), 0), "
                "COALESCE(SUM(json_extract(response, '$.usage.prompt_tokens') + json_extract(response, '$.usage.completion_tokens')), 0), "
                "COUNT(*) FROM calls WHERE scope >= ? AND scope < ? AND json_extract(response, '$.usage.cached') = 0",
                (scope_prefix, _prefix_end(scope_prefix)),
            ).fetchone()
        return float(row[0]), int(row[1]), int(row[2])

    def summary(self) -> dict[str, Any]:
        """Paid calls of the whole run: totals, per purpose and per model (each call counted once)."""
        query = (
            "SELECT {group}, COUNT(*), SUM(json_extract(response, '$.usage.prompt_tokens')), "
            "SUM(json_extract(response, '$.usage.completion_tokens')), SUM(json_extract(response, '$.usage.cost_usd')) "
            "FROM calls WHERE json_extract(response, '$.usage.cached') = 0 GROUP BY {group}"
        )
        out: dict[str, Any] = {}
        with self._lock:
            for name, group in (("total", "'all'"), ("by_purpose", "purpose"), ("by_model", "json_extract(response, '$.usage.model')")):
                rows = self._db.execute(query.format(group=group)).fetchall()
                table = {str(key): {"calls": calls, "prompt_tokens": int(p or 0), "completion_tokens": int(c or 0),
                                    "cost_usd": round(float(cost or 0.0), 6)} for key, calls, p, c, cost in rows}
                out[name] = table.get("all", {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0}) if name == "total" else table
        return out

    def count(self, scope_prefix: str = "") -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM calls WHERE scope LIKE ?", (scope_prefix + "%",)).fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()


class JournaledLLM:
    """LLM (and PromptScorer) that answers a repeated call from the journal, marked `cached`.

    `identity(purpose)` names who answers a purpose's calls (model, endpoint host, simulator method):
    it is part of every key.

    A simulation (purpose "simulator", asked at temperature 0) is identified by the neuron and the
    request alone: asked again in a later node, or by a resumed run whose in-memory memo of
    simulations is cold (`MemoizedSimulator`), it is answered from the journal instead of paid again."""

    def __init__(self, inner: LLM, journal: CallJournal, scope: str, identity: Callable[[Purpose], str] = lambda _: "") -> None:
        self.inner, self.journal = inner, journal
        self.neuron_scope = scope
        self.identity = identity
        self.set_scope(scope)

    def set_scope(self, scope: str) -> None:
        """Calls from now on belong to `scope` (a node execution: neuron, node, iteration)."""
        self.scope = scope
        self._seen: Counter[str] = Counter()

    def _key(self, kind: str, payload: str, purpose: Purpose) -> str:
        digest = hashlib.sha256(payload.encode("utf-8")).hexdigest()
        if purpose == "simulator":
            scope, occurrence = self.neuron_scope, 0
        else:
            scope, occurrence = self.scope, self._seen[digest]
            self._seen[digest] += 1
        # Who answers is part of the key: a run resumed with another model or endpoint never replays the old one's answers.
        who = self.identity(purpose)
        return hashlib.sha256(f"{who}\x1f{scope}\x1f{kind}\x1f{digest}\x1f{occurrence}".encode()).hexdigest()

    def _replay(self, key: str, response_type: type[R]) -> R | None:
        """The journaled response under `key`, marked cached (it costs nothing now), or None."""
        stored = self.journal.get(key)
        if stored is None:
            return None
        response = response_type.model_validate_json(stored)
        response.usage = response.usage.model_copy(update={"cached": True})
        return response

    async def complete(self, request: LLMRequest) -> LLMResponse:
        key = self._key("chat", request.model_dump_json(), request.purpose)
        if (replayed := self._replay(key, LLMResponse)) is not None:
            return replayed
        response = await self.inner.complete(request)
        self.journal.put(key, self.scope, "chat", request.purpose, response.model_dump_json())
        return response

    async def score_prompt(self, request: PromptScoreRequest) -> PromptScoreResponse:
        if not isinstance(self.inner, PromptScorer):
            raise TypeError(f"{type(self.inner).__name__} cannot score prompts")
        key = self._key("prompt", request.model_dump_json(), request.purpose)
        if (replayed := self._replay(key, PromptScoreResponse)) is not None:
            return replayed
        response = await self.inner.score_prompt(request)
        self.journal.put(key, self.scope, "prompt", request.purpose, response.model_dump_json())
        return response
