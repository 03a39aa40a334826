"""The report in headless Chromium (Debian's package, driven by Playwright), from disk and from `refinery view`.

Screenshots go to runs/screenshots/. `make test` installs Chromium (`make browser`) and sets
REFINERY_REQUIRE_ASSETS=1, under which a missing browser fails this module instead of skipping it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.report.bundle import write_report
from agent.views.load import load_summary
from graphs.trace import NeuronStarted, SpanStarted, TraceWriter, trace_path
from tests.report.conftest import REPO, RealRun
from tests.report.fixture_run import BREAKOUT, DISCARDED_HOSTILE, DISCARDED_REPEAT, IMG, SCRIPT
from tests.support.processes import interruptible

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
# As root in a sandbox with no outside network: no sandbox, no GPU, and none of Chromium's own
# background connections (they would be refused, noisily, on every start).
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
SCREENSHOTS = REPO / "runs" / "screenshots"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    missing = ("the playwright package is missing: pip install -e '.[dev]'" if sync_playwright is None
               else None if CHROMIUM.is_file() else f"{CHROMIUM} is missing: `make browser` installs Debian's chromium")
    if missing is not None:
        if os.environ.get("REFINERY_REQUIRE_ASSETS") == "1":
            pytest.fail(missing)
        pytest.skip(missing)
    with sync_playwright() as playwright:  # type: ignore[misc]
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


class Watched:
    """A page that records what would mean a broken or unsafe report: console errors, uncaught
    exceptions, and any dialog (an `alert(1)` from the corpus that got to run)."""

    def __init__(self, browser: Any) -> None:
        self.page = browser.new_page(viewport={"width": 1280, "height": 900})
        self.problems: list[str] = []
        self.page.on("console", lambda m: self.problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda err: self.problems.append(f"uncaught: {err}"))
        self.page.on("dialog", self._dialog)

    def _dialog(self, dialog: Any) -> None:
        self.problems.append(f"dialog: {dialog.message}")
        dialog.dismiss()

    def close(self) -> None:
        self.page.close()
        assert self.problems == []


def _order(page: Any) -> list[str]:
    return page.eval_on_selector_all("#rows tr", "rows => rows.map(r => r.dataset.neuron)")


def _assert_inert(page: Any) -> None:
    """Markup from the corpus, probes and LLM replies is on the page as text and nowhere as elements."""
    assert page.eval_on_selector_all("img, iframe, object, embed", "found => found.length") == 0
    assert page.evaluate("document.scripts.length") == 2  # the data block and the report's own script


def _check_run_page(page: Any, run_dir: Path, shot: str) -> None:
    page.wait_for_selector("#rows tr")
    rows = {f"{r.layer}/{r.neuron}": r for r in load_summary(run_dir).neurons}
    assert sorted(_order(page)) == sorted(rows)
    refined = page.locator('th[data-key="refined"]')
    refined.locator("button").click()
    assert refined.get_attribute("aria-sort") == "ascending"
    ascending = _order(page)
    assert ascending == sorted(rows, key=lambda k: (rows[k].refined is None, rows[k].refined or 0.0))
    refined.locator("button").click()
    assert refined.get_attribute("aria-sort") == "descending"
    assert _order(page)[: len(ascending) - 1] != ascending[: len(ascending) - 1] or len(ascending) == 1
    page.fill("#filter", "1/5")
    assert _order(page) == ["1/5"]
    page.fill("#filter", "")
    assert len(_order(page)) == len(rows)
    assert page.locator("#ledger table").count() >= 1
    page.screenshot(path=str(SCREENSHOTS / shot), full_page=True)


def _check_neuron_page(page: Any, shot: str) -> None:
    page.locator('a.neuron-link:text-is("1/3")').click()
    page.wait_for_selector("#score-chart")
    assert page.locator("#score-chart circle").count() >= 2
    assert page.locator("#score-chart path.best").get_attribute("d").count("L") >= 1
    tokens = page.locator(".heldout .hm-line.real .tok")
    assert tokens.count() > 0 and page.locator(".heldout .hm-line.sim .tok").count() > 0
    coloured = page.eval_on_selector_all(
        ".heldout .tok", "spans => spans.filter(s => getComputedStyle(s).backgroundColor !== 'rgba(46, 160, 67, 0)').length")
    assert coloured > 0
    assert page.locator(".counterexamples .tok.off").count() > 0
    page.screenshot(path=str(SCREENSHOTS / shot))  # the top: cards, chart, first held-out heatmaps
    page.locator("details.llm-calls > summary").first.click()
    page.locator(".calls details > summary").first.click()
    prompt = page.locator(".call pre").first
    prompt.wait_for(state="visible")  # the call's body is built on the toggle event, after the click returns
    assert prompt.text_content()
    lines = page.eval_on_selector_all(".hm-line", "lines => lines.map(l => l.textContent)")
    assert any(SCRIPT in line for line in lines)  # the corpus line, shown as text
    _assert_inert(page)
    page.locator("#back").click()
    page.wait_for_selector("#rows tr")


def test_report_from_disk(browser: Any, real_run: RealRun, real_report: Path) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    watched = Watched(browser)
    watched.page.goto(real_report.as_uri())
    _check_run_page(watched.page, real_run.run_dir, "report-index.png")
    _check_neuron_page(watched.page, "report-neuron.png")
    watched.close()


def test_hostile_strings_stay_text_in_the_browser(browser: Any, fixture_run: Path, tmp_path: Path) -> None:
    run = Path(shutil.copytree(fixture_run, tmp_path / "fixture"))
    index = write_report(run)
    for page_name in ("neurons/0-1.html", "neurons/0-2.html", "neurons/1-7.html", "neurons/1-8.html", "neurons/2-3.html",
                      "index.html"):
        watched = Watched(browser)
        watched.page.goto((index.parent / page_name).as_uri())
        watched.page.wait_for_selector("h1")
        _assert_inert(watched.page)
        if page_name == "neurons/0-1.html":
            tokens = watched.page.eval_on_selector_all(".tok", "spans => spans.map(s => s.textContent)")
            assert {SCRIPT, BREAKOUT} <= set(tokens) and " " + IMG in tokens
            discarded = watched.page.eval_on_selector_all(".discarded", "found => found.map(p => p.textContent)")
            assert discarded == ["Discarded explainer answers (1): 1 × empty answer",
                                 f"Discarded reviser answers (3): 2 × {DISCARDED_REPEAT}; 1 × {DISCARDED_HOSTILE}"]
            judged = watched.page.eval_on_selector_all(".llm-judge", "found => found.map(p => p.textContent)")
            assert judged == ["LLM judge judge-model: detection 0.750 · fuzzing 0.500 on 3 texts · 2 calls, 320 tokens, $0.0001"]
            watched.page.screenshot(path=str(SCREENSHOTS / "fixture-neuron.png"), full_page=True)
        watched.close()


@pytest.fixture
def view(real_run: RealRun, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`refinery view` in a subprocess on a free port, over a copy of the real run (the test adds to it)."""
    runs = tmp_path / "runs"
    shutil.copytree(real_run.run_dir, runs / "llm")
    proc = subprocess.Popen([sys.executable, "-m", "agent.cli.main", "view", "llm", "--runs-dir", str(runs), "--port", "0"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=interruptible)
    line = proc.stdout.readline() if proc.stdout else ""
    assert "http://127.0.0.1:" in line, (line, proc.stderr.read() if proc.poll() is not None and proc.stderr else "")
    yield line.split(" at ")[1].split()[0], runs / "llm"
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 0


def test_report_from_refinery_view_follows_a_running_sweep(browser: Any, view: tuple[str, Path]) -> None:
    url, run = view
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    watched = Watched(browser)
    watched.page.goto(url)
    _check_run_page(watched.page, run, "view-index.png")
    _check_neuron_page(watched.page, "view-neuron.png")
    # A sweep starts another neuron: the open page picks it up on its own.
    writer = TraceWriter(trace_path(run, 1, 9), 1, 9)
    writer.emit(NeuronStarted(run=run.name, backend={"simulator": "chat-logprob"}, params={}, **writer.base()))
    writer.emit(SpanStarted(node="propose", span_id="live0", iteration=0, **writer.base()))
    writer.close()
    watched.page.wait_for_selector('tr[data-neuron="1/9"][data-status="running"]', timeout=30_000)
    assert "propose, iteration 0" in watched.page.locator('tr[data-neuron="1/9"]').text_content()
    watched.page.screenshot(path=str(SCREENSHOTS / "view-running.png"), full_page=True)
    watched.page.locator('a.neuron-link:text-is("1/9")').click()
    watched.page.wait_for_selector(".badge.running")
    watched.close()
