"""One renderer per benchmark kind, keyed by the `"benchmark"` name its results files carry."""

from __future__ import annotations

from bench.report.core import Renderer
from bench.report.renderers import faults, planted, real, records, sweep

RENDERERS: dict[str, Renderer] = {
    "faults": faults.RENDERER,
    "planted": planted.RENDERER,
    "real": real.RENDERER,
    "records": records.RENDERER,
    "sweep": sweep.RENDERER,
}
