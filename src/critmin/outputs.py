"""Files critmin writes for a user, all or nothing.

* :func:`atomic_write` (and :func:`atomic_write_text`) writes one file: checked first (not a
  folder, not a database, a folder we may write in), written under a hidden temporary name in the
  same folder and moved into place with ``os.replace`` only when complete.
* :class:`OutputDir` does the same for a folder of result files: the place is checked *before* any
  computing, the files are staged in a hidden folder on the same file system (inside the target
  when it exists, so a mount point or a symlink to another disk works) and moved into place only on
  :meth:`OutputDir.commit`. Files already in an existing target folder that the job does not write
  are left alone.

A failure or a ``kill -9`` before the move leaves the target as it was. Hidden temporaries are
named ``.NAME.partial-<pid>-*``; a later write to the same place removes those whose process is
gone, never one still being written. New files and folders get the usual permissions (the process
umask), not the private ones of temporary files.

Example
-------
>>> import tempfile, pathlib
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> with OutputDir(root / "res") as out:
...     _ = out.file("summary.csv").write_text("a,b\\n1,2\\n")
...     _ = out.commit()
>>> sorted(p.name for p in (root / "res").iterdir())
['summary.csv']
>>> OutputDir(root / "res" / "summary.csv")
Traceback (most recent call last):
...
critmin.errors.UserError: ...summary.csv: exists and is not a folder; give a folder for the results
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType

from critmin.errors import UserError

_PARTIAL = ".partial-"
#: DuckDB's file header carries these bytes at offset 8
_DUCKDB_MAGIC = b"DUCK"
_UMASK_LOCK = threading.Lock()


def _mode(base: int) -> int:
    """``base`` (0o666 for files, 0o777 for folders) less the process umask."""
    with _UMASK_LOCK:
        umask = os.umask(0o022)
        os.umask(umask)
    return base & ~umask


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _prefix(name: str) -> str:
    return f".{name}{_PARTIAL}{os.getpid()}-"


_OWNER = re.compile(re.escape(_PARTIAL) + r"(\d+)-")


def remove_stale(folder: Path, name: str = "*") -> None:
    """Remove the hidden temporaries of ``name`` (default: of any file) in ``folder`` left by
    processes that are gone; those of a live process are kept."""
    with contextlib.suppress(OSError):
        for p in folder.glob(f".{name}{_PARTIAL}*"):
            owner = _OWNER.search(p.name)
            if owner and not _alive(int(owner.group(1))):
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    with contextlib.suppress(OSError):
                        p.unlink()


def is_database_file(path: str | Path) -> bool:
    """Whether ``path`` is a DuckDB database file (by its header)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
    except OSError:
        return False
    return head[8:12] == _DUCKDB_MAGIC


def check_file_target(path: str | Path, protect: Iterable[str | Path] = ()) -> Path:
    """``path`` if critmin may write a result file there, else a :class:`UserError`: an empty
    path, a folder, a database (one of ``protect``, its write-ahead log, or any DuckDB file), or a
    place whose nearest existing folder we may not write in. Nothing is created."""
    if not str(path).strip():
        raise UserError("an empty output path: give a file name")
    p = Path(path)
    if p.is_dir():
        raise UserError(f"{p}: is a folder; give a file name")
    resolved = p.resolve()
    for db in protect:
        if resolved in (Path(db).resolve(), Path(f"{db}.wal").resolve()):
            raise UserError(f"{p}: is the database itself; give another file name")
    if p.exists() and is_database_file(p):
        raise UserError(f"{p}: is a DuckDB database; critmin does not overwrite one with results")
    _writable_folder(p.parent, p)
    return p


