"""Read a run folder into the view models (the only I/O of the views; `story.py` does the rest).

Works on a run that is still being written: a neuron with a trace but no result is `running`, a
torn last trace line is ignored, and results are written atomically, so a read never sees half a file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent.views.model import NeuronRow, NeuronStory, RunSummary
from agent.views.story import (
    HELDOUT_SPLIT,
    finished_row,
    neuron_story,
    result_row,
    running_row,
    split_open,
    summarize_run,
)
from graphs.trace import Finalized, ProbeBatch, Scored, read_trace, trace_path
from tools.atomic import read_json_file
from tools.errors import BadInputError, RecordFileError, RefineryError
from tools.evaluate import ExplanationScore
from tools.probes.runner import read_probe_batches
from tools.probes.types import ProbeResult

_MARKERS = ("traces", "results", "config.json")


def _is_run(path: Path) -> bool:
    return path.is_dir() and any((path / marker).exists() for marker in _MARKERS)


def find_run(runs_dir: Path, run: str) -> Path:
    """RUNS_DIR/RUN, or RUN itself when it is the path of a run folder."""
    for path in (runs_dir / run, Path(run).expanduser()):
        if _is_run(path):
            return path
    known = sorted(p.name for p in runs_dir.iterdir() if _is_run(p)) if runs_dir.is_dir() else []
    raise BadInputError(f"no run {run!r} in {runs_dir} (runs there: {', '.join(known) or 'none'}); "
                        "pass a run name with --runs-dir, or the path of a run folder")


def neuron_ids(run_dir: Path) -> list[tuple[int, int]]:
    """Every neuron with a trace or a result: a sweep adds them while it runs."""
    found: set[tuple[int, int]] = set()
    for kind, pattern in (("traces", "*/*.jsonl"), ("results", "*/*.json")):
        for path in (run_dir / kind).glob(pattern):
            if path.parent.name.isdigit() and path.stem.isdigit():
                found.add((int(path.parent.name), int(path.stem)))
    return sorted(found)


def _result_path(run_dir: Path, layer: int, neuron: int) -> Path:
    return run_dir / "results" / str(layer) / f"{neuron}.json"


def _json_or_none(path: Path) -> dict[str, Any] | None:
    found: dict[str, Any] | None = read_json_file(path)
    return found


def load_row(run_dir: Path, layer: int, neuron: int) -> NeuronRow:
    """The table row; a neuron whose files cannot be parsed is shown as `unreadable` rather than hiding
    the run, its `error` one line that names the file."""
    result_file = run_dir / "results" / str(layer) / f"{neuron}.json"
    try:
        result = _json_or_none(_result_path(run_dir, layer, neuron))
        if result is not None:
            return result_row(result)
        return running_row(layer, neuron, read_trace(trace_path(run_dir, layer, neuron), completed_only=False))
    except (RefineryError, ValueError, OSError) as err:  # pydantic's ValidationError and JSONDecodeError are ValueErrors
        file = result_file if result_file.exists() else trace_path(run_dir, layer, neuron)
        where = "" if isinstance(err, RecordFileError) else f"{file}: "
        return NeuronRow(layer=layer, neuron=neuron, status="unreadable", error=(where + " ".join(str(err).split()))[:500])


def load_summary(run_dir: Path) -> RunSummary:
    rows = [load_row(run_dir, layer, neuron) for layer, neuron in neuron_ids(run_dir)]
    return summarize_run(run_dir.name, rows, _json_or_none(run_dir / "config.json"), _json_or_none(run_dir / "ledger.json"))


def in_run(run_dir: Path, recorded: str) -> Path | None:
    """Where a file named in the trace is now. Events record absolute paths, but a run folder may have
    been moved or copied; the layout fixes the last four parts (kind/L/N/file), so keep those. Anything
    else (or a '..') is refused, so a trace can only make the views read files of its own run."""
    parts = Path(recorded).parts[-4:]
    if len(parts) < 4 or parts[0] not in ("scores", "probes") or ".." in parts:
        return None
    return run_dir.joinpath(*parts)


def load_story(run_dir: Path, layer: int, neuron: int) -> NeuronStory:
    path = trace_path(run_dir, layer, neuron)
    result = _json_or_none(_result_path(run_dir, layer, neuron))
    if result is None and not path.is_file():
        listed = ", ".join(f"{lay}/{n}" for lay, n in neuron_ids(run_dir)) or "none yet"
        raise BadInputError(f"run {run_dir.name} has no neuron {layer}/{neuron} (neurons: {listed})")
    every = read_trace(path, completed_only=False) if path.is_file() else []
    events, _ = split_open(every)
    final = Finalized.model_validate(result) if result else next((e for e in reversed(events) if isinstance(e, Finalized)), None)
    if result is not None:
        row = result_row(result)
    elif final is not None:
        row = finished_row(final)
    else:
        row = running_row(layer, neuron, every)
    scores: dict[str, ExplanationScore] = {}
    probes: dict[str, list[ProbeResult]] = {}
    if final is not None and final.baseline is not None and final.baseline.path:
        file = in_run(run_dir, final.baseline.path)
        if file is not None and file.is_file():
            scores[final.baseline.path] = ExplanationScore.model_validate_json(file.read_text(encoding="utf-8"))
    for event in events:
        if isinstance(event, Scored) and event.split == HELDOUT_SPLIT and event.path and event.path not in scores:
            file = in_run(run_dir, event.path)
            if file is not None and file.is_file():
                scores[event.path] = ExplanationScore.model_validate_json(file.read_text(encoding="utf-8"))
        elif isinstance(event, ProbeBatch) and event.path not in probes:
            file = in_run(run_dir, event.path)
            if file is not None and file.is_file():
                probes[event.path] = read_probe_batches([file])
    return neuron_story(run_dir.name, row, events, final, scores, probes)
