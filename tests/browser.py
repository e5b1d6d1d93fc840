"""Real-browser test helpers: Debian's chromium driven by Playwright, offline.

Test modules load this as a plugin (``pytest_plugins = ["browser"]``) for its fixtures:

* ``browser`` (one per test module): headless chromium, launched with flags that keep it from
  calling home (the test machines have no network, and a chromium left to itself floods refused
  connections);
* ``page`` (one per test): a fresh context and a :class:`Page` whose :class:`PageLog` records
  console errors, uncaught page errors, failed requests and every request to a host other than
  this machine; those outside requests are aborted: offline means offline.

The browser: ``$CRITMIN_CHROMIUM`` else ``/usr/bin/chromium`` (Debian's ``chromium`` package;
Playwright never downloads one here). Without it the browser tests skip, except under CI (``$CI``
set), where they fail: CI must prove the pages render.

The screenshot script (``scripts/screenshots.py``) uses :func:`chromium_path`, :func:`launch`,
:func:`open_page` and :func:`wait_for_figures` too.

Test modules import their helpers before ``pytest_plugins`` registers this module, too late for
pytest to rewrite its asserts, hence: PYTEST_DONT_REWRITE (its checks carry their own messages).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

#: where Debian's ``chromium`` package puts its launcher
DEFAULT_CHROMIUM = "/usr/bin/chromium"
#: the variable that names another chromium binary
CHROMIUM_ENV = "CRITMIN_CHROMIUM"
#: flags for a quiet, offline, headless chromium
LAUNCH_ARGS: tuple[str, ...] = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--no-default-browser-check",
    "--metrics-recording-only",
    "--mute-audio",
)
#: the browser window every test and screenshot uses
VIEWPORT = {"width": 1280, "height": 800}
#: hosts a page may request from (besides ``file:``, ``data:``, ``blob:`` and ``about:`` URLs)
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
LOCAL_SCHEMES = frozenset({"file", "data", "blob", "about"})
INSTALL_HINT = "install Debian's chromium (apt-get install chromium) or set CRITMIN_CHROMIUM to a chromium binary"


def chromium_path() -> str | None:
    """The chromium binary to drive: ``$CRITMIN_CHROMIUM``, else ``/usr/bin/chromium``; None when
    neither is an executable file."""
    name = os.environ.get(CHROMIUM_ENV) or DEFAULT_CHROMIUM
    found = shutil.which(name)
    return found if found and os.path.isfile(found) else None


def require_chromium() -> str:
    """The chromium binary, or the test stops: it fails under CI (``$CI`` set), else it skips."""
    path = chromium_path()
    if path is not None:
        return path
    tried = os.environ.get(CHROMIUM_ENV) or DEFAULT_CHROMIUM
    reason = f"no chromium at {tried}: {INSTALL_HINT}"
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the browser tests: {reason}", pytrace=False)
    pytest.skip(reason)


def is_local(url: str) -> bool:
    """Whether ``url`` stays on this machine (a file, inline data, or a loopback host)."""
    parts = urlsplit(url)
    if parts.scheme in LOCAL_SCHEMES:
        return True
    return (parts.hostname or "").lower() in LOCAL_HOSTS


def launch(playwright: Any, executable: str) -> Any:
    """Headless chromium, offline and quiet."""
    return playwright.chromium.launch(executable_path=executable, headless=True, args=list(LAUNCH_ARGS))


@dataclass
class PageLog:
    """What went wrong on a page while a test drove it."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    outside_requests: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        """Every recorded problem, one line each."""
        return (
            [f"console error: {m}" for m in self.console_errors]
            + [f"page error: {m}" for m in self.page_errors]
            + [f"failed request: {m}" for m in self.failed_requests]
            + [f"request to another host (aborted): {m}" for m in self.outside_requests]
        )

    def assert_clean(self) -> None:
        """Fail with the list of problems, if any."""
        problems = self.problems()
        assert not problems, "the page had problems:\n  " + "\n  ".join(problems)


def open_page(context: Any) -> tuple[Any, PageLog]:
    """A new page of ``context`` whose problems land in the returned :class:`PageLog`, with every
    request to another host aborted (and recorded)."""
    log = PageLog()

    def route(r: Any) -> None:
        url = r.request.url
        if is_local(url):
            r.continue_()
        else:
            log.outside_requests.append(url)
            r.abort("blockedbyclient")

    def on_console(msg: Any) -> None:
        text = f"{msg.type}: {msg.text}"
        log.console.append(text)
        if msg.type == "error":
            loc = msg.location or {}
            where = f" ({loc.get('url', '')}:{loc.get('lineNumber', '')})" if loc.get("url") else ""
            log.console_errors.append(msg.text + where)

    def on_failed(request: Any) -> None:
        if request.url in log.outside_requests:
            return  # aborted by the route above: recorded there
        log.failed_requests.append(f"{request.method} {request.url}: {request.failure}")

    page = context.new_page()
    page.route("**/*", route)
    page.on("console", on_console)
    page.on("pageerror", lambda exc: log.page_errors.append(str(exc)))
    page.on("requestfailed", on_failed)
    return page, log


#: what plotly draws data as (bars, lines, markers, Sankey nodes, map regions, heatmap images, ...)
MARKS = (
    ".barlayer .point, .scatterlayer .trace .js-line, .scatterlayer .point, .sankey .sankey-node, "
    ".choroplethlocation, .scattergeo .point, .heatmaplayer image, .pielayer .slice, .boxlayer .trace, "
    ".violinlayer .trace, .funnellayer .point, .waterfalllayer .point"
)

#: a script that says, per ``[data-figure]`` element, whether plotly drew it and how big it is
_FIGURE_STATE_JS = """
(marks) => Array.from(document.querySelectorAll('[data-figure]')).map(el => {
  const box = el.getBoundingClientRect();
  const visible = (n) => { const b = n.getBoundingClientRect(); return b.width > 0 && b.height > 0; };
  // a flat line is a zero-height box: a mark counts when it has any extent
  const extent = (n) => { const b = n.getBoundingClientRect(); return b.width > 0 || b.height > 0; };
  const drawn = (sel) => Array.from(el.querySelectorAll(sel)).some(visible);
  const types = (el.data || []).map(t => t.type || 'scatter');
  return {
    key: el.getAttribute('data-figure'),
    plotly: el.classList.contains('js-plotly-plot'),
    width: box.width, height: box.height,
    svg: drawn('.main-svg'),
    marks: Array.from(el.querySelectorAll(marks)).filter(extent).length,
    notes: Array.from(el.querySelectorAll('.annotation-text')).filter(visible).map(n => n.textContent),
    sankey: drawn('.sankey'),
    land: drawn('.geo .layer.land'),
    sankeyWanted: types.includes('sankey'),
    geoWanted: types.includes('choropleth') || types.includes('scattergeo'),
    types: Array.from(new Set(types)),
  };
})
"""


def figure_states(page: Any) -> list[dict[str, Any]]:
    """Per ``[data-figure]`` element of the page: key, size, and what plotly drew in it."""
    return list(page.evaluate(_FIGURE_STATE_JS, MARKS))


def wait_for_figures(page: Any, expected: int | None = None, timeout_ms: float = 90_000) -> list[dict[str, Any]]:
    """Wait until every ``[data-figure]`` element (at least ``expected`` of them, if given) has been
    drawn by plotly, then return :func:`figure_states`."""
    least = 1 if expected is None else expected
    page.wait_for_function(
        """(least) => {
          const els = document.querySelectorAll('[data-figure]');
          return els.length >= least && Array.from(els).every(
            el => el.classList.contains('js-plotly-plot') && el.querySelector('.main-svg'));
        }""",
        arg=least,
        timeout=timeout_ms,
    )
    return figure_states(page)


def undrawn(states: list[dict[str, Any]]) -> list[str]:
    """The figures of :func:`figure_states` that plotly did not draw, drew with no size or drew
    no data in (no bar, line, marker, Sankey node, map region, ...), each with why. A map must
    show its land (the world geometry loaded offline), a Sankey its diagram, and a figure with no
    trace at all a note (an annotation) saying why it is empty."""
    bad = []
    for s in states:
        why = []
        if not s["plotly"]:
            why.append("not a plotly plot")
        if not (s["width"] > 0 and s["height"] > 0):
            why.append(f"size {s['width']}x{s['height']}")
        if not s["svg"]:
            why.append("no visible .main-svg")
        if s["sankeyWanted"] and not s["sankey"]:
            why.append("sankey trace but no visible .sankey")
        if s["geoWanted"] and not s["land"]:
            why.append("map trace but no land drawn (world geometry missing?)")
        if not s["types"] and not s["notes"]:
            why.append("no trace, and no note saying why the figure is empty")
        elif s["types"] and s["marks"] == 0:
            why.append(f"no data drawn (traces: {', '.join(s['types'])})")
        if why:
            bad.append(f"{s['key']}: {', '.join(why)}")
    return bad


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless chromium for one test module (skips, or fails under CI, without chromium)."""
    executable = require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = launch(pw, executable)
        try:
            yield b
        finally:
            b.close()


