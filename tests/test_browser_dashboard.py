"""The dashboard in a real browser (Debian's chromium through Playwright): served by uvicorn on
127.0.0.1 from a private copy of the store, it draws its overview, runs a built-in scenario from
the scenario library, and draws the run's report and the comparison of its two modes, with no
console error (a Content-Security-Policy violation is one), no page error and no request to
another host. (The API's behaviour: tests/test_web*.py. The helpers: tests/browser.py.)"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import critmin
from browser import BrowserPage, ServerThread, png_ok, require_chromium, undrawn, wait_for_figures

pytest_plugins = ["browser"]

#: the built-in scenario the dashboard runs (deterministic; a shortfall, stocks and prices to draw)
SCENARIO = "apr2025-heavy-ree"
#: how long a run or a report job may take in the page (a 2-core machine, the suite running alongside)
JOB_DEADLINE_S = 120


@pytest.fixture
def dashboard(store_copy: critmin.Store) -> Iterator[str]:
    """The dashboard on a private copy of the session store; its URL. Stopped (and its job threads
    ended by the app's shutdown) after the test."""
    require_chromium()  # before starting anything, when the test will skip anyway
    from critmin.web import create_app

    with ServerThread(create_app(store_copy.path)) as server:
        yield server.url


def wait_for_job(page: Any, panel: str, deadline_s: float = JOB_DEADLINE_S) -> str:
    """Wait until the job shown in ``panel`` (a CSS selector) is done; fail with its error (or the
    panel's text) if it failed or did not finish in time. The job's final state."""
    end = time.monotonic() + deadline_s
    box = page.locator(f"{panel} .job .state")
    while time.monotonic() < end:
        if box.count():
            state = box.first.get_attribute("class") or ""
            if " done" in f" {state}":
                return "done"
            if " failed" in f" {state}":
                pytest.fail(f"the job in {panel} failed: {page.locator(panel).inner_text()}")
        elif page.locator(f"{panel} > .error").count():  # the request was refused (not the job box's own)
            pytest.fail(f"the job in {panel} did not start: {page.locator(panel).inner_text()}")
        page.wait_for_timeout(250)
    pytest.fail(f"the job in {panel} did not finish within {deadline_s} s: {page.locator(panel).inner_text()}")


def test_overview_draws_its_bars_and_map(dashboard: str, page: BrowserPage, tmp_path: Path) -> None:
    pg = page.page
    pg.goto(dashboard + "/#/overview")
    states = wait_for_figures(pg, expected=2)
    assert [s["key"] for s in states] == ["concentration-bars", "share-map"]
    assert not undrawn(states), "\n".join(undrawn(states))
    by_key = {s["key"]: s for s in states}
    assert by_key["share-map"]["land"] and by_key["share-map"]["marks"] > 0  # the map from the served geometry
    assert by_key["concentration-bars"]["marks"] > 10
    assert pg.locator("[data-table='concentration'] tbody tr").count() > 10
    assert pg.locator("#nav a.active").get_attribute("data-route") == "overview"
    assert pg.locator("#version").inner_text().startswith("critmin ")
    page.log.assert_clean()
    shot = tmp_path / "overview.png"
    pg.screenshot(path=str(shot))
    assert png_ok(shot, least_bytes=50_000)


def test_run_a_builtin_scenario_and_see_its_report_and_comparison(
    dashboard: str, page: BrowserPage, tmp_path: Path
) -> None:
    """Scenario library -> the built-in -> run it in both modes -> the comparison of the two runs
    -> the stored run's page, whose report draws every figure."""
    pg = page.page
    pg.goto(dashboard + "/")
    wait_for_figures(pg, expected=2)  # the overview, drawn before leaving it
    pg.locator("#nav a[data-route='scenarios']").click()
    pg.locator(f"#scenario-list a[href='#/scenarios/{SCENARIO}']").click()
    pg.locator("#valid-note.ok").wait_for()  # the built-in's TOML loaded and validated
    assert pg.locator("#editor-title").inner_text().endswith(SCENARIO)
    pg.locator("#run-mode").select_option("both")
    pg.locator("#run-btn").click()
    wait_for_job(pg, "#job-panel")

    # the result: both stored runs, linked, and a link to compare them
    result = pg.locator("#job-result")
    run_links = result.locator("a[href^='#/runs/']")
    links_runs = run_links.count()  # checked at the end: the flow goes on through the runs page
    compare = result.locator("a[href^='#/compare?']")
    assert compare.count() == 1, f"no link to compare the two modes in the result: {result.inner_text()!r}"
    compare.click()
    figs = wait_for_figures(pg, expected=4)  # shortfall by region and by sector, A and B
    assert len(figs) == 4 and {s["key"] for s in figs} == {"shortfall-region", "shortfall-sector"}
    assert not undrawn(figs), "\n".join(undrawn(figs))
    assert pg.locator("#compare-difference tbody tr").count() > 0
    page.log.assert_clean()
    pg.screenshot(path=str(tmp_path / "compare.png"), full_page=True)

    # the runs page lists both; open the market run
    pg.locator("#nav a[data-route='runs']").click()
    rows = pg.locator("#runs-table tbody tr", has_text=SCENARIO)
    rows.first.wait_for()
    assert rows.count() == 2
    market = pg.locator("#runs-table tbody tr", has_text="market").locator("a[href^='#/runs/']")
    run_id = market.inner_text()
    market.click()
    wait_for_job(pg, "#report-job")
    pg.locator("#report [data-figure]").first.wait_for()
    expected = sum(
        len(s["figures"]) for s in page.context.request.get(f"{dashboard}/api/runs/{run_id}/report").json()["sections"]
    )
    states = wait_for_figures(pg, expected=expected)
    assert len(states) == expected >= 10
    assert not undrawn(states), "\n".join(undrawn(states))
    keys = {s["key"] for s in states}
    assert {"sankey-Dy", "share-map", "shortfall-region", "stocks", "prices", "hindcast"} <= keys
    assert pg.locator("#download-report").is_enabled()
    page.log.assert_clean()
    shot = tmp_path / "run.png"
    pg.screenshot(path=str(shot))
    assert png_ok(shot, least_bytes=50_000)
    assert links_runs == 2, "the run's result names its two stored runs but does not link them (#job-result a)"


def test_a_page_left_before_its_data_arrives_draws_nothing_into_the_next(dashboard: str, page: BrowserPage) -> None:
    """Leave the overview while its data is still on the way (held here), open the runs page, then
    let the overview's data arrive: the runs page must stay the runs page (no overview figure drawn
    into it)."""
    pg = page.page
    held: list[Any] = []

    def hold(route: Any) -> None:
        held.append(route)

    pg.route("**/api/overview", hold)  # runs before the offline guard: hold the response
    pg.goto(dashboard + "/#/overview")
    pg.wait_for_function("() => true")  # the page's script ran
    deadline = time.monotonic() + 30
    while not held and time.monotonic() < deadline:
        pg.wait_for_timeout(50)
    assert held, "the overview never asked for /api/overview"
    pg.locator("#nav a[data-route='runs']").click()
    pg.locator("#runs-table table, #runs-table .muted").first.wait_for()
    with pg.expect_response(lambda r: r.url.endswith("/api/overview")) as response:
        held[0].continue_()
    assert response.value.ok
    pg.wait_for_timeout(1000)  # time enough to draw, were it going to
    assert pg.locator("#nav a.active").get_attribute("data-route") == "runs"
    assert pg.locator("#view [data-figure]").count() == 0, "the overview drew its figures into the runs page"
    assert pg.locator("#view h1").all_inner_texts() == ["Stored runs"]
    page.log.assert_clean()
