"""`refinery refine`: the refinement agent on one neuron, with a live table and a before/after result."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
from typing import Any

from rich.console import Console
from rich.markup import escape

from agent.cli.options import budget_options, explaining_options, one_neuron_options
from agent.settings import Settings

HELP = "refine one neuron's explanation: propose, simulate, score, probe for counterexamples, revise until it converges"
DESCRIPTION = """\
Runs the refinement agent (a LangGraph loop) on one neuron: best-of-n explanations from the train
records, scored on the selection split; then rounds of probing the subject model with new texts,
collecting counterexamples, and revising, keeping the best explanation so far. It stops when the
selection score stops improving (--epsilon for --patience rounds), reaches --target, hits
--max-iters or a budget. Finally the one-shot and the refined explanation are scored on the
held-out split that no step of the loop touched.

Everything goes to RUNS_DIR/RUN/ (checkpoints, call journal, trace, probes, results); rerunning the
same command after a crash resumes where it stopped and never pays twice for a finished LLM call.

Budgets: --budget-usd/--budget-tokens/--budget-hours are for this command (on a resumed neuron,
counted from the resume); --per-neuron-usd/--per-neuron-tokens/--per-neuron-minutes cap the neuron
across all runs. Either stops the loop early enough to leave room for the held-out score.

Status: ok; degraded (scored, with reasons listed: an LLM step failed on the way, the one-shot
explanation has no held-out score, or more than 20% of held-out records failed); failed (nothing
usable: no explanation, or no refined held-out score, e.g. a constant simulation). Before the first
paid call, one call per role checks the endpoint (key, model, logprobs). A run resumed with other
result-defining settings is refused (--new-run starts RUN-2). Exit codes: 0 ok, 1 degraded or
failed, 2 bad input (a refused key or model, an endpoint without the logprobs the simulator needs,
a resume with other settings, a dollar budget for a model without a price, or --backend auto with
OPENAI_API_KEY set and no dollar budget).

examples:
  refinery refine --layer 4 --neuron 3
  refinery refine --layer 4 --neuron 3 --backend llm --budget-usd 0.5 --max-iters 4 --json"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("refine", help=HELP, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    one_neuron_options(parser)
    budget_options(parser)
    explaining_options(parser, refine=True)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from agent.cli.live import live_progress
    from agent.refine_job import refine_neuron
    from agent.refine_setup import open_refine_environment
    from graphs.trace import trace_path

    settings = settings.resolved_run()
    console = Console(stderr=True)
    progress, live = live_progress(console) if not args.json else (None, None)

    async def go() -> dict[str, Any]:
        async with open_refine_environment(settings, [(args.layer, args.neuron)], on_event=progress, one_neuron=True) as env:
            with live or contextlib.nullcontext():
                final = await refine_neuron(env, args.layer, args.neuron)
            return final | {"trace": str(trace_path(env.run.root, args.layer, args.neuron))}

    final = asyncio.run(go())
    out = summary(final)
    if args.json:
        print(json.dumps(out))
    else:
        print_summary(out)
    return 0 if out["status"] == "ok" else 1


def paired_text(paired: dict[str, Any] | None) -> str | None:
    """One line on the one-shot vs refined comparison: over which held-out records, which failed."""
    if not paired:
        return None
    gain = "undefined" if paired["gain"] is None else f"{paired['gain']:+.3f}"
    if paired.get("gain_ci"):
        gain += f" (95% CI [{paired['gain_ci'][0]:+.3f}, {paired['gain_ci'][1]:+.3f}])"
    failed = "; ".join(f"{name} failed record{'s' if len(items) > 1 else ''} {', '.join(str(i + 1) for i in items)}"
                       for name, items in (("one-shot", paired["failed_oneshot"]), ("refined", paired["failed_refined"])) if items)
    return (f"gain {gain} on the {paired['n_paired']} of {paired['n_records']} held-out records both simulations read"
            + (f" ({failed})" if failed else ""))


def summary(final: dict[str, Any]) -> dict[str, Any]:
    return {
        "layer": final["layer"], "neuron": final["neuron"], "status": final["status"], "stop": final["stop"],
        "stop_reason": final.get("stop_reason"), "error": final.get("error"), "method": final["method"],
        "oneshot": final["oneshot"], "refined": final["refined"], "iterations": final["iterations"],
        "probes": final["probes"], "counterexamples": final["counterexamples"], "tokens": final["tokens"],
        "cost_usd": final["cost_usd"], "seconds": final["seconds"], "trace": final.get("trace"),
        "problems": final.get("problems", []), "paired": final.get("paired"),
    }


def _fmt(result: dict[str, Any] | None) -> str:
    if not result or result.get("heldout_score") is None:
        return "undefined" + (f" ({result['reason']})" if result and result.get("reason") else "")
    ci = result.get("heldout_ci")
    return f"{result['heldout_score']:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")


def print_summary(out: dict[str, Any]) -> None:
    console = Console(soft_wrap=True)
    # Reasons quote LLM answers and files: never markup.
    console.print(f"[bold]neuron {out['layer']}/{out['neuron']}[/bold]: {out['status']}, stopped: {out['stop']} "
                  f"({escape(out.get('stop_reason') or '')}); simulator {escape(out['method'])}", highlight=False)
    if out["status"] == "failed":
        console.print(f"[red]failed[/red]: {escape(out.get('error') or 'no reason recorded')}", highlight=False)
    for problem in out["problems"]:
        console.print(f"[yellow]degraded[/yellow]: {escape(problem)}", highlight=False)
    for name in ("oneshot", "refined"):
        result = out[name]
        if result:
            console.print(f"{name:>8}: held-out r {_fmt(result)}  ", markup=False, end="")
            console.print(f"the main thing this neuron does is find {result['explanation']}", markup=False)
    if (line := paired_text(out["paired"])) is not None:
        console.print(f"    gain: {line}", markup=False)
    console.print(f"{out['iterations']} rounds, {out['probes']} probes, {out['counterexamples']} counterexamples, "
                  f"{out['tokens']:,} tokens, ${out['cost_usd']:.4f}, {out['seconds']:.1f} s; trace: {out['trace']}", markup=False)
