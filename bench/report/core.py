"""Results files in, markdown out: loading, renderer dispatch with a generic fallback, marker blocks."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

README = Path("README.md")
BENCHMARKS = Path("docs/benchmarks.md")
RESULTS = Path("bench/results")
README_BLOCK = "results"
OTHER_BLOCK = "other"
GENERIC_ROWS = 60
"""The generic view lists at most this many values of a file (the file itself has them all)."""


class ReportError(Exception):
    """A results file or a document the report cannot use; the message says which and why."""


@dataclass(frozen=True)
class Renderer:
    """How one kind of benchmark is shown: a README headline and a details section (markdown)."""

    headline: Callable[[dict[str, Any]], str]
    details: Callable[[dict[str, Any]], str]


@dataclass(frozen=True)
class Result:
    path: Path
    data: dict[str, Any]

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def benchmark(self) -> str:
        return str(self.data.get("benchmark") or self.name)

    @property
    def anchor(self) -> str:
        return "result-" + re.sub(r"[^a-z0-9-]+", "-", self.name.lower()).strip("-")


@dataclass(frozen=True)
class Rendered:
    headline: str
    details: str
    note: str | None
    """Why the generic view was used, when it was."""


def load_results(folder: Path) -> list[Result]:
    results = []
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ReportError(f"{path}: not a readable JSON file ({err})") from err
        if not isinstance(data, dict):
            raise ReportError(f"{path}: a results file holds one JSON object, not a {type(data).__name__}")
        results.append(Result(path, data))
    return results


# --- formatting helpers shared by the renderers -------------------------------------------------


def cell(text: object, limit: int | None = None) -> str:
    """Text safe inside a markdown table cell, optionally cut to `limit` characters."""
    s = " ".join(str(text).split())
    if limit is not None and len(s) > limit:
        s = s[: limit - 1] + "…"
    return s.replace("|", "\\|")


def code(text: object, limit: int | None = None) -> str:
    """Inline code for a table cell (backticks inside are replaced, so the span cannot break)."""
    safe = cell(str(text).replace("`", "'"), limit)
    return f"`{safe}`"


def num(value: Any, digits: int = 2, sign: bool = False) -> str:
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return "n/a"
    return f"{value:+,.{digits}f}" if sign else f"{value:,.{digits}f}"


def interval(ci: Any, digits: int = 3) -> str:
    if not isinstance(ci, list | tuple) or len(ci) != 2:
        return "n/a"
    return f"[{num(ci[0], digits, sign=True)}, {num(ci[1], digits, sign=True)}]"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def machine_line(data: Mapping[str, Any]) -> str:
    m = data.get("machine") or {}
    parts = []
    if m.get("cpus"):
        parts.append(f"{m['cpus']} CPUs" + (f" ({m['cpu_model']})" if m.get("cpu_model") else ""))
    if m.get("memory_gib"):
        parts.append(f"{m['memory_gib']} GiB")
    for key, label in (("python", "Python"), ("torch", "torch")):
        if m.get(key):
            parts.append(f"{label} {m[key]}")
    if m.get("platform"):
        parts.append(str(m["platform"]))
    when = m.get("finished_utc") or m.get("date")
    line = ", ".join(parts) or "not recorded"
    if m.get("load_average"):
        line += f"; load average {m['load_average'][0]} at the end"
    return line + (f"; {when}" if when else "")


# --- the generic renderer -----------------------------------------------------------------------


def flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """(dotted path, scalar) for every scalar leaf; a list of scalars counts as one value."""
    if isinstance(value, Mapping):
        return [pair for key, item in value.items() for pair in flatten(item, f"{prefix}.{key}" if prefix else str(key))]
    if isinstance(value, list) and any(isinstance(item, Mapping | list) for item in value):
        return [pair for i, item in enumerate(value) for pair in flatten(item, f"{prefix}[{i}]")]
    return [(prefix, value)]


def generic_headline(data: Mapping[str, Any]) -> str:
    skip = {"benchmark", "name", "machine", "command"}
    numbers = [(k, v) for k, v in data.items() if k not in skip and isinstance(v, int | float) and not isinstance(v, bool)]
    return "; ".join(f"{k} {v:g}" for k, v in numbers[:3]) or "see the details"


def generic_details(data: Mapping[str, Any]) -> str:
    pairs = [(k, v) for k, v in flatten({k: v for k, v in data.items() if k not in {"benchmark", "name", "machine", "command"}})]
    rows = [[code(k), cell(json.dumps(v) if not isinstance(v, str) else v, 120)] for k, v in pairs[:GENERIC_ROWS]]
    text = table(["value", "as recorded"], rows) if rows else "The file holds no values besides its header."
    if len(pairs) > GENERIC_ROWS:
        text += f"\n\n… and {len(pairs) - GENERIC_ROWS} more values in the file."
    return text


GENERIC = Renderer(generic_headline, generic_details)


def render(result: Result, renderers: Mapping[str, Renderer]) -> Rendered:
    renderer = renderers.get(result.benchmark)
    if renderer is None:
        note = f"No renderer for the benchmark {result.benchmark!r}: the generic view (add one in bench/report/renderers/)."
    else:
        try:
            return Rendered(renderer.headline(result.data), renderer.details(result.data), None)
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as err:
            note = (f"The {result.benchmark!r} renderer cannot read this file ({type(err).__name__}: {err}): the "
                    f"generic view. Update bench/report/renderers/{result.benchmark}.py for this JSON shape.")
            print(f"bench.report: {result.path}: {note}", file=sys.stderr)
    return Rendered(GENERIC.headline(result.data), GENERIC.details(result.data), note)


# --- documents ----------------------------------------------------------------------------------


def section(result: Result, rendered: Rendered) -> str:
    lines = [f'<a id="{result.anchor}"></a>', f"### `{RESULTS / result.path.name}`", ""]
    if rendered.note:
        lines += [f"> {rendered.note}", ""]
    command = result.data.get("command")
    lines += [f"Command: `{command}`" if command else "Command: not recorded", "",
              f"Machine: {machine_line(result.data)}.", "", rendered.details.strip()]
    return "\n".join(lines)


def readme_table(results: list[Result], renderers: Mapping[str, Renderer], page: Path = BENCHMARKS) -> str:
    if not results:
        return f"No results yet: run the benchmarks (see [{page}]({page}))."
    rows = []
    for result in results:
        rendered = render(result, renderers)
        headline = rendered.headline + (" (generic view)" if rendered.note else "")
        when = (result.data.get("machine") or {}).get("date", "")
        rows.append([f"[{result.name}]({page}#{result.anchor})", headline, cell(when)])
    return table(["benchmark", "headline", "date"], rows)


def benchmark_blocks(results: list[Result], renderers: Mapping[str, Renderer], blocks: set[str]) -> dict[str, str]:
    """Markdown for each block of docs/benchmarks.md: its kind's results, or `other` for kinds without a block."""
    sections: dict[str, list[str]] = {key: [] for key in blocks}
    for result in results:
        key = result.benchmark if result.benchmark in blocks and result.benchmark != OTHER_BLOCK else OTHER_BLOCK
        sections.setdefault(key, []).append(section(result, render(result, renderers)))
    return {key: "\n\n".join(parts) if parts else f"No results file in `{RESULTS}/` yet." for key, parts in sections.items()}


