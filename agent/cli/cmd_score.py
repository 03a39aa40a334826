"""`refinery score`: any explanation of a neuron, scored on its held-out split by r and the field's scorers."""

from __future__ import annotations

import argparse
import asyncio

from agent.cli.options import explaining_options, judge_option, one_neuron_options, setting
from agent.settings import Settings

HELP = "score any explanation of a neuron: held-out r, detection, fuzzing, F1/IoU, AUPRC, and its output side"
DESCRIPTION = """\
Simulates EXPLANATION on the neuron's held-out split (test) and prints its pooled r with a 95%
bootstrap interval, and beside it the field's scorers on the same simulation: delphi's detection
and fuzzing (balanced accuracy, chance 0.5) and NeuronEval's F1, IoU and AUPRC on the random
records, a token counting as active at 0.25 of the neuron's maximum. Unless --no-output-side, it
also reads what the neuron does to the output: the tokens its output weights promote and
suppress through the unembedding, and the change in next-token loss when it is zeroed or doubled
on its top records.

Detection and fuzzing are answered by the thresholded simulation (free), and with an LLM backend
also by the LLM as delphi's judge (--judge; auto = llm with an LLM backend): it reads the held-out
texts, 5 to a prompt, and answers 0/1 for each, 2 x ceil(texts / 5) calls (4 with the default 10
held-out records), each about the size of a 5-record simulation prompt. Its calls, tokens and
cost are printed with its scores. Every LLM call goes through the call journal
RUNS_DIR/score-journal.sqlite: scoring the same explanation again with the same model and
endpoint pays nothing. An answer that is not one 0/1 per text is counted and its texts left out,
never guessed at.

examples:
  refinery score --layer 4 --neuron 3 --explanation '"than" after "more" or "less" (10)'
  refinery score --layer 4 --neuron 3 --explanation 'words about money' --backend llm --json
  refinery score --layer 4 --neuron 3 --explanation 'words about money' --backend llm --judge builtin"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("score", help=HELP, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    one_neuron_options(parser)
    explaining_options(parser)
    parser.add_argument("--explanation", required=True, help="the explanation to score")
    parser.add_argument("--no-output-side", action="store_true", help="skip the output side (VocabProj, TokenChange)")
    judge_option(parser)
    setting(parser, "--runs-dir", field="runs_dir", metavar="DIR")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from agent.backends import check_spending, open_backend, resolve_backend
    from agent.records_job import ensure_records, open_records
    from agent.score_job import ScoreOutcome, score_neuron, score_tools
    from agent.views.terminal import score_text
    from tools.records.neuron_data import NeuronData
    from tools.subject.base import OutputReader

    # `--judge auto` is the LLM judge wherever an LLM scores: what the command could spend counts its calls.
    judged = settings.judge == "auto" and resolve_backend(settings) != "builtin"
    check_spending(settings.model_copy(update={"judge": "llm"}) if judged else settings, neurons=1, job="score")
    ctx = open_records(settings)
    ensure_records(ctx, args.layer, [args.neuron], settings)
    data = NeuronData(args.layer, args.neuron, ctx.store.read(args.layer, args.neuron), settings.records_per_split)

    async def go() -> ScoreOutcome:
        async with open_backend(settings, ctx.subject) as backend:
            reader = ctx.subject if isinstance(ctx.subject, OutputReader) and not args.no_output_side else None
            async with score_tools(settings, backend, args.layer, args.neuron) as tools:
                return await score_neuron(data, args.explanation, tools.simulator, reader, seed=settings.seed,
                                          judge=tools.judge, journal=tools.journal)

    outcome = asyncio.run(go())
    print(outcome.model_dump_json() if args.json else score_text(outcome), end="\n" if args.json else "")
    return 1 if outcome.judge_error else 0
