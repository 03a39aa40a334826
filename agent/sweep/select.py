"""Which neurons a sweep refines, and in what order.

Neurons come from --layers x --neurons, or a --neuron-list file. With --from, each neuron's
existing score is read from OpenAI-format explanation files ({base}/{layer}/{neuron}.jsonl) or
from one of our runs (results/); --below keeps the neurons scoring under a threshold and
--order lowest refines the worst first. A file that cannot be read is skipped with its reason.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.errors import BadInputError, RecordFileError
from tools.formats.openai import neuron_file, read_simulation_results

NeuronKey = tuple[int, int]


@dataclass
class Candidate:
    layer: int
    neuron: int
    existing_score: float | None = None
    existing_explanation: str | None = None
    baseline: dict[str, Any] | None = None
    """The free builtin explanation's scores (a `BaselineResult` as a dict), when the sweep triaged."""
    skip_reason: str | None = None
    """Set by the triage: the free explanation already reaches the target; finish without an LLM."""


@dataclass
class Selection:
    candidates: list[Candidate]
    skipped: list[tuple[NeuronKey, str]] = field(default_factory=list)
    """(neuron, reason) for neurons left out: unreadable files, no existing score, above the threshold."""
    source: Path | None = None
    """--from: where existing scores and explanations came from."""


def parse_neuron_list(path: Path) -> list[NeuronKey]:
    """A file of `layer/neuron` (or `layer,neuron`) lines, or a JSON list of [layer, neuron] pairs."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise BadInputError(f"--neuron-list {path}: {err.strerror}") from None
    if text.lstrip().startswith("["):
        try:
            return [(int(a), int(b)) for a, b in json.loads(text)]
        except (ValueError, TypeError) as err:
            raise RecordFileError(path, f"expected a JSON list of [layer, neuron] pairs: {err}") from None
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.replace(",", "/").split("/")
        if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
            raise RecordFileError(path, f"line {number}: {line!r} is not 'layer/neuron'")
        out.append((int(parts[0]), int(parts[1])))
    return out


def _our_run_score(path: Path) -> tuple[float | None, str | None]:
    data = json.loads(path.read_text(encoding="utf-8"))
    for name in ("refined", "oneshot"):
        result = data.get(name)
        if result and result.get("heldout_score") is not None:
            return float(result["heldout_score"]), result.get("explanation")
    return None, None


def existing_score(base: Path, layer: int, neuron: int) -> tuple[float | None, str | None]:
    """(score, explanation) from OpenAI's explanation file or our run's result; raises RecordFileError if unreadable."""
    ours = base / "results" / str(layer) / f"{neuron}.json"
    if ours.is_file():
        try:
            return _our_run_score(ours)
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise RecordFileError(ours, f"not a result file: {err}") from None
    path = neuron_file(base, layer, neuron, ".jsonl")
    if not path.is_file():
        raise RecordFileError(path, "no explanation file for this neuron")
    results = read_simulation_results(path)
    scored = [(e.preferred_score, e.explanation) for e in results.scored_explanations if e.preferred_score is not None]
    if not scored:
        return None, results.scored_explanations[0].explanation if results.scored_explanations else None
    return max(scored)


def available_neurons(base: Path, layers: Sequence[int]) -> list[NeuronKey]:
    """Neurons that have a file under `base` (OpenAI layout or our results/), for --from without --neurons."""
    out: set[NeuronKey] = set()
    for layer in layers:
        for directory, suffix in ((base / str(layer), ".jsonl"), (base / "results" / str(layer), ".json")):
            if directory.is_dir():
                out.update((layer, int(p.stem)) for p in directory.glob(f"*{suffix}") if p.stem.isdigit())
    return sorted(out)


def select(
    neurons: Sequence[NeuronKey], source: Path | None = None, below: float | None = None,
    order: str = "given", seed: int = 0,
) -> Selection:
    candidates: list[Candidate] = []
    skipped: list[tuple[NeuronKey, str]] = []
    for layer, neuron in neurons:
        if source is None:
            candidates.append(Candidate(layer, neuron))
            continue
        try:
            score, explanation = existing_score(source, layer, neuron)
        except RecordFileError as err:
            skipped.append(((layer, neuron), str(err)))
            continue
        if below is not None and score is not None and score >= below:
            skipped.append(((layer, neuron), f"existing score {score:.3f} is not below {below:g}"))
            continue
        candidates.append(Candidate(layer, neuron, score, explanation))
    return Selection(order_candidates(candidates, order, seed), skipped, source)


def order_candidates(candidates: list[Candidate], order: str, seed: int = 0) -> list[Candidate]:
    if order == "lowest":
        # Undefined scores first: nothing explains those neurons yet.
        return sorted(candidates, key=lambda c: (c.existing_score is not None, c.existing_score or 0.0, c.layer, c.neuron))
    if order == "random":
        shuffled = list(candidates)
        random.Random(seed).shuffle(shuffled)
        return shuffled
    return list(candidates)
