"""Imports point down the layers, and no two modules import each other.

prompts <- tools (capabilities) <- graphs (the loop) <- agent (the application) <- bench: a module
may import its own package and those left of it, never one to its right, and none imports tests/.
Every import counts, the ones inside functions (deferred for speed) and under TYPE_CHECKING too: a
deferred import is still a dependency. Within the layers no modules form an import cycle either.
The loop knows no backend: no module under graphs/ imports tools.builtin (the builtin backend is
reached through the explainer, simulator, reviser and prober interfaces, built in agent/backends.py).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LAYERS = ("prompts", "tools", "graphs", "agent", "bench")
"""Lowest first: each package may import only itself and the packages before it."""
FORBIDDEN = ("tests",)
"""Packages no layer may import."""
BARRED = {"graphs": ("tools.builtin",)}
"""Modules below a layer that it may still not import: a backend's internals, which the loop reaches only
through the interfaces of tools/explainers, tools/simulators, tools/revisers and tools/probes."""


def _modules(root: Path) -> Iterator[tuple[str, Path]]:
    """(dotted module name, file) of every .py file in the layers under `root`."""
    for package in LAYERS:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


def _imports(module: str, path: Path) -> Iterator[tuple[int, str, tuple[str, ...]]]:
    """(line, module, names) of every import statement anywhere in `path`, relative ones resolved;
    `names` are those of `from module import ...` (empty for `import module`)."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, ()
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".")
                anchor = parts[: len(parts) + is_package - node.level]
                base = ".".join([*anchor, *([base] if base else [])])
            yield node.lineno, base, tuple(alias.name for alias in node.names)


def layer_violations(root: Path) -> list[str]:
    """Every import in the layers under `root` that points up (or sideways into tests/), as `file:line: ...`."""
    rank = {package: i for i, package in enumerate(LAYERS)}
    found = []
    for module, path in _modules(root):
        own = module.split(".")[0]
        for line, name, _ in _imports(module, path):
            target = name.split(".")[0]
            if target in FORBIDDEN or rank.get(target, -1) > rank[own]:
                found.append(f"{path.relative_to(root)}:{line}: {own} imports {name}")
    return found


def barred_imports(root: Path) -> list[str]:
    """Every import in the layers under `root` of a module its layer is barred from (`BARRED`), as `file:line: ...`."""
    found = []
    for module, path in _modules(root):
        own = module.split(".")[0]
        for line, name, names in _imports(module, path):
            # `from tools import builtin` imports tools.builtin as surely as `import tools.builtin` does.
            targets = [name, *(f"{name}.{n}" for n in names)]
            for barred in BARRED.get(own, ()):
                if any(t == barred or t.startswith(f"{barred}.") for t in targets):
                    found.append(f"{path.relative_to(root)}:{line}: {own} imports {name} ({barred} is barred)")
                    break
    return found


def import_cycles(root: Path) -> list[list[str]]:
    """Groups of modules in the layers under `root` that import each other, directly or round a loop
    (strongly connected components of the module import graph). A package's `__init__` counts when a
    module imports a name of it, not when it only runs on the way to one of its submodules."""
    files = dict(_modules(root))
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        graph[module] = set()
        for _, imported, names in _imports(module, path):
            # `from a import b` imports the module a.b when there is one, else a name of a.
            for name in [f"{imported}.{n}" for n in names] or [imported]:
                while name and name not in files:
                    name = name.rpartition(".")[0]
                if name in files and name != module:
                    graph[module].add(name)
    return _strongly_connected(graph)


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative; components of two or more nodes, each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            nxt = next(edges, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph.get(nxt, ())))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    cycles.append(sorted(component))
    return cycles


def test_imports_point_down_the_layers() -> None:
    assert layer_violations(REPO) == []


def test_no_module_import_cycles() -> None:
    assert import_cycles(REPO) == []


def test_the_graph_imports_no_builtin_backend() -> None:
    assert barred_imports(REPO) == []


def _plant(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for package in LAYERS:
        (root / package).mkdir(exist_ok=True)
    return root


@pytest.mark.parametrize(("files", "expected"), [
    ({"graphs/nodes.py": "from agent.budget import Budget\n"}, ["graphs/nodes.py:1: graphs imports agent.budget"]),
    ({"tools/x.py": "import os\n\n\ndef f():\n    import graphs.state\n"}, ["tools/x.py:5: tools imports graphs.state"]),
    ({"prompts/__init__.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from tools.llm import protocol\n"},
     ["prompts/__init__.py:3: prompts imports tools.llm"]),
    ({"bench/sweep.py": "from tests.support.brain import brain_response\n"},
     ["bench/sweep.py:1: bench imports tests.support.brain"]),
], ids=["graphs->agent", "deferred", "type-checking", "bench->tests"])
def test_a_planted_upward_import_is_found(tmp_path: Path, files: dict[str, str], expected: list[str]) -> None:
    assert layer_violations(_plant(tmp_path, files)) == expected


def test_downward_and_outside_imports_pass(tmp_path: Path) -> None:
    root = _plant(tmp_path, {
        "bench/run.py": "import agent.cli\nfrom graphs import refine\nimport numpy\n",
        "agent/job.py": "from tools.llm.budget import Budget\nfrom . import sibling\n",
        "tools/llm/client.py": "import prompts\nfrom prompts import Message\n",
        "prompts/__init__.py": "from pydantic import BaseModel\n",
    })
    assert layer_violations(root) == []


def test_a_planted_cycle_is_found(tmp_path: Path) -> None:
    root = _plant(tmp_path, {
        "tools/subject/__init__.py": "",
        "tools/subject/registry.py": "from tools.subject import smollm2\nfrom tools.subject.bridge import Bridge\n",
        "tools/subject/smollm2.py": "def check():\n    from tools.subject.registry import load\n",
        "tools/subject/bridge.py": "from . import device\n",
        "tools/subject/device.py": "from .. import subject\n\n\ndef dtype():\n    from .bridge import Bridge\n",
        "tools/subject/tiny.py": "from .bridge import Bridge\nfrom tools.subject.device import dtype\n",
    })
    assert sorted(import_cycles(root)) == [["tools.subject.bridge", "tools.subject.device"],
                                           ["tools.subject.registry", "tools.subject.smollm2"]]


@pytest.mark.parametrize(("text", "line"), [
    ("from tools.builtin.vocab import VocabIndex\n", "graphs/context.py:1: graphs imports tools.builtin.vocab (tools.builtin is barred)"),
    ("import os\n\n\ndef f():\n    import tools.builtin.gates\n", "graphs/context.py:5: graphs imports tools.builtin.gates (tools.builtin is barred)"),
    ("from tools import builtin\n", "graphs/context.py:1: graphs imports tools (tools.builtin is barred)"),
], ids=["from", "deferred", "package"])
def test_a_planted_builtin_import_in_the_graph_is_found(tmp_path: Path, text: str, line: str) -> None:
    root = _plant(tmp_path, {"graphs/context.py": text, "agent/backends.py": "from tools.builtin.vocab import VocabIndex\n",
                             "tools/probes/generators.py": "from tools.builtin.grammar import parse\n"})
    assert barred_imports(root) == [line]
    assert layer_violations(root) == []
