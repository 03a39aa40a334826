"""`refinery records`: build OpenAI-format activation records for neurons of one layer."""

from __future__ import annotations

import argparse
import json
from typing import TypedDict

from rich.console import Console, JustifyMethod
from rich.markup import escape
from rich.table import Table

from agent.cli.options import corpus_options, logging_options, parse_index_list, setting, subject_options
from agent.settings import Settings
from tools.records.store import RecordStore
from tools.records.summary import show_token, top_tokens

HELP = "build activation records (top, random and per-quantile excerpts, moments) for neurons of a layer"
DESCRIPTION = """\
One streaming pass over the corpus serves every requested neuron of the layer: per neuron it keeps
the top-k excerpts ranked by max activation, a uniform random sample, random samples per
activation-quantile bin, and the moments of the activation distribution. Files are OpenAI's
NeuronRecord JSON at OUT/{layer}/{neuron}.json. Rerunning skips neurons already written, and a
killed pass resumes from its last checkpoint.

example:
  refinery records --layer 3 --neurons 0-63 --corpus default --out runs/records"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("records", help=HELP, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layer", type=int, required=True, help="layer index (0-based)")
    parser.add_argument("--neurons", default=None, metavar="LIST", help="neurons like '0-63' or '1,5,9-12' (default: the whole layer)")
    setting(parser, "--out", "--records", field="records", metavar="DIR")
    setting(parser, "--checkpoint-seconds", field="checkpoint_seconds", type=float, metavar="S")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    subject_options(parser)
    corpus_options(parser)
    logging_options(parser)
    parser.set_defaults(handler=run)


class NeuronRow(TypedDict):
    layer: int
    neuron: int
    max_activation: float
    mean: float | None
    top_tokens: list[tuple[str, float]]
    """(token, activation), highest first; a JSON list of pairs."""


def neuron_rows(store: RecordStore, layer: int, neurons: list[int], n_tokens: int = 5) -> list[NeuronRow]:
    rows: list[NeuronRow] = []
    for neuron in neurons:
        record = store.read(layer, neuron)
        rows.append({
            "layer": layer,
            "neuron": neuron,
            "max_activation": round(record.max_activation, 4),
            "mean": record.mean,
            "top_tokens": [(tok, round(val, 4)) for tok, val in top_tokens(record, n_tokens)],
        })
    return rows


def print_table(rows: list[NeuronRow], title: str, limit: int = 24) -> None:
    table = Table(title=title)
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("layer/neuron", "right"), ("max act", "right"), ("top tokens (max activation)", "left"))
    for column, justify in columns:
        table.add_column(column, justify=justify)
    for row in rows[:limit]:
        # Tokens are any text ("[/INST]"): a table cell is markup, so they are escaped.
        tokens = escape(", ".join(f"{show_token(t)} {v:.2f}" for t, v in row["top_tokens"]))
        table.add_row(f"{row['layer']}/{row['neuron']}", f"{row['max_activation']:.3f}", tokens)
    console = Console()
    console.print(table)
    if len(rows) > limit:
        console.print(f"... and {len(rows) - limit} more (use --json for all)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from agent.records_job import ensure_records, open_records

    ctx = open_records(settings)
    neurons = parse_index_list(args.neurons) if args.neurons else list(range(ctx.subject.info.d_mlp))
    report = ensure_records(ctx, args.layer, neurons, settings)
    rows = neuron_rows(ctx.store, args.layer, neurons)
    if args.json:
        print(json.dumps({
            "layer": args.layer, "records": str(ctx.store.root), "model": ctx.manifest.model_id,
            "corpus": ctx.manifest.corpus_id, "written": len(report.written), "skipped": len(report.skipped),
            "tokens": report.tokens, "seconds": round(report.seconds, 2), "neurons": rows,
        }))
    else:
        print_table(rows, f"{ctx.manifest.model_id} layer {args.layer}: {len(report.written)} built, {len(report.skipped)} already there ({ctx.store.root})")
    return 0
