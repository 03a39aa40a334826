"""The sweep's summary table: one row per neuron, written as JSON and CSV (pure row building).

`gain` is paired: the refined minus the one-shot held-out r over the held-out records both
simulations read (`paired_records` of `heldout_records`); `oneshot_failed` and `refined_failed`
count the records each simulation failed. `baseline_*` are the free builtin explanation's scores
from the triage. The one-shot and refined means and the mean gain are over the same neurons: the
refined ones (ok or degraded, never skipped) with both held-out scores and a gain (`paired` counts
them); the baseline mean is over the neurons that have one (`baseline_neurons`)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from tools.atomic import atomic_write_json, atomic_write_text

COLUMNS = (
    "layer", "neuron", "status", "stop", "error", "problems", "existing_score", "baseline_selection", "baseline_heldout",
    "oneshot_heldout", "oneshot_ci_low", "oneshot_ci_high", "refined_heldout", "refined_ci_low", "refined_ci_high", "gain",
    "heldout_records", "paired_records", "oneshot_failed", "refined_failed", "iterations", "probes", "counterexamples",
    "tokens", "cost_usd", "seconds", "method", "refined_explanation", "baseline_explanation",
)
REFINED = ("ok", "degraded")
"""Statuses of neurons that went through refinement: the mean gain is over these."""


def _score(result: dict[str, Any] | None) -> tuple[float | None, float | None, float | None]:
    if not result:
        return None, None, None
    ci = result.get("heldout_ci") or (None, None)
    return result.get("heldout_score"), ci[0], ci[1]


def _baseline(baseline: dict[str, Any] | None) -> dict[str, Any]:
    b = baseline or {}
    return {"baseline_selection": b.get("selection_score"), "baseline_heldout": b.get("heldout_score"),
            "baseline_explanation": b.get("explanation")}


def _failed(result: dict[str, Any] | None) -> int | None:
    if not result or result.get("n_records") is None:
        return None  # a result written before failed records were kept
    return len(result.get("failed_records") or [])


def _gain(final: dict[str, Any], oneshot: float | None, refined: float | None) -> float | None:
    paired = final.get("paired")
    if paired is not None:
        gain: float | None = paired.get("gain")
        return gain
    return refined - oneshot if refined is not None and oneshot is not None else None  # results without pairing


def row(final: dict[str, Any] | None, layer: int, neuron: int, status: str | None = None, existing: float | None = None,
        error: str | None = None, baseline: dict[str, Any] | None = None) -> dict[str, Any]:
    """A summary row from a neuron's final summary (None for a neuron that has not finished, or
    could not run: then `error` says why). A failed neuron's `error` is its reason; a degraded
    neuron's `problems` are its reasons, joined by "; "."""
    if final is None:
        return {c: None for c in COLUMNS} | {"layer": layer, "neuron": neuron, "status": status or "unfinished",
                                             "existing_score": existing, "error": error} | _baseline(baseline)
    o, olo, ohi = _score(final.get("oneshot"))
    r, rlo, rhi = _score(final.get("refined"))
    paired = final.get("paired") or {}
    return {
        "layer": layer, "neuron": neuron, "status": status or final["status"], "stop": final.get("stop"),
        "error": final.get("error"), "problems": "; ".join(final.get("problems") or []) or None,
        "existing_score": existing, **_baseline(final.get("baseline") or baseline),
        "oneshot_heldout": o, "oneshot_ci_low": olo, "oneshot_ci_high": ohi,
        "refined_heldout": r, "refined_ci_low": rlo, "refined_ci_high": rhi, "gain": _gain(final, o, r),
        "heldout_records": paired.get("n_records"), "paired_records": paired.get("n_paired"),
        "oneshot_failed": _failed(final.get("oneshot")), "refined_failed": _failed(final.get("refined")),
        "iterations": final.get("iterations"),
        "probes": final.get("probes"), "counterexamples": final.get("counterexamples"), "tokens": final.get("tokens"),
        "cost_usd": final.get("cost_usd"), "seconds": final.get("seconds"), "method": final.get("method"),
        "refined_explanation": (final.get("refined") or {}).get("explanation"),
    }


def totals(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    refined = [r for r in rows if r["status"] in REFINED]
    # The means are over the same neurons: those with a one-shot score, a refined score and a gain.
    paired = [r for r in refined if None not in (r["oneshot_heldout"], r["refined_heldout"], r["gain"])]
    baseline = [r["baseline_heldout"] for r in rows if r["baseline_heldout"] is not None]
    counts = {status: sum(r["status"] == status for r in rows) for status in ("ok", "degraded", "failed", "skipped", "unfinished")}
    return {
        "neurons": len(rows), **counts, "refined": len(refined), "paired": len(paired),
        "mean_baseline": _mean(baseline), "baseline_neurons": len(baseline),
        "mean_oneshot": _mean([r["oneshot_heldout"] for r in paired]), "mean_refined": _mean([r["refined_heldout"] for r in paired]),
        "mean_gain": _mean([r["gain"] for r in paired]),
        "failed_records": sum((r["oneshot_failed"] or 0) + (r["refined_failed"] or 0) for r in rows),
        "tokens": sum(r["tokens"] or 0 for r in rows), "cost_usd": round(sum(r["cost_usd"] or 0.0 for r in rows), 6),
    }


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def write_summary(run_root: Any, rows: Sequence[dict[str, Any]], extra: dict[str, Any]) -> None:
    atomic_write_json(run_root / "summary.json", {"totals": totals(rows), **extra, "neurons": list(rows)}, indent=2)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(run_root / "summary.csv", buffer.getvalue())
