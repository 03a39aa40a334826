"""`refinery view`: serve a run's report on 127.0.0.1, re-rendered on every request."""

from __future__ import annotations

import argparse
import sys

from agent.cli.options import logging_options, run_argument, setting
from agent.settings import Settings

HELP = "serve the run's report on 127.0.0.1; pages follow a running refine or sweep as it goes"
DESCRIPTION = """\
Serves the same pages as `refinery report`, rendered from RUNS_DIR/RUN on every request, on
127.0.0.1 only (never on other interfaces). Open pages check for new data every few seconds and
redraw when it changes, so the run table fills in while a sweep works; a neuron's page follows
that neuron until it finishes. Ctrl-C stops the server.

examples:
  refinery view sweep-l4                 # then open http://127.0.0.1:8765/
  refinery view sweep-l4 --port 0        # any free port; the URL is printed"""

POLL_MS = 3000


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("view", help=HELP, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    run_argument(parser)
    setting(parser, "--port", field="view_port", type=int, metavar="P")
    setting(parser, "--runs-dir", field="runs_dir", metavar="DIR")
    logging_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from agent.report.server import serve
    from agent.views.load import find_run

    run_dir = find_run(settings.runs_dir, settings.run)

    def ready(url: str) -> None:
        # The URL on stdout (flushed at once): with --port 0 it is the only way to learn the port.
        print(f"serving run {run_dir.name} at {url} (Ctrl-C stops)", flush=True)

    try:
        serve(run_dir, settings.view_port, POLL_MS, ready)
    except OSError as err:
        print(f"error: cannot listen on 127.0.0.1:{settings.view_port}: {err.strerror or err}", file=sys.stderr)
        return 2
    return 0
