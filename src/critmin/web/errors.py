"""Errors as the API says them: ``{"error": "<one line>"}`` with a status, never a traceback.

A user's mistake (:class:`~critmin.errors.UserError`) is a 400 with its message (a store held by
another process past the lock timeout: 503); a missing thing a 404; a body that does not fit the
endpoint's fields a 422 naming the first field; anything else a 500 that names the error's type
and message on one line, as the CLI does, its traceback going to the server's log only.

>>> one_line("a\\n  b\\tc")
'a b c'
>>> validation_message([{"loc": ("body", "draws"), "msg": "Input should be greater than 0"}])
'draws: Input should be greater than 0'
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from critmin.errors import StoreBusyError, UserError
from critmin.web.security import ASGIApp, Message, Receive, Scope, Send, error_response_parts

log = logging.getLogger("critmin.web")

#: the longest message the API sends
MAX_MESSAGE = 600


def one_line(text: object, limit: int = MAX_MESSAGE) -> str:
    """``text`` on one line (runs of white space as one space), cut to ``limit`` characters."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def internal_message(exc: BaseException) -> str:
    """What the API says of an error that is not the user's (as the CLI says it): its type and
    message on one line; the traceback goes to the server's log only."""
    return one_line(f"internal error: {type(exc).__name__}: {exc} (the server's log has the traceback)")


def user_status(exc: UserError) -> int:
    """The status of a user's mistake."""
    return 503 if isinstance(exc, StoreBusyError) else 400


def validation_message(errors: Sequence[Mapping[str, Any]]) -> str:
    """The first of pydantic's errors as one line: the field path and what is wrong."""
    if not errors:
        return "invalid request"
    first = errors[0]
    if first.get("type") == "json_invalid":
        at = [p for p in first.get("loc", ()) if isinstance(p, int)]
        why = (first.get("ctx") or {}).get("error", "")
        return one_line(f"the request body is not valid JSON{f' at character {at[0]}' if at else ''}"
                        f"{f': {why}' if why else ''}")  # fmt: skip
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
    where = ".".join(loc) or "body"
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return one_line(f"{where}: {first.get('msg', 'invalid')}{more}")


def error(status: int, message: str, **extra: Any) -> JSONResponse:
    """A JSON error response."""
    return JSONResponse({"error": one_line(message), **extra}, status_code=status)


def install_handlers(app: FastAPI) -> None:
    """Turn every error an endpoint raises into a JSON error."""

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"not found: {request.url.path}"
        elif exc.status_code == 405:
            detail = f"method {request.method} not allowed on {request.url.path}"
        return error(exc.status_code, detail)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error(422, validation_message(exc.errors()))

    async def on_user(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, UserError)
        details = getattr(exc, "details", None)  # a scenario's problems with their lines
        return error(user_status(exc), str(exc), **({"errors": details} if details else {}))

    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(UserError, on_user)


class CatchAll:
    """ASGI middleware: an exception no handler took becomes a 500 JSON error (logged with its
    traceback), so that no response ever carries one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            if scope["type"] != "http":
                raise
            log.exception("internal error on %s %s", scope.get("method"), scope.get("path"))
            if started:  # too late for a status: the client sees a cut response
                return
            start, body = error_response_parts(500, internal_message(exc))
            await send(start)
            await send({"type": "http.response.body", "body": body})
