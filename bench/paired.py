"""bench/paired: two bench/real results that differ in one setting, compared neuron by neuron.

    .venv/bin/python -m bench.paired bench/results/real-hint-off.json bench/results/real-hint-on.json

For each pass the two files share (same model and backend), on the neurons both hold: B − A of the
one-shot and the refined held-out r, each with a paired bootstrap interval over neurons, and the
field's detection beside them. The settings that differ are printed; the comparison is refused when
the files differ in their sample, their records or their loop sizes, where a difference would not
come from the one setting under test. The same neuron's held-out records are the same in both runs
(records and splits are fixed by the seed), so each difference is paired on identical data.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bench.options import ADDRESSES
from bench.stats import fmt, fmt_ci, paired_gain

MUST_MATCH = ("simulator", "max_iters", "n_explanations", "n_revisions", "probes_per_generator", "records_per_split",
              "max_excerpts", "top_k", "n_random", "seed")
"""Settings two compared passes must share: a difference in any of them would be confounded with the one under test."""


def _key(p: dict[str, Any]) -> tuple[str, str]:
    return p["model"], p["backend"]


def compare(a: dict[str, Any], b: dict[str, Any], seed: int = 0) -> list[dict[str, Any]]:
    """One comparison per pass the two results share; ValueError when their sizes or sample differ."""
    passes_b = {_key(p): p for p in b["passes"]}
    out = []
    for pa in a["passes"]:
        pb = passes_b.get(_key(pa))
        if pb is None:
            continue
        sa, sb = pa["settings"], pb["settings"]
        confounded = [k for k in MUST_MATCH if sa.get(k) != sb.get(k)]
        if confounded:
            raise ValueError(f"{'/'.join(_key(pa))}: the runs differ in {', '.join(confounded)}, not only in the setting under test")
        rows_b = {(r["layer"], r["neuron"]): r for r in pb["neurons"]}
        pairs = [(ra, rows_b[(ra["layer"], ra["neuron"])]) for ra in pa["neurons"] if (ra["layer"], ra["neuron"]) in rows_b]
        if not pairs:
            raise ValueError(f"{'/'.join(_key(pa))}: the runs share no neuron")
        row: dict[str, Any] = {"model": pa["model"], "backend": pa["backend"], "neurons": len(pairs),
                               "differs": {k: [sa.get(k), sb.get(k)] for k in sorted(sa.keys() | sb.keys())
                                           if sa.get(k) != sb.get(k) and k not in ADDRESSES}}
        for arm in ("oneshot", "refined"):
            row[arm] = paired_gain([x[arm]["score"] for x, _ in pairs], [y[arm]["score"] for _, y in pairs], seed)
            row[f"{arm}_detection"] = paired_gain([(x[arm].get("scorers") or {}).get("detection") for x, _ in pairs],
                                                  [(y[arm].get("scorers") or {}).get("detection") for _, y in pairs], seed)
        row["per_neuron"] = [{"neuron": f"{x['layer']}/{x['neuron']}", "a": x["oneshot"]["score"], "b": y["oneshot"]["score"],
                              "a_explanation": x["oneshot"]["explanation"], "b_explanation": y["oneshot"]["explanation"]}
                             for x, y in pairs]
        out.append(row)
    if not out:
        raise ValueError("the two results share no pass (model and backend)")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.paired", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a", type=Path, help="the baseline result (A)")
    parser.add_argument("b", type=Path, help="the changed result (B)")
    parser.add_argument("--json", action="store_true", help="print the comparison as JSON")
    args = parser.parse_args()
    try:
        rows = compare(json.loads(args.a.read_text()), json.loads(args.b.read_text()))
    except (OSError, ValueError, KeyError) as err:
        sys.exit(f"bench.paired: {err}")
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    for row in rows:
        print(f"== {row['model']} / {row['backend']}: {row['neurons']} neurons; B differs in "
              f"{', '.join(f'{k} {v[0]} -> {v[1]}' for k, v in row['differs'].items()) or 'nothing'}")
        for arm in ("oneshot", "refined"):
            g, d = row[arm], row[f"{arm}_detection"]
            print(f"{arm:<8} B - A held-out r {fmt(g['mean'], 3)} {fmt_ci(g['ci'])}; detection {fmt(d['mean'], 3)} "
                  f"{fmt_ci(d['ci'])} (paired over {g['n']} neurons)")
        for n in row["per_neuron"]:
            print(f"  {n['neuron']:<8} {fmt(n['a']):>6} {fmt(n['b']):>6}  A: {(n['a_explanation'] or '')[:50]!r}  "
                  f"B: {(n['b_explanation'] or '')[:50]!r}")


if __name__ == "__main__":
    main()
