"""The benchmark tables in README.md and docs/benchmarks.md are generated from bench/results/, and agree with it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bench.common import RESULTS_DIR, PollutionError, results_path, write_result
from bench.report.__main__ import main as report_main
from bench.report.core import (
    BENCHMARKS,
    README,
    RESULTS,
    Renderer,
    ReportError,
    load_results,
    regenerate,
    render,
)
from bench.report.renderers import RENDERERS

ROOT = Path(__file__).resolve().parents[2]


def test_committed_tables_match_the_results() -> None:
    for path, text in regenerate(ROOT, RENDERERS).items():
        assert path.read_text() == text, f"{path.relative_to(ROOT)} disagrees with bench/results/: run `python -m bench.report`"


def test_every_committed_result_names_its_machine_date_and_command() -> None:
    results = load_results(ROOT / RESULTS)
    assert results, "bench/results/ holds no results"
    for result in results:
        machine = result.data.get("machine") or {}
        assert result.data.get("benchmark") and result.data.get("command"), result.path
        assert machine.get("date") and machine.get("cpus") and machine.get("platform"), result.path


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A copy of the documents and committed results to regenerate freely."""
    for rel in (README, BENCHMARKS):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, tmp_path / rel)
    shutil.copytree(ROOT / RESULTS, tmp_path / RESULTS)
    return tmp_path


def test_a_changed_figure_makes_the_check_fail(root: Path) -> None:
    assert report_main(["--check", "--root", str(root)]) == 0
    path = sorted((root / RESULTS).glob("*.json"))[0]
    data = json.loads(path.read_text())
    data["machine"] |= {"date": "1999-01-01", "finished_utc": "1999-01-01T00:00:00Z"}  # shown for every result
    path.write_text(json.dumps(data))
    assert report_main(["--check", "--root", str(root)]) == 1
    assert report_main(["--root", str(root)]) == 0
    assert "1999-01-01" in (root / README).read_text() and "1999-01-01" in (root / BENCHMARKS).read_text()
    assert report_main(["--check", "--root", str(root)]) == 0


def test_a_new_benchmark_gets_the_generic_view_in_the_other_block(root: Path) -> None:
    new = {"benchmark": "llm-formats", "machine": {"date": "2030-01-02", "cpus": 2}, "command": "python -m bench.x",
           "ratio": 0.5, "formats": [{"name": "json", "ok": 3}]}
    (root / RESULTS / "llm-formats.json").write_text(json.dumps(new))
    documents = regenerate(root, RENDERERS)
    readme, page = documents[root / README], documents[root / BENCHMARKS]
    assert "[llm-formats](docs/benchmarks.md#result-llm-formats) | ratio 0.5 (generic view) | 2030-01-02" in readme
    other = page.split("<!-- bench.report begin other -->")[1].split("<!-- bench.report end other -->")[0]
    assert "No renderer for the benchmark 'llm-formats'" in other and "`formats[0].name`" in other


def test_a_renderer_that_cannot_read_a_new_shape_falls_back_with_a_note(root: Path) -> None:
    [result] = [r for r in load_results(root / RESULTS) if r.benchmark == "sweep" and r.path.stem == "sweep"]
    changed = type(result)(result.path, {**result.data, "levels": "renamed"})
    rendered = render(changed, RENDERERS)
    assert rendered.note and "'sweep' renderer cannot read this file" in rendered.note
    assert "renamed" in rendered.details


def test_a_renderer_keyed_by_its_benchmark_name_is_used(root: Path) -> None:
    (root / RESULTS / "toy.json").write_text(json.dumps({"benchmark": "toy", "value": 7}))
    toy = Renderer(lambda d: f"toy value {d['value']}", lambda d: "toy details")
    readme = regenerate(root, {**RENDERERS, "toy": toy})[root / README]
    assert "| toy value 7 |" in readme


def test_bad_inputs_are_clear_errors(root: Path) -> None:
    (root / RESULTS / "broken.json").write_text("{not json")
    with pytest.raises(ReportError, match="broken.json: not a readable JSON file"):
        regenerate(root, RENDERERS)
    (root / RESULTS / "broken.json").unlink()
    readme = root / README
    readme.write_text(readme.read_text().replace("<!-- bench.report end results -->", ""))
    with pytest.raises(ReportError, match="README.md: needs exactly one"):
        regenerate(root, RENDERERS)
    assert report_main(["--root", str(root)]) == 2


def test_results_go_to_the_committed_folder_only_outside_tests(tmp_path: Path) -> None:
    assert results_path("x", tmp_path) == tmp_path / "bench" / "x.json"
    with pytest.raises(PollutionError):
        results_path("x")
    written = write_result("planted-llm", {"value": 1}, tmp_path, benchmark="planted")
    data = json.loads(written.read_text())
    assert written == tmp_path / "bench" / "planted-llm.json" and not (RESULTS_DIR / "planted-llm.json").exists()
    assert data["benchmark"] == "planted" and data["name"] == "planted-llm" and data["value"] == 1
    assert data["command"].startswith(".venv/bin/python") and data["machine"]["date"] and data["machine"]["cpus"]
