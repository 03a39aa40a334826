"""A damaged records file for one neuron of a sweep: that neuron fails with a reason naming the file,
the sweep goes on with the others, and a rerun after the file is repaired finishes it."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.cli.main import main
from agent.sweep.select import select
from agent.sweep.session import sweep
from bench.support.faults import RECORD_DAMAGES, read_run, sweep_args
from tests.faults.conftest import Serve, http_settings
from tests.sweep.conftest import LAYER
from tools.errors import RecordFileError
from tools.formats.openai import read_neuron_record

BAD, GOOD = (LAYER, 2), (LAYER, 3)
"""The damaged neuron runs first, so the sweep has work left after its failure."""


@pytest.mark.parametrize("name", list(RECORD_DAMAGES))
async def test_a_damaged_records_file_fails_its_neuron_alone(
    name: str, serve: Serve, tmp_path: Path, session_cache: Path, records_copy: Path,
) -> None:
    damage, says = RECORD_DAMAGES[name]
    path = records_copy / str(BAD[0]) / f"{BAD[1]}.json"
    damage(path)
    server, plan = serve([])
    report = await sweep(http_settings(tmp_path, session_cache, records_copy, server.base_url), select([BAD, GOOD]))

    run = read_run(tmp_path / "runs" / "s")
    reason = run.rows["1/2"]["error"]
    assert run.rows["1/2"]["status"] == "failed" and reason.startswith(str(path)) and says in reason, reason
    assert run.rows["1/3"]["status"] == "ok" and run.rows["1/3"]["refined_explanation"]
    assert report["failed"] == [{"neuron": "1/2", "reason": reason}] and report["totals"]["failed"] == 1
    # Not finished, so a rerun tries it again; its reason is in the manifest meanwhile.
    assert run.manifest == {"1/3": "ok"} and run.manifest_errors == {"1/2": reason}
    assert not (tmp_path / "runs" / "s" / "traces" / "1" / "2.jsonl").exists()  # it never started
    assert run.paid["calls"] == plan.account(1).paid


def test_the_cli_reports_the_file_exits_1_and_a_rerun_finishes_the_repaired_neuron(
    serve: Serve, tmp_path: Path, session_cache: Path, records_copy: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    path = records_copy / str(BAD[0]) / f"{BAD[1]}.json"
    intact = path.read_bytes()
    RECORD_DAMAGES["truncated"][0](path)
    server, _ = serve([])
    args = sweep_args(tmp_path / "runs", session_cache, records_copy, server.base_url, neurons="2-3")
    assert main(args) == 1  # some work failed
    out = capsys.readouterr().out
    assert f"failed 1/2: {path}: not valid JSON" in out.replace("\n", "")
    run_root = tmp_path / "runs" / "s"
    kept = (run_root / "results" / "1" / "3.json").read_text()

    path.write_bytes(intact)
    assert main(args) == 0
    run = read_run(run_root)
    assert run.manifest == {"1/2": "ok", "1/3": "ok"} and run.manifest_errors == {}
    assert (run_root / "results" / "1" / "3.json").read_text() == kept  # the finished neuron was left alone


@pytest.mark.faults_slow
async def test_a_damaged_records_file_fails_its_neuron_alone_on_ray_workers_too(
    serve: Serve, tmp_path: Path, session_cache: Path, records_copy: Path,
) -> None:
    ray = pytest.importorskip("ray")
    damage, says = RECORD_DAMAGES["nan"]
    path = records_copy / str(BAD[0]) / f"{BAD[1]}.json"
    damage(path)
    server, _ = serve([])
    settings = http_settings(tmp_path, session_cache, records_copy, server.base_url, executor="ray", concurrency=2)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        report = await sweep(settings, select([BAD, GOOD]))
    finally:
        ray.shutdown()
    run = read_run(tmp_path / "runs" / "s")
    # The reason crossed from the worker as the error's own message, not wrapped in a remote traceback.
    reason = run.rows["1/2"]["error"]
    with pytest.raises(RecordFileError) as read_here:
        read_neuron_record(path)
    assert reason == str(read_here.value) and says in reason
    assert report["failed"] == [{"neuron": "1/2", "reason": reason}]
    assert run.rows["1/3"]["status"] == "ok" and run.manifest == {"1/3": "ok"}
