"""The DuckDB store: build, read, import (all or nothing), export, USGS files, concurrency."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

import critmin
from critmin import metrics
from critmin.chain import SupplyChain
from critmin.errors import DataValidationError, StoreBusyError, UnknownNameError, UserError
from critmin.schema import IMPORTABLE, TABLES
from critmin.usgs import parse_usgs_mcs

ALL_TABLES = list(TABLES)
#: the tables a build fills (the run tables are created empty)
DATA_TABLES = [n for n, t in TABLES.items() if t.kind == "data"]
PROD_HEADER = "material,stage,country_iso3,year,quantity,unit,basis,source,confidence,notes"
PARAM_HEADER = "parameter,material,stage,region,value,unit,source,confidence,notes"


def snapshot(store: critmin.Store) -> dict[str, pd.DataFrame]:
    return store.read_many(ALL_TABLES)


def assert_same_tables(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> None:
    assert list(a) == list(b)
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=True, obj=name)


def file_digest(path: Path) -> str:
    h = hashlib.sha256(path.read_bytes())
    wal = Path(str(path) + ".wal")
    if wal.exists():
        h.update(wal.read_bytes())
    return h.hexdigest()


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def meta(store: critmin.Store) -> dict[str, str]:
    m = store.read("meta")
    return dict(zip(m["key"], m["value"], strict=True))


# --------------------------------------------------------------------------- build and read


def test_list_tables_and_base_year(built_store: critmin.Store) -> None:
    assert built_store.base_year() == 2024
    lt = built_store.list_tables()
    assert lt["table"].tolist() == ALL_TABLES
    tables = snapshot(built_store)
    for _, row in lt.iterrows():
        assert row["rows"] == len(tables[row["table"]]), row["table"]
    assert (lt.set_index("table")["rows"].loc[DATA_TABLES] > 0).all()
    assert set(DATA_TABLES) >= {"facilities", "export_controls", "framework_commitments", "criticality_inputs"}
    m = meta(built_store)
    assert m["base_year"] == "2024"
    assert m["critmin_version"] == critmin.__version__
    assert len(m["data_sha256"]) == 64


def test_read_columns_follow_schema(built_store: critmin.Store) -> None:
    for name, t in TABLES.items():
        assert tuple(built_store.read(name).columns) == t.column_names, name


def test_build_is_idempotent(built_store: critmin.Store, store_copy: critmin.Store) -> None:
    before = snapshot(built_store)
    counts = store_copy.build()  # second build, over the existing tables
    after = snapshot(store_copy)
    assert_same_tables(before, after)
    assert meta(store_copy)["data_sha256"] == meta(built_store)["data_sha256"]
    assert counts == {name: len(df) for name, df in after.items() if TABLES[name].kind != "run"}


def test_build_override_of_meta_is_a_user_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import critmin.store as store_mod

    # the shipped derivation is not what is tested here: skip it (4 s) with an empty result
    monkeypatch.setattr(store_mod, "build_tables", lambda params: {"parameters": params})
    ov = tmp_path / "overrides"
    ov.mkdir()
    write(ov / "meta.csv", "key,value\nbase_year,2030\n")
    with pytest.raises(UserError, match="meta"):
        critmin.Store(tmp_path / "m.duckdb").build(ov)


def test_read_errors(tmp_path: Path, built_store: critmin.Store) -> None:
    missing = critmin.Store(tmp_path / "nothing.duckdb")
    with pytest.raises(UserError, match="no database"):
        missing.read("production")
    assert not missing.exists()  # a read does not create the file
    with pytest.raises(UnknownNameError, match="did you mean 'production'"):
        built_store.read("prodution")


# --------------------------------------------------------------------------- import


def test_import_parameters_upserts_and_rederives(store_copy: critmin.Store, tmp_path: Path) -> None:
    notices: list[str] = []
    store = critmin.Store(store_copy.path, notify=notices.append)
    before = snapshot(store)
    old = before["parameters"]
    assert len(old[old["parameter"] == "utilisation"]) == 1
    f = write(
        tmp_path / "params.csv",
        f"""
        {PARAM_HEADER}
        utilisation,*,*,*,0.75,fraction of capacity,my study,user,replaces the shipped 0.85
        test_param,dysprosium,mine,CHN,"1,500",t,my study,user,
        """,
    )
    assert store.import_csv("parameters", f) == 2
    assert any("re-derived production, capacity, demand, inventory" in n for n in notices)
    after = snapshot(store)
    p = after["parameters"]
    assert len(p) == len(old) + 1  # one replaced, one added
    util = p[p["parameter"] == "utilisation"]
    assert len(util) == 1
    row = util.iloc[0]
    assert (row["material"], row["stage"], row["region"]) == ("*", "*", "*")
    assert row["value"] == pytest.approx(0.75)
    assert row["source"] == "my study"
    assert row["confidence"] == "user"
    assert row["layer"] == "import"
    new = p[p["parameter"] == "test_param"].iloc[0]
    assert new["material"] == "Dy"  # canonicalised
    assert new["value"] == pytest.approx(1500.0)
    assert pd.isna(new["notes"])
    # every other parameter row is untouched
    keep = old[old["parameter"] != "utilisation"].reset_index(drop=True)
    rest = p[~p["parameter"].isin(["utilisation", "test_param"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(keep, rest)
    # the derived tables follow at once: capacity = output / utilisation
    key = list(TABLES["capacity"].key)
    old_cap = before["capacity"].set_index(key)["capacity_t_per_yr"]
    ratio = old_cap / after["capacity"].set_index(key)["capacity_t_per_yr"]
    assert ratio.tolist() == pytest.approx([0.75 / 0.85] * len(ratio))
    for name in ALL_TABLES:
        if name not in ("parameters", "capacity", "meta"):
            pd.testing.assert_frame_equal(before[name], after[name], obj=name)
    assert (
        meta(store)["data_sha256"]
        != dict(zip(before["meta"]["key"], before["meta"]["value"], strict=True))["data_sha256"]
    )
    # importing the same file again changes nothing (upsert, not append)
    store.import_csv("parameters", f)
    pd.testing.assert_frame_equal(store.read("parameters"), p)
    pd.testing.assert_frame_equal(store.read("capacity"), after["capacity"])


def test_import_production_feeds_metrics(store_copy: critmin.Store, tmp_path: Path) -> None:
    f = write(
        tmp_path / "prod.csv",
        f"""
        {PROD_HEADER}
        rare_earths,mining,MMR,2024,31000,t,REO,my source,user,
        """,
    )
    assert store_copy.import_csv("production", f) == 1
    chain = SupplyChain.from_store(store_copy)
    s = metrics.production_shares(chain, "rare_earths", "mine", 2024)
    mmr = s[s["country_iso3"] == "MMR"].iloc[0]
    assert mmr["quantity"] == pytest.approx(31000.0)
    assert mmr["share"] == pytest.approx(31000 / 380000)
    assert mmr["confidence"] == "user"


def test_import_rejects_meta_and_missing_db(tmp_path: Path, store_copy: critmin.Store) -> None:
    f = write(tmp_path / "m.csv", "key,value\nbase_year,2030\n")
    with pytest.raises(UserError, match="cannot be imported"):
        store_copy.import_csv("meta", f)
    assert store_copy.base_year() == 2024
    assert "meta" not in IMPORTABLE
    good = write(tmp_path / "p.csv", f"{PARAM_HEADER}\nx,*,*,*,1,u,s,user,\n")
    missing = critmin.Store(tmp_path / "none.duckdb")
    with pytest.raises(UserError, match="no database"):
        missing.import_csv("parameters", good)
    with pytest.raises(UserError, match="file not found"):
        store_copy.import_csv("parameters", tmp_path / "absent.csv")


GOOD = "Dy,mine,CHN,2024,100,t,REO,s,user,"

# name -> (table, csv text, expected problems as (line, column, reason substring, hint substring))
BROKEN: dict[str, tuple[str, str, list[tuple[int, str, str, str]]]] = {
    "unknown_column": (
        "production",
        f"material,stage,country_iso3,year,quantitty,unit,basis,source,confidence,notes\n{GOOD}\n",
        [
            (1, "quantitty", "unknown column", "did you mean 'quantity'?"),
            (1, "quantity", "required column missing", "quantity"),
        ],
    ),
    "missing_required_column": (
        "production",
        "material,stage,country_iso3,year,quantity,unit,basis,confidence,notes\nDy,mine,CHN,2024,100,t,REO,user,\n",
        [(1, "source", "required column missing", "source")],
    ),
    "non_numeric": (
        "production",
        f"{PROD_HEADER}\n{GOOD}\nDy,mine,MMR,2024,12 t,t,REO,s,user,\n",
        [(3, "quantity", "not a number", "remove units")],
    ),
    "nan_value": (
        "parameters",
        f"{PARAM_HEADER}\nutilisation,*,*,*,NaN,fraction,s,user,\n",
        [(2, "value", "NaN/blank is not allowed", "absence is not zero")],
    ),
    "blank_required": (
        "production",
        f"{PROD_HEADER}\n{GOOD}\n{GOOD.replace('CHN', 'MMR')}\nDy,mine,AUS,2024,,t,REO,s,user,\n",
        [(4, "quantity", "required value is blank", "absence is not zero")],
    ),
    "unknown_material": (
        "production",
        f"{PROD_HEADER}\nDx,mine,CHN,2024,100,t,REO,s,user,\n",
        [(2, "material", "unknown material", "did you mean 'Dy'?")],
    ),
    "duplicate_key": (
        "production",
        f"{PROD_HEADER}\n{GOOD}\n{GOOD.replace('CHN', 'MMR')}\ndysprosium,mining,chn,2024,7,t,REO,s,user,\n",
        [
            (2, "material,stage,country_iso3,year", "duplicate key", "one row per key"),
            (4, "material,stage,country_iso3,year", "duplicate key", "one row per key"),
        ],
    ),
    "negative_quantity": (
        "production",
        f"{PROD_HEADER}\nDy,mine,CHN,2024,-5,t,REO,s,user,\n",
        [(2, "quantity", "below the minimum 0", "")],
    ),
    "several_rows": (
        "production",
        f"{PROD_HEADER}\n{GOOD}\n"
        "Dy,mine,MMR,20x4,100,t,REO,s,user,\n"
        "Dy,mine,AUS,2024,100,t,REO,s,guess,\n"
        "Dy,mine,XXA,2024,100,tonnes,REO,s,user,\n"
        "Dy,smelting,USA,2024,100,t,REO,s,user,\n",
        [
            (3, "year", "not an integer", ""),
            (4, "confidence", "must be one of", ""),
            (5, "country_iso3", "unknown country", ""),
            (5, "unit", "must be one of t, share_pct", ""),
            (6, "stage", "unknown stage", ""),
        ],
    ),
    "governance_out_of_range": (
        "governance",
        "country_iso3,year,indicator,estimate,source,confidence,notes\n"
        "CHN,2022,VA,-9,s,user,\nCHN,2022,XX,0.1,s,user,\n",
        [(2, "estimate", "below the minimum -5", ""), (3, "indicator", "must be one of", "")],
    ),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_csv_reports_problems_and_writes_nothing(case: str, store_copy: critmin.Store, tmp_path: Path) -> None:
    name, text, expected = BROKEN[case]
    f = tmp_path / f"{case}.csv"
    f.write_text(text, encoding="utf-8")
    before = snapshot(store_copy)
    digest = file_digest(store_copy.path)
    with pytest.raises(DataValidationError) as exc:
        store_copy.import_csv(name, f)
    err = exc.value
    assert err.path == str(f)
    got = [(p.row, p.column, p.reason, p.hint) for p in err.problems]
    assert len(got) == len(expected), got
    for (row, col, reason, hint), (erow, ecol, ereason, ehint) in zip(got, expected, strict=True):
        assert (row, col) == (erow, ecol), got
        assert ereason in reason, got
        assert ehint in hint, got
    first = expected[0]
    assert f"{len(expected)} problem(s)" in str(err)
    assert f"first at line {first[0]}" in str(err)
    assert isinstance(err, UserError)
    # nothing written: same file bytes and same table contents
    assert file_digest(store_copy.path) == digest
    assert_same_tables(before, snapshot(store_copy))


def test_failed_write_rolls_back(store_copy: critmin.Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure after the DELETE of replaced rows leaves the table as it was."""
    import critmin.store as store_mod

    before = snapshot(store_copy)

    def boom(*args: object) -> None:
        raise RuntimeError("disk full (simulated)")

    monkeypatch.setattr(store_mod, "_insert", boom)
    f = write(tmp_path / "p.csv", f"{PARAM_HEADER}\nutilisation,*,*,*,0.5,fraction,s,user,\n")
    with pytest.raises(RuntimeError, match="simulated"):
        store_copy.import_csv("parameters", f)
    assert_same_tables(before, snapshot(store_copy))


