"""The views on a run the agent really made (LLM backend over HTTP, tiny subject): held-out files, secrets, markup."""

from __future__ import annotations

import json
from pathlib import Path

from agent.views.load import load_story, load_summary
from agent.views.terminal import WIDTH, story_text
from graphs.trace import Scored, read_trace, trace_path
from tests.report.conftest import PLANTED_KEY, RealRun, refinery
from tools.evaluate import ExplanationScore


def test_finalize_names_the_heldout_simulations_in_the_trace(real_run: RealRun) -> None:
    events = read_trace(trace_path(real_run.run_dir, 1, 3))
    heldout = [e for e in events if isinstance(e, Scored) and e.split == "test"]
    assert heldout and all(e.path for e in heldout)
    for event in heldout:
        saved = ExplanationScore.model_validate_json(Path(event.path).read_text())  # type: ignore[arg-type]
        assert (saved.explanation, saved.split, saved.score, saved.n_records) == (event.explanation, "test", event.score, event.n_records)


def test_views_tell_the_real_runs_story(real_run: RealRun) -> None:
    summary = load_summary(real_run.run_dir)
    assert [(r.layer, r.neuron, r.status) for r in summary.neurons] == [(1, 3, "ok"), (1, 5, "ok")]
    story = load_story(real_run.run_dir, 1, 3)
    assert story.notes == [] and story.heldout and all(h.records for h in story.heldout)
    calls = [c for step in story.steps for c in step.calls] + story.final_calls
    assert {c.purpose for c in calls} >= {"explainer", "simulator", "reviser", "prober"}
    assert sum(c.prompt_tokens + c.completion_tokens for c in calls) == story.row.tokens
    assert any(step.counterexamples for step in story.steps)
    text = story_text(story, each_call=True)
    assert all(len(line) <= WIDTH for line in text.splitlines())


def test_the_planted_api_key_reaches_no_file_log_or_report(real_run: RealRun, real_report: Path) -> None:
    assert f"Bearer {PLANTED_KEY}" in real_run.authorizations  # the key was really in use
    views = [refinery("trace", "llm", "--runs-dir", str(real_run.runs_dir), *extra) for extra in ([], ["--json"], ["--neuron", "1/3", "--json"])]
    assert all(v.returncode == 0 for v in views)
    for text in [real_run.output] + [v.stdout + v.stderr for v in views]:
        assert PLANTED_KEY not in text
    files = [p for p in real_run.root.rglob("*") if p.is_file()]
    assert real_report in files and any(p.suffix == ".sqlite" for p in files)
    leaked = [p for p in files if PLANTED_KEY.encode() in p.read_bytes()]
    assert leaked == []


def test_markup_from_the_corpus_is_escaped_in_the_report(real_run: RealRun, real_report: Path) -> None:
    pages = [real_report, *sorted((real_report.parent / "neurons").glob("*.html"))]
    assert len(pages) == 3
    for page in pages:
        text = page.read_text()
        assert text.count("<script") == 2 and "<img" not in text
    story = json.loads(pages[1].read_text().split('id="report-data">')[1].split("</script>")[0])["story"]
    texts = ["".join(record["tokens"]) for item in story["heldout"] for record in item["records"]]
    assert any("<script>alert(1)</script>" in text for text in texts)  # the corpus text is there, as data
