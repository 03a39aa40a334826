"""Progress for long work: a live bar on a terminal, periodic log events otherwise."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import structlog
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from tools.records.builder import Progress as ProgressFn

log = structlog.get_logger(__name__)


@contextmanager
def token_progress(description: str, log_every: float = 15.0) -> Iterator[ProgressFn]:
    """Yields a `(done, total)` callback that shows tokens/s and ETA."""
    started = time.monotonic()
    baseline: list[int] = []  # tokens already done when the first update arrives (a resumed pass)

    def rate(done: int) -> float:
        if not baseline:
            baseline.append(done)
        return (done - baseline[0]) / max(time.monotonic() - started, 1e-9)

    if sys.stderr.isatty():
        bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed:,.0f}/{task.total:,.0f} tok"),
            TextColumn("{task.fields[rate]:,.0f} tok/s"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        with bar:
            task = bar.add_task(description, total=None, rate=0.0)

            def update(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total, rate=rate(done))

            yield update
        return
    last = [started]

    def log_update(done: int, total: int) -> None:
        now = time.monotonic()
        speed = rate(done)
        if now - last[0] >= log_every or done >= total:
            last[0] = now
            log.info("progress", task=description, tokens=done, total=total, tokens_per_s=round(speed))

    yield log_update
