"""`python -m bench.report [--check]`: regenerate (or check) the benchmark tables from bench/results/."""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

from bench.report.core import ReportError, regenerate
from bench.report.renderers import RENDERERS
from tools.atomic import atomic_write_text

ROOT = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.report", description=__doc__)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 with a diff if a table is out of date")
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        documents = regenerate(args.root, RENDERERS)
    except ReportError as err:
        print(f"bench.report: {err}", file=sys.stderr)
        return 2
    stale = []
    for path, text in documents.items():
        current = path.read_text()
        if current == text:
            continue
        stale.append(path)
        if args.check:
            sys.stdout.writelines(difflib.unified_diff(
                current.splitlines(keepends=True), text.splitlines(keepends=True),
                f"{path.relative_to(args.root)} (committed)", f"{path.relative_to(args.root)} (from bench/results)"))
        else:
            atomic_write_text(path, text)
    names = ", ".join(str(p.relative_to(args.root)) for p in stale) or "nothing"
    if args.check:
        print(f"out of date: {names}; run `python -m bench.report`" if stale else "the tables match bench/results/")
        return 1 if stale else 0
    print(f"updated: {names}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
