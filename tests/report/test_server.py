"""`refinery view`'s server, in process: its routes, its refusals, and fresh data on every request."""

from __future__ import annotations

import json
import shutil
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.report.server import ReportServer
from graphs.trace import NeuronStarted, TraceWriter, trace_path


@pytest.fixture
def served(fixture_run: Path, tmp_path: Path) -> Iterator[tuple[ReportServer, Path]]:
    run = Path(shutil.copytree(fixture_run, tmp_path / "fixture"))
    server = ReportServer(run, 0, 1000)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server, run
    server.shutdown()
    server.server_close()
    thread.join()


def _get(url: str) -> tuple[int, dict[str, str], str]:
    try:
        with urllib.request.urlopen(url) as response:  # noqa: S310 (loopback, the test's own server)
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read().decode()


def test_pages_and_their_data_are_served(served: tuple[ReportServer, Path]) -> None:
    server, _ = served
    assert server.url.startswith("http://127.0.0.1:")
    status, headers, body = _get(server.url)
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Cache-Control"] == "no-store" and "default-src 'none'" in headers["Content-Security-Policy"]
    assert '"live":{"data_url":"data/run.json","interval_ms":1000}' in body
    status, _, body = _get(server.url + "neurons/0-1.html")
    assert status == 200 and '"data_url":"../data/neurons/0-1.json"' in body
    status, headers, body = _get(server.url + "data/neurons/0-1.json")
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    assert json.loads(body)["story"]["row"]["neuron"] == 1


@pytest.mark.parametrize("path", ["nope", "../config.json", "neurons/9-9.html", "data/neurons/0-1.html", "neurons/0-1.json",
                                  "traces/0/1.jsonl", "config.json", "data/run.json/../../ledger.json"])
def test_nothing_but_the_report_routes_is_served(served: tuple[ReportServer, Path], path: str) -> None:
    server, _ = served
    status, headers, _ = _get(server.url + path)
    assert status == 404 and headers["Content-Type"].startswith("text/plain")


def test_each_request_sees_the_run_as_it_is_now(served: tuple[ReportServer, Path]) -> None:
    server, run = served
    before = json.loads(_get(server.url + "data/run.json")[2])
    writer = TraceWriter(trace_path(run, 2, 5), 2, 5)
    writer.emit(NeuronStarted(run=run.name, backend={}, params={}, **writer.base()))
    writer.close()
    after = json.loads(_get(server.url + "data/run.json")[2])
    assert after["version"] != before["version"]
    rows = {f"{r['layer']}/{r['neuron']}": r["status"] for r in after["summary"]["neurons"]}
    assert rows["2/5"] == "running" and len(rows) == len(before["summary"]["neurons"]) + 1
    assert json.loads(_get(server.url + "data/run.json")[2])["version"] == after["version"]  # unchanged data, same version


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8765", "127.0.0.1.evil.example", ""])
def test_only_loopback_host_headers_are_answered(served: tuple[ReportServer, Path], host: str) -> None:
    server, _ = served
    request = urllib.request.Request(server.url, headers={"Host": host})
    try:
        with urllib.request.urlopen(request) as response:  # noqa: S310 (loopback, the test's own server)
            status = response.status
    except urllib.error.HTTPError as err:
        status = err.code
    assert status == 421
    for good in ("127.0.0.1", f"localhost:{server.server_address[1]}"):
        with urllib.request.urlopen(urllib.request.Request(server.url, headers={"Host": good})) as response:  # noqa: S310
            assert response.status == 200