def test_import_rejects_unit_mixing_with_existing_rows(store_copy: critmin.Store, tmp_path: Path) -> None:
    before = snapshot(store_copy)
    f = write(tmp_path / "p.csv", f"{PROD_HEADER}\nrare_earths,mine,ZAF,2024,1,share_pct,REO,s,user,\n")
    try:
        with pytest.raises(UserError):
            store_copy.import_csv("production", f)
    finally:
        after = snapshot(store_copy)
    assert_same_tables(before, after)
    SupplyChain.from_store(store_copy)


# --------------------------------------------------------------------------- export


@pytest.mark.parametrize("name", ["production", "governance", "parameters", "meta"])
def test_export_round_trip(built_store: critmin.Store, tmp_path: Path, name: str) -> None:
    df = built_store.read(name)
    n_csv = built_store.export(name, "csv", tmp_path / "out" / f"{name}.csv")
    n_pq = built_store.export(name, "parquet", tmp_path / "out" / f"{name}.parquet")
    assert n_csv == n_pq == len(df) > 0
    back_csv = pd.read_csv(tmp_path / "out" / f"{name}.csv")
    assert len(back_csv) == len(df)
    assert list(back_csv.columns) == list(df.columns)
    back_pq = pd.read_parquet(tmp_path / "out" / f"{name}.parquet")
    assert len(back_pq) == len(df)
    pd.testing.assert_frame_equal(back_pq, df, check_dtype=False)


