"""Every reference to the documentation resolves: relative markdown links, and mentions of a page
with or without an anchor or a section number in the markdown and in the code's docstrings and
comments; and every golden test names its section of docs/science.md."""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CODE_DIRS = ("agent", "graphs", "tools", "prompts", "bench", "tests")
CODE_FILES = ("pyproject.toml", "Makefile", "langgraph.json")
SCIENCE = ROOT / "docs" / "science.md"

LINK = re.compile(r"(?<!\!)\[[^\]\n]*\]\(([^)\s]+)\)")
EXPLICIT_ANCHOR = re.compile(r"<a\s+(?:id|name)=\"([^\"]+)\"")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"`[^`\n]*`")
# A file mention in prose or code: docs/science.md, science.md#splits, science.md §4, README.md.
MENTION = re.compile(r"(?<![\w/.-])((?:[\w.-]+/)*[\w-]+\.md)(?:#([\w-]+)|\s+§(\d+))?")
NUMBERED = re.compile(r"^(\d+)\.\s")


def markdown_files() -> list[Path]:
    return sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md"), *(ROOT / "bench").rglob("*.md")])


def code_files() -> list[Path]:
    files = [ROOT / name for name in CODE_FILES if (ROOT / name).is_file()]
    for folder in CODE_DIRS:
        files += [p for p in (ROOT / folder).rglob("*") if p.suffix in {".py", ".txt", ".sh", ".toml"} and p.is_file()]
    here = Path(__file__).resolve()
    return sorted(p for p in files if p.resolve() != here and "golden" not in p.relative_to(ROOT).parts)


def prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) outside fenced code blocks."""
    out, fenced = [], False
    for number, line in enumerate(text.splitlines(), start=1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            out.append((number, line))
    return out


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, markup and punctuation dropped, spaces to hyphens."""
    text = re.sub(r"<[^>]+>", "", heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text).replace("`", "").lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for _, line in prose_lines(path.read_text()):
        found.update(EXPLICIT_ANCHOR.findall(line))
        heading = HEADING.match(line)
        if heading:
            base = slug(heading.group(2))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return found


def section_numbers(path: Path) -> set[int]:
    numbers = set()
    for _, line in prose_lines(path.read_text()):
        heading = HEADING.match(line)
        if heading and (number := NUMBERED.match(heading.group(2))):
            numbers.add(int(number.group(1)))
    return numbers


def show(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def resolve(mention: str, relative_to: Path) -> Path | None:
    """A mentioned file: relative to the mentioning file, else the repository root, else docs/."""
    for base in (relative_to, ROOT, ROOT / "docs"):
        candidate = (base / mention).resolve()
        if candidate.is_file():
            return candidate
    return None


def check_target(path: Path | None, anchor: str | None, section: str | None) -> str | None:
    """Why a reference does not resolve, or None."""
    if path is None:
        return "no such file"
    if anchor and anchor not in anchors(path):
        return f"no anchor #{anchor} in {show(path)}"
    if section and int(section) not in section_numbers(path):
        return f"no section {section} in {show(path)}"
    return None


def mention_problems(path: Path, lines: list[tuple[int, str]]) -> list[str]:
    problems = []
    for number, line in lines:
        for mention, anchor, section in MENTION.findall(line):
            if mention.startswith(("runs/", "RUN")):
                continue
            why = check_target(resolve(mention, path.parent), anchor or None, section or None)
            if why:
                problems.append(f"{show(path)}:{number}: {mention}{'#' + anchor if anchor else ''}: {why}")
    return problems


def link_problems(path: Path) -> list[str]:
    problems = []
    for number, line in prose_lines(path.read_text()):
        for target in LINK.findall(INLINE_CODE.sub("", line)):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto: ...
                continue
            file_part, _, anchor = target.partition("#")
            linked = (path.parent / file_part).resolve() if file_part else path
            if not linked.exists():
                problems.append(f"{show(path)}:{number}: link {target}: no such file")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                problems.append(f"{show(path)}:{number}: link {target}: no anchor #{anchor}")
    return problems


def test_the_checker_knows_what_resolves(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text('# Top title\n\n<a id="kept"></a>\n## 2. A `code` heading!\n\n```\n[not a link](missing.md)\n```\n')
    assert anchors(page) == {"top-title", "kept", "2-a-code-heading"}
    assert section_numbers(page) == {2}
    assert check_target(page, "kept", None) is None and check_target(page, None, "2") is None
    assert check_target(page, "gone", None) and check_target(page, None, "3") and check_target(None, None, None)
    assert link_problems(page) == []
    page.write_text("[a](nowhere.md) and [b](#kept) and `[c](nowhere.md)`\n")
    assert [p.split(": ", 1)[1] for p in link_problems(page)] == ["link nowhere.md: no such file", "link #kept: no anchor #kept"]


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_markdown_links_and_mentions_resolve(path: Path) -> None:
    text = path.read_text()
    problems = link_problems(path)
    problems += mention_problems(path, [(n, INLINE_CODE.sub(lambda m: m.group(0).strip("`"), line))
                                        for n, line in prose_lines(text)])
    assert not problems, "\n".join(problems)


def documentation_lines(path: Path) -> list[tuple[int, str]]:
    """Where code talks to its readers: a Python file's docstrings and comments; any other file whole."""
    text = path.read_text(errors="replace")
    if path.suffix != ".py":
        return list(enumerate(text.splitlines(), start=1))
    lines = [(token.start[0], token.string) for token in tokenize.generate_tokens(io.StringIO(text).readline)
             if token.type == tokenize.COMMENT]
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                lines += [(first.lineno + i, line) for i, line in enumerate(first.value.value.splitlines())]
    return lines


def test_code_mentions_of_docs_resolve() -> None:
    problems = []
    for path in code_files():
        problems += mention_problems(path, documentation_lines(path))
    assert not problems, "\n".join(problems)


def golden_tests() -> list[tuple[Path, ast.FunctionDef]]:
    """Tests of the science's golden values: every test of test_golden.py, and any test named for a golden
    value outside the rendering goldens (prompts, report views), which docs/development.md covers."""
    found = []
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        if path.parent.name in {"prompts", "report"} or path.resolve() == Path(__file__).resolve():
            continue
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_") and (
                path.name == "test_golden.py" or "golden" in node.name
            ):
                found.append((path, node))
    return found


def test_every_golden_test_names_its_section() -> None:
    tests = golden_tests()
    assert len(tests) >= 10
    science_anchors = anchors(SCIENCE)
    problems = []
    for path, node in tests:
        cited = re.findall(r"docs/science\.md#([\w-]+)", ast.get_docstring(node) or "")
        where = f"{show(path)}::{node.name}"
        if not cited:
            problems.append(f"{where}: its docstring cites no docs/science.md#section")
        problems += [f"{where}: no anchor #{a} in docs/science.md" for a in cited if a not in science_anchors]
    assert not problems, "\n".join(problems)