_BLOCK = re.compile(r"<!-- bench\.report begin ([\w-]+) -->\n.*?<!-- bench\.report end \1 -->", re.S)


def block_keys(text: str) -> set[str]:
    return set(re.findall(r"<!-- bench\.report begin ([\w-]+) -->", text))


def replace_block(text: str, key: str, content: str, where: Path) -> str:
    begin, end = f"<!-- bench.report begin {key} -->", f"<!-- bench.report end {key} -->"
    if text.count(begin) != 1 or text.count(end) != 1 or text.index(begin) > text.index(end):
        raise ReportError(f"{where}: needs exactly one {begin!r} followed by one {end!r}")
    start, stop = text.index(begin) + len(begin), text.index(end)
    return text[:start] + "\n" + content.strip() + "\n" + text[stop:]


def regenerate(root: Path, renderers: Mapping[str, Renderer]) -> dict[Path, str]:
    """The new text of README.md and docs/benchmarks.md under `root`, from root/bench/results/."""
    rank = {kind: i for i, kind in enumerate(renderers)}  # the registry's order, then unknown kinds
    results = sorted(load_results(root / RESULTS), key=lambda r: (rank.get(r.benchmark, len(rank)), r.name))
    readme = (root / README).read_text()
    readme = replace_block(readme, README_BLOCK, readme_table(results, renderers), README)
    page = (root / BENCHMARKS).read_text()
    keys = block_keys(page)
    if OTHER_BLOCK not in keys:
        raise ReportError(f"{BENCHMARKS}: needs a block {OTHER_BLOCK!r} for benchmarks without a block of their own")
    for key, content in benchmark_blocks(results, renderers, keys).items():
        page = replace_block(page, key, content, BENCHMARKS)
    return {root / README: readme, root / BENCHMARKS: page}


def adopted_kinds(kinds: dict[str, int] | None) -> str:
    """The adopted revisions by what wrote them, as a parenthesis (results from before the count have none)."""
    if not kinds:
        return ""
    return " (adopted: " + ", ".join(f"{n} {kind}{'s' if n != 1 else ''}" for kind, n in kinds.items()) + ")"
