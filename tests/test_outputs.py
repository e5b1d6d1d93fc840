"""Result files: all or nothing, never over a database, never deleting another job's work, with
the usual permissions."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from critmin.errors import UserError
from critmin.outputs import OutputDir, atomic_write_text, check_file_target


def test_a_second_job_on_the_same_place_leaves_the_first_ones_files(tmp_path):
    target = tmp_path / "res"
    first = OutputDir(target)
    first.file("market/summary.csv").write_text("a\n", encoding="utf-8")
    second = OutputDir(target)  # starts while the first is still staging
    second.file("coordinated/summary.csv").write_text("b\n", encoding="utf-8")
    assert sorted(p.relative_to(target).as_posix() for p in first.commit()) == ["market/summary.csv"]
    assert sorted(p.relative_to(target).as_posix() for p in second.commit()) == ["coordinated/summary.csv"]
    assert (target / "market" / "summary.csv").read_text() == "a\n"
    assert not [p for p in target.iterdir() if p.name.startswith(".")]


def test_temporaries_of_dead_processes_are_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    stale_dir = tmp_path / f".res.partial-{pid}-abc"
    stale_dir.mkdir()
    stale_file = tmp_path / f".x.csv.partial-{pid}-def"
    stale_file.write_text("half", encoding="utf-8")
    live = tmp_path / f".res.partial-{os.getpid()}-ghi"  # this process: still being written
    live.mkdir()
    OutputDir(tmp_path / "res").abort()
    atomic_write_text(tmp_path / "x.csv", "whole\n")
    assert not stale_dir.exists() and not stale_file.exists() and live.exists()


def test_a_vanished_staging_folder_is_an_error_not_a_silent_partial_result(tmp_path):
    import shutil

    out = OutputDir(tmp_path / "res")
    out.file("a.csv").write_text("1\n", encoding="utf-8")
    shutil.rmtree(out.staging)
    with pytest.raises(UserError, match="vanished"):
        out.commit()


def test_new_files_and_folders_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        with OutputDir(tmp_path / "res") as out:
            out.file("a.csv").write_text("1\n", encoding="utf-8")
            out.commit()
        atomic_write_text(tmp_path / "fig.html", "<html></html>")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "res").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "fig.html").stat().st_mode) == 0o644


def test_an_existing_target_is_staged_inside_it(tmp_path):
    """A target folder that is a symlink (or a mount point) is written through, on its own disk."""
    real = tmp_path / "elsewhere"
    real.mkdir()
    (real / "keep.txt").write_text("mine", encoding="utf-8")
    link = tmp_path / "results"
    link.symlink_to(real)
    out = OutputDir(link)
    assert out.staging.parent == link  # staged on the target's own file system
    out.file("summary.csv").write_text("1\n", encoding="utf-8")
    out.commit()
    assert sorted(p.name for p in real.iterdir()) == ["keep.txt", "summary.csv"]


def test_results_never_overwrite_a_database(tmp_path, built_store):
    db = tmp_path / "copy.duckdb"
    db.write_bytes(built_store.path.read_bytes())
    before = db.read_bytes()
    for target in (db, Path(f"{db}.wal")):
        with pytest.raises(UserError, match="database"):
            atomic_write_text(target, "<html>", protect=[db])
    with pytest.raises(UserError, match="DuckDB database"):
        check_file_target(db)  # any DuckDB file, protected or not
    assert db.read_bytes() == before


@pytest.mark.parametrize("place", ["", " "])
def test_empty_places_are_refused(place):
    with pytest.raises(UserError, match="empty"):
        OutputDir(place)
    with pytest.raises(UserError, match="empty"):
        atomic_write_text(place, "x")


def test_a_place_that_cannot_be_written_fails_before_anything_is_created(tmp_path):
    with pytest.raises(UserError, match="cannot write"):
        atomic_write_text("/proc/critmin-x.csv", "x")
    with pytest.raises(UserError):
        OutputDir("/proc/critmin-res/sub")
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    with pytest.raises(UserError, match="not a folder"):
        atomic_write_text(blocker / "sub" / "fig.html", "x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]
