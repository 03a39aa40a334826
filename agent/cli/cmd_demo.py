"""`refinery demo`: the main job on the embedded default, end to end, offline."""

from __future__ import annotations

import argparse
import asyncio
import textwrap
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from agent.cli.options import explaining_options, parse_index_list
from agent.settings import Settings

HELP = "run the main job on the offline default (SmolLM2-135M, default corpus): records, explanations, refinement"
DESCRIPTION = """\
Sets up the offline assets if needed, builds activation records for a handful of neurons of the
default subject on a 3,000-excerpt sample of the default corpus, explains each neuron (best-of-n
on the selection split) and scores the chosen explanation on the held-out split. Then it runs the
refinement agent on the neuron whose explanation scored lowest on the selection split and prints
its one-shot and refined held-out scores with their intervals, the counterexamples behind each
revision it adopted, whether the gain is beyond noise, and the path of the run's HTML report. The builtin backend is used unless --backend says
otherwise. Everything is written under runs/demo/ (records) and runs/demo-refine/ (the agent's run)."""

DEMO_LAYER = 4
DEMO_NEURONS = "0-5"
DEMO_EXCERPTS = 3000
WIDTH = 100


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("demo", help=HELP, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layer", type=int, default=DEMO_LAYER, help=f"layer to study (default {DEMO_LAYER})")
    parser.add_argument("--neurons", default=DEMO_NEURONS, metavar="LIST", help=f"neurons to study (default {DEMO_NEURONS})")
    explaining_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from agent.backends import check_spending, open_backend
    from agent.cli.cmd_records import neuron_rows
    from agent.explain_job import ExplainOutcome, explain_neuron
    from agent.records_job import ensure_records, open_records
    from agent.report.bundle import write_report
    from agent.views.story import adopted_changes
    from agent.views.terminal import refinement_text
    from graphs.trace import Finalized, read_trace, trace_path
    from tools.corpus.corpus import prepare_default_corpus
    from tools.records.neuron_data import NeuronData
    from tools.subject import smollm2

    overrides: dict[str, object] = {}
    if "records" not in settings.model_fields_set:
        overrides["records"] = settings.runs_dir / "demo" / "records"
    if "max_excerpts" not in settings.model_fields_set:
        overrides["max_excerpts"] = DEMO_EXCERPTS
    if "backend" not in settings.model_fields_set:
        overrides["backend"] = "builtin"  # the demo never spends money unless asked
    settings = settings.model_copy(update=overrides)
    neurons = parse_index_list(args.neurons)
    check_spending(settings, len(neurons))  # before any setup: a refusal costs nothing
    if settings.corpus == "default":
        prepare_default_corpus(settings.cache_dir)
    if settings.model == "smollm2-135m" and settings.model_path is None:
        smollm2.convert(settings.cache_dir)
    ctx = open_records(settings)
    ensure_records(ctx, args.layer, neurons, settings)
    rows = {row["neuron"]: row for row in neuron_rows(ctx.store, args.layer, neurons, n_tokens=3)}

    async def explain_all() -> list[ExplainOutcome]:
        async with open_backend(settings, ctx.subject) as backend:
            roles = backend.roles()
            out = []
            for neuron in neurons:
                data = NeuronData(args.layer, neuron, ctx.store.read(args.layer, neuron), settings.records_per_split)
                out.append(await explain_neuron(data, backend, settings.n_explanations, seed=settings.seed, roles=roles))
            return out

    outcomes = asyncio.run(explain_all())
    # Table titles and cells are markup: model, corpus, tokens and explanations are escaped.
    table = Table(title=escape(f"{ctx.manifest.model_id} layer {args.layer}, {ctx.manifest.n_excerpts:,} excerpts of "
                               f"{ctx.manifest.corpus_id}, backend {outcomes[0].backend} / {outcomes[0].method}"))
    for column in ("neuron", "max act", "top tokens", "explanation", "selection r", "held-out r [95% CI]"):
        table.add_column(column)
    for outcome in outcomes:
        row = rows[outcome.neuron]
        tokens = ", ".join(repr(t) for t, _ in row["top_tokens"])
        ci = f" [{outcome.heldout_ci[0]:.2f}, {outcome.heldout_ci[1]:.2f}]" if outcome.heldout_ci else ""
        table.add_row(
            f"{args.layer}/{outcome.neuron}", f"{row['max_activation']:.2f}", escape(tokens),
            escape(textwrap.shorten(outcome.explanation or f"failed: {outcome.error}", 44, placeholder=" ...")),
            _fmt(outcome.selection_score), _fmt(outcome.heldout_score) + ci,
        )
    console = Console(width=WIDTH)
    console.print(table)
    ok = [o for o in outcomes if o.status == "ok" and o.selection_score is not None]
    if not ok:
        return 1
    hardest = min(ok, key=lambda o: o.selection_score or 0.0)
    final = refine_demo_neuron(settings, args.layer, hardest.neuron)
    run_dir = settings.runs_dir / "demo-refine"
    report = write_report(run_dir)
    changes = adopted_changes(read_trace(trace_path(run_dir, args.layer, hardest.neuron)))
    finalized = Finalized.model_validate({k: v for k, v in final.items() if k in Finalized.model_fields})
    print(refinement_text(finalized, changes, str(report), WIDTH), end="")
    print("\n".join(textwrap.wrap(
        f"records: {ctx.store.root}; agent run: {run_dir} (`refinery trace demo-refine --neuron "
        f"{args.layer}/{hardest.neuron}` shows every step)", WIDTH, break_on_hyphens=False)))
    return 0 if all(o.status == "ok" for o in outcomes) and final["status"] == "ok" else 1


def refine_demo_neuron(settings: Settings, layer: int, neuron: int) -> dict[str, Any]:
    from agent.refine_job import refine_neuron
    from agent.refine_setup import open_refine_environment

    async def go() -> dict[str, Any]:
        async with open_refine_environment(settings.model_copy(update={"run": "demo-refine"}), [(layer, neuron)]) as env:
            return await refine_neuron(env, layer, neuron)

    return asyncio.run(go())


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
