"""Shared CLI options. Every option maps to a `Settings` field, so it is also settable as
`REFINERY_<FIELD>` in the environment, `.env` or `refinery.toml`; its help text says so."""

from __future__ import annotations

import argparse
from typing import Any

from agent.settings import Settings
from tools.errors import BadInputError


def setting(parser: argparse.ArgumentParser | Any, *flags: str, field: str, **kwargs: Any) -> None:
    """Add an option bound to a Settings field; unset options leave the field to env/toml/defaults."""
    info = Settings.model_fields[field]
    default = info.get_default(call_default_factory=True)
    env = f"REFINERY_{field.upper()}"
    if kwargs.get("action") == "store_true":
        help_text = f"{info.description} [env {env}]"
    else:
        help_text = f"{info.description} [env {env}; default: {default}]"
    parser.add_argument(*flags, dest=field, default=argparse.SUPPRESS, help=help_text, **kwargs)


def one_neuron_options(parser: argparse.ArgumentParser) -> None:
    """The neuron a one-neuron command works on, and its --json switch."""
    parser.add_argument("--layer", type=int, required=True, help="layer index (0-based)")
    parser.add_argument("--neuron", type=int, required=True, help="neuron index within the layer")
    parser.add_argument("--json", action="store_true", help="print one JSON object (for scripts)")


def subject_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("subject model")
    setting(group, "--model", field="model", metavar="NAME")
    setting(group, "--model-path", field="model_path", metavar="DIR")
    setting(group, "--allow-hub", field="allow_hub", action="store_true")
    setting(group, "--cache-dir", field="cache_dir", metavar="DIR")
    setting(group, "--device", field="device", metavar="DEVICE")
    setting(group, "--dtype", field="dtype", choices=["auto", "float32", "bfloat16", "float16"])


def corpus_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("corpus and records")
    setting(group, "--corpus", field="corpus", metavar="SPEC")
    setting(group, "--excerpt-tokens", field="excerpt_tokens", type=int, metavar="N")
    setting(group, "--max-excerpts", field="max_excerpts", type=int, metavar="N")
    setting(group, "--top-k", field="top_k", type=int, metavar="K")
    setting(group, "--n-random", field="n_random", type=int, metavar="N")
    setting(group, "--batch-size", field="batch_size", type=int, metavar="N")
    setting(group, "--seed", field="seed", type=int, metavar="N")


def logging_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("logging")
    setting(group, "--log-level", field="log_level", choices=["debug", "info", "warning", "error"])
    setting(group, "--log-json", field="log_json", action="store_true")


def parse_index_list(spec: str, what: str = "neuron") -> list[int]:
    """'0-63', '1,5,9-12' -> sorted unique indices; a clear error for anything else."""
    out: set[int] = set()
    for part in spec.split(","):
        part = part.strip()
        try:
            if "-" in part:
                lo_text, hi_text = part.split("-", 1)
                lo, hi = int(lo_text), int(hi_text)
                if hi < lo:
                    raise ValueError
                out.update(range(lo, hi + 1))
            else:
                out.add(int(part))
        except ValueError:
            raise BadInputError(f"bad {what} list {spec!r}: use indices and ranges like '0-63' or '1,5,9-12'") from None
    if any(i < 0 for i in out):
        raise BadInputError(f"bad {what} list {spec!r}: indices are never negative")
    return sorted(out)


