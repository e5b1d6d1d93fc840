"""Shared fixtures: one store built from the shipped data per session, and a tiny chain.

The tiny chain (hand-made numbers, hand-computed metrics in tests/test_metrics.py):

* Dy / mine / 2024: CHN 50, MMR 30, AUS 20 t (world 100 t)
* Dy / separation / 2024: CHN 90, MYS 10 t (world 100 t)
* governance (WGI_scaled = (2.5 - mean of six estimates) x 2, latest year per country):
  CHN 2022 all -0.5 -> 6.0 (its 2020 values, all 2.5 -> 0.0, are older and ignored);
  MMR all -1.5 -> 8.0; AUS 1.0, 2.0, 1.5, 1.5, 1.0, 2.0 (mean 1.5) -> 2.0; MYS all 0.5 -> 4.0
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

import critmin
from critmin.chain import WGI_INDICATORS, SupplyChain

#: WGI estimates per country (VA, PV, GE, RQ, RL, CC) in the latest year
TINY_WGI: dict[str, list[float]] = {
    "CHN": [-0.5] * 6,
    "MMR": [-1.5] * 6,
    "AUS": [1.0, 2.0, 1.5, 1.5, 1.0, 2.0],
    "MYS": [0.5] * 6,
}
TINY_WGI_SCALED = {"CHN": 6.0, "MMR": 8.0, "AUS": 2.0, "MYS": 4.0}


def one(df: pd.DataFrame, **match: object) -> pd.Series:
    """The single row of ``df`` matching ``match``."""
    sel = df
    for k, v in match.items():
        sel = sel[sel[k] == v]
    assert len(sel) == 1, f"expected one row for {match}, got {len(sel)}"
    return sel.iloc[0]


def production_frame(rows: list[tuple[str, str, str, int, float]], unit: str = "t") -> pd.DataFrame:
    """Production frame from (material, stage, country_iso3, year, quantity) tuples."""
    df = pd.DataFrame(rows, columns=["material", "stage", "country_iso3", "year", "quantity"])
    df["unit"] = unit
    return df


def governance_frame(estimates: dict[str, list[float]], year: int = 2022) -> pd.DataFrame:
    """Governance frame (country_iso3, year, indicator, estimate) from six estimates each."""
    rows = [
        (iso, year, ind, est)
        for iso, values in estimates.items()
        for ind, est in zip(WGI_INDICATORS, values, strict=True)
    ]
    return pd.DataFrame(rows, columns=["country_iso3", "year", "indicator", "estimate"])


def tiny_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    prod = production_frame(
        [
            ("Dy", "mine", "CHN", 2024, 50.0),
            ("Dy", "mine", "MMR", 2024, 30.0),
            ("Dy", "mine", "AUS", 2024, 20.0),
            ("Dy", "separation", "CHN", 2024, 90.0),
            ("Dy", "separation", "MYS", 2024, 10.0),
        ]
    )
    gov = pd.concat(
        [
            governance_frame(TINY_WGI, 2022),
            # an older year with very different values: must be ignored (latest year wins)
            governance_frame({"CHN": [2.5] * 6}, 2020),
        ],
        ignore_index=True,
    )
    return prod, gov


@pytest.fixture
def tiny_chain() -> SupplyChain:
    prod, gov = tiny_frames()
    return SupplyChain.from_frames(prod, governance=gov)


@pytest.fixture(scope="session")
def built_store(tmp_path_factory: pytest.TempPathFactory) -> critmin.Store:
    """A store built once per session from the shipped data. Treat it as read-only."""
    path = tmp_path_factory.mktemp("store") / "critmin.duckdb"
    store = critmin.Store(path, notify=lambda msg: None)
    store.build()
    return store


@pytest.fixture
def store_copy(built_store: critmin.Store, tmp_path: Path) -> critmin.Store:
    """A private, writable copy of the session store (copying is much faster than building)."""
    dest = tmp_path / "copy.duckdb"
    shutil.copyfile(built_store.path, dest)
    wal = Path(str(built_store.path) + ".wal")
    if wal.exists():
        shutil.copyfile(wal, Path(str(dest) + ".wal"))
    return critmin.Store(dest, notify=lambda msg: None)


@pytest.fixture()
def db(built_store: critmin.Store, tmp_path: Path) -> Path:
    """A private copy of the session's built database, for CLI tests (commands may write to it)."""
    path = tmp_path / "cli.duckdb"
    shutil.copy(built_store.path, path)
    return path


def run_cli(capsys: pytest.CaptureFixture[str], db: Path, *args: str) -> tuple[int, str, str]:
    """``critmin --db DB ARGS...`` in process: exit code, stdout, stderr."""
    from critmin.cli import main

    code = main(["--db", str(db), *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err
