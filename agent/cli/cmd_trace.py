"""`refinery trace`: a run's summary, or one neuron's story, from its trace files (text for 80 columns, or JSON)."""

from __future__ import annotations

import argparse
import re
import sys

from agent.cli.options import logging_options, run_argument, setting
from agent.settings import Settings
from tools.errors import BadInputError

HELP = "show what a run did: neurons, status, scores, spend; or one neuron's story (--neuron L/N)"
DESCRIPTION = """\
Reads RUNS_DIR/RUN (its traces/ and results/) and prints the run summary: every neuron, its status
(ok; degraded: an LLM step failed on the way, reasons listed; failed; skipped: finished without
refinement; or running while a refine or sweep is still working on it), the free builtin, one-shot
and refined held-out scores (the gain paired on the records both simulations read, failed records
counted) and the spend. With --neuron L/N it prints that neuron's story instead: each
iteration's candidates and selection scores, the decision and why, the counterexamples the probes
found (offending tokens marked, real vs predicted), and the LLM calls with tokens and latency.
A neuron whose files cannot be read is shown as unreadable and named on stderr (exit 1).

RUN is a run name under --runs-dir, or the path of a run folder.

examples:
  refinery trace default
  refinery trace sweep-l4 --neuron 4/17 --calls
  refinery trace sweep-l4 --json | jq '.neurons[] | select(.status == "failed")'"""

_NEURON = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("trace", help=HELP, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    run_argument(parser)
    parser.add_argument("--neuron", metavar="L/N", help="tell this neuron's story (layer/neuron, e.g. 4/17)")
    parser.add_argument("--calls", action="store_true", help="with --neuron: list every LLM call, not totals per purpose")
    parser.add_argument("--json", action="store_true", help="print the same content as one JSON object (for scripts)")
    setting(parser, "--runs-dir", field="runs_dir", metavar="DIR")
    logging_options(parser)
    parser.set_defaults(handler=run)


def parse_neuron(spec: str) -> tuple[int, int]:
    match = _NEURON.match(spec)
    if match is None:
        raise BadInputError(f"--neuron {spec!r}: write layer/neuron, e.g. 4/17")
    return int(match.group(1)), int(match.group(2))


def run(args: argparse.Namespace, settings: Settings) -> int:
    from agent.views.load import find_run, load_story, load_summary
    from agent.views.terminal import run_text, story_text

    run_dir = find_run(settings.runs_dir, settings.run)
    if args.neuron is not None:
        layer, neuron = parse_neuron(args.neuron)
        story = load_story(run_dir, layer, neuron)
        print(story.model_dump_json() if args.json else story_text(story, each_call=args.calls), end="\n" if args.json else "")
        return 0
    summary = load_summary(run_dir)
    print(summary.model_dump_json() if args.json else run_text(summary), end="\n" if args.json else "")
    # The other neurons are shown; each one whose files could not be read is named, one line each, and the exit says so.
    unreadable = [row for row in summary.neurons if row.status == "unreadable"]
    for row in unreadable:
        print(f"error: {' '.join((row.error or f'neuron {row.layer}/{row.neuron} unreadable').split())}", file=sys.stderr)
    return 1 if unreadable else 0