def backend_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("explainer and simulator")
    setting(group, "--backend", field="backend", choices=["auto", "builtin", "llm", "local"])
    setting(group, "--simulator", field="simulator", choices=["auto", "builtin", "chat-logprob", "chat-logprob-numbered", "chat-json", "chat-highlight", "prompt-logprob"])
    setting(group, "--n", "--n-explanations", field="n_explanations", type=int, metavar="N")
    setting(group, "--records-per-split", field="records_per_split", type=int, metavar="N")
    llm = parser.add_argument_group("LLM endpoint (key from OPENAI_API_KEY)")
    setting(llm, "--llm-base-url", field="llm_base_url", metavar="URL")
    setting(llm, "--llm-explainer-model", field="llm_explainer_model", metavar="MODEL")
    setting(llm, "--llm-simulator-model", field="llm_simulator_model", metavar="MODEL")
    setting(llm, "--llm-timeout-s", field="llm_timeout_s", type=float, metavar="S")
    setting(llm, "--llm-max-retries", field="llm_max_retries", type=int, metavar="N")
    setting(llm, "--llm-concurrency", field="llm_concurrency", type=int, metavar="N")
    setting(llm, "--llm-rpm", field="llm_rpm", type=float, metavar="N")
    setting(llm, "--llm-prices", field="llm_prices", metavar="FILE")
    setting(llm, "--llm-prompt-logprobs", field="llm_prompt_logprobs", action="store_true")
    setting(llm, "--llm-prompt-logprob-offsets", field="llm_prompt_logprob_offsets", action="store_true")
    setting(llm, "--llm-prompt-logprobs-shifted", field="llm_prompt_logprobs_shifted", action="store_true")
    local = parser.add_argument_group("local LLM (--backend local; needs `make local`)")
    setting(local, "--local-gguf", field="local_gguf", metavar="FILE")
    setting(local, "--local-threads", field="local_threads", type=int, metavar="N")
    setting(local, "--local-n-ctx", field="local_n_ctx", type=int, metavar="N")


def run_folder_options(group: argparse._ArgumentGroup) -> None:
    """Where a command that writes a run folder works: RUNS_DIR/RUN, resumed unless --new-run."""
    setting(group, "--run", field="run", metavar="NAME")
    setting(group, "--runs-dir", field="runs_dir", metavar="DIR")
    setting(group, "--new-run", field="new_run", action="store_true")


def refine_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("refinement loop")
    run_folder_options(group)
    setting(group, "--max-iters", field="max_iters", type=int, metavar="N")
    setting(group, "--epsilon", field="epsilon", type=float, metavar="E")
    setting(group, "--patience", field="patience", type=int, metavar="K")
    setting(group, "--target", field="target", type=float, metavar="R")
    setting(group, "--n-revisions", field="n_revisions", type=int, metavar="N")
    setting(group, "--probes-per-generator", field="probes_per_generator", type=int, metavar="N")
    setting(group, "--output-side", field="output_side", action=argparse.BooleanOptionalAction)
    explainer_hint_option(group)
    judge_option(group)


def explainer_hint_option(group: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    setting(group, "--explain-digest", field="explain_digest", action=argparse.BooleanOptionalAction)
    setting(group, "--explain-output-hint", field="explain_output_hint", action=argparse.BooleanOptionalAction)


def judge_option(group: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    setting(group, "--judge", field="judge", choices=["auto", "builtin", "llm"])


def budget_options(parser: argparse.ArgumentParser) -> None:
    """The same names in every command: --budget-* for the whole command, --per-neuron-* for each neuron."""
    group = parser.add_argument_group(
        "budgets (--budget-*: the whole command, all neurons; --per-neuron-*: each neuron; unset = unlimited)")
    setting(group, "--budget-usd", field="budget_usd", type=float, metavar="USD")
    setting(group, "--budget-tokens", field="budget_tokens", type=int, metavar="N")
    setting(group, "--budget-hours", field="budget_hours", type=float, metavar="H")
    setting(group, "--per-neuron-usd", field="per_neuron_usd", type=float, metavar="USD")
    setting(group, "--per-neuron-tokens", field="per_neuron_tokens", type=int, metavar="N")
    setting(group, "--per-neuron-minutes", field="per_neuron_minutes", type=float, metavar="MIN")


def run_argument(parser: argparse.ArgumentParser) -> None:
    """The RUN positional of the commands that read a run folder; bound to the `run` setting."""
    info = Settings.model_fields["run"]
    parser.add_argument("run", nargs="?", default=argparse.SUPPRESS, metavar="RUN",
                        help=f"run name under --runs-dir, or a run folder's path [env REFINERY_RUN; default: {info.default}]")


def explaining_options(parser: argparse.ArgumentParser, refine: bool = False) -> None:
    """The options every command that explains neurons shares: records, backend, subject, corpus, logging."""
    setting(parser, "--records", field="records", metavar="DIR")
    if refine:
        refine_options(parser)
    backend_options(parser)
    subject_options(parser)
    corpus_options(parser)
    logging_options(parser)
