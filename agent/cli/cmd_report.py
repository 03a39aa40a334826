"""`refinery report`: write a run's self-contained HTML report to RUNS_DIR/RUN/report/."""

from __future__ import annotations

import argparse
import sys

from agent.cli.options import logging_options, run_argument, setting
from agent.settings import Settings

HELP = "write the run's HTML report (self-contained; opens from disk) to RUNS_DIR/RUN/report/index.html"
DESCRIPTION = """\
Renders RUNS_DIR/RUN into RUNS_DIR/RUN/report/: index.html (a sortable, filterable table of the
neurons, the spend ledger and the resolved config) and neurons/L-N.html per neuron (the score per
iteration, the explanation history, heatmaps of real vs simulated activations on the held-out
records, probes and counterexamples token by token, and every LLM call with its prompt, response,
usage and latency). Every page carries its own CSS, JavaScript and data: no network, no server;
open it from disk or copy the folder anywhere. Neurons still running are shown as running; rerun
the command for a fresh report, or use `refinery view RUN` to watch a run live.

examples:
  refinery report default
  refinery report sweep-l4 --runs-dir /data/runs && xdg-open /data/runs/sweep-l4/report/index.html"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("report", help=HELP, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    run_argument(parser)
    setting(parser, "--runs-dir", field="runs_dir", metavar="DIR")
    logging_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from agent.report.bundle import write_report
    from agent.views.load import find_run

    unreadable: list[str] = []
    index = write_report(find_run(settings.runs_dir, settings.run),
                         on_unreadable=lambda row: unreadable.append(" ".join((row.error or "unreadable").split())))
    print(index)
    # The other neurons' pages are written; each neuron left out is named, one line each, and the exit says so.
    for error in unreadable:
        print(f"error: {error}", file=sys.stderr)
    return 1 if unreadable else 0
