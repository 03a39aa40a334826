"""`refinery sweep`: budgeted, resumable refinement of many neurons."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
from pathlib import Path
from typing import Any

import structlog
from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from agent.cli.options import budget_options, explaining_options, parse_index_list, setting
from agent.settings import Settings
from tools.errors import BadInputError

log = structlog.get_logger(__name__)

HELP = "refine many neurons under a budget: hard-neuron selection, concurrency, resume, OpenAI-format export"
DESCRIPTION = """\
Refines every selected neuron with the refinement agent, N at a time, under a budget for the whole
command (--budget-*) and per neuron (--per-neuron-*): dollars, tokens, wall time, checked before
every LLM call, never overshot by more than one call. Rerunning the same command skips finished
neurons and resumes the others from their checkpoints. Outputs in RUNS_DIR/RUN/:
explanations/L/N.jsonl (OpenAI NeuronSimulationResults), summary.json and summary.csv (free
baseline, one-shot and refined held-out r with CI, the gain paired on the records both
simulations read, failed-record counts, iterations, spend, status), manifest.json (finished
neurons), ledger.json (spend), traces/.

Free triage (--triage builtin, the default with an LLM backend and no --from): before any paid
call, every neuron's builtin explanation is scored by the builtin simulator on the selection
split. Neurons it explains at or above --target are finished without an LLM (status skipped);
the budget goes to the others, worst first. The free explanation's held-out r is reported next to
the LLM's, never used to decide. --triage none turns it off.

Hard neurons: --from a directory of OpenAI-format explanation files ({layer}/{neuron}.jsonl, the
released GPT-2 layout) or a previous run folder gives each neuron's existing score; --below T keeps
those under T; --order lowest refines the worst first. Without --from, --below/--order lowest first
run a one-shot pass over all selected neurons, then refine only those under T.

Status of a neuron: ok; degraded (an LLM step failed on the way: reasons listed, scores real);
failed (nothing usable); skipped (finished without refinement: triage or --below); unfinished.
The means are over the same neurons: refined ones (ok and degraded) with both held-out scores.

Exit codes: 0 all done (ok or skipped), 1 some neurons failed or ended degraded, 2 bad input (e.g. a
dollar budget for a model without a price, or --backend auto with OPENAI_API_KEY and no dollar
budget), 3 stopped by the global budget (unfinished neurons are listed and resume on rerun),
130 interrupted.

examples:
  refinery sweep --run s1 --layers 0-5 --neurons 0-99 --below 0.35 --order lowest --budget-usd 20
  refinery sweep --run s2 --layers 0-47 --from ~/gpt2xl-explanations --below 0.2 --per-neuron-usd 0.2 --concurrency 8"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("sweep", help=HELP, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    choose = parser.add_argument_group("which neurons")
    choose.add_argument("--layers", default=None, metavar="LIST", help="layers like '0-5' or '2,7'")
    choose.add_argument("--neurons", default=None, metavar="LIST", help="neurons of each layer (default: all that --from has, else 0-99)")
    choose.add_argument("--neuron-list", type=Path, default=None, metavar="FILE", help="file of 'layer/neuron' lines (or a JSON list of pairs)")
    choose.add_argument("--from", dest="source", type=Path, default=None, metavar="PATH",
                        help="OpenAI-format explanations dir or a previous run: existing scores and explanations")
    choose.add_argument("--below", type=float, default=None, metavar="T", help="refine only neurons whose existing score is under T")
    choose.add_argument("--order", choices=["given", "lowest", "random"], default="given", help="refinement order (default: given)")
    budget_options(parser)
    setting(choose, "--triage", field="triage", choices=["auto", "builtin", "none"])
    run_group = parser.add_argument_group("execution")
    setting(run_group, "--concurrency", field="concurrency", type=int, metavar="N")
    setting(run_group, "--executor", field="executor", choices=["inprocess", "ray"])
    setting(run_group, "--ray-address", field="ray_address", metavar="ADDR")
    setting(run_group, "--subject-process", field="subject_process", action="store_true")
    parser.add_argument("--json", action="store_true", help="print the summary totals as one JSON object")
    explaining_options(parser, refine=True)
    parser.set_defaults(handler=run)


def neuron_keys(args: argparse.Namespace) -> list[tuple[int, int]]:
    from agent.sweep.select import available_neurons, parse_neuron_list

    if args.neuron_list is not None:
        if args.layers or args.neurons:
            raise BadInputError("give either --neuron-list or --layers/--neurons, not both")
        return parse_neuron_list(args.neuron_list)
    if not args.layers:
        raise BadInputError("say which neurons: --layers (with --neurons) or --neuron-list")
    layers = parse_index_list(args.layers, "layer")
    if args.neurons is None and args.source is not None:
        return available_neurons(args.source, layers)
    neurons = parse_index_list(args.neurons or "0-99")
    return [(layer, neuron) for layer in layers for neuron in neurons]


