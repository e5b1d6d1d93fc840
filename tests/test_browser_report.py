"""The report in a real browser (Debian's chromium through Playwright, offline): every figure of
the self-contained page draws, with no console error, page error or request to another host.
(The page's content and numbers: tests/test_report.py. The helpers: tests/browser.py.)"""

from __future__ import annotations

from pathlib import Path

import plotly.graph_objects as go
import plotly.io as pio
import pytest

import critmin
from browser import BrowserPage, figure_states, png_ok, require_chromium, undrawn, wait_for_figures
from critmin import jobs
from critmin.report import ReportContent, report_content, write_report

pytest_plugins = ["browser"]


def test_harness_draws_an_inline_plotly_page_offline(page: BrowserPage, tmp_path: Path) -> None:
    """The harness itself: a page with plotly.js inlined draws its figure from a file:// URL with
    no network, and the log stays empty."""
    fig = go.Figure(go.Bar(x=["a", "b", "c"], y=[1, 3, 2]))
    html = pio.to_html(fig, include_plotlyjs=True, full_html=True, div_id="fig-bar")
    html = html.replace('id="fig-bar"', 'id="fig-bar" data-figure="bar"')
    path = tmp_path / "one.html"
    path.write_text(html, encoding="utf-8")
    page.page.goto(path.as_uri())
    states = wait_for_figures(page.page, expected=1)
    assert [s["key"] for s in states] == ["bar"]
    assert not undrawn(states), undrawn(states)
    assert page.page.locator(".js-plotly-plot .main-svg").count() >= 1
    assert page.page.locator(".barlayer .point").count() == 3
    page.log.assert_clean()
    shot = tmp_path / "one.png"
    page.page.screenshot(path=str(shot))
    assert png_ok(shot, least_bytes=5_000)


def test_harness_blocks_and_records_other_hosts(page: BrowserPage, tmp_path: Path) -> None:
    """A page that asks another host for a script gets nothing, and the log says so."""
    path = tmp_path / "leak.html"
    path.write_text('<!DOCTYPE html><html><head><script src="https://cdn.example.org/x.js"></script></head>'
                    "<body><p>hi</p></body></html>", encoding="utf-8")  # fmt: skip
    page.page.goto(path.as_uri())
    assert page.log.outside_requests == ["https://cdn.example.org/x.js"]
    assert any("cdn.example.org" in p for p in page.log.problems())
    assert figure_states(page.page) == []


@pytest.fixture(scope="module")
def flagship(built_store: critmin.Store, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ReportContent]:
    """The flagship report (the April 2025 licensing scenario: with the hindcast section), written
    by the library as the CLI writes it."""
    require_chromium()  # before the work, when the tests will skip anyway
    content = report_content("apr2025-heavy-ree", jobs.load_chain(built_store), built_store)
    path = write_report(tmp_path_factory.mktemp("report") / "apr2025-heavy-ree.html", lambda: content)
    return path, content


def test_every_figure_of_the_flagship_report_draws_offline(
    flagship: tuple[Path, ReportContent], page: BrowserPage, tmp_path: Path
) -> None:
    path, content = flagship
    keys = [f.key for f in content.figures()]
    assert {"sankey-Dy", "share-map", "hindcast"} <= set(keys)  # a Sankey, a map, the hindcast
    page.page.goto(path.as_uri())
    states = wait_for_figures(page.page, expected=len(keys))
    assert [s["key"] for s in states] == keys  # one drawn div per figure, in the content's order
    assert not undrawn(states), "\n".join(undrawn(states))
    by_key = {s["key"]: s for s in states}
    assert by_key["sankey-Dy"]["sankey"] and by_key["share-map"]["land"]
    assert page.page.locator("section#hindcast [data-figure='hindcast'] .main-svg").count() > 0
    page.log.assert_clean()
    shot = tmp_path / "report.png"
    page.page.screenshot(path=str(shot), full_page=True)
    assert png_ok(shot, least_bytes=200_000)


def test_the_map_redraws_another_material_offline(flagship: tuple[Path, ReportContent], page: BrowserPage) -> None:
    """The map's dropdown (one entry per material and stage) redraws the map from the inlined
    geometry: interaction works offline too."""
    path, _ = flagship
    page.page.goto(path.as_uri())
    wait_for_figures(page.page)
    fig = page.page.locator("[data-figure='share-map']")
    before = fig.evaluate("el => el.data.findIndex(t => t.visible === true)")
    fig.locator(".updatemenu-header").first.click()
    buttons = fig.locator(".updatemenu-dropdown-button")
    assert buttons.count() > 1
    buttons.nth(1).click()  # the next entry (the long list scrolls inside the menu: the last ones sit clipped)
    page.page.wait_for_function(
        "([k, i]) => document.querySelector(`[data-figure='${k}']`).data.findIndex(t => t.visible === true) !== i",
        arg=["share-map", before],
    )
    state = next(s for s in figure_states(page.page) if s["key"] == "share-map")
    assert state["land"] and state["marks"] > 0, state
    page.log.assert_clean()


def test_a_report_with_nothing_short_draws_cleanly(
    built_store: critmin.Store, page: BrowserPage, tmp_path: Path
) -> None:
    """A scenario the market absorbs (no shortfall, no stockpile drawn): its empty figures still
    draw without a console error, and each says why it is empty instead of showing bare axes."""
    require_chromium()
    content = report_content("lynas-malaysia-outage-6m", jobs.load_chain(built_store), built_store)
    path = write_report(tmp_path / "lynas.html", lambda: content)
    page.page.goto(path.as_uri())
    states = wait_for_figures(page.page, expected=len(content.figures()))
    assert [s["key"] for s in states] == [f.key for f in content.figures()]
    assert not undrawn(states), "\n".join(undrawn(states))
    page.log.assert_clean()
