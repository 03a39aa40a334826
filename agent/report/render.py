"""Pure: view models -> self-contained HTML pages (inline CSS and JS, data embedded as JSON, no network).

A page is a static shell plus one `<script type="application/json">` block; the inline script
renders everything else from that data with `textContent` only. Two guards keep corpus, probe and
LLM text inert: the JSON has `<`, `>` and `&` escaped, so no string in it can close the script
element, and the Content-Security-Policy allows only this page's own script and style (by hash),
so even markup that got in somehow could not run.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import json
from importlib import resources
from typing import Any

from pydantic import BaseModel

from agent.views.model import NeuronStory, RunSummary


class Live(BaseModel):
    """Set by `refinery view`: where the page polls for fresh data, and how often."""

    data_url: str
    interval_ms: int


def neuron_page_path(layer: int, neuron: int) -> str:
    """A neuron's page relative to the report root; report.js builds the same links."""
    return f"neurons/{layer}-{neuron}.html"


def neuron_data_path(layer: int, neuron: int) -> str:
    return f"data/neurons/{layer}-{neuron}.json"


RUN_DATA_PATH = "data/run.json"


@functools.cache
def _asset(name: str) -> str:
    return resources.files("agent.report").joinpath(name).read_text(encoding="utf-8")


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def content_security_policy() -> str:
    return (f"default-src 'none'; script-src {_csp_hash(_asset('report.js'))}; style-src {_csp_hash(_asset('report.css'))}; "
            "img-src data:; connect-src 'self'; base-uri 'none'; form-action 'none'")


def _version(body: dict[str, Any]) -> str:
    """Identifies the data, so a live page re-renders only when something changed."""
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode("utf-8")).hexdigest()[:16]


def index_payload(summary: RunSummary, live: Live | None = None) -> dict[str, Any]:
    body = {"page": "index", "summary": json.loads(summary.model_dump_json())}
    return body | {"version": _version(body), "live": live.model_dump() if live else None}


def neuron_payload(story: NeuronStory, live: Live | None = None) -> dict[str, Any]:
    body = {"page": "neuron", "story": json.loads(story.model_dump_json())}
    return body | {"version": _version(body), "live": live.model_dump() if live else None}


def script_json(payload: dict[str, Any]) -> str:
    """JSON safe inside a <script> element: `<`, `>`, `&` as \\u escapes (JSON.parse reads them back)."""
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def _page(title: str, payload: dict[str, Any]) -> str:
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{html.escape(content_security_policy())}">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{_asset("report.css")}</style>
</head>
<body>
<main id="app"><h1>{html.escape(title)}</h1><noscript>This report draws its tables and charts with JavaScript; the data is in the page source.</noscript></main>
<script type="application/json" id="report-data">{script_json(payload)}</script>
<script>{_asset("report.js")}</script>
</body>
</html>
"""


def index_page(summary: RunSummary, live: Live | None = None) -> str:
    return _page(f"run {summary.run} · neuron-refinery", index_payload(summary, live))


def neuron_page(story: NeuronStory, live: Live | None = None) -> str:
    row = story.row
    return _page(f"neuron {row.layer}/{row.neuron} · run {story.run} · neuron-refinery", neuron_payload(story, live))
