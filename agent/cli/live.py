"""A live table of a neuron's refinement, fed by its trace events (terminal only)."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from graphs.trace import CounterexamplesFound, Decided, ModelCalled, Scored, TraceEvent


@dataclass
class RoundRow:
    iteration: int
    explanation: str = ""
    score: float | None = None
    decision: str = ""
    counterexamples: int = 0


@dataclass
class RefineProgress:
    """Rows per iteration; spend from model-call events."""

    rows: dict[int, RoundRow] = field(default_factory=dict)
    tokens: int = 0
    cost_usd: float = 0.0
    live: Live | None = None

    def __call__(self, event: TraceEvent) -> None:
        iteration = event.iteration or 0
        row = self.rows.setdefault(iteration, RoundRow(iteration))
        match event:
            case ModelCalled(cached=False):
                self.tokens += event.prompt_tokens + event.completion_tokens
                self.cost_usd += event.cost_usd
            case Scored(split="valid") if row.score is None or (event.score is not None and event.score > row.score):
                row.explanation, row.score = event.explanation, event.score
            case CounterexamplesFound():
                row.counterexamples = len(event.items)
            case Decided(decision="adopted" | "rejected"):
                row.decision = event.decision
            case _:
                pass
        if self.live is not None:
            self.live.update(self.table())

    def table(self) -> Table:
        table = Table(title=f"spend: {self.tokens:,} tokens, ${self.cost_usd:.4f}")
        for column in ("iter", "best candidate of the round", "selection r", "counterexamples", "decision"):
            table.add_column(column)
        for row in sorted(self.rows.values(), key=lambda r: r.iteration):
            score = "-" if row.score is None else f"{row.score:.3f}"
            # An explanation is an LLM's text: a table cell is markup, so it is escaped.
            table.add_row(str(row.iteration), escape(textwrap.shorten(row.explanation or "...", 70, placeholder=" ...")), score,
                          str(row.counterexamples), row.decision)
        return table


def live_progress(console: Console) -> tuple[RefineProgress, Live | None]:
    progress = RefineProgress()
    if console.is_terminal:
        progress.live = Live(progress.table(), console=console, refresh_per_second=4)
    return progress, progress.live
