"""Terminal and JSON views of a run folder: goldens of a fixed run, and what a live sweep relies on."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agent.views.load import in_run, load_story, load_summary
from agent.views.terminal import WIDTH, run_text, story_text, visible
from graphs.trace import NeuronStarted, TraceWriter, trace_path
from tests.report.fixture_run import BASELINE, HELDOUT, IMG, ONESHOT, REFINED, write_fixture_run
from tests.report.golden import assert_golden


def test_run_summary_matches_its_golden(fixture_run: Path) -> None:
    assert_golden("run.txt", run_text(load_summary(fixture_run)))


@pytest.mark.parametrize(("layer", "neuron", "calls", "name"), [
    (0, 1, False, "neuron-0-1.txt"), (0, 1, True, "neuron-0-1-calls.txt"), (0, 2, False, "neuron-0-2.txt"),
    (1, 7, False, "neuron-1-7.txt"), (1, 8, False, "neuron-1-8.txt"), (2, 3, False, "neuron-2-3.txt"),
])
def test_neuron_story_matches_its_golden(fixture_run: Path, layer: int, neuron: int, calls: bool, name: str) -> None:
    assert_golden(name, story_text(load_story(fixture_run, layer, neuron), each_call=calls))


def test_every_line_fits_an_80_column_terminal(fixture_run: Path) -> None:
    texts = [run_text(load_summary(fixture_run))]
    texts += [story_text(load_story(fixture_run, layer, neuron), each_call=True)
              for layer, neuron in ((0, 1), (0, 2), (1, 7), (1, 8), (2, 3))]
    too_long = [line for text in texts for line in text.splitlines() if len(line) > WIDTH]
    assert not too_long


def test_rows_tell_finished_failed_and_running_neurons_apart(fixture_run: Path) -> None:
    summary = load_summary(fixture_run)
    rows = {(r.layer, r.neuron): r for r in summary.neurons}
    assert summary.counts == {"ok": 1, "failed": 1, "running": 1, "degraded": 1, "skipped": 1}
    done = rows[(0, 1)]
    assert done.status == "ok" and done.oneshot is not None and done.refined is not None
    # The refined simulation failed on the third held-out record: the gain is over the other two.
    assert (done.heldout_records, done.paired_records, done.oneshot_failed, done.refined_failed) == (3, 2, 0, 1)
    assert done.gain is not None and done.gain != pytest.approx(done.refined - done.oneshot)
    assert done.baseline is not None
    degraded = rows[(1, 8)]
    assert degraded.status == "degraded" and degraded.stop == "error" and len(degraded.problems) == 2
    assert degraded.problems[1].startswith("revision failed in round 1")
    skipped = rows[(2, 3)]
    assert skipped.status == "skipped" and skipped.refined is None and skipped.baseline is not None
    assert skipped.explanation == BASELINE
    assert done.ci == (0.2, 0.9) and done.explanation == REFINED and done.iterations == 1
    assert rows[(0, 2)].status == "failed" and "401" in (rows[(0, 2)].error or "")
    running = rows[(1, 7)]
    assert running.status == "running" and running.now == "simulate, iteration 0"
    assert running.tokens == 55 and running.refined is None


def test_story_follows_the_trace_iteration_by_iteration(fixture_run: Path) -> None:
    story = load_story(fixture_run, 0, 1)
    first, second = story.steps
    assert first.source == "explainer" and [c.score for c in first.candidates] == [0.41, None]
    assert first.decision == "adopted" and first.top == ONESHOT and first.probed == ONESHOT
    assert {g.generator: len(g.texts) for g in first.probe_groups} == {"corpus-fresh": 2, "llm-should-fire": 1}
    assert [c.text.offending for c in first.counterexamples] == [[1]]
    assert [c.purpose for c in first.calls] == ["explainer", "simulator", "prober"]
    assert second.source == "reviser" and second.top == REFINED and not second.probe_groups
    assert story.stop == "max_iters" and story.notes == []
    assert [c.error for c in story.final_calls] == ["HTTP 503: overloaded"]
    assert story.max_real == 2.0


def test_heldout_records_carry_real_and_simulated_values(fixture_run: Path) -> None:
    story = load_story(fixture_run, 0, 1)
    held = {h.role: h for h in story.heldout}
    assert set(held) == {"oneshot", "refined", "baseline"}
    assert held["refined"].failed == [2] and held["oneshot"].failed == []
    records = held["refined"].records
    assert [r.tokens for r in records] == [r.tokens for r in HELDOUT]
    assert [r.real for r in records] == [r.activations for r in HELDOUT]
    assert records[0].simulated == [0.0, 9.0, 1.0, 0.0, 0.0]
    assert records[2].simulated is None and records[2].error  # a failed simulation is shown as failed, not as zeros


def test_a_neuron_a_sweep_just_started_shows_as_running(tmp_path: Path) -> None:
    run = write_fixture_run(tmp_path)
    writer = TraceWriter(trace_path(run, 3, 4), 3, 4)
    writer.emit(NeuronStarted(run=run.name, backend={"simulator": "builtin-lexical"}, params={}, **writer.base()))
    writer.close()
    with trace_path(run, 3, 4).open("a") as handle:
        handle.write('{"ts": "2026-01-01T00:00:00", "layer": 3, "neu')  # the writer is mid-line
    rows = {(r.layer, r.neuron): r for r in load_summary(run).neurons}
    assert rows[(3, 4)].status == "running" and rows[(3, 4)].method == "builtin-lexical"
    story = load_story(run, 3, 4)
    assert story.steps == [] and story.heldout == []


def test_a_moved_run_folder_still_finds_its_files(fixture_run: Path, tmp_path: Path) -> None:
    moved = shutil.copytree(fixture_run, tmp_path / "elsewhere")
    story = load_story(moved, 0, 1)
    assert story.notes == [] and story.heldout[0].records and story.steps[0].probe_groups
    shutil.rmtree(moved / "probes")
    notes = load_story(moved, 0, 1).notes
    assert len(notes) == 1 and notes[0].startswith("probe file not found")


def test_a_corrupt_result_is_listed_as_unreadable_not_fatal(tmp_path: Path) -> None:
    run = write_fixture_run(tmp_path)
    (run / "results" / "0" / "2.json").write_text("{not json")
    rows = {(r.layer, r.neuron): r for r in load_summary(run).neurons}
    assert rows[(0, 2)].status == "unreadable" and rows[(0, 2)].error
    assert rows[(0, 1)].status == "ok"


def test_trace_paths_are_confined_to_the_run_folder(tmp_path: Path) -> None:
    assert in_run(tmp_path, "/old/place/scores/0/1/heldout-refined.json") == tmp_path / "scores" / "0" / "1" / "heldout-refined.json"
    assert in_run(tmp_path, "/etc/passwd") is None
    assert in_run(tmp_path, "/x/scores/0/../../../etc/passwd") is None
    assert in_run(tmp_path, "/x/traces/0/1/2.jsonl") is None


def test_terminal_text_cannot_carry_control_sequences() -> None:
    assert visible("a\x1b[31mb\nc\td\u202e") == "a\\x1b[31mb↵c⇥d\\u202e"
    assert IMG in visible(IMG)  # printable text is left alone
