"""Text from models, corpora and files is printed as it is: Rich markup in it ("[/INST]", "[red]") is
neither interpreted nor an error, in the tables and lines the commands print."""

from __future__ import annotations

import pytest
from rich.console import Console

from agent.cli.cmd_explain import print_outcome
from agent.cli.cmd_records import print_table
from agent.cli.live import RefineProgress, RoundRow
from agent.explain_job import ExplainOutcome

MARKUP = "[/INST] and [red]x[/red]"


def test_record_tokens_are_printed_as_they_are(capsys: pytest.CaptureFixture[str]) -> None:
    print_table([{"layer": 1, "neuron": 2, "max_activation": 1.0, "mean": 0.1, "top_tokens": [(MARKUP, 1.0)]}], "t")
    assert "[/INST] and [red]x[/red]" in capsys.readouterr().out


def test_an_explanation_in_the_live_table_is_printed_as_it_is() -> None:
    progress = RefineProgress(rows={0: RoundRow(0, explanation=MARKUP, score=0.5, decision="adopted")})
    console = Console(record=True, width=200)
    console.print(progress.table())
    assert MARKUP in console.export_text()


def test_explain_prints_errors_and_problems_as_they_are(capsys: pytest.CaptureFixture[str]) -> None:
    base = {"layer": 1, "neuron": 2, "method": "chat-json", "backend": "llm"}
    print_outcome(ExplainOutcome(status="failed", error=f"HTTP 500: {MARKUP}", **base))
    print_outcome(ExplainOutcome(status="degraded", explanation=MARKUP, problems=[MARKUP], **base))
    out = capsys.readouterr().out
    assert out.count(MARKUP) == 3, out
