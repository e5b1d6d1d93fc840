"""The data-access layer: the user layer across rebuilds, safe first builds and repairs, the
reference tables (facilities, export controls, framework commitments, criticality inputs) as store
tables reaching the engine and the criticality methods, and the validation of user files."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest

import critmin
from critmin.chain import SupplyChain
from critmin.criticality.inputs import Inputs
from critmin.criticality.supply import export_controls, perspective, trade_factors
from critmin.dataset import REFERENCE_FILES, data_dir, reference_tables
from critmin.engine.compiled import compile_scenario, facilities, facility_share, resolve_project
from critmin.errors import DataValidationError, UserError
from critmin.scenario import parse_scenario
from critmin.schema import TABLES
from critmin.store import repair_command
from critmin.validate import MAX_PROBLEMS

PROD_HEADER = "material,stage,country_iso3,year,quantity,unit,basis,source,confidence,notes"
PARAM_HEADER = "parameter,material,stage,region,value,unit,source,confidence,notes"
QUIET = {"notify": lambda msg: None}


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def quiet(path: Path, notices: list[str] | None = None) -> critmin.Store:
    return critmin.Store(path, notify=notices.append if notices is not None else (lambda msg: None))


# --------------------------------------------------------------------------- the user layer (bug 3)


def test_imported_rows_survive_a_rebuild_as_the_user_layer(store_copy: critmin.Store, tmp_path: Path) -> None:
    shipped = store_copy.read("production")
    f = write(
        tmp_path / "prod.csv",
        f"""
        {PROD_HEADER}
        Dy,mine,LAO,2024,12,t,content,my survey,user,
        rare_earths,mine,MMR,2024,31000,t,REO,my survey,user,replaces the shipped MMR row
        """,
    )
    assert store_copy.import_csv("production", f) == 2
    notices: list[str] = []
    store = quiet(store_copy.path, notices)
    store.build()
    prod = store.read("production")
    assert len(prod) == len(shipped) + 1  # LAO added, MMR replaced: both survive the rebuild
    lao = prod.query("material == 'Dy' and country_iso3 == 'LAO'").iloc[0]
    assert (lao["quantity"], lao["layer"], lao["confidence"]) == (12.0, "import", "user")
    mmr = prod.query("material == 'rare_earths' and stage == 'mine' and country_iso3 == 'MMR' and year == 2024")
    assert mmr["quantity"].tolist() == [31000.0] and mmr["layer"].tolist() == ["import"]
    assert any("kept 2 imported row(s) (production 2)" in n for n in notices)
    # data sources and the layer summary show the user layer
    layers = store.layers().set_index(["table", "layer"])["rows"]
    assert layers[("production", "import")] == 2
    assert layers[("production", "shipped")] == len(shipped) - 1
    src = store.sources()
    assert src.query("layer == 'import'")["rows"].sum() == 2
    assert set(src["layer"]) == {"shipped", "import"}
    # --discard-imports goes back to the shipped data
    store.build(discard_imports=True)
    pd.testing.assert_frame_equal(store.read("production"), shipped)
    assert any("dropped 2 imported row(s)" in n for n in notices)


def test_imported_parameters_rederive_now_and_after_rebuilds(store_copy: critmin.Store, tmp_path: Path) -> None:
    key = list(TABLES["capacity"].key)
    shipped_cap = store_copy.read("capacity").set_index(key)["capacity_t_per_yr"]
    f = write(tmp_path / "p.csv", f"{PARAM_HEADER}\nutilisation,*,*,*,0.5,fraction of capacity,me,user,\n")
    store_copy.import_csv("parameters", f)
    cap = store_copy.read("capacity").set_index(key)["capacity_t_per_yr"]
    assert (shipped_cap / cap).tolist() == pytest.approx([0.5 / 0.85] * len(cap))  # at once
    ov = tmp_path / "ov"
    ov.mkdir()
    write(
        ov / "inventory.csv", "material,region,stage,months_of_use,source,confidence,notes\n*,USA,magnet,3,me,user,\n"
    )
    store_copy.build(ov)
    rebuilt = store_copy.read("capacity").set_index(key)["capacity_t_per_yr"]
    pd.testing.assert_series_equal(rebuilt, cap)  # the import is still in force
    inv = store_copy.read("inventory").query("material == '*' and region == 'USA' and stage == 'magnet'")
    assert inv["months_of_use"].tolist() == [3.0] and inv["layer"].tolist() == ["overrides"]
    # a second parameter import keeps the overrides of the last build
    g = write(tmp_path / "q.csv", f"{PARAM_HEADER}\nnd_share_of_ndpr,Nd,*,*,0.8,fraction,me,user,\n")
    store_copy.import_csv("parameters", g)
    inv = store_copy.read("inventory").query("material == '*' and region == 'USA' and stage == 'magnet'")
    assert inv["layer"].tolist() == ["overrides"]
    prm = store_copy.read("parameters").query("layer == 'import'")
    assert sorted(prm["parameter"]) == ["nd_share_of_ndpr", "utilisation"]


# --------------------------------------------------------------------------- safe builds (bug 4)


def _cli(db: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "CRITMIN_LOCK_TIMEOUT": "120"}
    return subprocess.Popen(
        [sys.executable, "-m", "critmin.cli", "--db", str(db), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_killed_first_build_leaves_no_half_database(tmp_path: Path) -> None:
    """SIGKILL at several moments of `critmin --db NEW data build`: the path is absent or complete."""
    # delays after the first file appears in the folder (lock, temporary or database), then two
    # delays from the start (during start-up and derivation)
    moments = [("file", 0.0), ("file", 0.2), ("start", 1.5)]
    for i, (after, delay) in enumerate(moments):
        folder = tmp_path / f"kill{i}"
        folder.mkdir()
        db = folder / "new.duckdb"
        proc = _cli(db, "data", "build")
        try:
            deadline = time.monotonic() + 120
            if after == "file":
                while not any(folder.iterdir()) and proc.poll() is None and time.monotonic() < deadline:
                    time.sleep(0.001)
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.communicate(timeout=60)
        if db.exists():  # else absent: the kill came before the move into place
            assert quiet(db).schema_problems() == [], f"moment {after}+{delay}: incomplete database"
        store = quiet(db)
        store.ensure_built()  # builds where absent; a complete one passes the check
        assert len(store.read("production")) > 0
        assert store.base_year() == 2024
        assert not list(folder.glob(".new.duckdb.build-*")), "stale temporaries are removed"


def test_two_processes_building_one_new_path_end_with_one_valid_database(tmp_path: Path) -> None:
    db = tmp_path / "both.duckdb"
    stale = tmp_path / ".both.duckdb.build-1-dead.tmp"
    stale.write_bytes(b"left by a killed build")
    procs = [_cli(db, "data", "build") for _ in range(2)]
    results = [p.communicate(timeout=180) for p in procs]
    for p, (_out, err) in zip(procs, results, strict=True):
        assert p.returncode == 0, err
    assert quiet(db).schema_problems() == []
    assert len(quiet(db).read("facilities")) > 0
    assert sorted(x.name for x in tmp_path.iterdir()) == ["both.duckdb"]  # no temporaries, no lock left


def test_empty_incomplete_and_foreign_files_are_reported(tmp_path: Path) -> None:
    empty = tmp_path / "empty.duckdb"
    empty.write_bytes(b"")
    with pytest.raises(UserError, match=r"0 bytes.*critmin --db .*empty.duckdb data build"):
        quiet(empty).ensure_built()
    with pytest.raises(UserError, match="data build"):
        quiet(empty).read("production")
    assert quiet(empty).build()["production"] > 0  # the repair command repairs it
    quiet(empty).ensure_built()

    tableless = tmp_path / "tableless.duckdb"
    duckdb.connect(str(tableless)).close()
    with pytest.raises(UserError) as exc:
        quiet(tableless).ensure_built()
    assert repair_command(tableless) in str(exc.value)
    assert "table(s) production" in str(exc.value)
    with pytest.raises(UserError, match="data build"):
        SupplyChain.from_store(quiet(tableless))
    quiet(tableless).build()
    assert len(quiet(tableless).read("production")) > 0

    foreign = tmp_path / "notes.duckdb"
    foreign.write_text("my notes, not a database\n" * 10)
    for call in (quiet(foreign).ensure_built, quiet(foreign).build, lambda: quiet(foreign).read("production")):
        with pytest.raises(UserError, match="not a DuckDB database"):
            call()
    assert foreign.read_text() == "my notes, not a database\n" * 10  # never overwritten


def _older_database(built: critmin.Store, dest: Path) -> critmin.Store:
    """A copy of ``built`` as an older critmin left it: no layer column, no reference tables, an
    mc_runs table of the old layout."""
    shutil.copyfile(built.path, dest)
    con = duckdb.connect(str(dest))
    for name in ("facilities", "export_controls", "framework_commitments", "criticality_inputs", "mc_runs"):
        con.execute(f'DROP TABLE IF EXISTS "{name}"')
    for name in ("production", "capacity", "demand", "inventory", "governance", "trade", "parameters"):
        con.execute(f'ALTER TABLE "{name}" DROP COLUMN layer')
    con.execute(
        "CREATE TABLE mc_runs (run_id VARCHAR, scenario VARCHAR, scenario_sha256 VARCHAR, draws VARCHAR, "
        "seed VARCHAR, engine VARCHAR, critmin_version VARCHAR, seconds VARCHAR, created_utc VARCHAR, "
        "per_draw_parquet VARCHAR)"
    )
    con.execute("INSERT INTO mc_runs VALUES ('mc-old', 's', 'h', '10', '1', 'fast', '0.1.0', '2.5', 't', 'p')")
    con.execute(
        "INSERT INTO runs (run_id, scenario, scenario_sha256, engine, mode, seed, critmin_version, data_sha256, "
        "created_utc, start_month, months, scenario_json) VALUES ('r-1', 's', 'h', 'fast', 'market', 0, '0.1.0', "
        "'d', 't', '2026-01', 12, '{}')"
    )
    con.close()
    return quiet(dest)


def test_an_older_database_is_reported_then_rebuilt_keeping_runs(built_store: critmin.Store, tmp_path: Path) -> None:
    notices: list[str] = []
    old = _older_database(built_store, tmp_path / "old.duckdb")
    with pytest.raises(UserError) as exc:
        old.ensure_built()
    msg = str(exc.value)
    assert "facilities" in msg and "layer (in production" in msg and repair_command(old.path) in msg
    with pytest.raises(UserError, match="data build"):
        SupplyChain.from_store(old)
    assert old.read_runs("mc_runs")["run_id"].tolist() == ["mc-old"]  # readable in its old layout
    store = quiet(old.path, notices)
    store.build()
    store.ensure_built()
    assert store.read_runs("runs")["run_id"].tolist() == ["r-1"]  # runs kept
    assert any("mc_runs_legacy" in n for n in notices)
    con = duckdb.connect(str(old.path), read_only=True)
    assert con.execute("SELECT run_id FROM mc_runs_legacy").fetchall() == [("mc-old",)]
    con.close()
    assert store.read_runs("mc_runs").empty


def test_an_older_database_with_changed_rows_is_not_silently_rebuilt(
    built_store: critmin.Store, tmp_path: Path
) -> None:
    old = _older_database(built_store, tmp_path / "old.duckdb")
    con = duckdb.connect(str(old.path))
    con.execute(
        "UPDATE production SET quantity = 1 "
        "WHERE country_iso3 = 'MMR' AND material = 'rare_earths' AND year = 2024 AND stage = 'mine'"
    )
    con.close()
    before = old.path.read_bytes()
    with pytest.raises(UserError, match=r"older critmin.*production 1.*--discard-imports"):
        old.build()
    assert old.path.read_bytes() == before  # nothing written
    old.build(discard_imports=True)
    assert old.read("production").query("country_iso3 == 'MMR' and material == 'rare_earths'")["quantity"].min() > 1


def test_write_run_moves_an_old_mc_runs_table_aside(store_copy: critmin.Store) -> None:
    con = duckdb.connect(str(store_copy.path))
    con.execute("DROP TABLE mc_runs")
    con.execute("CREATE TABLE mc_runs (run_id VARCHAR, scenario VARCHAR, draws VARCHAR)")
    con.execute("INSERT INTO mc_runs VALUES ('mc-old', 's', '10')")
    con.close()
    notices: list[str] = []
    store = quiet(store_copy.path, notices)
    row = {c: "x" for c in TABLES["mc_runs"].column_names}
    row.update(run_id="mc-new", engine="fast", mode="market", seed=1, draws=10, seconds=1.5)
    store.write_run("mc-new", {"mc_runs": pd.DataFrame([row])})
    assert store.read_runs("mc_runs")["run_id"].tolist() == ["mc-new"]
    assert len(notices) == 1 and "mc_runs_legacy" in notices[0] and "1 rows" in notices[0]


# --------------------------------------------------------------------------- reference tables


def test_reference_tables_are_store_tables_with_provenance(built_store: critmin.Store) -> None:
    for name, (rel, _renames) in REFERENCE_FILES.items():
        file_rows = pd.read_csv(data_dir() / rel, dtype=str, keep_default_na=False)
        shipped = reference_tables()[name]  # criticality_inputs: the file and the rows derived from the EU and USGS
        stored = built_store.read(name)
        assert len(stored) == len(shipped) >= len(file_rows), name
        assert (stored["source"].str.len() > 0).all() and stored["confidence"].notna().all(), name
        assert set(stored["layer"]) == {"shipped"}, name
    ec = built_store.read("export_controls")
    assert ec.set_index("event_id").loc["CN-2023-023", "status"] == "in force"
    chain = SupplyChain.from_store(built_store)
    assert list(facilities(chain)["fid"]) == list(facilities()["fid"])
    assert len(chain.framework_commitments) == len(built_store.read("framework_commitments"))


def _overrides(tmp_path: Path, name: str, frame: pd.DataFrame) -> Path:
    ov = tmp_path / "ov"
    ov.mkdir(exist_ok=True)
    frame.to_csv(ov / f"{name}.csv", index=False)
    return ov


PROJECT = """
name = "magnets at home"
start = "2026-01"
months = 12
[[project]]
facility = "10x-magnet-campus"
start = "2026-01"
"""


def test_facility_overrides_reach_projects_and_outages(store_copy: critmin.Store, tmp_path: Path) -> None:
    fac = store_copy.read("facilities").drop(columns="layer")
    mine = fac[fac["facility"] == "10X magnet campus"].assign(capacity=2000.0, source="my survey", confidence="user")
    store_copy.build(_overrides(tmp_path, "facilities", mine))
    chain = SupplyChain.from_store(store_copy)
    scenario = parse_scenario(PROJECT)
    _region, _stage, caps, _start, _note = resolve_project(scenario.project[0], chain)
    assert caps["Nd"] == pytest.approx(2000 * 0.2475)
    shipped = resolve_project(scenario.project[0])[2]
    assert shipped["Nd"] == pytest.approx(10_000 * 0.2475)
    row = facilities(chain).query("fid == '10x-magnet-campus'").iloc[0]
    assert (row["capacity"], row["layer"]) == (2000.0, "overrides")
    # an imported parameter reaches the project sizing through the chain
    f = write(tmp_path / "p.csv", f"{PARAM_HEADER}\nmagnet_content,Nd,magnet,*,20,wt%,me,user,\n")
    store_copy.import_csv("parameters", f)
    chain = SupplyChain.from_store(store_copy)
    assert resolve_project(scenario.project[0], chain)[2]["Nd"] == pytest.approx(2000 * 0.20)
    # outages by facility share the country's operating capacity of the chain's list
    lamp = "lynas-malaysia-lamp-light-re-separation"
    _c, _s, share, _n = facility_share(lamp, chain)
    assert share == pytest.approx(facility_share(lamp)[2])
    from critmin.engine import build_network

    net = build_network(chain, scenario.regions)
    lv = compile_scenario(scenario, net, chain.blocs, chain)
    assert lv.projects and any("2,000" in n for n in lv.notes)


def test_imported_export_controls_reach_trade_factors(store_copy: critmin.Store, tmp_path: Path) -> None:
    f = write(
        tmp_path / "ec.csv",
        """
        event_id,country,minerals,measure,target,status,source,confidence
        MY-1,CHN,rare_earths (Nd),export licensing,all,in force,my reading,user
        """,
    )
    assert store_copy.import_csv("export_controls", f) == 1
    chain = SupplyChain.from_store(store_copy)
    inp = Inputs.defaults(chain)
    usa = perspective(chain, "USA")
    assert "CHN" not in trade_factors(inp, usa, "Nd")  # shipped data: the October rules are suspended
    assert trade_factors(inp, usa, "Nd", chain)["CHN"] == (pytest.approx(1.1), "export licensing in force (MY-1)")
    assert export_controls(chain).set_index("event_id").loc["MY-1", "date_end"] == ""


def test_imported_criticality_inputs_become_the_defaults(store_copy: critmin.Store, tmp_path: Path) -> None:
    f = write(
        tmp_path / "crit.csv",
        """
        parameter,perspective,material,stage,sector,country,value,unit,source,confidence,notes
        agreement_factor,,,,,,0.7,factor,my study,user,
        eol_rir,,dysprosium,,,,0.2,fraction,my study,user,
        """,
    )
    store_copy.import_csv("criticality_inputs", f)
    chain = SupplyChain.from_store(store_copy)
    inp = Inputs.defaults(chain)
    assert inp.value("agreement_factor") == 0.7
    assert inp.row("agreement_factor")["origin"] == "import"  # type: ignore[index]
    assert inp.value("eol_rir", material="Dy") == 0.2
    assert inp.value("eol_rir", material="Nd") == 0.01  # the EU 2023 assessment's, shipped
    assert inp.value("eol_rir", material="rare_earths") == 0.0  # the shipped wildcard
    assert Inputs.defaults().value("agreement_factor") == 0.8
    bad = write(
        tmp_path / "bad.csv",
        "parameter,perspective,material,stage,sector,country,value,unit,source,confidence,notes\n"
        "eol_rri,,Dy,,,,0.2,fraction,me,user,\n"
        "si_sr,,Dy,,,,1.5,index,me,user,\n",
    )
    with pytest.raises(DataValidationError) as exc:
        store_copy.import_csv("criticality_inputs", bad)
    got = [(p.row, p.column) for p in exc.value.problems]
    assert got == [(2, "parameter"), (3, "value")]
    assert "eol_rir" in exc.value.problems[0].hint


def test_a_chain_from_frames_falls_back_on_the_shipped_tables(tiny_chain: SupplyChain) -> None:
    assert list(tiny_chain.facilities["facility"]) == list(facilities()["facility"])
    assert tiny_chain.parameters.query("parameter == 'utilisation'")["value"].tolist() == [0.85]
    own = tiny_chain.facilities.head(1)
    prod = tiny_chain.production.assign(unit="t")
    chain = SupplyChain.from_frames(prod, facilities=own)
    assert len(chain.facilities) == 1
    copy = chain.facilities
    copy.loc[0, "facility"] = "changed"  # callers get copies
    assert chain.facilities.loc[0, "facility"] == own.loc[0, "facility"]


# --------------------------------------------------------------------------- validation (bugs 8, 9)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        (
            "production",
            f"{PROD_HEADER}\nDy,mine,CHN,2024,1,t,content,s,user,\nDy,end_use,USA,2024,100,t,metal,s,user,\n",
        ),
        (
            "capacity",
            "material,stage,country_iso3,year,capacity_t_per_yr,basis,source,confidence,notes\n"
            "Dy,mine,CHN,2024,1,content,s,user,\nDy,end use,USA,2024,100,metal,s,user,\n",
        ),
        (
            "trade",
            "material,stage,exporter_iso3,importer_iso3,year,quantity_t,basis,source,confidence,notes\n"
            "Dy,magnet,CHN,USA,2024,1,NdFeB,s,user,\nDy,end_use,CHN,USA,2024,1,NdFeB,s,user,\n",
        ),
    ],
)
def test_end_use_is_not_a_producing_stage(store_copy: critmin.Store, tmp_path: Path, name: str, text: str) -> None:
    f = tmp_path / f"{name}.csv"
    f.write_text(text, encoding="utf-8")
    before = store_copy.read(name)
    with pytest.raises(DataValidationError) as exc:
        store_copy.import_csv(name, f)
    (problem,) = exc.value.problems
    assert (problem.row, problem.column) == (3, "stage")
    assert "not a producing stage" in problem.reason
    assert "mine, separation, metal, magnet" in problem.hint
    pd.testing.assert_frame_equal(store_copy.read(name), before)


def test_end_use_production_is_refused_by_a_chain_from_frames() -> None:
    prod = pd.DataFrame({"material": ["Dy", "Dy"], "stage": ["mine", "end use"], "country_iso3": ["CHN", "USA"],
                         "year": [2024, 2024], "quantity": [1.0, 2.0], "unit": ["t", "t"]})  # fmt: skip
    with pytest.raises(UserError, match="end_use is not a producing stage"):
        SupplyChain.from_frames(prod)


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf"])
def test_nan_and_inf_stay_refused(store_copy: critmin.Store, tmp_path: Path, bad: str) -> None:
    f = write(tmp_path / "p.csv", f"{PROD_HEADER}\nDy,mine,CHN,2024,{bad},t,content,s,user,\n")
    with pytest.raises(DataValidationError) as exc:
        store_copy.import_csv("production", f)
    assert exc.value.problems[0].column == "quantity"


def _garbage(path: Path, nul: bool) -> Path:
    data = bytes(range(128, 256)) * 64
    path.write_bytes(b"material,stage\n" + (data.replace(b"\x81", b"\x00") if nul else data))
    return path


def test_files_that_are_not_csv_text_are_user_errors(store_copy: critmin.Store, tmp_path: Path) -> None:
    folder = tmp_path / "a_folder.csv"
    folder.mkdir()
    cases = {
        "is a folder": folder,
        "binary file": _garbage(tmp_path / "binary.csv", nul=True),
        "not UTF-8 or Windows-1252": _garbage(tmp_path / "latin.csv", nul=False),
    }
    for why, path in cases.items():
        with pytest.raises(UserError, match=why) as exc:
            store_copy.import_csv("production", path)
        assert "\n" not in str(exc.value)
        assert str(path) in str(exc.value)


@pytest.mark.parametrize("kind", ["subfolder", "not_csv", "binary", "unknown_table"])
def test_bad_overrides_folders_are_user_errors(tmp_path: Path, kind: str) -> None:
    ov = tmp_path / "ov"
    ov.mkdir()
    write(ov / "parameters.csv", f"{PARAM_HEADER}\nutilisation,*,*,*,0.5,fraction,me,user,\n")
    (ov / ".hidden").write_text("ignored")
    if kind == "subfolder":
        (ov / "production.csv").mkdir()
    elif kind == "not_csv":
        (ov / "production.xlsx").write_bytes(b"PK\x03\x04")
    elif kind == "binary":
        _garbage(ov / "production.csv", nul=True)
    else:
        write(ov / "prodution.csv", f"{PROD_HEADER}\n")
    db = tmp_path / "db.duckdb"
    with pytest.raises(UserError) as exc:
        quiet(db).build(ov)
    assert "\n" not in str(exc.value)
    assert not db.exists()  # a failed command writes nothing
    if kind == "unknown_table":
        assert "did you mean 'production'" in str(exc.value)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads unreadable files")
def test_unreadable_files_are_user_errors(store_copy: critmin.Store, tmp_path: Path) -> None:
    f = write(tmp_path / "locked.csv", f"{PROD_HEADER}\n")
    f.chmod(0)
    try:
        with pytest.raises(UserError, match="cannot read"):
            store_copy.import_csv("production", f)
    finally:
        f.chmod(0o644)


def test_files_that_cannot_be_opened_are_user_errors(
    store_copy: critmin.Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file the OS refuses to open (simulated: root reads every file) in an import or an
    overrides folder is a one-line user error naming it."""
    (tmp_path / "ov").mkdir()
    locked = write(tmp_path / "ov" / "production.csv", f"{PROD_HEADER}\n")
    real_open = Path.open

    def refuse(self: Path, *args: object, **kwargs: object) -> object:
        if self == locked:
            raise PermissionError(13, "Permission denied")
        return real_open(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "open", refuse)
    with pytest.raises(UserError, match=r"production.csv: cannot read the file: Permission denied"):
        store_copy.import_csv("production", locked)
    with pytest.raises(UserError, match=r"production.csv: cannot read the file: Permission denied"):
        quiet(tmp_path / "db.duckdb").build(tmp_path / "ov")
    assert not (tmp_path / "db.duckdb").exists()


def test_a_file_of_bad_rows_reports_the_first_problems_and_the_total(store_copy: critmin.Store, tmp_path: Path) -> None:
    n = 3000
    rows = "".join(f"Dy,mine,CHN,{2000 + i % 50},{i} t,t,content,s,user,\n" for i in range(n))
    f = tmp_path / "bad.csv"
    f.write_text(PROD_HEADER + "\n" + rows, encoding="utf-8")
    with pytest.raises(DataValidationError) as exc:
        store_copy.import_csv("production", f)
    err = exc.value
    assert len(err.problems) == MAX_PROBLEMS == 50
    assert err.total == n  # type: ignore[attr-defined]
    assert [p.row for p in err.problems] == list(range(2, 52))
    assert {(p.column, p.reason) for p in err.problems} == {("quantity", "not a number")}
    assert err.problems[3].value == "3 t"
    assert f"{n:,} problem(s), the first 50 listed; first at line 2" in str(err)
