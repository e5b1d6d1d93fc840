"""What keeps the dashboard to its user: where it may listen, who may call its API, how much a
request may send, and the headers every response carries.

* :func:`check_bind`: a loopback address needs nothing; any other address needs a token of at
  least :data:`MIN_TOKEN_LENGTH` characters (``CRITMIN_TOKEN``), else the server refuses to start.
* :class:`Guard` (ASGI middleware, outermost): security headers on every response; the
  ``Host`` header checked against the allowed names (loopback names when bound to loopback: a
  page on another site cannot reach the API by rebinding its name to 127.0.0.1); with a token,
  every ``/api`` request needs ``Authorization: Bearer <token>`` (compared in constant time);
  a request that changes something must send JSON from the dashboard's own origin; a body over
  :data:`MAX_BODY_BYTES` is refused with 413, whether its ``Content-Length`` says so or its
  streamed bytes do.

Every refusal is a JSON body ``{"error": "<one line>"}`` with its status.

>>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("::1"), is_loopback("0.0.0.0")
(True, True, True, False)
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from critmin.errors import UserError

#: the most bytes a request body may hold (a scenario's TOML is a few KiB)
MAX_BODY_BYTES = 256 * 1024
#: the shortest token accepted for listening beyond loopback
MIN_TOKEN_LENGTH = 16
#: the environment variable that holds the token
TOKEN_ENV = "CRITMIN_TOKEN"
#: the host names a loopback-bound dashboard answers to (any port)
LOOPBACK_HOSTS: tuple[str, ...] = ("127.0.0.1", "localhost", "::1")
#: no script, style, frame or connection from anywhere but the dashboard itself
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "font-src 'self'; connect-src 'self'; frame-ancestors 'none'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'"
)
#: headers on every response
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
)
_CHANGES = frozenset({"POST", "PUT", "PATCH", "DELETE"})

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) only reaches this machine."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse (:class:`UserError`) to listen on ``host`` beyond loopback without a token of at
    least :data:`MIN_TOKEN_LENGTH` characters.

    >>> check_bind("127.0.0.1", None)
    >>> check_bind("0.0.0.0", None)
    Traceback (most recent call last):
    ...
    critmin.errors.UserError: serve: --host 0.0.0.0 is reachable from other machines: set CRITMIN_TOKEN to a \
secret of at least 16 characters first (every API request must then send it), or keep the default 127.0.0.1
    """
    if is_loopback(host):
        return
    if not token:
        raise UserError(
            f"serve: --host {host} is reachable from other machines: set {TOKEN_ENV} to a secret of at least "
            f"{MIN_TOKEN_LENGTH} characters first (every API request must then send it), or keep the default "
            "127.0.0.1"
        )
    if len(token) < MIN_TOKEN_LENGTH:
        raise UserError(
            f"serve: {TOKEN_ENV} is {len(token)} characters long; listening on {host} needs at least "
            f"{MIN_TOKEN_LENGTH} (e.g. python -c 'import secrets; print(secrets.token_urlsafe(24))')"
        )


def token_matches(header: str | None, token: str) -> bool:
    """Whether an ``Authorization`` header carries ``Bearer <token>`` (constant-time compare)."""
    if not header:
        return False
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode("utf-8"), token.encode("utf-8"))


def host_name(host_header: str) -> str:
    """The name of a ``Host`` header without its port.

    >>> host_name("127.0.0.1:8050"), host_name("[::1]:8050"), host_name("LocalHost")
    ('127.0.0.1', '::1', 'localhost')
    """
    h = host_header.strip().lower()
    if h.startswith("["):
        return h[1:].split("]", 1)[0]
    return h.rsplit(":", 1)[0] if h.count(":") == 1 else h


def error_response_parts(status: int, message: str) -> tuple[dict[str, Any], bytes]:
    """The ASGI start message and body of a JSON error."""
    body = json.dumps({"error": message}).encode("utf-8")
    start = {
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
    }
    return start, body


class Guard:
    """ASGI middleware: security headers, host check, token, same-origin JSON writes, body size.

    Parameters
    ----------
    app
        The application it guards.
    token
        The token every ``/api`` request must send (``None``: none needed).
    allowed_hosts
        Host names the server answers to (``None``: any; for a server bound beyond loopback, where
        the token guards it).
    max_body
        The most bytes a request body may hold.
    """

    def __init__(
        self,
        app: ASGIApp,
        token: str | None = None,
        allowed_hosts: Iterable[str] | None = LOOPBACK_HOSTS,
        max_body: int = MAX_BODY_BYTES,
    ) -> None:
        self.app = app
        self.token = token or None
        self.allowed = None if allowed_hosts is None else frozenset(h.lower().strip("[]") for h in allowed_hosts)
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in _HEADER_NAMES]
                headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS]
                if scope["path"].startswith("/api"):
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        refusal = self._refusal(scope)
        if refusal is not None:
            await self._refuse(send_with_headers, *refusal)
            return
        if scope["method"] in _CHANGES or _has_body(scope):
            body, too_big = await _read_body(receive, self.max_body)
            if too_big:
                await self._refuse(send_with_headers, 413, f"request body over {self.max_body:,} bytes")
                return
            receive = _replay(body, receive)
        await self.app(scope, receive, send_with_headers)

    def _refusal(self, scope: Scope) -> tuple[int, str] | None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = headers.get("host", "")
        if self.allowed is not None and host_name(host) not in self.allowed:
            return 400, f"unexpected Host header {host[:80]!r}: open the dashboard at http://127.0.0.1:<port>/"
        length = headers.get("content-length")
        if length is not None:
            if not length.strip().isdigit():
                return 400, "Content-Length is not a number"
            if int(length) > self.max_body:
                return 413, f"request body over {self.max_body:,} bytes"
        if not scope["path"].startswith("/api"):
            return None
        if self.token is not None and not token_matches(headers.get("authorization"), self.token):
            what = "missing" if "authorization" not in headers else "wrong"
            return 401, f"{what} token: send the header 'Authorization: Bearer <CRITMIN_TOKEN>'"
        if scope["method"] in _CHANGES:
            origin = headers.get("origin")
            if origin is not None and origin != "null" and urlsplit(origin).netloc.lower() != host.lower():
                return 403, f"cross-origin request from {origin[:80]!r} refused"
            if origin == "null":
                return 403, "request from an opaque origin refused"
            ctype = headers.get("content-type", "").split(";")[0].strip().lower()
            has_body = headers.get("content-length", "0").strip() != "0" or "transfer-encoding" in headers
            if has_body and ctype != "application/json":
                return 415, "send the request body as JSON (Content-Type: application/json)"
        return None

    @staticmethod
    async def _refuse(send: Send, status: int, message: str) -> None:
        start, body = error_response_parts(status, message)
        if status == 401:
            start["headers"].append((b"www-authenticate", b"Bearer"))
        await send(start)
        await send({"type": "http.response.body", "body": body})


_HEADER_NAMES = frozenset(k.encode() for k, _ in SECURITY_HEADERS)


def _has_body(scope: Scope) -> bool:
    names = {k.lower() for k, _ in scope.get("headers", [])}
    return b"content-length" in names or b"transfer-encoding" in names


async def _read_body(receive: Receive, limit: int) -> tuple[bytes, bool]:
    """The whole request body, or (what was read, True) once it passes ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return b"", True
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks), False


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the body already read, then waits on the real one (disconnects)."""
    sent = False

    async def again() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again
