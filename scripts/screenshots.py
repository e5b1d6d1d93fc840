"""Take the README's screenshots with the browser the tests use (Debian's chromium, headless,
offline, driven by Playwright): the report of ``apr2025-heavy-ree`` and the dashboard.

Everything comes from a temporary store built from the shipped data (the user's database is never
touched) and nothing is downloaded. Writes, 1280x800 each, into ``docs/img/`` (or ``--out``):

* ``report-top.png``: the report's title, contents and first section;
* ``report-sankey.png``: the Sankey of dysprosium's flows through the chain, disrupted and base;
* ``report-hindcast.png``: the model against the observed 2025 exports;
* ``dashboard-overview.png``: the dashboard's overview (concentration by material and stage);
* ``dashboard-map.png``: the overview's world map of shares;
* ``dashboard-run.png``: a stored run's page (what identifies it, its summary);
* ``dashboard-run-figures.png``: the same page at its report's shortfall figures;
* ``dashboard-compare.png``: the market and coordinated runs' shortfall side by side.

Run: ``.venv/bin/python scripts/screenshots.py`` (chromium from ``$CRITMIN_CHROMIUM`` or
``/usr/bin/chromium``; ``apt-get install chromium``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the browser helpers the tests use: one place for the flags

import browser as B  # noqa: E402
import critmin  # noqa: E402
from critmin import jobs  # noqa: E402
from critmin.report import report_content, write_report  # noqa: E402

SCENARIO = "apr2025-heavy-ree"
#: how long a job in the dashboard may take
JOB_DEADLINE_S = 180


def shot(page: Any, log: B.PageLog, path: Path) -> None:
    """Screenshot the viewport into ``path`` once the page is clean (no console error, page error or
    request to another host: a screenshot of a broken page is worse than none)."""
    page.wait_for_timeout(400)  # let plotly's transitions settle
    log.assert_clean()
    page.screenshot(path=str(path))
    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}", flush=True)


def scroll_to(page: Any, selector: str, offset: int = 12) -> None:
    """Scroll so that ``selector``'s top sits ``offset`` pixels below the window's top (below the
    dashboard's sticky header, if the page has one)."""
    page.locator(selector).first.evaluate(
        """(el, offset) => {
          const bar = document.querySelector('header.top');
          const pos = bar ? getComputedStyle(bar).position : '';
          const below = pos === 'sticky' || pos === 'fixed' ? bar.getBoundingClientRect().height : 0;
          window.scrollTo(0, el.getBoundingClientRect().top + window.scrollY - below - offset);
        }""",
        offset,
    )


def wait_job(page: Any, panel: str) -> None:
    """Wait until the job shown in ``panel`` is done (raise if it failed or took too long)."""
    end = time.monotonic() + JOB_DEADLINE_S
    state = page.locator(f"{panel} .job .state")
    while time.monotonic() < end:
        if state.count():
            classes = (state.first.get_attribute("class") or "").split()
            if "done" in classes:
                return
            if "failed" in classes:
                raise RuntimeError(f"the job in {panel} failed: {page.locator(panel).inner_text()}")
        elif page.locator(f"{panel} > .error").count():  # the request was refused (not the job box's own)
            raise RuntimeError(f"the job in {panel} did not start: {page.locator(panel).inner_text()}")
        page.wait_for_timeout(250)
    raise RuntimeError(f"the job in {panel} did not finish within {JOB_DEADLINE_S} s")


def check_drawn(page: Any, expected: int | None = None) -> None:
    states = B.wait_for_figures(page, expected=expected)
    bad = B.undrawn(states)
    if bad:
        raise RuntimeError("figures not drawn:\n  " + "\n  ".join(bad))


def report_shots(browser: Any, store: critmin.Store, work: Path, out: Path) -> None:
    content = report_content(SCENARIO, jobs.load_chain(store), store)
    path = write_report(work / f"{SCENARIO}.html", lambda: content)
    context = browser.new_context(viewport=B.VIEWPORT)
    try:
        page, log = B.open_page(context)
        page.goto(path.as_uri())
        check_drawn(page, expected=len(content.figures()))
        shot(page, log, out / "report-top.png")
        scroll_to(page, "[data-figure='sankey-Dy']", offset=4)
        shot(page, log, out / "report-sankey.png")
        scroll_to(page, "section#hindcast")
        shot(page, log, out / "report-hindcast.png")
    finally:
        context.close()


def dashboard_shots(browser: Any, store: critmin.Store, out: Path) -> None:
    from critmin.web import create_app

    runs = jobs.run_job(SCENARIO, jobs.load_chain(store), mode="both", store=store).runs
    market, coordinated = runs["market"].run_id, runs["coordinated"].run_id
    with B.ServerThread(create_app(store.path)) as server:
        context = browser.new_context(viewport=B.VIEWPORT)
        try:
            page, log = B.open_page(context)
            page.goto(server.url + "/#/overview")
            check_drawn(page, expected=2)
            shot(page, log, out / "dashboard-overview.png")
            scroll_to(page, "[data-figure='share-map']", offset=40)
            shot(page, log, out / "dashboard-map.png")

            page.goto(f"{server.url}/#/runs/{market}")
            wait_job(page, "#report-job")
            check_drawn(page)
            page.evaluate("window.scrollTo(0, 0)")
            shot(page, log, out / "dashboard-run.png")
            scroll_to(page, "#report [data-figure='shortfall-region']", offset=12)
            shot(page, log, out / "dashboard-run-figures.png")

            page.goto(f"{server.url}/#/compare?a={market}&b={coordinated}")
            page.locator("#compare-figures [data-figure]").first.wait_for(timeout=JOB_DEADLINE_S * 1000)
            check_drawn(page, expected=4)
            scroll_to(page, "#compare-figures", offset=4)
            shot(page, log, out / "dashboard-compare.png")
        finally:
            context.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "img", help="folder for the PNGs (default docs/img)")
    ap.add_argument("--only", choices=["report", "dashboard"], help="take only these")
    args = ap.parse_args(argv)
    executable = B.chromium_path()
    if executable is None:
        print(f"screenshots: no chromium: {B.INSTALL_HINT}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="critmin-shots-") as tmp:
        work = Path(tmp)
        store = critmin.Store(work / "critmin.duckdb", notify=lambda msg: None)
        store.build()
        with sync_playwright() as pw:
            browser = B.launch(pw, executable)
            try:
                if args.only in (None, "report"):
                    report_shots(browser, store, work, args.out)
                if args.only in (None, "dashboard"):
                    dashboard_shots(browser, store, args.out)
            finally:
                browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
