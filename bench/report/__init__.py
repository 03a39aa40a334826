"""Benchmark tables generated from the committed results (bench/results/*.json), never typed by hand.

    .venv/bin/python -m bench.report           # rewrite the generated blocks of README.md and docs/benchmarks.md
    .venv/bin/python -m bench.report --check   # exit 1, with a diff, if they disagree with the results

Each results file names its kind of benchmark (`"benchmark"`); the renderer registered for that kind
(`bench/report/renderers/`, one small module per benchmark) turns it into a README headline and a
details section. A kind without a renderer, or a file whose shape its renderer cannot read (a
benchmark changed its JSON), is shown by the generic renderer with a note saying so, so a new
benchmark or a new shape never breaks the report and never disappears from it.

Generated text lives between markers, so the prose around it stays hand-written:

    <!-- bench.report begin KEY -->
    ...generated...
    <!-- bench.report end KEY -->

README.md has the block `results` (one row per results file). docs/benchmarks.md has a block per
benchmark kind (all its results files) and a block `other` for kinds that have no block of their own.
"""
