"""bench/records: record builder against a bare forward to the same layer, and peak RSS."""

from __future__ import annotations

import statistics
from typing import Any

from bench.report.core import Renderer, num, table


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _device(d: dict[str, Any]) -> str:
    parts = [str(d[k]) for k in ("device", "dtype") if d.get(k)]
    return f" on {' / '.join(parts)}" if parts else ""


def headline(d: dict[str, Any]) -> str:
    peaks = " / ".join(num(r["peak_rss_mib"], 0) for r in d["peak_rss"])
    sizes = " / ".join(f"{r['excerpts']:,}" for r in d["peak_rss"])
    rss = f"peak RSS {peaks} MiB at {sizes} excerpts"
    return (f"builder ÷ bare forward **{num(d['ratio'], 3)}** (pass alone {num(d['pass_ratio'], 3)}), "
            f"{d['tokens']:,} tokens, {d['neurons']:,} neurons of layer {d['layer']}{_device(d)}; {rss}")


def details(d: dict[str, Any]) -> str:
    repeats = len(d["bare_forward_tok_s"])
    speed = table(
        ["model", "layer", "neurons", "tokens", "bare forward", "builder", "pass alone", "builder ÷ bare", "pass ÷ bare"],
        [[str(d["model"]) + _device(d), str(d["layer"]), f"{d['neurons']:,}", f"{d['tokens']:,}",
          f"{num(_median(d['bare_forward_tok_s']), 0)} tok/s", f"{num(_median(d['builder_tok_s']), 0)} tok/s",
          f"{num(_median(d['pass_tok_s']), 0)} tok/s", f"**{num(d['ratio'], 3)}**", num(d["pass_ratio"], 3)]],
    )
    rss = table(["excerpts", "peak RSS"], [[f"{r['excerpts']:,}", f"{num(r['peak_rss_mib'], 1)} MiB"] for r in d["peak_rss"]])
    return (f"Tokens per second, median of {repeats} interleaved repeat{'s' if repeats != 1 else ''} in batches of "
            f"{d['batch_size']} excerpts; the pass alone leaves out writing the record files.\n\n{speed}\n\n"
            f"Peak RSS of a fresh process building the same layer from each corpus size:\n\n{rss}")


RENDERER = Renderer(headline, details)
