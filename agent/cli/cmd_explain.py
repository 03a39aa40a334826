"""`refinery explain`: one-shot explanation of a neuron, scored on selection and held-out splits."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape

from agent.cli.options import (
    budget_options,
    explainer_hint_option,
    explaining_options,
    judge_option,
    one_neuron_options,
    run_folder_options,
)
from agent.settings import Settings

if TYPE_CHECKING:  # imported where it runs, keeping the CLI's start fast
    from agent.explain_job import ExplainOutcome

HELP = "explain one neuron (best-of-n), with its selection score and its held-out score and CI"
DESCRIPTION = """\
Writes n candidate explanations from the neuron's train records, scores each on the selection
split (valid + calibration) with the simulator, keeps the best, and scores it once on the held-out split (test)
that nothing else looked at, with a 95% bootstrap interval over records. Records are built on the
fly if the records directory lacks them. The simulator method is named with every score: scores
of different methods are not comparable.

It is the refinement agent stopped after its one-shot part: the same run folder (RUNS_DIR/RUN:
call journal, trace, results; a rerun resumes and never pays twice for a call), the same budgets
and the same preflight of the endpoint as `refine`. Status and exit codes are refine's: 0 ok,
1 degraded or failed, 2 bad input.

examples:
  refinery explain --layer 3 --neuron 17                      # offline builtin backend
  OPENAI_API_KEY=... refinery explain --layer 3 --neuron 17 --backend llm --n 5
  refinery explain --layer 3 --neuron 17 --llm-base-url http://127.0.0.1:8080/v1 --json"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("explain", help=HELP, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    one_neuron_options(parser)
    run_folder_options(parser.add_argument_group("run folder"))
    budget_options(parser)
    explaining_options(parser)
    explained = parser.add_argument_group("the explainer's hint and the held-out judge")
    explainer_hint_option(explained)
    judge_option(explained)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from agent.explain_job import explain_in_run
    from agent.refine_setup import open_refine_environment

    settings = settings.resolved_run()

    async def go() -> ExplainOutcome:
        async with open_refine_environment(settings, [(args.layer, args.neuron)], one_neuron=True) as env:
            return await explain_in_run(env, args.layer, args.neuron)

    outcome = asyncio.run(go())
    if args.json:
        print(json.dumps(outcome.model_dump(mode="json", exclude={"candidates"}) | {
            "candidates": [c.model_dump() for c in outcome.candidates]}))
    else:
        print_outcome(outcome)
    return 0 if outcome.status == "ok" else 1


def fmt_score(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.3f}"


def fmt_ci(ci: tuple[float, float] | None) -> str:
    return "" if ci is None else f" [{ci[0]:.3f}, {ci[1]:.3f}]"


def print_outcome(outcome: ExplainOutcome) -> None:
    console = Console(soft_wrap=True)
    # Errors, problems and explanations quote LLM answers and files: never markup.
    console.print(f"[bold]neuron {outcome.layer}/{outcome.neuron}[/bold]  backend {escape(outcome.backend)}, "
                  f"simulator {escape(outcome.method)}", highlight=False)
    if outcome.status == "failed":
        console.print(f"[red]failed:[/red] {escape(outcome.error or 'no reason recorded')}", highlight=False)
        return
    for problem in outcome.problems:
        console.print(f"[yellow]degraded[/yellow]: {escape(problem)}", highlight=False)
    console.print(f"explanation: the main thing this neuron does is find {outcome.explanation}", markup=False)
    console.print(f"selection score (valid): {fmt_score(outcome.selection_score)}")
    console.print(f"held-out score (test):   {fmt_score(outcome.heldout_score)}{fmt_ci(outcome.heldout_ci)}"
                  + (f"  ({outcome.heldout_reason})" if outcome.heldout_reason else ""), markup=False)
    console.print(f"spend: {outcome.tokens:,} tokens, ${outcome.cost_usd:.4f}; {len(outcome.candidates)} candidates"
                  + (f"; trace: {outcome.trace}" if outcome.trace else ""), markup=False)