def _writable_folder(folder: Path, target: Path) -> None:
    existing = next((q for q in (folder, *folder.parents) if q.exists()), Path("/"))
    if not existing.is_dir():
        raise UserError(f"{target}: {existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"{target}: cannot write in {existing} (no permission)")
    try:  # permissions are not the whole story (root in /proc, a read-only mount): try it
        os.rmdir(tempfile.mkdtemp(prefix=_prefix("critmin-probe"), dir=existing))
    except OSError as exc:
        raise UserError(f"{target}: cannot write in {existing} ({exc.strerror or exc})") from None


def atomic_write(path: str | Path, write: Callable[[Path], object], protect: Iterable[str | Path] = ()) -> Path:
    """Write one file all or nothing: ``write(tmp)`` fills a hidden temporary in the same folder,
    which then replaces ``path``. A :class:`UserError` if the place is wrong (see
    :func:`check_file_target`) or the system refuses; nothing is left under ``path`` or beside it."""
    p = check_file_target(path, protect)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        remove_stale(p.parent, p.name)
        fd, name = tempfile.mkstemp(prefix=_prefix(p.name), dir=p.parent)
        os.close(fd)
    except OSError as exc:
        raise UserError(f"{p}: cannot write there ({exc.strerror or exc})") from None
    tmp = Path(name)
    try:
        write(tmp)
        os.chmod(tmp, _mode(0o666))
        os.replace(tmp, p)
    except OSError as exc:
        raise UserError(f"{p}: cannot write there ({exc.strerror or exc})") from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    return p


def atomic_write_text(path: str | Path, text: str, protect: Iterable[str | Path] = ()) -> Path:
    """:func:`atomic_write` of UTF-8 text."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), protect)


class OutputDir:
    """A folder of result files, staged and moved into place on :meth:`commit`."""

    def __init__(self, path: str | Path) -> None:
        if not str(path).strip():
            raise UserError("an empty output folder: give a folder for the results")
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise UserError(f"{self.path}: exists and is not a folder; give a folder for the results")
        # stage inside the target when it exists (same file system, even for a mount point or a
        # symlink to another disk), else next to it, where it will be created
        base = self.path if self.path.is_dir() else self.path.parent
        self._created: list[Path] = []
        self._done = False
        try:
            _writable_folder(base, self.path)
            missing = [p for p in (base, *base.parents) if not p.exists()]
            for p in reversed(missing):
                p.mkdir()
                self._created.append(p)
            remove_stale(base, self.path.name)
            self.staging = Path(tempfile.mkdtemp(prefix=_prefix(self.path.name), dir=base))
        except OSError as exc:
            self._remove_created()
            raise UserError(f"{self.path}: cannot write results there ({exc.strerror or exc})") from None
        except UserError:
            self._remove_created()
            raise

    def file(self, relative: str | Path) -> Path:
        """Where to write ``relative`` (inside the staging folder; parents are created)."""
        target = self.staging / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def commit(self) -> list[Path]:
        """Move every staged file into the target folder; returns the final paths."""
        if not self.staging.is_dir():
            raise UserError(f"{self.path}: the staged results vanished before they could be moved into place")
        staged = sorted(p for p in self.staging.rglob("*") if p.is_file())
        final = [self.path / p.relative_to(self.staging) for p in staged]
        try:
            if not self.path.exists():
                os.chmod(self.staging, _mode(0o777))
                os.rename(self.staging, self.path)
            else:
                for src, dst in zip(staged, final, strict=True):
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(src, dst)
                shutil.rmtree(self.staging, ignore_errors=True)
        except OSError as exc:
            raise UserError(f"{self.path}: could not move the results into place ({exc.strerror or exc})") from None
        self._done = True
        return final

    def abort(self) -> None:
        """Drop the staged files (the target is left as it was)."""
        shutil.rmtree(self.staging, ignore_errors=True)
        if not self._done:
            self._remove_created()

    def _remove_created(self) -> None:
        for p in reversed(self._created):
            with contextlib.suppress(OSError):
                p.rmdir()

    def __enter__(self) -> OutputDir:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self._done:
            self.abort()
