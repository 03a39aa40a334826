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


def subject_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("subject model")
    setting(group, "--model", field="model", metavar="NAME")
    setting(group, "--model-path", field="model_path", metavar="DIR")
    setting(group, "--allow-hub", field="allow_hub", action="store_true")
    setting(group, "--cache-dir", field="cache_dir", metavar="DIR")


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
