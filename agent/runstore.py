"""A run's folder: everything a refinement run writes, and where.

    runs/<run>/config.json            resolved settings (no secrets)
    runs/<run>/checkpoints.sqlite     LangGraph checkpoints, one thread per neuron
    runs/<run>/journal.sqlite         every completed LLM call (a resumed run never pays twice)
    runs/<run>/traces/L/N.jsonl       typed trace events per neuron
    runs/<run>/scores/L/N/...         full simulations behind every selection score (iterK-i.json)
                                      and the two held-out scores (heldout-refined/oneshot.json)
    runs/<run>/probes/L/N/...         probe batches and counterexamples
    runs/<run>/results/L/N.json       the neuron's final summary
    runs/<run>/explanations/L/N.jsonl OpenAI NeuronSimulationResults (held-out scores)
    runs/<run>/ledger.json            spend per purpose and model
    runs/<run>/report/                `refinery report`: index.html and neurons/L-N.html
"""

from __future__ import annotations

import fcntl
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tools.atomic import atomic_write_json, read_json_file
from tools.errors import BadInputError, RecordFileError, RefineryError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class RunInUseError(RefineryError):
    """Another process is working on the same run folder."""


def fresh_run_name(runs_dir: Path, name: str) -> str:
    """`name`, or the first of name-2, name-3, ... with no run folder yet (`--new-run`)."""
    candidate, number = name, 1
    while (runs_dir / candidate).exists():
        number += 1
        candidate = f"{name}-{number}"
    return candidate


class RunStore:
    def __init__(self, runs_dir: Path, name: str) -> None:
        if not _NAME.match(name):
            raise BadInputError(f"run name {name!r}: use letters, digits, '.', '_' and '-' (up to 100 characters)")
        self.name = name
        self.root = runs_dir / name
        self.root.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the run's lock for the block: a second command on the same run is refused, not interleaved.

        An flock dies with its process, so a killed run never leaves a stale lock behind."""
        path = self.root / "lock"
        handle = path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "unknown"
            handle.close()
            raise RunInUseError(
                f"run {self.name!r} ({self.root}) is in use by another refinery process (pid {owner}); "
                "wait for it to finish, or use another --run"
            ) from None
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints.sqlite"

    @property
    def journal(self) -> Path:
        return self.root / "journal.sqlite"

    def saved_config(self) -> dict[str, Any] | None:
        """The config.json of an earlier command on this run, or None for a new run."""
        path = self.root / "config.json"
        if not path.is_file():
            return None
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise RecordFileError(path, f"not a run config: {err}") from None
        if not isinstance(loaded, dict):
            raise RecordFileError(path, "not a run config: not a JSON object")
        return loaded

    def save_config(self, config: dict[str, Any]) -> None:
        atomic_write_json(self.root / "config.json", config, indent=2)

    def result_path(self, layer: int, neuron: int) -> Path:
        return self.root / "results" / str(layer) / f"{neuron}.json"

    def result(self, layer: int, neuron: int) -> dict[str, Any] | None:
        found: dict[str, Any] | None = read_json_file(self.result_path(layer, neuron))
        return found

    def write_ledger(self, summary: dict[str, Any]) -> None:
        atomic_write_json(self.root / "ledger.json", summary, indent=2)
