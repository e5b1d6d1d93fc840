"""The embedded DuckDB store: build, list, import, export, provenance.

DuckDB allows one writing process per file, and no reader while a writer holds
it. critmin opens the file only for the duration of one operation, read-only
where it only reads, and retries while another process holds the lock, saying
so once on stderr. After ``CRITMIN_LOCK_TIMEOUT`` seconds (default 120) it gives
up with :class:`~critmin.errors.StoreBusyError`. Every write is one transaction:
an import with a bad row writes nothing.

Example
-------
>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "demo.duckdb")
>>> store = Store(path)
>>> store.build()["production"] > 0
True
>>> store.base_year()
2024
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import platformdirs

from critmin import __version__
from critmin.dataset import BASE_YEAR, build_tables, load_parameters
from critmin.errors import DataValidationError, RowProblem, StoreBusyError, UserError
from critmin.schema import IMPORTABLE, RUN_TABLES, TABLES, Table, create_table_sql, table
from critmin.validate import validate_frame


def default_db_path() -> Path:
    """``$CRITMIN_DB`` if set, else ``critmin.duckdb`` in the user data directory."""
    env = os.environ.get("CRITMIN_DB")
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir("critmin", appauthor=False)) / "critmin.duckdb"


def _is_lock_error(exc: Exception) -> bool:
    text = str(exc).lower()
    return "lock" in text or "conflicting" in text or "being used by another process" in text


def _notice(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class Store:
    """One DuckDB database file."""

    def __init__(
        self,
        path: str | Path | None = None,
        lock_timeout_s: float | None = None,
        notify: Callable[[str], None] = _notice,
    ) -> None:
        self.path = Path(path) if path is not None else default_db_path()
        env_timeout = os.environ.get("CRITMIN_LOCK_TIMEOUT")
        self.lock_timeout_s = lock_timeout_s if lock_timeout_s is not None else float(env_timeout or 120.0)
        self._notify = notify

    # -- connections -----------------------------------------------------
    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """Open the file, waiting (with one notice) while another process holds it."""
        if read_only and not self.path.exists():
            raise UserError(f"no database at {self.path}; run `critmin data build` first")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.lock_timeout_s
        told = False
        delay = 0.05
        while True:
            try:
                con = duckdb.connect(str(self.path), read_only=read_only)
                break
            except (duckdb.IOException, duckdb.ConnectionException) as exc:
                if not _is_lock_error(exc):
                    raise UserError(f"cannot open database {self.path}: {exc}") from exc
                if time.monotonic() > deadline:
                    raise StoreBusyError(
                        f"database {self.path} is locked by another process; gave up after "
                        f"{self.lock_timeout_s:g} s (set CRITMIN_LOCK_TIMEOUT to wait longer)"
                    ) from exc
                if not told:
                    self._notify(f"waiting: database {self.path} is in use by another critmin process")
                    told = True
                time.sleep(delay)
                delay = min(delay * 1.5, 0.5)
        try:
            yield con
        finally:
            con.close()

    def exists(self) -> bool:
        return self.path.exists()

    # -- build -----------------------------------------------------------
    def build(self, overrides_dir: str | Path | None = None) -> dict[str, int]:
        """(Re)build every table from the shipped data, plus optional user overrides.

        ``overrides_dir`` may hold ``<table>.csv`` files; each is validated and
        upserted (rows with the same key replace shipped rows). A
        ``parameters.csv`` there is applied before derivation, so derived tables
        follow the overridden assumptions. Deterministic: building twice gives
        the same database.
        """
        overrides = _read_overrides(Path(overrides_dir)) if overrides_dir else {}
        params = load_parameters()
        if "parameters" in overrides:
            params = _upsert_frame(params, overrides.pop("parameters"), TABLES["parameters"])
        tables = build_tables(params)
        for name, frame in overrides.items():
            tables[name] = _upsert_frame(tables[name], frame, TABLES[name])
        clean: dict[str, pd.DataFrame] = {}
        for name, frame in tables.items():
            t = TABLES[name]
            typed, problems = validate_frame(frame.astype(object).where(frame.notna(), ""), t)
            if problems:
                raise DataValidationError(f"built table {name}", problems)
            clean[name] = typed.sort_values(list(t.key)).reset_index(drop=True)
        fingerprint = hashlib.sha256()
        for name in sorted(clean):
            fingerprint.update(clean[name].to_csv(index=False).encode())
        meta = pd.DataFrame(
            {
                "key": ["base_year", "critmin_version", "data_sha256"],
                "value": [str(BASE_YEAR), __version__, fingerprint.hexdigest()],
            }
        )
        clean["meta"] = meta
        with self.connect() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                for name, frame in clean.items():
                    t = TABLES[name]
                    con.execute(f'DROP TABLE IF EXISTS "{name}"')
                    con.execute(create_table_sql(t))
                    _insert(con, t, frame)
                con.execute("COMMIT")
            except Exception:
                con.execute("ROLLBACK")
                raise
        return {name: len(frame) for name, frame in clean.items()}

    def ensure_built(self) -> None:
        """Build the database from the shipped data if the file does not exist yet."""
        if not self.exists():
            self._notify(f"building database {self.path} from the shipped data (first use)")
            self.build()

    # -- reading ---------------------------------------------------------
    def read(self, name: str) -> pd.DataFrame:
        """Whole table as a DataFrame (column order as in the schema)."""
        t = table(name)
        with self.connect(read_only=True) as con:
            cols = ", ".join(f'"{c}"' for c in t.column_names)
            return con.execute(f'SELECT {cols} FROM "{name}" ORDER BY ALL').df()

    def read_many(self, names: list[str]) -> dict[str, pd.DataFrame]:
        """Several tables in one read-only session (consistent snapshot)."""
        out = {}
        with self.connect(read_only=True) as con:
            for name in names:
                t = table(name)
                cols = ", ".join(f'"{c}"' for c in t.column_names)
                out[name] = con.execute(f'SELECT {cols} FROM "{name}" ORDER BY ALL').df()
        return out

    def base_year(self) -> int:
        with self.connect(read_only=True) as con:
            row = con.execute("SELECT value FROM meta WHERE key = 'base_year'").fetchone()
        if row is None:
            raise UserError(f"database {self.path} has no base year; rebuild it with `critmin data build`")
        return int(row[0])

    def list_tables(self) -> pd.DataFrame:
        """Tables with row counts (and the base year in ``meta``)."""
        rows = []
        with self.connect(read_only=True) as con:
            present = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
            for name, t in TABLES.items():
                n = con.execute(f'SELECT count(*) FROM "{name}"').fetchone() if name in present else None
                rows.append(
                    {
                        "table": name,
                        "rows": int(n[0]) if n else 0,
                        "description": t.description.split(".")[0],
                    }
                )
        return pd.DataFrame(rows)

    def sources(self, confidence: str | None = None) -> pd.DataFrame:
        """Where numbers come from: (table, source, confidence, rows), most rows first."""
        parts = []
        with self.connect(read_only=True) as con:
            for name, t in TABLES.items():
                if not t.provenance:
                    continue
                parts.append(
                    con.execute(
                        f"SELECT '{name}' AS \"table\", source, confidence, count(*) AS rows "
                        f'FROM "{name}" GROUP BY source, confidence'
                    ).df()
                )
        df = pd.concat(parts, ignore_index=True)
        if confidence is not None:
            df = df[df.confidence == confidence]
        return df.sort_values(["rows", "table", "source"], ascending=[False, True, True]).reset_index(drop=True)

    # -- writing ---------------------------------------------------------
    def import_frame(self, name: str, raw: pd.DataFrame, origin: str, first_line: int = 2) -> int:
        """Validate and upsert rows into ``name`` in one transaction; all or nothing."""
        if name not in IMPORTABLE:
            raise UserError(f"table {name!r} cannot be imported into (valid: {', '.join(IMPORTABLE)})")
        t = table(name)
        typed, problems = validate_frame(raw, t, first_line=first_line)
        if problems:
            raise DataValidationError(origin, problems)
        if not self.exists():
            raise UserError(f"no database at {self.path}; run `critmin data build` first")
        with self.connect() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                con.register("_incoming", typed)
                keys = " AND ".join(f't."{k}" = i."{k}"' for k in t.key)
                con.execute(f'DELETE FROM "{name}" t WHERE EXISTS (SELECT 1 FROM _incoming i WHERE {keys})')
                _insert(con, t, typed)
                con.unregister("_incoming")
                if name == "production":
                    _check_one_unit(con, typed, origin, first_line)
                con.execute("COMMIT")
            except Exception:
                con.execute("ROLLBACK")
                raise
        return len(typed)

    def write_run(self, run_id: str, frames: dict[str, pd.DataFrame]) -> None:
        """Store one run's rows (``{run table: frame}``) in one transaction, replacing any rows
        already stored under ``run_id``. Run tables are declared in :mod:`critmin.schema`
        (``kind="run"``) and kept across rebuilds."""
        if not self.exists():
            raise UserError(f"no database at {self.path}; run `critmin data build` first")
        with self.connect() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                for name in RUN_TABLES:
                    con.execute(create_table_sql(TABLES[name], if_not_exists=True))
                for name, frame in frames.items():
                    t = table(name)
                    if t.kind != "run":
                        raise ValueError(f"{name} is not a run table")
                    con.execute(f'DELETE FROM "{name}" WHERE run_id = ?', [run_id])
                    _insert(con, t, frame)
                con.execute("COMMIT")
            except Exception:
                con.execute("ROLLBACK")
                raise

    def read_runs(self, name: str = "runs") -> pd.DataFrame:
        """A run table (empty, with the schema's columns, where no run was stored yet)."""
        t = table(name)
        with self.connect(read_only=True) as con:
            present = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
            if name not in present:
                return pd.DataFrame(columns=list(t.column_names))
            cols = ", ".join(f'"{c}"' for c in t.column_names)
            return con.execute(f'SELECT {cols} FROM "{name}"').df()

    def import_csv(self, name: str, path: str | Path) -> int:
        """Import a tidy CSV whose columns match the table's schema."""
        raw = read_csv_strict(path)
        return self.import_frame(name, raw, str(path))

    def export(self, name: str, fmt: str, out: str | Path) -> int:
        """Write a table to CSV or Parquet; returns the row count."""
        df = self.read(name)
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "csv":
            df.to_csv(out, index=False)
        elif fmt == "parquet":
            df.to_parquet(out, index=False)
        else:
            raise UserError(f"unknown format {fmt!r} (valid: csv, parquet)")
        return len(df)


def read_csv_strict(path: str | Path) -> pd.DataFrame:
    """Read a CSV with every cell as text (no silent NaN or type guessing)."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"{p}: file not found")
    try:
        return pd.read_csv(p, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except UnicodeDecodeError:
        return pd.read_csv(p, dtype=str, keep_default_na=False, encoding="cp1252")
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise UserError(f"{p}: not a readable CSV: {str(exc).strip()}") from exc


def _insert(con: duckdb.DuckDBPyConnection, t: Table, frame: pd.DataFrame) -> None:
    cols = list(t.column_names)
    data = frame.reindex(columns=cols)
    con.register("_rows", data)
    quoted = ", ".join(f'"{c}"' for c in cols)
    con.execute(f'INSERT INTO "{t.name}" ({quoted}) SELECT {quoted} FROM _rows')
    con.unregister("_rows")


def _check_one_unit(con: duckdb.DuckDBPyConnection, typed: pd.DataFrame, origin: str, first_line: int) -> None:
    """After an upsert into production: one unit and basis per (material, stage, year), or raise."""
    mixed = con.execute(
        "SELECT material, stage, year, string_agg(DISTINCT unit || ' ' || basis, ', ') AS units FROM production "
        "GROUP BY material, stage, year HAVING count(DISTINCT unit) > 1 OR count(DISTINCT basis) > 1"
    ).df()
    if mixed.empty:
        return
    problems = []
    bad = {(r.material, r.stage, int(r.year)): r.units for r in mixed.itertuples()}
    for i, r in enumerate(typed.itertuples()):
        units = bad.get((r.material, r.stage, int(r.year)))
        if units is not None:
            reason = f"mixes units/bases ({units}) in {r.material} / {r.stage} / {r.year}"
            hint = "use the unit and basis already stored for that material, stage and year"
            problems.append(RowProblem(first_line + i, "unit", f"{r.unit} {r.basis}", reason, hint))
    raise DataValidationError(origin, problems)


def _upsert_frame(base: pd.DataFrame, new: pd.DataFrame, t: Table) -> pd.DataFrame:
    key = list(t.key)
    base_idx = base.set_index(key).index
    new_idx = new.set_index(key).index
    kept = base[~base_idx.isin(new_idx)]
    return pd.concat([kept, new.reindex(columns=base.columns)], ignore_index=True)


def _read_overrides(folder: Path) -> dict[str, pd.DataFrame]:
    if not folder.is_dir():
        raise UserError(f"{folder}: overrides folder not found")
    out: dict[str, Any] = {}
    problems_all = []
    for f in sorted(folder.glob("*.csv")):
        name = f.stem
        t = table(name)
        if name not in IMPORTABLE:
            raise UserError(f"{f}: table {name!r} cannot be overridden (valid: {', '.join(IMPORTABLE)})")
        raw = read_csv_strict(f)
        typed, problems = validate_frame(raw, t)
        if problems:
            problems_all.append(DataValidationError(str(f), problems))
        out[name] = typed
    if problems_all:
        raise problems_all[0]
    return out
