"""`refinery view`: the report served on 127.0.0.1, rendered afresh from the run folder on every request.

Only the report's own routes exist (no file is served by path), so the server cannot be used to
read anything but the run's pages and their data, and only requests whose Host header names the
loopback address are answered (another site's page cannot rebind its name to 127.0.0.1 and read them):

    /  /index.html               the run page
    /neurons/L-N.html            a neuron's page
    /data/run.json               the run page's data (polled by the page while it is open)
    /data/neurons/L-N.json       a neuron page's data
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import structlog

from agent.report.render import (
    RUN_DATA_PATH,
    Live,
    content_security_policy,
    index_page,
    index_payload,
    neuron_data_path,
    neuron_page,
    neuron_payload,
)
from agent.views.load import load_story, load_summary
from tools.errors import BadInputError, RefineryError

log = structlog.get_logger(__name__)

_NEURON = re.compile(r"^/(neurons|data/neurons)/(\d{1,6})-(\d{1,9})\.(html|json)$")


class ReportServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, run_dir: Path, port: int, interval_ms: int) -> None:
        self.run_dir, self.interval_ms = run_dir, interval_ms
        super().__init__(("127.0.0.1", port), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"

    def respond(self, path: str) -> tuple[HTTPStatus, str, str]:
        """(status, content type, body) for a request path, rendered from the run folder as it is now."""
        if path in ("/", "/index.html"):
            return HTTPStatus.OK, "text/html", index_page(load_summary(self.run_dir), Live(data_url=RUN_DATA_PATH, interval_ms=self.interval_ms))
        if path == "/" + RUN_DATA_PATH:
            return HTTPStatus.OK, "application/json", json.dumps(index_payload(load_summary(self.run_dir)))
        match = _NEURON.match(path)
        if match is None:
            return HTTPStatus.NOT_FOUND, "text/plain", "not found\n"
        kind, layer, neuron = match.group(1), int(match.group(2)), int(match.group(3))
        if (kind == "neurons") != (match.group(4) == "html"):
            return HTTPStatus.NOT_FOUND, "text/plain", "not found\n"
        try:
            story = load_story(self.run_dir, layer, neuron)
        except BadInputError as err:
            return HTTPStatus.NOT_FOUND, "text/plain", f"{err}\n"
        if kind == "neurons":
            # Relative to the neuron page, its data is one folder up.
            live = Live(data_url="../" + neuron_data_path(layer, neuron), interval_ms=self.interval_ms)
            return HTTPStatus.OK, "text/html", neuron_page(story, live)
        return HTTPStatus.OK, "application/json", json.dumps(neuron_payload(story))


_LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "[::1]"})


def loopback_host(host: str | None) -> bool:
    """Whether a request's Host header names this machine's loopback address (with or without a port)."""
    if not host:
        return False
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return name.lower() in _LOOPBACK_NAMES


class _Handler(BaseHTTPRequestHandler):
    server: ReportServer

    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        self._send(self._respond())

    def do_HEAD(self) -> None:  # noqa: N802
        status, kind, body = self._respond()
        self._send((status, kind, ""), length=len(body.encode("utf-8")))

    def _respond(self) -> tuple[HTTPStatus, str, str]:
        if not loopback_host(self.headers.get("Host")):
            # A page elsewhere can point its own name at 127.0.0.1 (DNS rebinding) and read the run: only
            # requests that name the loopback address get an answer.
            return HTTPStatus.MISDIRECTED_REQUEST, "text/plain", "this server answers only requests for 127.0.0.1 or localhost\n"
        try:
            return self.server.respond(self.path.split("?", 1)[0])
        except RefineryError as err:  # a file of the run cannot be read: say which, keep serving
            log.warning("view_render_failed", path=self.path, error=str(err)[:300])
            return HTTPStatus.INTERNAL_SERVER_ERROR, "text/plain", f"{err}\n"

    def _send(self, response: tuple[HTTPStatus, str, str], length: int | None = None) -> None:
        status, kind, body = response
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", f"{kind}; charset=utf-8")
        self.send_header("Content-Length", str(len(data) if length is None else length))
        # Every request re-reads the run folder: a browser cache would hide a sweep's progress.
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", content_security_policy())
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the stdlib's signature)
        log.debug("view_request", client=self.client_address[0], request=format % args)


def serve(run_dir: Path, port: int, interval_ms: int, on_ready: Callable[[str], None]) -> None:
    """Serve until interrupted; `on_ready` gets the URL once the socket is bound (port 0 = any free port)."""
    with ReportServer(run_dir, port, interval_ms) as server:
        on_ready(server.url)
        try:
            server.serve_forever(poll_interval=0.2)
        except KeyboardInterrupt:
            log.info("view_stopped", url=server.url)
