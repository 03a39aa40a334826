"""`refinery demo`: the main job on the embedded default, end to end, offline."""

from __future__ import annotations

import argparse

from agent.cli.options import corpus_options, logging_options, parse_index_list, setting, subject_options
from agent.settings import Settings

HELP = "run the main job on the offline default (SmolLM2-135M, default corpus): records for a handful of neurons"
DESCRIPTION = """\
Sets up the offline assets if needed, builds activation records for a handful of neurons of the
default subject on a 3,000-excerpt sample of the default corpus, and prints each neuron's top tokens
and max activation. Everything is written under runs/demo/. Flags change the sizes."""

DEMO_LAYER = 4
DEMO_NEURONS = "0-5"
DEMO_EXCERPTS = 3000


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("demo", help=HELP, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layer", type=int, default=DEMO_LAYER, help=f"layer to study (default {DEMO_LAYER})")
    parser.add_argument("--neurons", default=DEMO_NEURONS, metavar="LIST", help=f"neurons to study (default {DEMO_NEURONS})")
    setting(parser, "--records", field="records", metavar="DIR")
    subject_options(parser)
    corpus_options(parser)
    logging_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from agent.cli.cmd_records import neuron_rows, print_table
    from agent.records_job import ensure_records, open_records
    from tools.corpus.corpus import prepare_default_corpus
    from tools.subject import smollm2

    overrides: dict[str, object] = {}
    if "records" not in settings.model_fields_set:
        overrides["records"] = settings.runs_dir / "demo" / "records"
    if "max_excerpts" not in settings.model_fields_set:
        overrides["max_excerpts"] = DEMO_EXCERPTS
    settings = settings.model_copy(update=overrides)
    if settings.corpus == "default":
        prepare_default_corpus(settings.cache_dir)
    if settings.model == "smollm2-135m" and settings.model_path is None:
        smollm2.convert(settings.cache_dir)
    ctx = open_records(settings)
    neurons = parse_index_list(args.neurons)
    ensure_records(ctx, args.layer, neurons, settings)
    print_table(neuron_rows(ctx.store, args.layer, neurons), f"{ctx.manifest.model_id} layer {args.layer} on {ctx.manifest.n_excerpts:,} excerpts of {ctx.manifest.corpus_id}")
    return 0
