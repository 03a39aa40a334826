"""The sweep's summary table: one row per neuron, written as JSON and CSV (pure row building)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from tools.atomic import atomic_write_json, atomic_write_text

COLUMNS = (
    "layer", "neuron", "status", "stop", "error", "existing_score", "oneshot_heldout", "oneshot_ci_low", "oneshot_ci_high",
    "refined_heldout", "refined_ci_low", "refined_ci_high", "gain", "iterations", "probes", "counterexamples",
    "tokens", "cost_usd", "seconds", "method", "refined_explanation",
)


def _score(result: dict[str, Any] | None) -> tuple[float | None, float | None, float | None]:
    if not result:
        return None, None, None
    ci = result.get("heldout_ci") or (None, None)
    return result.get("heldout_score"), ci[0], ci[1]


def row(final: dict[str, Any] | None, layer: int, neuron: int, status: str | None = None, existing: float | None = None,
        error: str | None = None) -> dict[str, Any]:
    """A summary row from a neuron's final summary (None for a neuron that has not finished, or
    could not run: then `error` says why). A failed neuron's `error` is its reason."""
    if final is None:
        return {c: None for c in COLUMNS} | {"layer": layer, "neuron": neuron, "status": status or "unfinished",
                                             "existing_score": existing, "error": error}
    o, olo, ohi = _score(final.get("oneshot"))
    r, rlo, rhi = _score(final.get("refined"))
    return {
        "layer": layer, "neuron": neuron, "status": status or final["status"], "stop": final.get("stop"),
        "error": final.get("error"),
        "existing_score": existing, "oneshot_heldout": o, "oneshot_ci_low": olo, "oneshot_ci_high": ohi,
        "refined_heldout": r, "refined_ci_low": rlo, "refined_ci_high": rhi,
        "gain": (r - o) if r is not None and o is not None else None, "iterations": final.get("iterations"),
        "probes": final.get("probes"), "counterexamples": final.get("counterexamples"), "tokens": final.get("tokens"),
        "cost_usd": final.get("cost_usd"), "seconds": final.get("seconds"), "method": final.get("method"),
        "refined_explanation": (final.get("refined") or {}).get("explanation"),
    }


def totals(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    gains = [r["gain"] for r in rows if r["gain"] is not None]
    done = [r for r in rows if r["status"] == "ok"]
    return {
        "neurons": len(rows), "ok": len(done), "failed": sum(r["status"] == "failed" for r in rows),
        "unfinished": sum(r["status"] == "unfinished" for r in rows),
        "mean_oneshot": _mean([r["oneshot_heldout"] for r in done]), "mean_refined": _mean([r["refined_heldout"] for r in done]),
        "mean_gain": _mean(gains), "tokens": sum(r["tokens"] or 0 for r in rows),
        "cost_usd": round(sum(r["cost_usd"] or 0.0 for r in rows), 6),
    }


def _mean(values: Sequence[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


def write_summary(run_root: Any, rows: Sequence[dict[str, Any]], extra: dict[str, Any]) -> None:
    atomic_write_json(run_root / "summary.json", {"totals": totals(rows), **extra, "neurons": list(rows)}, indent=2)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(run_root / "summary.csv", buffer.getvalue())