def test_export_unknown_format(built_store: critmin.Store, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="unknown format 'xlsx'"):
        built_store.export("production", "xlsx", tmp_path / "p.xlsx")
    assert not (tmp_path / "p.xlsx").exists()


# --------------------------------------------------------------------------- USGS

MCS2025 = """\
SOURCE,COMMODITY,COUNTRY,TYPE,UNIT_MEAS,PROD_2023,PROD_EST_ 2024,PROD_NOTES,CAP_2023,CAP_EST_ 2024,CAP_NOTES,RESERVES_2024,RESERVE_NOTES
MCS2025,Rare earths,Burma,"Mine production, rare-earth-oxide equivalent",metric tons,43000,31000,"Estimated, based on imports",,,,,NA
MCS2025,Gallium ,China,Primary production,kilograms,621000,750000,,,1000000,,,
MCS2025,Tantalum,Brazil,"Mine production, tantalum content",metric tons,360,370,,,,,,
MCS2025,Lithium ,United States,"Mine production, lithium content",metric tons,,,W for 23-24,,,,1800000,
MCS2025,Rare earths,World total (rounded),"Mine production, rare-earth-oxide equivalent",metric tons,"376,000","390,000",,,,,"90,000,000",
"""  # noqa: E501

MCS2026 = """\
MCS chapter,Section,Commodity,Country,Statistics,Statistics_detail,Unit,Year,Value,Notes,Is critical mineral 2025,Other notes
Rare earths,World production,Rare earths,China,Production,"Mine production, rare-earth-oxide equivalent",metric tons,2024,"270,000",,Yes,
Rare earths,World production,Rare earths,China,Production,"Mine production, rare-earth-oxide equivalent",metric tons,2025,W,,Yes,
Rare earths,World production,Rare earths,Burma,Production,"Mine production, rare-earth-oxide equivalent",metric tons,2024,—,,Yes,
Rare earths,World production,Rare earths,United States,Reserves,"Reserves, rare-earth-oxide equivalent",metric tons,2024,"1,900,000",,Yes,
Gallium,World production,Gallium,Japan,Production,Primary production,kilograms,2024,"3,000",,Yes,
Tantalum,World production,Tantalum,Brazil,Production,"Mine production, tantalum content",metric tons,2024,"370",,Yes,
"""  # noqa: E501