@dataclass
class BrowserPage:
    """A test's page, its problem log and its context."""

    page: Any
    log: PageLog
    context: Any


@pytest.fixture
def page(browser: Any) -> Iterator[BrowserPage]:
    """A fresh context and page (1280x800) recording its problems; closed after the test. Waits
    time out after a minute: an upper bound for a loaded machine, not a pace."""
    context = browser.new_context(viewport=VIEWPORT, service_workers="block")
    context.set_default_timeout(60_000)  # generous: the suite shares two cores with the browser
    try:
        pg, log = open_page(context)
        yield BrowserPage(pg, log, context)
    finally:
        context.close()


# -- a server in a thread ----------------------------------------------------------------------


class ServerThread:
    """An ASGI app served by uvicorn on 127.0.0.1 (a free port) in a background thread; stop it
    with :meth:`stop` (or use it as a context manager)."""

    def __init__(self, app: Any, start_timeout: float = 30.0) -> None:
        import uvicorn

        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="auto", ws="none")
        self.server = uvicorn.Server(config)
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="critmin-test-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + start_timeout
        while not self.server.started:
            if self.error is not None or not self._thread.is_alive():
                self.stop()
                raise RuntimeError(f"the server did not start: {self.error!r}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the server did not start within {start_timeout} s")
            time.sleep(0.02)

    def _run(self) -> None:
        try:
            self.server.run(sockets=[self._sock])
        except BaseException as exc:  # reported by __init__ / stop
            self.error = exc

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the server to exit, wait for its thread, close the socket."""
        self.server.should_exit = True
        self._thread.join(timeout)
        with closing(self._sock):
            pass
        if self._thread.is_alive():
            raise RuntimeError("the server thread did not stop")

    def __enter__(self) -> ServerThread:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def png_ok(path: Path, least_bytes: int = 20_000) -> bool:
    """Whether ``path`` is a PNG file of at least ``least_bytes``."""
    return path.is_file() and path.stat().st_size >= least_bytes and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
