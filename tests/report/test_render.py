"""The HTML pages: goldens of a fixed run, and the escaping that keeps corpus, probe and LLM text inert."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from importlib import resources
from pathlib import Path

import pytest

from agent.report.bundle import write_report
from agent.report.render import Live, index_page, neuron_page, script_json
from agent.views.load import load_story, load_summary
from tests.report.fixture_run import BREAKOUT, HOSTILE, IMG, SCRIPT
from tests.report.golden import assert_golden

_DATA = re.compile(r'<script type="application/json" id="report-data">(.*?)</script>', re.DOTALL)


def _pages(run: Path) -> dict[str, str]:
    return {"index": index_page(load_summary(run)), "neuron": neuron_page(load_story(run, 0, 1)),
            "failed": neuron_page(load_story(run, 0, 2)), "running": neuron_page(load_story(run, 1, 7))}


def _assets_marked(page: str) -> str:
    """The page with its inlined report.css and report.js (each present exactly once) replaced by a
    marker: those files are reviewed as themselves, the goldens hold what the rendering adds."""
    for name in ("report.css", "report.js"):
        asset = resources.files("agent.report").joinpath(name).read_text(encoding="utf-8")
        assert page.count(asset) == 1, f"{name} is not inlined exactly once"
        page = page.replace(asset, f"/* {name}, inlined */")
    return page


def test_index_page_matches_its_golden(fixture_run: Path) -> None:
    assert_golden("report-index.html", _assets_marked(index_page(load_summary(fixture_run))))


def test_neuron_page_matches_its_golden(fixture_run: Path) -> None:
    assert_golden("report-neuron-0-1.html", _assets_marked(neuron_page(load_story(fixture_run, 0, 1))))


@pytest.mark.parametrize("page", ["index", "neuron", "failed", "running"])
def test_hostile_text_cannot_leave_the_data_block(fixture_run: Path, page: str) -> None:
    text = _pages(fixture_run)[page]
    # Exactly our two script elements and no other markup made from data: the payloads only exist escaped.
    assert text.count("<script") == 2 and text.count("</script>") == 2
    for payload in HOSTILE:
        assert payload not in text
    assert "<img" not in text and "onerror=alert" not in text.replace("onerror=alert(1)\\u003e", "")


def test_the_data_block_round_trips_every_string(fixture_run: Path) -> None:
    text = _pages(fixture_run)["neuron"]
    [block] = _DATA.findall(text)
    data = json.loads(block)
    assert data["page"] == "neuron" and data["live"] is None
    flat = json.dumps(data, ensure_ascii=False)
    for payload in (SCRIPT, IMG, BREAKOUT):
        assert json.dumps(payload, ensure_ascii=False)[1:-1] in flat


def test_script_json_escapes_what_could_close_a_script_element() -> None:
    out = script_json({"a": "</script><!-- & -->", "b": [1.5, None]})
    assert "<" not in out and ">" not in out and "&" not in out
    assert json.loads(out) == {"a": "</script><!-- & -->", "b": [1.5, None]}


def test_content_security_policy_allows_exactly_the_inline_script_and_style(fixture_run: Path) -> None:
    text = _pages(fixture_run)["index"]
    csp = html.unescape(re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', text).group(1))  # type: ignore[union-attr]
    script = re.search(r"<script>(.*?)</script>", text, re.DOTALL).group(1)  # type: ignore[union-attr]
    style = re.search(r"<style>(.*?)</style>", text, re.DOTALL).group(1)  # type: ignore[union-attr]

    def digest(body: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"

    assert f"script-src {digest(script)};" in csp and f"style-src {digest(style)};" in csp
    assert "default-src 'none'" in csp and "unsafe-inline" not in csp


def test_live_pages_say_where_to_poll(fixture_run: Path) -> None:
    text = index_page(load_summary(fixture_run), Live(data_url="data/run.json", interval_ms=1000))
    [block] = _DATA.findall(text)
    assert json.loads(block)["live"] == {"data_url": "data/run.json", "interval_ms": 1000}


def test_report_is_written_into_the_run_folder(fixture_run: Path, tmp_path: Path) -> None:
    import shutil

    run = Path(shutil.copytree(fixture_run, tmp_path / "fixture"))
    index = write_report(run)
    assert index == run / "report" / "index.html"
    assert sorted(p.name for p in (run / "report" / "neurons").iterdir()) == ["0-1.html", "0-2.html", "1-7.html", "1-8.html", "2-3.html"]
    assert index.read_text() == index_page(load_summary(run))