def rows_by(rows: pd.DataFrame) -> dict[tuple[str, str, str, str], float]:
    return {(r.material, r.stage, r.country_iso3, r.year): float(r.quantity) for r in rows.itertuples()}


def test_usgs_mcs2025_world_layout(store_copy: critmin.Store) -> None:
    rows, skipped = parse_usgs_mcs(io.StringIO(MCS2025), "mcs2025.csv")
    got = rows_by(rows)
    assert got[("rare_earths", "mine", "MMR", "2024")] == 31000.0
    assert got[("rare_earths", "mine", "MMR", "2023")] == 43000.0
    assert got[("Ga", "separation", "CHN", "2024")] == pytest.approx(750.0)  # 750,000 kg
    assert got[("Ga", "separation", "CHN", "2023")] == pytest.approx(621.0)
    assert got[("rare_earths", "mine", "WLD", "2024")] == 390000.0  # "390,000", footnote-free
    assert skipped == {"Tantalum": 1}
    assert not any(k[0] == "Li" for k in got)  # withheld: absent, not zero
    assert set(rows["unit"]) == {"t"}
    assert set(rows["confidence"]) == {"read"}
    assert rows["source"].str.contains("mcs2025.csv").all()
    assert set(rows[rows["material"] == "rare_earths"]["basis"]) == {"REO"}

    before = snapshot(store_copy)
    li_usa = before["production"].query("material == 'Li' and country_iso3 == 'USA'")
    assert store_copy.import_frame("production", rows, "mcs2025.csv") == len(rows) == 6  # MMR, Ga CHN, WLD x 2 years
    prod = store_copy.read("production")
    mmr = prod.query("material == 'rare_earths' and stage == 'mine' and country_iso3 == 'MMR' and year == 2024")
    assert mmr["quantity"].tolist() == [31000.0]
    assert mmr["source"].iloc[0].startswith("USGS MCS")
    ga = prod.query("material == 'Ga' and stage == 'separation' and country_iso3 == 'CHN' and year == 2024")
    assert ga["quantity"].tolist() == pytest.approx([750.0])
    assert ga["unit"].tolist() == ["t"]
    assert len(prod.query("material == 'Li' and country_iso3 == 'USA'")) == len(li_usa) == 0
    # upserts: rows with an existing key replace it; only new keys add rows
    key = list(TABLES["production"].key)
    old_keys = set(before["production"][key].itertuples(index=False, name=None))
    new_keys = set(rows.astype({"year": int})[key].itertuples(index=False, name=None))
    assert len(prod) == len(before["production"]) + len(new_keys - old_keys)
    assert new_keys & old_keys  # e.g. MMR 2024 and WLD 2024 were replaced
    assert not prod.duplicated(key).any()
    # the new numbers flow into the metrics
    chain = SupplyChain.from_store(store_copy)
    c = metrics.china_share(chain, "rare_earths", "mine", 2024).iloc[0]
    assert c["world_total"] == pytest.approx(390_000.0)
    assert c["china_share"] == pytest.approx(270_000 / 390_000)


