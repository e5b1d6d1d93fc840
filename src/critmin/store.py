"""The embedded DuckDB store: build, list, import, export, provenance.

Layers
------
Every data row (the ``data`` tables of :mod:`critmin.schema`) carries a ``layer``:

* ``shipped``: built by ``critmin data build`` from the files that ship inside the package (the
  data pack, ``assumptions.csv``, ``criticality.csv``) and what critmin derives from them;
* ``overrides``: rows of the ``--overrides DIR/<table>.csv`` files given to the latest build. They
  are a build input: each build applies the overrides given to it (none: none);
* ``import``: rows a user imported (``critmin data import csv`` / ``usgs-mcs``,
  :meth:`Store.import_csv`, :meth:`Store.import_frame`). They are the user layer: a rebuild
  applies them again on top of the shipped data and the overrides, so they survive every
  rebuild until ``build(discard_imports=True)`` (``critmin data build --discard-imports``).

Parameters are applied before derivation: a rebuild derives production, capacity, demand and
inventory with the shipped parameters, then the overriding ones, then the imported ones. An
import of ``parameters`` re-derives at once (the derived tables always follow the parameters
stored; the store notifies which tables were re-derived); imports into other tables replace the
rows with the same key and derive nothing. ``critmin data sources`` shows the layer of every row.

A database built by a critmin that did not record layers cannot tell imported rows from shipped
ones: its rebuild compares its rows with what the build makes and refuses, naming the tables,
when any differ, unless ``discard_imports=True`` (export those rows first to import them again).

Safety
------
DuckDB allows one writing process per file, and no reader while a writer holds it. critmin opens
the file only for the duration of one operation, read-only where it only reads, and retries while
another process holds the lock, saying so once on stderr. After ``CRITMIN_LOCK_TIMEOUT`` seconds
(default 120) it gives up with :class:`~critmin.errors.StoreBusyError`. Every write is one
transaction: an import with a bad row writes nothing.

The first build of a new database file is written to a temporary file in the same folder and moved
into place (``os.replace``) once complete, under a lock file (``PATH.lock``) so that two processes
building the same new path end with one valid database; temporaries left by a killed build are
removed by the next. A killed build therefore leaves either no database or a complete one. A
rebuild of an existing database is one transaction in place: it keeps the run tables (``runs``,
``run_results``, ``run_states``, ``mc_runs``) and the user layer. A file that is not a DuckDB
database is never overwritten. :meth:`Store.ensure_built` (every command that reads) refuses an
empty, incomplete or older-schema database with the command that repairs it (``critmin --db PATH
data build``).

Example
-------
>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "demo.duckdb")
>>> store = Store(path)
>>> store.build()["production"] > 0
True
>>> store.base_year()
2024
>>> sorted(store.layers()["layer"].unique())
['shipped']
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shlex
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path

import duckdb
import pandas as pd
import platformdirs

from critmin import __version__
from critmin.dataset import BASE_YEAR, build_tables, load_parameters
from critmin.errors import RowProblem, StoreBusyError, UnknownNameError, UserError
from critmin.outputs import atomic_write, check_file_target
from critmin.schema import IMPORTABLE, RUN_TABLES, TABLES, Table, create_table_sql, table
from critmin.validate import problems_error, validate_frame

#: tables derived from the parameters (re-derived when parameters are imported)
DERIVED: tuple[str, ...] = ("production", "capacity", "demand", "inventory")
#: the tables every built database has (run tables are created when a run is stored)
BUILT_TABLES: tuple[str, ...] = (*IMPORTABLE, "meta")
_DUCKDB_MAGIC = b"DUCK"  # bytes 8-12 of every DuckDB database file
_DUCKDB_TYPES = {"str": "VARCHAR", "float": "DOUBLE", "int": "BIGINT", "bool": "BOOLEAN"}


def default_db_path() -> Path:
    """``$CRITMIN_DB`` if set, else ``critmin.duckdb`` in the user data directory."""
    env = os.environ.get("CRITMIN_DB")
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir("critmin", appauthor=False)) / "critmin.duckdb"


def repair_command(path: str | Path) -> str:
    """The command that (re)builds the database at ``path``.

    >>> repair_command("/tmp/my db.duckdb")
    "critmin --db '/tmp/my db.duckdb' data build"
    """
    return f"critmin --db {shlex.quote(str(path))} data build"


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
            raise UserError(f"no database at {self.path}; run `{repair_command(self.path)}` first")
        self._check_file()
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

    def _check_file(self) -> None:
        """Refuse a path that is a folder, an empty file or not a DuckDB database (one line each)."""
        p = self.path
        if p.is_dir():
            raise UserError(f"{p}: is a folder, not a database file; pass a file path with --db")
        if p.exists() and not p.is_file():
            raise UserError(f"{p}: is not a regular file (a device or a pipe); pass a database file path with --db")
        try:
            with p.open("rb") as fh:
                head = fh.read(12)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise UserError(f"{p}: cannot read the database file: {exc.strerror or exc}") from None
        if not head:
            raise UserError(
                f"database {p} is empty (0 bytes: an earlier build was interrupted); "
                f"rebuild it with `{repair_command(p)}`"
            )
        if len(head) < 12 or head[8:12] != _DUCKDB_MAGIC:
            raise UserError(
                f"{p} is not a DuckDB database; critmin will not use or overwrite it: move it away or "
                "pass another file with --db"
            )

    # -- integrity -------------------------------------------------------
    def schema_problems(self) -> list[str]:
        """What the database lacks against :mod:`critmin.schema` (tables, columns, column types
        of the built tables); empty when complete. Run tables are created when first written."""
        with self.connect(read_only=True) as con:
            _check_critmin(con, self.path)
            return _schema_problems(con)

    def verify(self) -> None:
        """Raise :class:`UserError` with the repair command if the file is missing, empty, not a
        DuckDB database, or lacks a table or column this critmin needs."""
        if not self.path.exists():
            raise UserError(f"no database at {self.path}; run `{repair_command(self.path)}` first")
        problems = self.schema_problems()
        if problems:
            raise UserError(
                f"database {self.path} lacks {'; '.join(problems)} (built by an older critmin, or its "
                f"build was interrupted); rebuild it with `{repair_command(self.path)}` (stored runs and "
                "imported rows are kept)"
            )

    def ensure_built(self) -> None:
        """Build the database from the shipped data if the file does not exist yet; otherwise check
        that it is complete (:meth:`verify`)."""
        if not self.exists():
            self._notify(f"building database {self.path} from the shipped data (first use)")
            self._build_new({}, if_absent=True)
            return
        self.verify()

    # -- build -----------------------------------------------------------
    def build(self, overrides_dir: str | Path | None = None, discard_imports: bool = False) -> dict[str, int]:
        """(Re)build every data table from the shipped data, the overrides and the user layer.

        ``overrides_dir`` may hold ``<table>.csv`` files (and nothing else but hidden files); each
        is validated and upserted (rows with the same key replace shipped rows) as the
        ``overrides`` layer. A ``parameters.csv`` there is applied before derivation, so derived
        tables follow the overridden assumptions. Rows imported earlier (the ``import`` layer) are
        applied again on top, unless ``discard_imports``. Deterministic: building twice gives the
        same database. Returns the row count of every table written (``meta`` included).
        """
        overrides = _read_overrides(Path(overrides_dir)) if overrides_dir else {}
        if self.path.exists() and self.path.is_file() and self.path.stat().st_size == 0:
            return self._build_new(overrides)  # an interrupted first build: replace it
        if self.path.exists():
            self._check_file()
            return self._rebuild(overrides, discard_imports)
        return self._build_new(overrides)

    def _build_new(self, overrides: dict[str, pd.DataFrame], if_absent: bool = False) -> dict[str, int]:
        """Build a new database file: into a temporary file, moved into place when complete."""
        tables = _compose(overrides, {})
        try:
            return self._write_new(tables, overrides, if_absent)
        except OSError as exc:  # a folder we may not write in, a full disk
            raise UserError(f"cannot write the database {self.path}: {exc.strerror or exc}") from exc

    def _write_new(
        self, tables: dict[str, pd.DataFrame], overrides: dict[str, pd.DataFrame], if_absent: bool
    ) -> dict[str, int]:
        folder = self.path.parent
        folder.mkdir(parents=True, exist_ok=True)
        with _file_lock(Path(f"{self.path}.lock"), self.lock_timeout_s, self._notify):
            if self.path.exists() and self.path.stat().st_size > 0:  # another process built it meanwhile
                if if_absent:
                    self.verify()
                    return {}
                self._check_file()
                return self._rebuild(overrides, discard_imports=False)
            for stale in folder.glob(f".{self.path.name}.build-*"):
                with suppress(OSError):
                    stale.unlink()
            tmp = folder / f".{self.path.name}.build-{os.getpid()}-{secrets.token_hex(4)}.tmp"
            try:
                con = duckdb.connect(str(tmp))
                try:
                    con.execute("BEGIN TRANSACTION")
                    counts = _write_tables(con, tables)
                    con.execute("COMMIT")
                    con.execute("CHECKPOINT")
                finally:
                    con.close()
                if Path(f"{tmp}.wal").exists():
                    raise RuntimeError(f"DuckDB left a write-ahead log next to {tmp} after a checkpoint")
                _fsync(tmp)
                with suppress(FileNotFoundError):  # the log of an interrupted older build at this path
                    Path(f"{self.path}.wal").unlink()
                os.replace(tmp, self.path)
                _fsync_dir(folder)
            finally:
                with suppress(FileNotFoundError):
                    tmp.unlink()
        return counts

    def _rebuild(self, overrides: dict[str, pd.DataFrame], discard_imports: bool) -> dict[str, int]:
        """Rebuild an existing database in one transaction, keeping runs and the user layer."""
        notices: list[str] = []
        with self.connect() as con:
            _check_critmin(con, self.path)
            with _transaction(con):
                user: dict[str, pd.DataFrame] = {}
                legacy: dict[str, pd.DataFrame] = {}
                if discard_imports:
                    dropped = _count_layer(con, "import")
                else:
                    user, legacy = _stored_layer(con, "import")
                    dropped = 0
                tables = _compose(overrides, user)
                if legacy:
                    differ = _legacy_differences(legacy, tables)
                    if differ:
                        what = ", ".join(f"{n} {k:,}" for n, k in differ.items())
                        raise UserError(
                            f"database {self.path} was built by an older critmin that did not mark imported "
                            f"rows, and {sum(differ.values()):,} of its rows differ from what this build makes "
                            f"({what}): rebuild with the same --overrides as before, or export those tables "
                            "(critmin data export TABLE -o FILE), rebuild with --discard-imports and import "
                            "the rows again"
                        )
                counts = _write_tables(con, tables, notices)
        for msg in notices:
            self._notify(msg)
        kept = {n: len(f) for n, f in user.items() if len(f)}
        if kept:
            self._notify(
                f"kept {sum(kept.values()):,} imported row(s) ({', '.join(f'{n} {k:,}' for n, k in kept.items())}) "
                "on top of the shipped data; `critmin data build --discard-imports` drops them"
            )
        if dropped:
            self._notify(f"dropped {dropped:,} imported row(s) (--discard-imports)")
        return counts

    # -- reading ---------------------------------------------------------
    def read(self, name: str) -> pd.DataFrame:
        """Whole table as a DataFrame (column order as in the schema)."""
        return self.read_many([name])[name]

    def read_many(self, names: list[str]) -> dict[str, pd.DataFrame]:
        """Several tables in one read-only session (consistent snapshot)."""
        out = {}
        tables = [table(name) for name in names]
        with self.connect(read_only=True) as con:
            try:
                for t in tables:
                    cols = ", ".join(f'"{c}"' for c in t.column_names)
                    out[t.name] = con.execute(f'SELECT {cols} FROM "{t.name}" ORDER BY ALL').df()
            except (duckdb.CatalogException, duckdb.BinderException):
                self._raise_if_incomplete(con)
                raise
        return out

    def _raise_if_incomplete(self, con: duckdb.DuckDBPyConnection) -> None:
        """After a query failed for a missing table or column: the repair message, if that is why."""
        problems = _schema_problems(con)
        if problems:
            raise UserError(
                f"database {self.path} lacks {'; '.join(problems)}; rebuild it with `{repair_command(self.path)}`"
            ) from None

    def base_year(self) -> int:
        with self.connect(read_only=True) as con:
            try:
                row = con.execute("SELECT value FROM meta WHERE key = 'base_year'").fetchone()
            except duckdb.CatalogException:
                row = None
        if row is None:
            raise UserError(f"database {self.path} has no base year; rebuild it with `{repair_command(self.path)}`")
        return int(row[0])

    def list_tables(self) -> pd.DataFrame:
        """Tables with row counts (and the base year in ``meta``)."""
        rows = []
        with self.connect(read_only=True) as con:
            present = _present_tables(con)
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
        """Where numbers come from: (table, source, confidence, layer, rows), most rows first."""
        parts = []
        with self.connect(read_only=True) as con:
            try:
                for name, t in TABLES.items():
                    if not t.provenance:
                        continue
                    parts.append(
                        con.execute(
                            f"SELECT '{name}' AS \"table\", source, confidence, layer, count(*) AS rows "
                            f'FROM "{name}" GROUP BY source, confidence, layer'
                        ).df()
                    )
            except (duckdb.CatalogException, duckdb.BinderException):
                self._raise_if_incomplete(con)
                raise
        df = pd.concat(parts, ignore_index=True)
        if confidence is not None:
            df = df[df.confidence == confidence]
        return df.sort_values(["rows", "table", "source", "layer"], ascending=[False, True, True, True]).reset_index(
            drop=True
        )

    def layers(self) -> pd.DataFrame:
        """Rows per table and layer (``shipped``, ``overrides``, ``import``): what ``data
        sources`` summarises as the user layer."""
        df = self.sources()
        df = df[df["table"].isin(IMPORTABLE)]
        return (
            df.groupby(["table", "layer"], as_index=False)["rows"]
            .sum()
            .sort_values(["table", "layer"])
            .reset_index(drop=True)
        )

    # -- writing ---------------------------------------------------------
    def import_frame(self, name: str, raw: pd.DataFrame, origin: str, first_line: int = 2) -> int:
        """Validate and upsert rows into ``name`` in one transaction, all or nothing, as the user
        layer (``layer = 'import'``, kept across rebuilds). Rows with the key of a stored row
        replace it. An import of ``parameters`` re-derives the derived tables (production, capacity,
        demand, inventory) at once, in the same transaction, and says so through ``notify``.
        Returns the number of rows imported."""
        if name not in IMPORTABLE:
            raise UserError(f"table {name!r} cannot be imported into (valid: {', '.join(IMPORTABLE)})")
        t = table(name)
        typed, problems = validate_frame(raw, t, first_line=first_line)
        if problems:
            raise problems_error(origin, problems)
        self.verify()
        typed = typed.assign(layer="import")
        moved: list[str] = []
        with self.connect() as con, _transaction(con):
            if name == "parameters":
                user, _ = _stored_layer(con, "import")
                overrides, _ = _stored_layer(con, "overrides")
                user[name] = _upsert_frame(user.get(name, typed.iloc[:0]), typed, t)
                _write_tables(con, _compose(overrides, user), moved)
            else:
                con.register("_incoming", typed)
                keys = " AND ".join(f't."{k}" = i."{k}"' for k in t.key)
                con.execute(f'DELETE FROM "{name}" t WHERE EXISTS (SELECT 1 FROM _incoming i WHERE {keys})')
                _insert(con, t, typed)
                con.unregister("_incoming")
                if name == "production":
                    _check_one_unit(con, typed, origin, first_line)
                _write_meta(con)
        for msg in moved:
            self._notify(msg)
        if name == "parameters":
            self._notify(
                f"re-derived {', '.join(DERIVED)} with the imported parameters (they stay in force across "
                "rebuilds as the user layer)"
            )
        return len(typed)

    def write_run(self, run_id: str, frames: dict[str, pd.DataFrame]) -> None:
        """Store one run's rows (``{run table: frame}``) in one transaction, replacing any rows
        already stored under ``run_id``. Run tables are declared in :mod:`critmin.schema`
        (``kind="run"``) and kept across rebuilds. A run table of another layout (an ``mc_runs``
        written by an older critmin) is renamed ``<table>_legacy`` first, with a notice."""
        if not self.exists():
            raise UserError(f"no database at {self.path}; run `{repair_command(self.path)}` first")
        moved: list[str] = []
        with self.connect() as con, _transaction(con):
            moved = _ensure_run_tables(con)
            for name, frame in frames.items():
                t = table(name)
                if t.kind != "run":
                    raise ValueError(f"{name} is not a run table")
                con.execute(f'DELETE FROM "{name}" WHERE run_id = ?', [run_id])
                _insert(con, t, frame)
        for msg in moved:
            self._notify(msg)

    def delete_runs(self, run_ids: list[str]) -> None:
        """Remove runs from every run table in one transaction (undoes a job that failed after
        storing them)."""
        if not run_ids or not self.exists():
            return
        with self.connect() as con:
            present = _present_tables(con)
            with _transaction(con):
                for name in RUN_TABLES:
                    if name in present:
                        con.execute(f'DELETE FROM "{name}" WHERE run_id IN (SELECT unnest(?))', [run_ids])

    def read_runs(self, name: str = "runs") -> pd.DataFrame:
        """A run table (empty, with the schema's columns, where no run was stored yet). A table of
        an older layout gives the columns it has, the others empty."""
        t = table(name)
        with self.connect(read_only=True) as con:
            have = _table_columns(con).get(name)
            if have is None:
                return pd.DataFrame(columns=list(t.column_names))
            cols = [c for c in t.column_names if c in have]
            df = con.execute(f'SELECT {", ".join(_q(c) for c in cols)} FROM "{name}"').df()
        return df.reindex(columns=list(t.column_names))

    def import_csv(self, name: str, path: str | Path) -> int:
        """Import a tidy CSV whose columns match the table's schema (:meth:`import_frame`)."""
        table(name)
        raw = read_csv_strict(path)
        return self.import_frame(name, raw, str(path))

    def export(self, name: str, fmt: str, out: str | Path) -> int:
        """Write a table to CSV or Parquet (complete or not at all); returns the row count."""
        if fmt not in ("csv", "parquet"):
            raise UserError(f"unknown format {fmt!r} (valid: csv, parquet)")
        check_file_target(out, protect=[self.path])
        df = self.read(name)
        if fmt == "csv":
            atomic_write(out, lambda tmp: df.to_csv(tmp, index=False), protect=[self.path])
        else:
            atomic_write(out, lambda tmp: df.to_parquet(tmp, index=False), protect=[self.path])
        return len(df)


# --------------------------------------------------------------------------- reading files


def read_csv_strict(path: str | Path) -> pd.DataFrame:
    """Read a CSV with every cell as text (no silent NaN or type guessing).

    UTF-8 (with or without a byte-order mark) or Windows-1252 text; a missing file, a folder, an
    unreadable, binary or undecodable file is a one-line :class:`UserError` naming it.
    """
    p = Path(path)
    if not p.exists():
        raise UserError(f"{p}: file not found")
    if p.is_dir():
        raise UserError(f"{p}: is a folder, not a CSV file")
    try:
        with p.open("rb") as fh:
            head = fh.read(65536)
    except OSError as exc:
        raise UserError(f"{p}: cannot read the file: {exc.strerror or exc}") from None
    if b"\x00" in head:
        raise UserError(f"{p}: a binary file, not a CSV (text) file")
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return pd.read_csv(p, dtype=str, keep_default_na=False, encoding=encoding)
        except UnicodeDecodeError:
            continue
        except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
            raise UserError(f"{p}: not a readable CSV: {str(exc).strip().splitlines()[0]}") from None
        except OSError as exc:
            raise UserError(f"{p}: cannot read the file: {exc.strerror or exc}") from None
    raise UserError(f"{p}: not UTF-8 or Windows-1252 text (a binary file?); save the CSV as UTF-8")


def _read_overrides(folder: Path) -> dict[str, pd.DataFrame]:
    """Validated ``<table>.csv`` files of an overrides folder (hidden files ignored)."""
    if not folder.exists():
        raise UserError(f"{folder}: overrides folder not found")
    if not folder.is_dir():
        raise UserError(f"{folder}: not a folder (--overrides takes a folder of <table>.csv files)")
    try:
        entries = sorted(folder.iterdir())
    except OSError as exc:
        raise UserError(f"{folder}: cannot read the overrides folder: {exc.strerror or exc}") from None
    out: dict[str, pd.DataFrame] = {}
    for f in entries:
        if f.name.startswith("."):
            continue
        if f.suffix.lower() != ".csv" or f.is_dir():
            raise UserError(
                f"{f}: not a <table>.csv file; an overrides folder holds only CSV files named after the "
                f"tables ({', '.join(IMPORTABLE)})"
            )
        name = f.stem
        if name not in TABLES:
            hint = UnknownNameError("table", name, IMPORTABLE)
            raise UserError(f"{f}: {hint}")
        if name not in IMPORTABLE:
            raise UserError(f"{f}: table {name!r} cannot be overridden (valid: {', '.join(IMPORTABLE)})")
        raw = read_csv_strict(f)
        typed, problems = validate_frame(raw, table(name))
        if problems:
            raise problems_error(str(f), problems)
        out[name] = typed.assign(layer="overrides")
    return out


# --------------------------------------------------------------------------- composing the tables


def _upsert_frame(base: pd.DataFrame, new: pd.DataFrame, t: Table) -> pd.DataFrame:
    """``base`` with the rows of ``new`` (same key replaces)."""
    key = list(t.key)
    if base.empty:
        return new.reset_index(drop=True)
    base_idx = pd.MultiIndex.from_frame(base[key].astype(str))
    new_idx = pd.MultiIndex.from_frame(new[key].astype(str))
    kept = base[~base_idx.isin(new_idx)]
    return pd.concat([kept, new.reindex(columns=base.columns)], ignore_index=True)


def _compose(overrides: Mapping[str, pd.DataFrame], user: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Every data table: shipped, then ``overrides``, then ``user`` (both ``{table: validated rows}``
    with their ``layer``); parameters before derivation. Validated, sorted by key."""
    params = load_parameters().assign(layer="shipped")
    for layer in (overrides, user):
        if "parameters" in layer:
            params = _upsert_frame(params, layer["parameters"], TABLES["parameters"])
    clean: dict[str, pd.DataFrame] = {}
    for name, frame in build_tables(params).items():
        t = TABLES[name]
        typed, problems = validate_frame(frame, t)
        if problems:
            origin = f"built table {name}"
            if name == "parameters" and any(name in layer for layer in (overrides, user)):
                origin += " (with the override and imported rows)"
            raise problems_error(origin, problems)
        typed["layer"] = frame["layer"].to_numpy() if "layer" in frame.columns else "shipped"
        clean[name] = typed
    for layer in (overrides, user):
        for name, frame in layer.items():
            if name != "parameters":
                clean[name] = _upsert_frame(clean[name], frame, TABLES[name])
    for name, frame in clean.items():
        clean[name] = frame.sort_values(list(TABLES[name].key)).reset_index(drop=True)
    mixed = _mixed_units(clean["production"])
    if mixed:
        raise UserError(
            f"production mixes units/bases in {mixed} once the override and imported rows are applied; "
            "use one unit and basis per material, stage and year (`critmin data build --discard-imports` "
            "drops imported rows)"
        )
    return clean


def _mixed_units(prod: pd.DataFrame) -> str:
    """The first ``material / stage / year (units)`` with more than one unit or basis, or ''."""
    if prod.empty:
        return ""
    n = prod.groupby(["material", "stage", "year"])[["unit", "basis"]].nunique()
    bad = n[(n["unit"] > 1) | (n["basis"] > 1)]
    if bad.empty:
        return ""
    m, s, y = bad.index[0]
    rows = prod[(prod["material"] == m) & (prod["stage"] == s) & (prod["year"] == y)]
    units = ", ".join(sorted(set(rows["unit"] + " " + rows["basis"])))
    return f"{m} / {s} / {y} ({units})"


def _write_tables(
    con: duckdb.DuckDBPyConnection, tables: Mapping[str, pd.DataFrame], notices: list[str] | None = None
) -> dict[str, int]:
    """Replace every data table and ``meta``, and create the run tables that are missing (stored
    runs are kept; an older layout is moved aside, with a notice appended to ``notices``). The
    caller holds the transaction."""
    counts = {}
    for name, frame in tables.items():
        t = TABLES[name]
        con.execute(f'DROP TABLE IF EXISTS "{name}"')
        con.execute(create_table_sql(t))
        _insert(con, t, frame)
        counts[name] = len(frame)
    counts["meta"] = _write_meta(con)
    moved = _ensure_run_tables(con)
    if notices is not None:
        notices.extend(moved)
    return counts


def _fingerprint(con: duckdb.DuckDBPyConnection) -> str:
    """SHA-256 of every data table's rows (in key order), as stored."""
    h = hashlib.sha256()
    for name in sorted(IMPORTABLE):
        t = TABLES[name]
        cols = ", ".join(f'"{c}"' for c in t.column_names)
        keys = ", ".join(f'"{k}"' for k in t.key)
        h.update(name.encode())
        h.update(con.execute(f'SELECT {cols} FROM "{name}" ORDER BY {keys}').df().to_csv(index=False).encode())
    return h.hexdigest()


def _write_meta(con: duckdb.DuckDBPyConnection) -> int:
    meta = pd.DataFrame(
        {
            "key": ["base_year", "critmin_version", "data_sha256"],
            "value": [str(BASE_YEAR), __version__, _fingerprint(con)],
        }
    )
    con.execute('DROP TABLE IF EXISTS "meta"')
    con.execute(create_table_sql(TABLES["meta"]))
    _insert(con, TABLES["meta"], meta)
    return len(meta)


def _count_layer(con: duckdb.DuckDBPyConnection, layer: str) -> int:
    """Rows of ``layer`` in the data tables that have a layer column."""
    have = _table_columns(con)
    n = 0
    for name in IMPORTABLE:
        if "layer" in have.get(name, {}):
            row = con.execute(f'SELECT count(*) FROM "{name}" WHERE layer = ?', [layer]).fetchone()
            n += int(row[0]) if row else 0
    return n


@contextmanager
def _transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """One transaction: committed if the block completes, rolled back on any exception."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def _present_tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}


def _table_columns(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, str]]:
    """{table: {column: DuckDB type}} of the database."""
    out: dict[str, dict[str, str]] = {}
    rows = con.execute("SELECT table_name, column_name, data_type FROM information_schema.columns").fetchall()
    for t, c, ty in rows:
        out.setdefault(str(t), {})[str(c)] = str(ty)
    return out


def _check_critmin(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Refuse a DuckDB database that is not critmin's: one with tables but no ``meta`` table naming
    a critmin version (another tool's file). critmin never builds into, repairs or reads one. An
    empty database (no tables: an interrupted old build) is critmin's to build."""
    present = _present_tables(con)
    if not present:
        return
    version = None
    if "meta" in present:
        with suppress(duckdb.Error):
            row = con.execute("SELECT value FROM meta WHERE key = 'critmin_version'").fetchone()
            version = row[0] if row else None
    if version is None:
        raise UserError(
            f"{path} is a DuckDB database but not critmin's (no critmin build record among its tables "
            f"{', '.join(sorted(present)[:5])}{', ...' if len(present) > 5 else ''}); critmin will not use or "
            "change it: pass another file with --db"
        )


def _schema_problems(con: duckdb.DuckDBPyConnection) -> list[str]:
    have = _table_columns(con)
    missing_tables = [n for n in BUILT_TABLES if n not in have]
    out = []
    if missing_tables:
        out.append(f"table(s) {', '.join(missing_tables)}")
    bad_cols: dict[str, list[str]] = {}
    for name in BUILT_TABLES:
        if name not in have:
            continue
        for c in TABLES[name].all_columns:
            ty = have[name].get(c.name)
            if ty is None or ty != _DUCKDB_TYPES[c.dtype]:
                bad_cols.setdefault(c.name, []).append(name)
    if bad_cols:
        out.append("column(s) " + ", ".join(f"{c} (in {', '.join(ts)})" for c, ts in bad_cols.items()))
    return out


def _stored_layer(
    con: duckdb.DuckDBPyConnection, layer: str
) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """({table: rows of ``layer``}, {table: all rows of a table without a layer column (older
    critmin)}) of the database open on ``con``."""
    have = _table_columns(con)
    out: dict[str, pd.DataFrame] = {}
    legacy: dict[str, pd.DataFrame] = {}
    for name in IMPORTABLE:
        cols_have = have.get(name)
        if cols_have is None:
            continue
        t = TABLES[name]
        if "layer" not in cols_have:
            cols = [c for c in t.column_names if c in cols_have]
            legacy[name] = con.execute(f'SELECT {", ".join(_q(c) for c in cols)} FROM "{name}"').df()
            continue
        if any(c not in cols_have for c in t.column_names):
            continue  # an incomplete table: nothing can be kept
        select = ", ".join(_q(c) for c in t.column_names)
        df = con.execute(f'SELECT {select} FROM "{name}" WHERE layer = ?', [layer]).df()
        if len(df):
            typed, problems = validate_frame(df, t)
            if problems:
                raise problems_error(
                    f"{name} rows of the {layer} layer (no longer valid; `critmin data build --discard-imports` "
                    "drops imported rows)",
                    problems,
                )
            out[name] = typed.assign(layer=layer)
    return out, legacy


def _q(name: str) -> str:
    return f'"{name}"'


def _canonical_rows(frame: pd.DataFrame, cols: list[str]) -> set[tuple[str, ...]]:
    """Rows as tuples of text (floats by repr, absent as ''), for comparing frames of any dtypes."""
    parts = []
    for c in cols:
        s = frame[c]
        if pd.api.types.is_float_dtype(s):
            vals = ["" if v != v else repr(float(v)) for v in s.to_numpy(dtype=float)]
        elif pd.api.types.is_integer_dtype(s):
            vals = ["" if pd.isna(v) else str(int(v)) for v in s]
        else:
            vals = ["" if v is None or v is pd.NA or (isinstance(v, float) and v != v) else str(v) for v in s]
        parts.append(vals)
    return set(zip(*parts, strict=True)) if parts else set()


def _legacy_differences(legacy: Mapping[str, pd.DataFrame], fresh: Mapping[str, pd.DataFrame]) -> dict[str, int]:
    """Rows of an older critmin's tables (keys are unique) that the fresh build does not have,
    counted by table."""
    out = {}
    for name, old in legacy.items():
        if not len(old):
            continue
        new = fresh[name]
        cols = [c for c in old.columns if c in new.columns and c != "layer"]
        n = len(_canonical_rows(old, cols) - _canonical_rows(new, cols))
        if n:
            out[name] = n
    return out


def _ensure_run_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Create the run tables; a run table of another layout is renamed ``<name>_legacy`` (or
    ``_legacy2``, ...) first. Returns one notice per table moved."""
    have = _table_columns(con)
    notices = []
    for name in RUN_TABLES:
        t = TABLES[name]
        cols = have.get(name)
        if cols is not None and (
            set(cols) != set(t.column_names) or any(cols[c.name] != _DUCKDB_TYPES[c.dtype] for c in t.all_columns)
        ):
            new = f"{name}_legacy"
            k = 2
            while new in have:
                new = f"{name}_legacy{k}"
                k += 1
            n = con.execute(f'SELECT count(*) FROM "{name}"').fetchone()
            con.execute(f'ALTER TABLE "{name}" RENAME TO "{new}"')
            have[new] = cols
            notices.append(
                f"moved the {name} table of an older critmin ({int(n[0]) if n else 0} rows, other columns) aside "
                f"to {new}; new {name} rows go to a fresh {name} table"
            )
        con.execute(create_table_sql(t, if_not_exists=True))
    return notices


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
    raise problems_error(origin, problems)


# --------------------------------------------------------------------------- files


@contextmanager
def _file_lock(path: Path, timeout_s: float, notify: Callable[[str], None]) -> Iterator[None]:
    """An exclusive lock on ``path`` (created), released on exit and by the OS if the process dies.
    The lock file is removed on release; a waiter that then holds a removed file tries again."""
    deadline = time.monotonic() + timeout_s
    told = False
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            got = _try_lock(fd)
            if got:
                try:
                    same = os.stat(path).st_ino == os.fstat(fd).st_ino
                except FileNotFoundError:
                    same = False
                if same:
                    break
                _unlock(fd)
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
        if time.monotonic() > deadline:
            raise StoreBusyError(
                f"another critmin process is building {path.with_suffix('')}; gave up after {timeout_s:g} s "
                "(set CRITMIN_LOCK_TIMEOUT to wait longer)"
            )
        if not told:
            notify(f"waiting: another critmin process is building the database ({path})")
            told = True
        time.sleep(0.1)
    try:
        yield
    finally:
        if sys.platform != "win32":
            with suppress(OSError):
                path.unlink()
        _unlock(fd)
        os.close(fd)


def _try_lock(fd: int) -> bool:
    if sys.platform == "win32":
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _unlock(fd: int) -> None:
    if sys.platform == "win32":
        import msvcrt

        with suppress(OSError):
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        return
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_UN)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    if sys.platform == "win32":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


__all__ = ["DERIVED", "Store", "default_db_path", "read_csv_strict", "repair_command"]
