"""One renderer per benchmark kind, keyed by the `"benchmark"` name its results files carry."""

from __future__ import annotations

from bench.report.core import Renderer
from bench.report.renderers import (
    faults,
    llm_agent,
    llm_client,
    local_batch,
    planted,
    real,
    records,
    simulation,
    sweep,
)

RENDERERS: dict[str, Renderer] = {
    "records": records.RENDERER,
    "sweep": sweep.RENDERER,
    "llm_client": llm_client.RENDERER,
    "planted": planted.RENDERER,
    "real": real.RENDERER,
    "simulation": simulation.RENDERER,
    "llm_agent": llm_agent.RENDERER,
    "local_batch": local_batch.RENDERER,
    "faults": faults.RENDERER,
}
"""In the order the README's table lists them; results of unknown kinds come last."""