def test_usgs_mcs2026_long_layout() -> None:
    rows, skipped = parse_usgs_mcs(io.StringIO(MCS2026), "mcs2026.csv")
    got = rows_by(rows)
    assert got == {
        ("rare_earths", "mine", "CHN", "2024"): 270000.0,
        ("Ga", "separation", "JPN", "2024"): pytest.approx(3.0),
    }
    assert skipped == {"Tantalum": 1}
    assert set(rows["confidence"]) == {"read"}


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        (MCS2025.replace("Gallium ,China", "Gallium ,Atlantis"), 3, "COUNTRY"),
        (MCS2026.replace("Gallium,Japan", "Gallium,Atlantis"), 6, "Country"),
    ],
)
def test_usgs_unknown_country(store_copy: critmin.Store, text: str, line: int, column: str) -> None:
    before = snapshot(store_copy)
    with pytest.raises(DataValidationError) as exc:
        rows, _ = parse_usgs_mcs(io.StringIO(text), "usgs.csv")
        store_copy.import_frame("production", rows, "usgs.csv")
    problems = exc.value.problems
    assert [(p.row, p.column, p.value, p.reason) for p in problems] == [(line, column, "Atlantis", "unknown country")]
    assert f"line {line}" in str(exc.value)
    assert_same_tables(before, snapshot(store_copy))


