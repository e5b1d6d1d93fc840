"""The dashboard application: the JSON API (:mod:`critmin.web.api`), the single page that uses it
and the files that page loads, all from this server (no other host is ever asked for anything).

:func:`create_app` takes the store's path (the CLI's by default) and the token, if any; the
OpenAPI description is at ``/openapi.json`` (no Swagger page: it would load its scripts from a
CDN).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from functools import cache
from importlib import resources
from pathlib import Path

from fastapi import FastAPI, HTTPException
from fastapi.responses import Response
from starlette.middleware.gzip import GZipMiddleware

from critmin import __version__
from critmin.report import geo_assets_js, plotly_js
from critmin.web.api import Context, api_router
from critmin.web.errors import CatchAll, install_handlers
from critmin.web.runner import JobRunner
from critmin.web.security import LOOPBACK_HOSTS, MAX_BODY_BYTES, Guard
from critmin.web.store import open_shared_store

#: the page's own files (served by name: nothing else under static/ is reachable)
STATIC_FILES: dict[str, str] = {
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
}
_CACHE = "public, max-age=3600"


@cache
def _static_text(name: str) -> str:
    return (resources.files("critmin.web") / "static" / name).read_text(encoding="utf-8")


def _asset(name: str) -> tuple[str, str]:
    """The text and media type of a file the page loads."""
    if name in STATIC_FILES:
        return _static_text(name), STATIC_FILES[name]
    if name == "plotly.min.js":
        return plotly_js(), "text/javascript; charset=utf-8"
    if name == "geo-assets.js":
        return geo_assets_js(), "text/javascript; charset=utf-8"
    raise HTTPException(404, f"no static file {name!r}")


def create_app(
    db_path: str | Path | None = None,
    token: str | None = None,
    *,
    allowed_hosts: Iterable[str] | None = LOOPBACK_HOSTS,
    workers: int = 2,
    max_body: int = MAX_BODY_BYTES,
) -> FastAPI:
    """The dashboard on the store at ``db_path`` (default: ``$CRITMIN_DB`` or the user data
    folder, as the CLI; built from the shipped data on first use).

    Parameters
    ----------
    token
        When given, every ``/api`` request needs ``Authorization: Bearer <token>``.
    allowed_hosts
        Host names the server answers to (default: the loopback names; ``None``: any, for a server
        bound beyond loopback, which :func:`critmin.web.server.serve` allows only with a token).
    workers
        Background job threads.
    max_body
        The most bytes a request body may hold (413 beyond).
    """
    store = open_shared_store(db_path)
    runner = JobRunner(workers)
    ctx = Context(store, runner, token_required=bool(token))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        runner.shutdown()

    app = FastAPI(
        title="critmin dashboard API",
        version=__version__,
        description="critmin's runs, ensembles, reports and criticality as JSON. Errors are "
        '{"error": "<one line>"} with their status; long work is a job polled at GET /api/jobs/{id}.',
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
        lifespan=lifespan,
    )
    app.state.context = ctx
    install_handlers(app)
    app.include_router(api_router(ctx))

    @app.get("/", include_in_schema=False)
    def index() -> Response:
        return Response(_static_text("index.html"), media_type="text/html; charset=utf-8")

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        text, media = _asset(name)
        return Response(text, media_type=media, headers={"cache-control": _CACHE})

    app.add_middleware(CatchAll)
    app.add_middleware(GZipMiddleware, minimum_size=2048, compresslevel=6)
    app.add_middleware(Guard, token=token, allowed_hosts=allowed_hosts, max_body=max_body)
    return app
