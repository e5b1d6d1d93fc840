"""Test sandbox for the whole run (tests and doctests).

No test may touch the user's real database or data folder: the default store path
(``$CRITMIN_DB``) and the user data directory point into a private temporary folder, set when
pytest starts, before any critmin code asks for them. Doctests that open the default store
(``critmin.open_store()``) therefore share one sandbox database, built on first use.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

SANDBOX = Path(tempfile.mkdtemp(prefix="critmin-tests-"))
os.environ["CRITMIN_DB"] = str(SANDBOX / "default.duckdb")
os.environ["XDG_DATA_HOME"] = str(SANDBOX / "xdg-data")
os.environ.pop("CRITMIN_LOCK_TIMEOUT", None)


def pytest_configure(config) -> None:
    """Compile the compiled engine (or load it from numba's disk cache) once, here, before the
    xdist workers start: each of them would otherwise compile it at the same time."""
    if hasattr(config, "workerinput"):  # an xdist worker: the controller has done it
        return
    from critmin.engine.month_loop import warm_up

    warm_up()
