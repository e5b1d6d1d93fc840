"""Result files written all or nothing.

:class:`OutputDir` checks the output place *before* any computing (an existing file, a folder
that cannot be created or written is a :class:`~critmin.errors.UserError` at once), collects the
files in a hidden staging folder next to the target, and moves them into place only when
:meth:`OutputDir.commit` is called. A failure or a ``kill -9`` before that leaves the target as it
was (at worst a hidden ``.NAME.partial-*`` folder, which the next write to the same place
removes). Files already in an existing target folder that the job does not write are left alone.

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
import shutil
import tempfile
from pathlib import Path
from types import TracebackType

from critmin.errors import UserError

_PARTIAL = ".partial-"


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and ``os.replace``."""
    p = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}{_PARTIAL}", dir=p.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class OutputDir:
    """A folder of result files, staged and moved into place on :meth:`commit`."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise UserError(f"{self.path}: exists and is not a folder; give a folder for the results")
        parent = self.path.parent
        self._created: list[Path] = []
        try:
            missing = [p for p in (parent, *parent.parents) if not p.exists()]
            for p in reversed(missing):
                p.mkdir()
                self._created.append(p)
            for stale in parent.glob(f".{self.path.name}{_PARTIAL}*"):
                shutil.rmtree(stale, ignore_errors=True)
            self.staging = Path(tempfile.mkdtemp(prefix=f".{self.path.name}{_PARTIAL}", dir=parent))
        except OSError as exc:
            self._remove_created()
            raise UserError(f"{self.path}: cannot write results there ({exc.strerror or exc})") from None
        self._done = False

    def file(self, relative: str | Path) -> Path:
        """Where to write ``relative`` (inside the staging folder; parents are created)."""
        target = self.staging / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def commit(self) -> list[Path]:
        """Move every staged file into the target folder; returns the final paths."""
        staged = sorted(p for p in self.staging.rglob("*") if p.is_file())
        final = [self.path / p.relative_to(self.staging) for p in staged]
        try:
            if not self.path.exists():
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
