"""The dashboard's pages in headless Debian Chromium, driven by Playwright."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import tunelab as tl
from tunelab.dashboard import DashboardThread
from tunelab.storage import SQLStorage

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

_ROOT = Path(__file__).resolve().parents[2]
_INSTALL = _ROOT / "scripts" / "install-chromium.sh"


def _find_chromium() -> str | None:
    return shutil.which("chromium") or (
        "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's chromium under Playwright (installed first when missing and running as root)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    path = _find_chromium()
    if path is None and os.geteuid() == 0:
        subprocess.run(["bash", str(_INSTALL)], check=False, timeout=900)
        path = _find_chromium()
    if path is None:
        pytest.skip(f"chromium is not installed (run {_INSTALL.relative_to(_ROOT)} as root)")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path, args=["--no-sandbox"])
        yield launched
        launched.close()


class Page:
    """A browser page that records console errors and failed requests."""

    def __init__(self, browser: Any, width: int, height: int = 900) -> None:
        self.page = browser.new_page(viewport={"width": width, "height": height})
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def open(self, url: str, mark: str) -> None:
        self.page.goto(url)
        self.page.wait_for_function(
            f"performance.getEntriesByName({mark!r}).length > 0", timeout=60_000
        )

    def close(self) -> None:
        self.page.close()


def _canvas_sizes(page: Any) -> list[tuple[float, float, bool]]:
    """Each chart's laid-out size and whether anything was drawn on it."""
    return [
        tuple(item)
        for item in page.evaluate(
            """() => [...document.querySelectorAll('canvas')].map((c) => {
                const r = c.getBoundingClientRect();
                const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                let inked = false;
                for (let i = 3; i < px.length; i += 4) if (px[i] > 0) { inked = true; break; }
                return [r.width, r.height, inked];
            })"""
        )
    ]


def _overflow(page: Any) -> int:
    return int(
        page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    )


@pytest.mark.parametrize("width", [1400, 390])
def test_study_page_draws_every_chart_and_fits_the_screen(
    browser: Any, server: DashboardThread, width: int, tmp_path: Path
) -> None:
    tab = Page(browser, width)
    tab.open(f"{server.url}/studies/demo", "first-meaningful-paint")
    # The parameter charts arrive after the first paint.
    tab.page.wait_for_function(
        "document.querySelectorAll('.panel .note').length >= 6 && "
        "[...document.querySelectorAll('.panel .note')].every((n) => n.textContent)",
        timeout=60_000,
    )
    sizes = _canvas_sizes(tab.page)
    assert len(sizes) == 6
    notes = tab.page.locator(".panel .note").all_inner_texts()
    assert any("judges at rungs: steps 1, 2, 4" in n for n in notes), notes
    assert all(w > 200 and h > 200 and inked for w, h, inked in sizes), sizes
    rows = tab.page.locator("#trials tr").count()
    assert rows == 1 + 41  # the header and every trial of 'demo', newest first
    assert tab.page.locator("#trials tr").nth(1).locator("td").first.inner_text() == "40"
    assert _overflow(tab.page) <= 0, "the page scrolls sideways"
    shot = tmp_path / f"study-{width}.png"
    tab.page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000
    assert tab.errors == []
    tab.close()


def test_other_pages_render(browser: Any, server: DashboardThread) -> None:
    tab = Page(browser, 390)
    tab.open(server.url, "studies-drawn")
    assert tab.page.locator("table a").all_inner_texts() == ["demo", "pair"]
    assert _overflow(tab.page) <= 0
    tab.open(f"{server.url}/studies/pair", "first-meaningful-paint")
    tab.page.wait_for_function(
        "[...document.querySelectorAll('.panel h2')].some((h) => h.textContent === 'Pareto front')"
        " && document.querySelectorAll('canvas').length === 8"
        " && [...document.querySelectorAll('.panel .note')].some("
        "(n) => n.textContent.startsWith('of the front of feasible'))",
        timeout=60_000,
    )
    assert all(w > 200 and h > 200 and inked for w, h, inked in _canvas_sizes(tab.page))
    assert "ring: trial" in tab.page.locator(".panel .note").all_inner_texts()[-2]
    tab.open(f"{server.url}/studies/demo/trials/3", "trial-drawn")
    assert "x" in tab.page.locator("table").first.inner_text()
    assert all(w > 200 and h > 200 for w, h, _ in _canvas_sizes(tab.page))
    tab.open(f"{server.url}/compare?studies=demo,pair", "compare-drawn")
    assert all(w > 200 and h > 200 and inked for w, h, inked in _canvas_sizes(tab.page))
    assert _overflow(tab.page) <= 0
    assert tab.errors == []
    tab.close()


def test_new_trials_appear_without_reloading(browser: Any, tmp_path: Path, sqlite_url: str) -> None:
    url = f"sqlite:///{tmp_path / 'live.db'}"
    storage = SQLStorage(url)
    study = tl.create_study(study_name="live", storage=storage)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=5)
    with DashboardThread(SQLStorage(url)) as server:
        tab = Page(browser, 1400)
        tab.open(f"{server.url}/studies/live", "first-meaningful-paint")

        def add() -> None:
            time.sleep(0.5)
            study.optimize(lambda t: t.suggest_float("x", 0, 1) - 10, n_trials=3)

        writer = threading.Thread(target=add)
        writer.start()
        tab.page.wait_for_function("window.__shown[7] !== undefined", timeout=30_000)
        writer.join()
        first_row = tab.page.locator("#trials tr").nth(1).locator("td").first.inner_text()
        assert first_row == "7"
        trials_card = tab.page.locator(".card b").first.inner_text()
        assert trials_card == "8"
        assert tab.errors == []
        tab.close()
    storage.close()
