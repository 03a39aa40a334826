"""`refinery trace` and `refinery report` as a user runs them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from agent.cli.main import main
from agent.views.load import load_story, load_summary
from agent.views.terminal import run_text, story_text


def test_trace_prints_the_run_summary_by_name_or_path(fixture_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trace", "fixture", "--runs-dir", str(fixture_run.parent)]) == 0
    by_name = capsys.readouterr().out
    assert main(["trace", str(fixture_run)]) == 0
    assert capsys.readouterr().out == by_name == run_text(load_summary(fixture_run))


def test_trace_neuron_tells_its_story(fixture_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trace", str(fixture_run), "--neuron", "0/1", "--calls"]) == 0
    assert capsys.readouterr().out == story_text(load_story(fixture_run, 0, 1), each_call=True)


def test_trace_json_is_the_view_model(fixture_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trace", str(fixture_run), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == load_summary(fixture_run).model_dump(mode="json")
    assert main(["trace", str(fixture_run), "--neuron", "1/7", "--json"]) == 0
    story = json.loads(capsys.readouterr().out)
    assert story["row"]["status"] == "running" and story["row"]["now"] == "simulate, iteration 0"


def test_the_run_name_comes_from_the_environment_too(fixture_run: Path, capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REFINERY_RUN", "fixture")
    monkeypatch.setenv("REFINERY_RUNS_DIR", str(fixture_run.parent))
    assert main(["trace"]) == 0
    assert capsys.readouterr().out.startswith("run fixture")


@pytest.mark.parametrize(("args", "message"), [
    (["trace", "missing"], "no run 'missing'"),
    (["trace", "{run}", "--neuron", "4/4"], "no neuron 4/4 (neurons: 0/1, 0/2, 1/7, 1/8, 2/3)"),
    (["trace", "{run}", "--neuron", "four"], "write layer/neuron"),
    (["report", "missing"], "no run 'missing'"),
])
def test_bad_input_is_a_clear_error(fixture_run: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    argv = [a.replace("{run}", str(fixture_run)) for a in args] + ["--runs-dir", str(fixture_run.parent)]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_report_writes_index_and_neuron_pages(fixture_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copytree(fixture_run, tmp_path / "fixture")
    assert main(["report", "fixture", "--runs-dir", str(tmp_path)]) == 0
    index = Path(capsys.readouterr().out.strip())
    assert index == tmp_path / "fixture" / "report" / "index.html" and index.is_file()
    assert (index.parent / "neurons" / "0-1.html").is_file()


@pytest.mark.parametrize("command", ["trace", "report", "view"])
def test_help_explains_the_command(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "RUN" in out and "--runs-dir" in out and "examples:" in out


def test_trace_and_report_show_the_discarded_answers_per_step(fixture_run: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """The trace file's `answers_discarded` events, counted per reason in their step: in the story and in the report."""
    from tests.report.fixture_run import DISCARDED_HOSTILE, DISCARDED_REPEAT

    assert main(["trace", str(fixture_run), "--neuron", "0/1"]) == 0
    story = capsys.readouterr().out
    first, revision = (" ".join(part.split()) for part in story.split("\nIteration 1 "))  # lines wrapped at 80 columns
    assert "discarded explainer answers (1): 1 × empty answer" in first
    assert f"discarded reviser answers (3): 2 × {DISCARDED_REPEAT}; 1 × {DISCARDED_HOSTILE}" in revision
    shutil.copytree(fixture_run, tmp_path / "fixture")
    assert main(["report", "fixture", "--runs-dir", str(tmp_path)]) == 0
    page = (Path(capsys.readouterr().out.strip()).parent / "neurons" / "0-1.html").read_text(encoding="utf-8")
    data = json.loads(page.split('<script type="application/json" id="report-data">')[1].split("</script>")[0])
    steps = data["story"]["steps"]
    assert steps[0]["discarded"] == [{"purpose": "explainer", "reason": "empty answer", "count": 1}]
    assert steps[1]["discarded"] == [{"purpose": "reviser", "reason": DISCARDED_REPEAT, "count": 2},
                                     {"purpose": "reviser", "reason": DISCARDED_HOSTILE, "count": 1}]
