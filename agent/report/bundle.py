"""Write a run's report to RUN/report/: index.html and one page per neuron, each self-contained."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import structlog

from agent.report.render import index_page, neuron_page, neuron_page_path
from agent.views.load import load_story, load_summary
from agent.views.model import NeuronRow
from tools.atomic import atomic_write_text

log = structlog.get_logger(__name__)


def write_report(run_dir: Path, on_unreadable: Callable[[NeuronRow], None] | None = None) -> Path:
    """Render every page from the run folder as it is now; returns the path of index.html. A neuron
    whose files cannot be read gets no page (its row says why) and is told to `on_unreadable`."""
    out = run_dir / "report"
    summary = load_summary(run_dir)
    for row in summary.neurons:
        if row.status == "unreadable":
            if on_unreadable is not None:
                on_unreadable(row)
            continue  # its row in the index says why; there is no story to tell
        atomic_write_text(out / neuron_page_path(row.layer, row.neuron), neuron_page(load_story(run_dir, row.layer, row.neuron)))
    index = out / "index.html"
    atomic_write_text(index, index_page(summary))
    log.info("report_written", run=summary.run, neurons=len(summary.neurons), path=str(index))
    return index
