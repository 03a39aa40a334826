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
import hashlib
import json
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tools.atomic import atomic_write_json, atomic_write_text, read_json_file
from tools.errors import BadInputError, RecordFileError, RefineryError
from tools.evaluate import ExplanationScore
from tools.formats.openai import NeuronSimulationResults, write_simulation_results
from tools.probes.runner import read_probe_batches, write_probe_batch
from tools.probes.types import Counterexample, ProbeResult

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

    def neuron(self, layer: int, neuron: int) -> NeuronFiles:
        """One neuron's files (the refinement graph's `NeuronStore`)."""
        return NeuronFiles(self.root, layer, neuron)

    def result_path(self, layer: int, neuron: int) -> Path:
        return self.neuron(layer, neuron).result_path

    def result(self, layer: int, neuron: int) -> dict[str, Any] | None:
        found: dict[str, Any] | None = read_json_file(self.result_path(layer, neuron))
        return found

    def write_ledger(self, summary: dict[str, Any]) -> None:
        atomic_write_json(self.root / "ledger.json", summary, indent=2)


class NeuronFiles:
    """A neuron's files in its run folder: scores, probe batches, counterexamples, result and export.

    The state refers to them by the paths returned here (relative when the run folder is). What this
    process wrote is also kept in memory, so a later step of the neuron reads it without the disk."""

    def __init__(self, root: Path, layer: int, neuron: int) -> None:
        self.root, self.layer, self.neuron = root, layer, neuron
        self._scores: dict[str, ExplanationScore] = {}
        self._probes: dict[str, list[ProbeResult]] = {}

    def _folder(self, kind: str) -> Path:
        return self.root / kind / str(self.layer) / str(self.neuron)

    @property
    def result_path(self) -> Path:
        return self.root / "results" / str(self.layer) / f"{self.neuron}.json"

    def write_score(self, name: str, result: ExplanationScore) -> str:
        path = str(self._folder("scores") / f"{name}.json")
        atomic_write_text(Path(path), result.model_dump_json())
        self._scores[path] = result
        return path

    def read_score(self, path: str) -> ExplanationScore:
        kept = self._scores.get(path)
        return kept if kept is not None else ExplanationScore.model_validate_json(Path(path).read_text(encoding="utf-8"))

    def _evidence_path(self, explanation: str) -> Path:
        return self._folder("scores") / f"evidence-{hashlib.sha1(explanation.encode()).hexdigest()[:16]}.json"

    def evidence_score(self, explanation: str) -> ExplanationScore | None:
        path = self._evidence_path(explanation)
        return ExplanationScore.model_validate_json(path.read_text(encoding="utf-8")) if path.is_file() else None

    def keep_evidence_score(self, explanation: str, result: ExplanationScore) -> None:
        atomic_write_text(self._evidence_path(explanation), result.model_dump_json())

    def write_probes(self, iteration: int, results: Sequence[ProbeResult]) -> str:
        path = str(self._folder("probes") / f"iter{iteration}.jsonl")
        write_probe_batch(Path(path), results)
        self._probes[path] = list(results)
        return path

    def read_probes(self, paths: Sequence[str]) -> list[ProbeResult]:
        out: list[ProbeResult] = []
        for path in paths:
            out += self._probes[path] if path in self._probes else read_probe_batches([path])
        return out

    def write_counterexamples(self, iteration: int, found: Sequence[Counterexample]) -> str:
        path = self._folder("probes") / f"iter{iteration}-counterexamples.json"
        atomic_write_json(path, [c.model_dump() for c in found])
        return str(path)

    def read_counterexamples(self, path: str) -> list[Counterexample]:
        return [Counterexample.model_validate(c) for c in json.loads(Path(path).read_text(encoding="utf-8"))]

    def write_result(self, summary: dict[str, Any]) -> None:
        atomic_write_json(self.result_path, summary, indent=2)

    def write_explanations(self, results: NeuronSimulationResults) -> None:
        write_simulation_results(self.root / "explanations" / str(self.layer) / f"{self.neuron}.jsonl", results)
