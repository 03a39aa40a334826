"""A damaged `results/L/N.json` is named in one line, never a traceback after the work is done: by
`refinery report` (the other pages written, exit 1), by `refinery trace` (the other rows shown,
exit 1), by `refinery view`'s server (that page answers the error, the server goes
on) and by a sweep (that neuron's row is `failed` with the reason, the others are kept)."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from agent.cli.main import main
from agent.report.render import RUN_DATA_PATH, neuron_page_path
from agent.report.server import ReportServer
from agent.sweep.select import select
from agent.sweep.session import sweep
from tests.report.fixture_run import write_fixture_run
from tests.sweep.conftest import LAYER, brain_llm, sweep_settings

DAMAGE = '{"status": "ok", "layer": 0, "neu'


def _damaged_run(tmp_path: Path) -> tuple[Path, Path]:
    run = write_fixture_run(tmp_path)
    [victim, *_] = sorted((run / "results").glob("*/*.json"))
    victim.write_text(DAMAGE)
    return run, victim


def test_report_names_the_damaged_result_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run, victim = _damaged_run(tmp_path)
    assert main(["report", run.name, "--runs-dir", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert str(victim) in err and "not readable JSON" in err and len(err.splitlines()) == 1, err
    # The other neurons' pages are written.
    pages = {p.name for p in (run / "report" / "neurons").glob("*.html")}
    assert Path(captured.out.strip()).is_file() and f"{victim.parent.name}-{victim.stem}.html" not in pages and pages


@pytest.mark.parametrize("damage", [DAMAGE, '{"status": "ok", "layer": 0}'], ids=["torn", "not-a-result"])
def test_trace_names_the_damaged_result_in_one_line_and_shows_the_others(
    damage: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    run, victim = _damaged_run(tmp_path)
    victim.write_text(damage)
    neuron = f"{victim.parent.name}/{victim.stem}"
    assert main(["trace", run.name, "--runs-dir", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    [line] = captured.err.strip().splitlines()
    assert line.startswith("error: ") and str(victim) in line, line
    rows = [row.split() for row in captured.out.splitlines() if row[:1].isdigit() and row.split()[-1].startswith("$")]
    table = {cells[0]: cells[1] for cells in rows}  # the run table: neuron -> status
    assert table[neuron] == "unreadable" and len(table) > 1 and "unreadable" not in {v for k, v in table.items() if k != neuron}
    # The same with --json: the whole table on stdout, the file named on stderr, the exit non-zero.
    assert main(["trace", run.name, "--runs-dir", str(tmp_path), "--json"]) == 1
    captured = capsys.readouterr()
    assert str(victim) in captured.err and len(captured.err.strip().splitlines()) == 1
    assert len(json.loads(captured.out)["neurons"]) == len(table)


def test_view_answers_the_damaged_result_in_one_line_and_keeps_serving(tmp_path: Path) -> None:
    run, victim = _damaged_run(tmp_path)
    server = ReportServer(run, 0, 1000)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        page = neuron_page_path(int(victim.parent.name), int(victim.stem))
        for _ in range(2):  # the server answered, and answers again
            with pytest.raises(urllib.error.HTTPError) as failed:
                urllib.request.urlopen(server.url + page)  # noqa: S310 (loopback, the test's own server)
            body = failed.value.read().decode().strip()
            assert failed.value.code == 500 and str(victim) in body and len(body.splitlines()) == 1, body
        # The run's table goes on, the neuron shown unreadable with the file named.
        with urllib.request.urlopen(server.url + RUN_DATA_PATH) as response:  # noqa: S310
            assert response.status == 200 and str(victim) in response.read().decode()
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


async def test_a_sweep_names_the_damaged_result_and_keeps_the_other_neurons(
    tmp_path: Path, session_cache: Path, sweep_records: Path,
) -> None:
    settings = sweep_settings(tmp_path, session_cache, sweep_records)
    neurons = [(LAYER, 1), (LAYER, 2)]
    first = await sweep(settings, select(neurons), llm=brain_llm())
    assert first["totals"]["ok"] == 2, first
    victim = settings.runs_dir / "s" / "results" / str(LAYER) / "1.json"
    victim.write_text(DAMAGE)

    # The rerun resumes the finished neurons, and reads their results for the summary.
    again = await sweep(settings, select(neurons), llm=brain_llm())
    [failed] = again["failed"]
    assert failed["neuron"] == f"{LAYER}/1" and str(victim) in failed["reason"] and "\n" not in failed["reason"]
    assert again["totals"]["ok"] == 1 and again["totals"]["failed"] == 1