def run(args: argparse.Namespace, settings: Settings) -> int:
    from agent.sweep.select import select
    from agent.sweep.session import sweep

    settings = settings.resolved_run()
    keys = neuron_keys(args)
    if not keys:
        raise BadInputError("no neurons selected (is --from the right directory?)")
    selection = select(keys, args.source, args.below if args.source is not None else None, args.order if args.source else "given",
                       settings.seed)
    for (layer, neuron), reason in selection.skipped:
        log.info("neuron_skipped", layer=layer, neuron=neuron, reason=reason)
    console = Console(stderr=True)
    display = SweepDisplay(console, settings) if not args.json else None
    one_shot_first = args.source is None and (args.below is not None or args.order == "lowest")
    with (display.live if display and display.live else contextlib.nullcontext()):
        report = asyncio.run(sweep(settings, selection, one_shot_first=one_shot_first, below=args.below, order=args.order,
                                   on_progress=display.update if display else None))
    if args.json:
        print(json.dumps(report))
    else:
        print_report(report)
    return exit_code(report)


def exit_code(report: dict[str, Any]) -> int:
    """3 when the budget stopped the sweep, 1 when a neuron failed or ended degraded, else 0."""
    if report["budget_stop"]:
        return 3
    return 1 if report["totals"]["failed"] or report["totals"]["degraded"] else 0


class SweepDisplay:
    def __init__(self, console: Console, settings: Settings) -> None:
        self.settings = settings
        self.live = Live(console=console, refresh_per_second=2) if console.is_terminal else None
        self.last_log = 0.0

    def update(self, state: Any) -> None:
        eta = state.eta_s()
        gain = state.mean_gain
        line = {"done": state.done, "degraded": state.degraded, "skipped": state.skipped, "failed": state.failed,
                "running": state.running, "total": state.total,
                "mean_gain": None if gain is None else round(gain, 4), "eta_s": None if eta is None else round(eta)}
        if self.live is not None:
            table = Table(show_header=False, title="sweep")
            for key, value in line.items():
                table.add_row(key, "-" if value is None else str(value))
            table.add_row("budget", self._budget())
            self.live.update(table)
        elif time.monotonic() - self.last_log > 10:
            self.last_log = time.monotonic()
            log.info("sweep_progress", **line)

    def _budget(self) -> str:
        s = self.settings
        parts = [f"${s.budget_usd:g}" if s.budget_usd else "", f"{s.budget_tokens:,} tok" if s.budget_tokens else "",
                 f"{s.budget_hours:g} h" if s.budget_hours else ""]
        return ", ".join(p for p in parts if p) or "unlimited"


def print_report(report: dict[str, Any]) -> None:
    console = Console(soft_wrap=True)
    t = report["totals"]
    console.print(f"[bold]sweep {report['run']}[/bold] of {t['neurons']} neurons: {t['ok']} ok, {t['degraded']} degraded, "
                  f"{t['failed']} failed, {t['skipped']} skipped (not refined), {t['unfinished']} unfinished; "
                  f"{len(report['skipped'])} left out by the selection; triage {report['triage']}")
    def fmt(v: float | None) -> str:
        return "-" if v is None else f"{v:.3f}"

    console.print(f"mean held-out r over the {t['paired']} of {t['refined']} refined neurons with both scores: one-shot "
                  f"{fmt(t['mean_oneshot'])} -> refined {fmt(t['mean_refined'])} (mean paired gain {fmt(t['mean_gain'])}); "
                  f"free baseline {fmt(t['mean_baseline'])} over {t['baseline_neurons']}; {t['failed_records']} held-out record simulations failed; spend {t['tokens']:,} tokens, "
                  f"${t['cost_usd']:.4f}")
    # Reasons quote files, fields ("missing ['tokens']") and LLM answers: not markup.
    for failure in report["failed"]:
        console.print(f"[red]failed[/red] {failure['neuron']}: {escape(failure['reason'] or 'no reason recorded')}", highlight=False)
    for item in report["degraded"]:
        console.print(f"[yellow]degraded[/yellow] {item['neuron']}: {escape(item['reason'] or 'no reason recorded')}", highlight=False)
    if report["budget_stop"]:
        console.print(f"[yellow]stopped by the budget[/yellow]: {escape(report['budget_stop'])}; rerun to resume "
                      f"{len(report['unfinished'])} unfinished neurons", highlight=False)
    console.print(f"outputs: {report['outputs']}", markup=False)