def test_usgs_bad_number_and_unit_all_reported() -> None:
    text = MCS2025.replace("43000,31000", "43000,31k").replace("kilograms", "pounds")
    with pytest.raises(DataValidationError) as exc:
        parse_usgs_mcs(io.StringIO(text), "usgs.csv")
    got = {(p.row, p.column, p.reason) for p in exc.value.problems}
    assert (2, "PROD_EST_2024", "not a number") in got
    assert any(p[0] == 3 and p[1] == "unit" for p in got)


def test_usgs_not_a_usgs_layout() -> None:
    with pytest.raises(DataValidationError, match="not a USGS MCS layout"):
        parse_usgs_mcs(io.StringIO(f"{PROD_HEADER}\n{GOOD}\n"), "x.csv")


# --------------------------------------------------------------------------- concurrency


def _run_py(code: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _env() -> dict[str, str]:
    return {**os.environ, "CRITMIN_LOCK_TIMEOUT": "120"}


def _finish(procs: list[subprocess.Popen[str]]) -> list[tuple[int, str, str]]:
    out = []
    try:
        for p in procs:
            stdout, stderr = p.communicate(timeout=60)
            out.append((p.returncode, stdout, stderr))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return out


def test_concurrent_build_with_overrides_and_reads(store_copy: critmin.Store, tmp_path: Path) -> None:
    """One process rebuilds (with a parameter override) while another keeps reading."""
    before = snapshot(store_copy)
    n_prod = len(before["production"])
    ov = tmp_path / "overrides"
    ov.mkdir()
    write(ov / "parameters.csv", f"{PARAM_HEADER}\nutilisation,*,*,*,0.5,fraction of capacity,me,user,\n")
    done = tmp_path / "writer.done"
    path = str(store_copy.path)
    writer = _run_py(
        f"""
        import pathlib, critmin
        critmin.Store({path!r}).build({str(ov)!r})
        pathlib.Path({str(done)!r}).touch()
        print("built")
        """,
        _env(),
    )
    reader = _run_py(
        f"""
        import pathlib, time, critmin
        n = 0
        for i in range(400):  # read until the writer is done, then a few more times
            finished = pathlib.Path({str(done)!r}).exists()
            df = critmin.Store({path!r}).read("production")
            assert len(df) == {n_prod}, len(df)  # the override does not change production
            n += 1
            if finished and n >= 3:
                break
            time.sleep(0.1)
        print("reads", n)
        """,
        _env(),
    )
    (wrc, wout, werr), (rrc, rout, rerr) = _finish([writer, reader])
    assert wrc == 0, werr
    assert rrc == 0, rerr
    assert "built" in wout
    assert rout.startswith("reads")
    after = snapshot(critmin.Store(store_copy.path))
    assert {n: len(df) for n, df in after.items()} == {n: len(df) for n, df in before.items()}
    for name in ("production", "governance", "trade", "demand", "inventory"):
        pd.testing.assert_frame_equal(after[name], before[name], obj=name)
    util = after["parameters"].query("parameter == 'utilisation'")
    assert util["value"].tolist() == [0.5]
    assert util["confidence"].tolist() == ["user"]
    # capacity = output / utilisation: every capacity row scales by 0.85 / 0.5
    key = list(TABLES["capacity"].key)
    old = before["capacity"].set_index(key)["capacity_t_per_yr"]
    new = after["capacity"].set_index(key)["capacity_t_per_yr"]
    assert (new / old.reindex(new.index)).tolist() == pytest.approx([0.85 / 0.5] * len(new))
    chn = new.loc[("rare_earths", "mine", "CHN", 2024)]
    assert chn == pytest.approx(270_000 / 0.5)
    old_meta = dict(zip(before["meta"]["key"], before["meta"]["value"], strict=True))
    new_meta = dict(zip(after["meta"]["key"], after["meta"]["value"], strict=True))
    assert new_meta["base_year"] == "2024"
    assert new_meta["data_sha256"] != old_meta["data_sha256"]  # the fingerprint sees the override


def test_concurrent_imports(store_copy: critmin.Store, tmp_path: Path) -> None:
    """Two processes import into one store at once, four times each: every row of both lands, and
    the row both write (one key) is replaced, never duplicated."""
    prod_header = "material,stage,country_iso3,year,quantity,unit,basis,source,confidence,notes"
    n_rows = len(store_copy.read("production"))
    files = []
    for who, year in (("a", 2031), ("b", 2032)):
        f = tmp_path / f"{who}.csv"
        f.write_text(
            f"{prod_header}\nDy,mine,LAO,{year},1,t,content,{who},user,\nDy,mine,LAO,2030,2,t,content,{who},user,\n",
            encoding="utf-8",
        )
        files.append(f)
    path = str(store_copy.path)
    procs = [
        _run_py(
            f"""
            import critmin
            s = critmin.Store({path!r})
            for _ in range(4):
                assert s.import_csv("production", {str(f)!r}) == 2
            print("ok")
            """,
            _env(),
        )
        for f in files
    ]
    for rc, out, err in _finish(procs):
        assert rc == 0, err
        assert out.strip() == "ok"
    p = store_copy.read("production")
    assert len(p) == n_rows + 3  # 2031 and 2032 added; 2030 written by both, kept once
    lao = p[(p["country_iso3"] == "LAO") & (p["material"] == "Dy")].set_index("year")
    assert set(lao.index) == {2030, 2031, 2032}
    assert lao.loc[2031, "source"] == "a" and lao.loc[2032, "source"] == "b"
    assert lao.loc[2030, "source"] in {"a", "b"}


def test_store_busy_after_timeout(store_copy: critmin.Store) -> None:
    holder = _run_py(
        f"""
        import sys, time, duckdb
        con = duckdb.connect({str(store_copy.path)!r})
        print("locked", flush=True)
        time.sleep(30)
        """,
        _env(),
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        notices: list[str] = []
        store = critmin.Store(store_copy.path, lock_timeout_s=0.5, notify=notices.append)
        t0 = time.monotonic()
        with pytest.raises(StoreBusyError, match="CRITMIN_LOCK_TIMEOUT"):
            store.read("production")
        assert time.monotonic() - t0 < 10
        assert len(notices) == 1
        assert "in use by another critmin process" in notices[0]
    finally:
        holder.kill()
        holder.communicate()  # waits and closes the pipes


def test_import_rejects_basis_mixing_with_existing_rows(store_copy: critmin.Store, tmp_path: Path) -> None:
    """Shipped Ga refinery rows are t of contained Ga; a 'gross' row in the same group is refused."""
    before = store_copy.read("production")
    bad = tmp_path / "basis.csv"
    bad.write_text(
        "material,stage,country_iso3,year,quantity,unit,basis,source,confidence,notes\n"
        "Ga,separation,ZAF,2024,1,t,gross,me,user,\n",
        encoding="utf-8",
    )
    with pytest.raises(DataValidationError) as info:
        store_copy.import_csv("production", bad)
    assert info.value.problems[0].row == 2
    assert "mixes units/bases" in info.value.problems[0].reason
    pd.testing.assert_frame_equal(store_copy.read("production"), before)
