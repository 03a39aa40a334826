"""`refinery`: explain LM neurons, probe for counterexamples, revise until the held-out score converges."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from agent.cli import (
    cmd_demo,
    cmd_explain,
    cmd_records,
    cmd_refine,
    cmd_report,
    cmd_score,
    cmd_serve_local,
    cmd_setup,
    cmd_sweep,
    cmd_trace,
    cmd_view,
)
from agent.logs import configure_logging, quiet_libraries
from agent.settings import Settings
from tools.errors import RefineryError

COMMANDS = (cmd_setup, cmd_demo, cmd_records, cmd_explain, cmd_score, cmd_refine, cmd_sweep, cmd_trace, cmd_report, cmd_view, cmd_serve_local)

EPILOG = """\
Every option is also settable in the environment as REFINERY_<OPTION> (e.g. REFINERY_MODEL=gpt2),
in a .env file, or in refinery.toml; command-line flags win over all of them.
Exit codes: 0 done, 1 some work failed or ended degraded (see output), 2 bad input, a missing asset, or a
command refusing to spend money it was not allowed to (see the message), 3 stopped by a sweep's budget,
130 interrupted."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="refinery", description=__doc__, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS:
        module.register(sub)
    return parser


def _settings_from(args: argparse.Namespace) -> Settings:
    given = {k: v for k, v in vars(args).items() if k in Settings.model_fields}
    return Settings(**given)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = _settings_from(args)
    except Exception as err:  # pydantic ValidationError from env/toml: show it without a traceback
        print(f"error: invalid settings: {err}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_json)
    quiet_libraries(settings.allow_hub)
    handler: Callable[[argparse.Namespace, Settings], int] = args.handler
    try:
        return handler(args, settings)
    except RefineryError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    except BrokenPipeError:
        # The reader went away (`refinery trace RUN | head`): not an error worth a traceback. Point
        # stdout at /dev/null so the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("interrupted; work already finished is kept, rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
