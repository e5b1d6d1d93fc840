"""``critmin serve``: check where the dashboard may listen, build the app, run it with uvicorn."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from critmin.errors import UserError
from critmin.web.security import LOOPBACK_HOSTS, TOKEN_ENV, check_bind, is_loopback

#: the defaults of ``critmin serve``
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8050


def check_port(port: int) -> None:
    """Refuse a port outside 1..65535 (:class:`~critmin.errors.UserError`)."""
    if not 0 < port < 65536:
        raise UserError(f"serve: --port must be between 1 and 65535 (got {port})")


def serve(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    db: str | Path | None = None,
    token: str | None = None,
    log_level: str = "info",
) -> None:
    """Serve the dashboard on ``host:port`` until interrupted.

    ``token`` defaults to ``$CRITMIN_TOKEN``. A host beyond loopback needs one (else
    :class:`~critmin.errors.UserError`, before anything starts); with one, every API request must
    send it. The store (``db``, default as the CLI's) is checked, and built on first use, before
    the server listens.
    """
    import uvicorn

    from critmin.web.app import create_app

    token = token if token is not None else (os.environ.get(TOKEN_ENV) or None)
    check_bind(host, token)
    check_port(port)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    app = create_app(db, token, allowed_hosts=None if not is_loopback(host) else _loopback_names(host))
    shown = f"[{host}]" if ":" in host else host
    print(
        f"critmin dashboard on http://{shown}:{port}/"
        + (f" (API token required: {TOKEN_ENV})" if token else "")
        + "; Ctrl+C stops it",
        file=sys.stderr,
        flush=True,
    )
    uvicorn.run(app, host=host, port=port, log_level=log_level, server_header=False, date_header=False)


def _loopback_names(host: str) -> tuple[str, ...]:
    """The host names a server bound to loopback ``host`` answers to."""
    name = host.strip("[]").lower()
    return LOOPBACK_HOSTS if name in LOOPBACK_HOSTS else (*LOOPBACK_HOSTS, name)
