"""`refinery score`: any explanation of a neuron, scored on its held-out split by r and the field's scorers."""

from __future__ import annotations

import argparse
import asyncio

from agent.cli.options import explaining_options, one_neuron_options
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

examples:
  refinery score --layer 4 --neuron 3 --explanation '"than" after "more" or "less" (10)'
  refinery score --layer 4 --neuron 3 --explanation 'words about money' --backend llm --json"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("score", help=HELP, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    one_neuron_options(parser)
    explaining_options(parser)
    parser.add_argument("--explanation", required=True, help="the explanation to score")
    parser.add_argument("--no-output-side", action="store_true", help="skip the output side (VocabProj, TokenChange)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from agent.backends import check_spending, open_backend
    from agent.records_job import ensure_records, open_records
    from agent.score_job import ScoreOutcome, score_neuron
    from agent.views.terminal import score_text
    from tools.records.neuron_data import NeuronData
    from tools.subject.base import OutputReader

    check_spending(settings, neurons=1)
    ctx = open_records(settings)
    ensure_records(ctx, args.layer, [args.neuron], settings)
    data = NeuronData(args.layer, args.neuron, ctx.store.read(args.layer, args.neuron), settings.records_per_split)

    async def go() -> ScoreOutcome:
        async with open_backend(settings, ctx.subject) as backend:
            reader = ctx.subject if isinstance(ctx.subject, OutputReader) and not args.no_output_side else None
            return await score_neuron(data, args.explanation, backend.simulator(), reader, seed=settings.seed)

    outcome = asyncio.run(go())
    print(outcome.model_dump_json() if args.json else score_text(outcome), end="\n" if args.json else "")
    return 0
