"""Run probe texts through the real subject and the simulator of the explanation under test."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tools.atomic import atomic_write_text
from tools.formats.openai import ActivationRecord
from tools.probes.types import Generator, ProbeResult, ProbeText
from tools.simulators.base import Simulator, gather_all
from tools.subject.service import ActivationService


async def run_probes(
    probes: Sequence[ProbeText], service: ActivationService, layer: int, neuron: int, simulator: Simulator, explanation: str
) -> list[ProbeResult]:
    kept = [p for p in probes if p.token_ids]
    if not kept:
        return []
    # The subject's forward runs while the simulator's LLM is asked: neither needs the other.
    jobs: list[Awaitable[Any]] = [service.activations([p.token_ids for p in kept], layer, [neuron]),
                                  simulator.simulate(explanation, [p.tokens for p in kept])]
    real, simulations = await gather_all(jobs)
    results = []
    for probe, values, sim in zip(kept, real, simulations, strict=True):
        results.append(ProbeResult(
            **probe.model_dump(), real=np.round(values[:, 0].astype(np.float64), 6).tolist(),
            predicted=sim.expected if sim.ok else None, simulation_error=None if sim.ok else sim.error,
        ))
    return results


async def simulate_known(records: Sequence[ActivationRecord], generator: Generator, simulator: Simulator,
                         explanation: str) -> list[ProbeResult]:
    """Probe results for texts whose real activations are already known (the corpus pool): only simulated here."""
    simulations = await simulator.simulate(explanation, [r.tokens for r in records])
    return [
        ProbeResult(generator=generator, text="".join(r.tokens), token_ids=list(r.token_ids or []), tokens=list(r.tokens),
                    source=f"excerpt {r.excerpt_index}", real=np.round(np.asarray(r.activations), 6).tolist(),
                    predicted=sim.expected if sim.ok else None, simulation_error=None if sim.ok else sim.error)
        for r, sim in zip(records, simulations, strict=True)
    ]


def write_probe_batch(path: Path, results: Sequence[ProbeResult]) -> None:
    atomic_write_text(path, "".join(r.model_dump_json() + "\n" for r in results))


def read_probe_batches(paths: Sequence[str | Path]) -> list[ProbeResult]:
    out: list[ProbeResult] = []
    for path in paths:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            if line.strip():
                out.append(ProbeResult.model_validate(json.loads(line)))
    return out
