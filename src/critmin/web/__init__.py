"""The web dashboard (``critmin serve``): a JSON API and a single page over the library, served
by one FastAPI app with no external assets (plotly.js comes from the installed ``plotly``
package, the world map's geometry from :mod:`critmin.report`).

Modules: :mod:`~critmin.web.app` (the app factory and the page's files), :mod:`~critmin.web.api`
(the ``/api`` endpoints), :mod:`~critmin.web.runner` (background jobs with progress),
:mod:`~critmin.web.reports` (report contents computed once per run), :mod:`~critmin.web.compare`
(two stored runs side by side), :mod:`~critmin.web.scenarios` (scenarios from a client: a
built-in's name or TOML text), :mod:`~critmin.web.documents` (JSON of figures and tables),
:mod:`~critmin.web.store` (the store shared by the server's threads), :mod:`~critmin.web.security`
and :mod:`~critmin.web.errors`, :mod:`~critmin.web.server` (``serve``).

Security model
--------------
* The server listens on 127.0.0.1 by default and answers only to loopback host names (a web page
  elsewhere cannot reach it by rebinding its own name to 127.0.0.1). Any other address needs a
  token of at least 16 characters in ``CRITMIN_TOKEN``, else ``critmin serve`` refuses to start
  (one line, exit code 2).
* With a token, every ``/api`` request needs ``Authorization: Bearer <token>`` (compared in
  constant time); the page and its static files load without it. The page asks for the token
  once, when the API first answers 401, and keeps it in ``sessionStorage`` (gone when the tab
  closes); opening ``http://host:port/#token=...`` once stores it the same way and removes it
  from the address bar (``/?token=...`` works too, but a query string reaches the server's
  access log; a fragment never leaves the browser). The HTML report download goes through the same header (fetched, then
  saved from memory).
* Requests that change something must send JSON (``Content-Type: application/json``) and, when
  the browser says where they come from, come from the dashboard's own origin.
* Request bodies are limited to 256 KiB (413), by ``Content-Length`` and by the bytes received.
* A scenario from a client is a built-in's name (checked against the shipped names, read from
  the package) or TOML text parsed as data; never a path on the server.
* Errors are ``{"error": "<one line>"}`` with their status (400, 401, 403, 404, 409, 413, 415,
  422, 500, 503), never a traceback.
* Every response carries a Content-Security-Policy that allows no script, style, font or
  connection from anywhere but the server (no inline script either), ``X-Content-Type-Options:
  nosniff``, ``X-Frame-Options: DENY`` and ``Referrer-Policy: no-referrer``.

Concurrency
-----------
Runs started here go to the same DuckDB store as the CLI's. Jobs run on background threads; each
opens the store for one read or one write at a time (the store's locks serialise the writers of
all processes), and no connection is held between requests, so ``critmin`` commands run while
the dashboard serves.
"""

from __future__ import annotations

from critmin.web.app import create_app
from critmin.web.security import check_bind, is_loopback
from critmin.web.server import serve

__all__ = ["check_bind", "create_app", "is_loopback", "serve"]
