"""docs/architecture.md's step table names files and tests that exist (issue 26): each step of the loop
maps to the file that does it and the one test that shows it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ARCHITECTURE = ROOT / "docs" / "architecture.md"
STEPS = ("records", "explain", "simulate", "score", "probe", "counterexamples", "revise", "adopt", "finalize")
CODE = re.compile(r"`([^`\s]+)`")


def step_rows() -> dict[str, list[str]]:
    """{step: [its cells]} from the table under the `steps` anchor."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    section = text[text.index('<a id="steps"></a>'):]
    rows: dict[str, list[str]] = {}
    for line in section.splitlines():
        if rows and not line.startswith("|"):
            break
        if line.startswith("|") and not line.startswith("|---"):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            if cells[0] != "step":
                rows[cells[0]] = cells
    return rows


def named_paths(cell: str) -> list[str]:
    return [name for name in CODE.findall(cell) if "/" in name]


def test_every_step_of_the_loop_has_a_row_with_a_file_and_a_test() -> None:
    rows = step_rows()
    assert set(STEPS) <= set(rows), f"steps without a row: {sorted(set(STEPS) - set(rows))}"
    for step, cells in rows.items():
        assert len(cells) == 4, f"{step}: expected 4 cells, got {cells}"
        assert named_paths(cells[2]), f"{step}: no file named"
        assert len(named_paths(cells[3])) == 1, f"{step}: name exactly one test"


def test_every_named_file_and_test_exists() -> None:
    for step, (_, _, files, test) in step_rows().items():
        for name in named_paths(files):
            assert (ROOT / name).is_file(), f"{step}: {name} does not exist"
        path, _, function = named_paths(test)[0].partition("::")
        assert (ROOT / path).is_file(), f"{step}: {path} does not exist"
        tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
        defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}
        assert function in defined, f"{step}: {path} defines no {function}"
