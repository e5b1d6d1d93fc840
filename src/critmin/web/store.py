"""The dashboard's store: the CLI's DuckDB file, opened one operation at a time by one thread of
the server at a time.

Between processes (the dashboard and a ``critmin`` command) DuckDB's file lock serialises access
and :meth:`critmin.store.Store.connect` waits while the other holds it. Within one process DuckDB
refuses a read-only connection while a read-write one is open on the same file (and the reverse)
instead of waiting, so the server's threads (requests and background jobs) take turns through a
lock per file. No connection outlives the operation that opened it: a CLI command waits at most
for one read or one write of the dashboard, never for the dashboard as a whole.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from critmin.store import Store

log = logging.getLogger("critmin.web")

_LOCKS: dict[str, threading.RLock] = {}
_LOCKS_GUARD = threading.Lock()


def _lock_for(path: Path) -> threading.RLock:
    key = str(path.resolve())
    with _LOCKS_GUARD:
        lock = _LOCKS.get(key)
        if lock is None:
            lock = _LOCKS[key] = threading.RLock()
        return lock


class SharedStore(Store):
    """A :class:`~critmin.store.Store` whose connections one thread of this process opens at a
    time (notices go to the server's log)."""

    def __init__(self, path: str | Path | None = None, lock_timeout_s: float | None = None) -> None:
        super().__init__(path, lock_timeout_s=lock_timeout_s, notify=log.info)
        self._lock = _lock_for(self.path)

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._lock, super().connect(read_only) as con:
            yield con


def open_shared_store(path: str | Path | None = None) -> SharedStore:
    """The store at ``path`` (default: ``$CRITMIN_DB`` or the user data folder, as the CLI's),
    built from the shipped data on first use."""
    store = SharedStore(path)
    store.ensure_built()
    return store
