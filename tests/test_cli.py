"""CLI: real commands against a built store, output parsed and checked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from conftest import run_cli
from critmin.cli import main


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("critmin 0.")


def test_metrics_json_rare_earths_mine(capsys, db):
    code, out, _ = run_cli(capsys, db, "metrics", "--material", "rare_earths", "--stage", "mine", "--year", "2024",
                       "--format", "json")  # fmt: skip
    assert code == 0
    rows = json.loads(out)
    assert len(rows) == 1
    row = rows[0]
    required = {"material", "stage", "year", "hhi", "top1_country", "top1_share", "top3_share", "china_share",
                "bloc_share", "n1_coverage", "hhi_wgi"}  # fmt: skip
    assert required <= set(row)
    assert row["top1_country"] == "CHN"
    assert row["china_share"] == pytest.approx(270_000 / 380_000, abs=1e-9)
    assert row["world_total"] == 380_000
    assert 0 <= row["top1_share"] <= row["top3_share"] <= 1
    assert row["n1_coverage"] == pytest.approx(1 - row["top1_share"])


@pytest.mark.parametrize("stage", ["separation", "magnet"])
def test_downstream_stages_china_near_ninety_percent(capsys, db, stage):
    code, out, _ = run_cli(capsys, db, "metrics", "-m", "rare_earths", "-s", stage, "-y", "2024", "-f", "json")
    assert code == 0
    assert json.loads(out)[0]["china_share"] >= 0.9


def test_metrics_csv_and_bloc(capsys, db):
    code, out, _ = run_cli(capsys, db, "metrics", "-m", "Dy", "--bloc", "allies", "-f", "csv")
    assert code == 0
    header = out.splitlines()[0].split(",")
    assert "bloc_share" in header and "hhi_wgi" in header
    assert len(out.splitlines()) >= 5  # Dy has four stages with data


def test_overview_table(capsys, db):
    code, out, _ = run_cli(capsys, db, "overview")
    assert code == 0
    for stage in ("mine", "separation", "metal", "magnet"):
        assert stage in out
    assert "71.1%" in out  # China's mine share, from USGS


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["metrics", "--material", "Dx"], "did you mean 'Dy'"),
        (["metrics", "--stage", "sepration"], "did you mean 'separation'"),
        (["metrics", "--bloc", "framwork", "-m", "Dy"], "did you mean 'framework'"),
        (["metrics", "-m", "Dy", "--perspective", "USX"], "did you mean"),
        (["nk", "CHINA", "-m", "Dy"], "did you mean"),
        (["data", "export", "prodution", "-o", "x.csv"], "did you mean 'production'"),
        (["data", "sources", "--confidence", "asumption"], "did you mean 'assumption'"),
    ],
)
def test_bad_names_exit_2_with_one_line(capsys, db, args, needle):
    code, _out, err = run_cli(capsys, db, *args)
    assert code == 2
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert needle in lines[0]
    assert "Traceback" not in err


def test_debug_shows_traceback(capsys, db):
    code, _, err = run_cli(capsys, db, "--debug", "metrics", "--material", "Dx")
    assert code == 2
    assert "Traceback" in err


def test_import_bad_csv_prints_table_and_writes_nothing(capsys, db, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "parameter,material,stage,region,value,unit,source,confidence,notes\n"
        "utilisation,*,*,*,abc,fraction,me,user,\n"
        "utilisation,Dx,*,*,0.5,fraction,me,user,\n",
        encoding="utf-8",
    )
    code, _out_before, _ = run_cli(capsys, db, "data", "export", "parameters", "-o", str(tmp_path / "before.csv"))
    assert code == 0
    code, _, err = run_cli(capsys, db, "data", "import", "csv", "parameters", str(bad))
    assert code == 2
    assert "not a number" in err and "did you mean 'Dy'" in err
    assert err.strip().splitlines()[-1].startswith("error: ")
    run_cli(capsys, db, "data", "export", "parameters", "-o", str(tmp_path / "after.csv"))
    assert (tmp_path / "before.csv").read_text() == (tmp_path / "after.csv").read_text()


def test_data_list_sources_and_schema(capsys, db, tmp_path):
    code, out, _ = run_cli(capsys, db, "data", "list")
    assert code == 0 and "production" in out and "2024" in out
    code, out, _ = run_cli(capsys, db, "data", "sources", "--confidence", "assumption", "-f", "json")
    assert code == 0
    rows = json.loads(out)
    assert rows and all(r["confidence"] == "assumption" for r in rows)
    code, out, _ = run_cli(capsys, db, "data", "sources")
    assert code == 0 and "Rows by confidence" in out
    target = tmp_path / "schema.md"
    assert run_cli(capsys, db, "data", "schema", "-o", str(target))[0] == 0
    assert "## `production`" in target.read_text()


def test_export_parquet_roundtrip(capsys, db, tmp_path):
    import pandas as pd

    target = tmp_path / "prod.parquet"
    code, _, _ = run_cli(capsys, db, "data", "export", "production", "--format", "parquet", "-o", str(target))
    assert code == 0
    df = pd.read_parquet(target)
    assert {"source", "confidence"} <= set(df.columns)
    assert df["source"].str.len().min() > 0


def test_user_blocs_file(capsys, db, tmp_path):
    blocs = tmp_path / "blocs.toml"
    blocs.write_text('[blocs]\nquad = ["USA", "JPN", "AUS", "IND"]\n', encoding="utf-8")
    code, out, _ = run_cli(capsys, db, "--blocs", str(blocs), "metrics", "-m", "rare_earths", "-s", "mine", "-y",
                       "2024", "--bloc", "quad", "-f", "json")  # fmt: skip
    assert code == 0
    row = json.loads(out)[0]
    # USGS 2024: USA 45,500 + AUS 29,000 + IND 2,900 t (JPN none) of 380,000 t
    assert row["bloc_share"] == pytest.approx((45_500 + 29_000 + 2_900) / 380_000)


def test_console_script_exit_code(db):
    exe = Path(sys.executable).with_name("critmin")
    if not exe.exists():
        pytest.skip("console script not installed in this environment")
    proc = subprocess.run([str(exe), "--db", str(db), "metrics", "-m", "Dx"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: unknown material 'Dx'")


# -- scenarios and runs -------------------------------------------------------------------------


def test_scenarios_list_and_show(capsys, db):
    code, out, _ = run_cli(capsys, db, "scenarios", "list", "-f", "json")
    assert code == 0
    names = {r["name"] for r in json.loads(out)}
    assert {"apr2025-heavy-ree", "ga-ge-ban-us", "china-embargo-framework-12m"} <= names
    code, out, err = run_cli(capsys, db, "scenarios", "show", "apr2025-heavy-ree")
    assert code == 0 and "Announcement No. 18" in out and "valid scenario" in err
    code, out, _ = run_cli(capsys, db, "scenarios", "show", "ga-ge-ban-us", "--format", "json")
    assert json.loads(out)["disruption"][0]["targets"] == ["USA"]


def test_scenarios_new_writes_a_runnable_template(capsys, db, tmp_path):
    path = tmp_path / "mine.toml"
    code, _, _ = run_cli(capsys, db, "scenarios", "new", "mine", "--out", str(path))
    assert code == 0 and path.exists()
    code, _, err = run_cli(capsys, db, "scenarios", "new", "mine", "--out", str(path))
    assert code == 2 and "exists" in err
    code, out, _ = run_cli(capsys, db, "run", str(path), "--no-save", "-f", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["scenario"] == "mine" and doc["summary"]


def test_run_json_contract_and_storage(capsys, db, tmp_path):
    code, out, _ = run_cli(capsys, db, "run", "ga-ge-ban-us", "--format", "json", "--out", str(tmp_path / "res"))
    assert code == 0
    doc = json.loads(out)
    assert doc["run_id"].startswith("ga-ge-ban-us-")
    keys = {"material", "region", "demand_t", "delivered_t", "shortfall_t", "months_short"}
    assert all(keys <= set(r) for r in doc["summary"])
    assert all(keys | {"month"} <= set(r) for r in doc["by_month"])
    us = next(r for r in doc["summary"] if r["material"] == "Ga" and r["region"] == "USA")
    assert us["shortfall_t"] > 0 and us["delivered_t"] + us["shortfall_t"] == pytest.approx(us["demand_t"])
    # by_month adds up to the summary
    months = [r for r in doc["by_month"] if r["material"] == "Ga" and r["region"] == "USA"]
    assert sum(r["shortfall_t"] for r in months) == pytest.approx(us["shortfall_t"])
    assert sum(r["months_short"] for r in months) == us["months_short"]
    files = ("summary.csv", "by_month.csv", "by_year.csv", "prices.csv", "trade.parquet", "stoppage.csv",
             "products.csv", "results.parquet", "dataset.parquet", "run.json")  # fmt: skip
    for f in files:
        assert (tmp_path / "res" / f).exists()
    # the JSON document carries the market outputs too: trade between regions and regional prices
    assert {"month", "material", "stage", "exporter", "importer", "t", "product_t"} <= set(doc["trade"][0])
    assert {"month", "material", "stage", "region", "spot_index", "paid_index", "usd_per_kg"} <= set(doc["prices"][0])
    trade = pd.read_parquet(tmp_path / "res" / "trade.parquet")
    ga_us = trade[(trade["material"] == "Ga") & (trade["importer"] == "USA") & (trade["exporter"] == "CHN")]
    assert len(ga_us) > 0
    code, out, _ = run_cli(capsys, db, "runs", "-f", "json")
    stored = json.loads(out)
    assert any(
        r["run_id"] == doc["run_id"] and r["engine"] == "fast" and len(r["scenario_sha256"]) == 64 for r in stored
    )


def test_run_table_says_who_runs_short(capsys, db):
    code, out, _ = run_cli(capsys, db, "run", "china-embargo-framework-12m", "--mode", "coordinated", "--no-save")
    assert code == 0
    assert "coordinated mode" in out and "JPN" in out and "USA" in out and "peak world paid price index" in out


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["run", "ga-ge-ban-usa"], "did you mean 'ga-ge-ban-us'"),
        (["run", "ga-ge-ban-us", "--engine", "gpu"], "unknown engine 'gpu'"),
        (["run", "ga-ge-ban-us", "--mode", "solo"], "unknown mode 'solo'"),
    ],
)
def test_run_bad_arguments(capsys, db, args, needle):
    code, _, err = run_cli(capsys, db, *args)
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1


def test_run_invalid_scenario_file_one_line(capsys, db, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\nstart = "2026-01"\nmonths = 12\n[[disruption]]\nexporter = "CHN"\nmaterials = ["Dy"]\n'
                   'stages = ["magnet"]\ntargets = ["all"]\nseverity = 2\nstart = "2026-01"\nmonths = 3\n')  # fmt: skip
    code, _, err = run_cli(capsys, db, "run", str(bad))
    assert code == 2
    assert err.strip() == f"error: {bad}:9: disruption[0].severity: Input should be less than or equal to 1"


def test_scenarios_facilities_lists_ids(capsys, db):
    code, out, _ = run_cli(capsys, db, "scenarios", "facilities", "-f", "json")
    assert code == 0
    rows = {r["id"]: r for r in json.loads(out)}
    assert rows["lynas-malaysia-lamp-light-re-separation"]["country"] == "MYS"
    assert rows["10x-magnet-campus"]["start_year"] == "2028"


def test_run_both_modes_reports_value_of_cooperation(capsys, db, tmp_path):
    code, out, _ = run_cli(capsys, db, "run", "china-embargo-framework-12m", "--mode", "both", "-f", "json",
                       "--no-save", "--out", str(tmp_path / "both"))  # fmt: skip
    assert code == 0
    doc = json.loads(out)
    assert doc["market"]["mode"] == "market" and doc["coordinated"]["mode"] == "coordinated"
    voc = doc["value_of_cooperation"]
    us_nd = next(r for r in voc if r["material"] == "Nd" and r["region"] == "USA")
    # pooling serves defence first: less defence shortfall (not none: under the re-export rule the
    # partners' own Dy does not cover even their defence use)
    assert 0 < us_nd["defence_shortfall_coordinated_t"] < us_nd["defence_shortfall_market_t"]
    assert us_nd["defence_gain_t"] == pytest.approx(
        us_nd["defence_shortfall_market_t"] - us_nd["defence_shortfall_coordinated_t"]
    )
    # pooling by priority moves material from civil use to defence, also from one member to another:
    # weighted by priority (defence 1, civil 1/2) the coalition gains in every material, and its
    # defence gains
    members = [r for r in voc if r["region"] != "others"]
    for m in {r["material"] for r in members}:
        rows = [r for r in members if r["material"] == m]
        assert sum(0.5 * (r["gain_t"] - r["defence_gain_t"]) + r["defence_gain_t"] for r in rows) >= -1e-6
    assert sum(r["defence_gain_t"] for r in members) > 0
    assert (tmp_path / "both" / "value_of_cooperation.csv").exists()
    assert (tmp_path / "both" / "market" / "summary.csv").exists()


# -- output contract: stdout holds only the document; nothing is eaten as markup -------------------


def test_help_and_notes_keep_square_brackets(capsys, db, tmp_path):
    assert main(["mc", "--help"]) == 0
    assert "[[uncertain]]" in capsys.readouterr().out
    code, out, err = run_cli(capsys, db, "mc", "ga-ge-ban-us", "--draws", "3", "--no-save", "-f", "json")
    assert code == 0
    json.loads(out)  # stdout is the document alone
    assert "has no [[uncertain]] entries" in err


def import_lao_row(capsys, db: Path, tmp_path: Path, source: str) -> None:
    """Import one Dy mine row for Laos, 2024, with ``source``, as a user would."""
    rows = tmp_path / "prod.csv"
    rows.write_text(
        "material,stage,country_iso3,year,quantity,unit,basis,source,confidence,notes\n"
        f"Dy,mine,LAO,2024,12,t,content,{source},user,\n",
        encoding="utf-8",
    )
    assert run_cli(capsys, db, "data", "import", "csv", "production", str(rows))[0] == 0


def test_table_cells_are_text_not_markup(capsys, db, tmp_path):
    import_lao_row(capsys, db, tmp_path, "MOFCOM Announcement No. 18 [2025] [bold]x[/bold]")
    code, out, _ = run_cli(capsys, db, "shares", "-m", "Dy", "-s", "mine", "-y", "2024")
    assert code == 0
    assert "No. 18 [2025] [bold]x[/bold]" in out


def test_mc_deterministic_scenario_json_matches_the_single_run(capsys, db):
    from critmin.chain import SupplyChain
    from critmin.engine import run_scenario
    from critmin.scenario import load_scenario
    from critmin.store import Store

    code, out, err = run_cli(capsys, db, "mc", "china-embargo-framework-12m", "--draws", "2500", "--chunk", "1000",
                         "--no-save", "-f", "json")  # fmt: skip
    assert code == 0, err
    doc = json.loads(out)
    assert doc["draws"] == 2500
    single = run_scenario(load_scenario("china-embargo-framework-12m"), SupplyChain.from_store(Store(db)))
    summ = single.summary().set_index(["material", "region"])
    checked = 0
    for r in doc["metrics"]:
        s = summ.loc[(r["material"], r["region"])]
        assert r["expected_demand_t"] == pytest.approx(s.demand_t, rel=1e-5)
        assert r["expected_shortfall_t"] == pytest.approx(s.shortfall_t, rel=1e-5, abs=1e-3)
        assert r["p_shortfall"] == (1.0 if s.months_short > 0 else 0.0)
        checked += 1
    assert checked >= 20
    nd_jpn = summ.loc[("Nd", "JPN")]
    assert nd_jpn.shortfall_t > 0  # the check above covered a pair that runs short in every draw


# -- output places: checked before computing, nothing stored when writing fails ---------------------


def _stored_runs(capsys, db) -> list[dict]:
    code, out, _ = run_cli(capsys, db, "runs", "-f", "json")
    assert code == 0
    return json.loads(out)


@pytest.mark.parametrize("place", ["/proc/critmin-out", "existing-file"])
def test_run_bad_output_place_exits_2_and_stores_nothing(capsys, db, tmp_path, place, monkeypatch):
    if place == "existing-file":
        target = tmp_path / "results.txt"
        target.write_text("keep me", encoding="utf-8")
        place = str(target)
    import critmin.jobs

    def no_compute(*a, **k):
        raise AssertionError("computed before the output place was checked")

    before = _stored_runs(capsys, db)
    monkeypatch.setattr(critmin.jobs, "run_scenario", no_compute)
    code, _out, err = run_cli(capsys, db, "run", "ga-ge-ban-us", "--out", place)
    monkeypatch.undo()
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and place in err and "internal error" not in err
    assert _stored_runs(capsys, db) == before
    if place.endswith("results.txt"):
        assert Path(place).read_text(encoding="utf-8") == "keep me"


def test_run_failing_store_leaves_no_files_and_no_runs(capsys, db, tmp_path, monkeypatch):
    from critmin.results import RunResult

    real_save = RunResult.save
    calls = []

    def save_then_fail(self, store):  # the first mode is stored, the second fails
        calls.append(self.mode)
        if len(calls) == 2:
            raise OSError("disk full")
        return real_save(self, store)

    monkeypatch.setattr(RunResult, "save", save_then_fail)
    before = _stored_runs(capsys, db)
    target = tmp_path / "res"
    code, _, err = run_cli(capsys, db, "run", "ga-ge-ban-us", "--mode", "both", "--out", str(target))
    assert code == 1 and "disk full" in err
    assert calls == ["market", "coordinated"]
    assert not target.exists() and not list(tmp_path.glob(".res.partial-*"))
    assert _stored_runs(capsys, db) == before


def test_tests_run_in_a_sandbox_not_the_users_database():
    from critmin.store import default_db_path

    sandbox = Path(os.environ["CRITMIN_DB"]).parent
    assert sandbox.name.startswith("critmin-tests-") and default_db_path().parent == sandbox
    assert not str(default_db_path()).startswith(str(Path.home()))


def quad_files(tmp_path: Path) -> tuple[Path, Path]:
    """A bloc file defining quad (USA, JPN, AUS, IND) and a scenario that targets it and pools it."""
    blocs = tmp_path / "quad.toml"
    blocs.write_text('[blocs]\nquad = ["USA", "JPN", "AUS", "IND"]\n', encoding="utf-8")
    scen = tmp_path / "quad-ga.toml"
    scen.write_text('name = "quad-ga"\nstart = "2026-01"\nmonths = 6\ncoalition = "quad"\n[[disruption]]\n'
                    'exporter = "CHN"\nmaterials = ["Ga"]\nstages = ["separation"]\ntargets = ["quad"]\n'
                    'severity = 1.0\nstart = "2026-01"\nmonths = 3\n', encoding="utf-8")  # fmt: skip
    return blocs, scen


def test_user_blocs_reach_scenarios(capsys, db, tmp_path):
    blocs, scen = quad_files(tmp_path)
    code, _, err = run_cli(capsys, db, "scenarios", "show", str(scen))
    assert code == 2 and "unknown" in err and "quad" in err
    code, out, err = run_cli(capsys, db, "--blocs", str(blocs), "scenarios", "show", str(scen), "-f", "json")
    assert code == 0, err
    assert json.loads(out)["disruption"][0]["targets"] == ["quad"]
    code, out, err = run_cli(capsys, db, "--blocs", str(blocs), "run", str(scen), "--no-save", "-f", "json")
    assert code == 0, err
    short = {r["region"] for r in json.loads(out)["summary"] if r["material"] == "Ga" and r["shortfall_t"] > 0}
    assert "USA" in short and "CHN" not in short


def test_imports_survive_rebuild_and_show_as_user_layer(capsys, db, tmp_path):
    import_lao_row(capsys, db, tmp_path, "my survey")

    def lao() -> list[dict]:
        code, out, _ = run_cli(capsys, db, "shares", "-m", "Dy", "-s", "mine", "-y", "2024", "-f", "json")
        assert code == 0
        return [r for r in json.loads(out) if r["country_iso3"] == "LAO"]

    assert len(lao()) == 1
    assert run_cli(capsys, db, "data", "build")[0] == 0
    assert len(lao()) == 1  # the user layer survived the rebuild
    code, out, _ = run_cli(capsys, db, "data", "sources")
    assert code == 0 and "user layer: 1 imported rows (production 1)" in out
    code, out, _ = run_cli(capsys, db, "data", "sources", "--table", "production", "-f", "json")
    assert {r["layer"] for r in json.loads(out) if r["source"] == "my survey"} == {"import"}
    assert run_cli(capsys, db, "data", "build", "--discard-imports")[0] == 0
    assert lao() == []


def test_many_bad_rows_list_fifty_and_count_all(capsys, db, tmp_path):
    bad = tmp_path / "bad.csv"
    lines = ["material,stage,country_iso3,year,quantity,unit,basis,source,confidence,notes"]
    lines += [f"Dy,mine,CHN,{2000 + i % 50},oops,t,content,me,user," for i in range(3000)]
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, _, err = run_cli(capsys, db, "data", "import", "csv", "production", str(bad))
    assert code == 2
    assert "3,000 problem(s), the first 50 shown; nothing was written" in " ".join(err.split())
    assert err.strip().splitlines()[-1].startswith("error: ") and "3,000 problem(s), the first 50 listed" in err
    assert err.count("not a number") == 50 + 1  # the table's 50 rows and the error line


@pytest.mark.parametrize("kind", ["folder", "binary"])
def test_import_unreadable_file_exits_2(capsys, db, tmp_path, kind):
    path = tmp_path / "in.csv"
    if kind == "folder":
        path.mkdir()
    else:
        path.write_bytes(bytes(range(256)) * 8)
    code, _, err = run_cli(capsys, db, "data", "import", "csv", "production", str(path))
    assert code == 2 and len(err.strip().splitlines()) == 1 and str(path) in err


# -- hostile inputs found in review ------------------------------------------------------------------


def test_outputs_never_overwrite_the_database(capsys, db, tmp_path):
    before = db.read_bytes()
    for args in (["criticality", "--figure", str(db)], ["data", "export", "production", "-o", str(db)],
                 ["data", "schema", "-o", str(db)], ["data", "schema", "-o", f"{db}.wal"]):  # fmt: skip
        code, _, err = run_cli(capsys, db, *args)
        assert code == 2 and "database" in err, (args, err)
    assert db.read_bytes() == before
    assert run_cli(capsys, db, "overview")[0] == 0


def test_another_tools_duckdb_file_is_never_changed(capsys, tmp_path):
    import duckdb

    path = tmp_path / "theirs.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE production (material VARCHAR, stage VARCHAR, note VARCHAR)")
    con.execute("CREATE TABLE mydata (x INTEGER)")
    con.close()
    before = path.read_bytes()
    for args in (["overview"], ["data", "build"], ["data", "build", "--discard-imports"]):
        code, _, err = run_cli(capsys, path, *args)
        assert code == 2 and "not critmin's" in err and "data build" not in err, (args, err)
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--scenarios", "ga-ge-ban-us,ga-ge-ban-us", "--weights", "1,3"], "named twice"),
        (["--scenarios", "ga-ge-ban-us,lynas-malaysia-outage-6m", "--weights", "nan,1"], "finite"),
        (["--scenarios", "ga-ge-ban-us,lynas-malaysia-outage-6m", "--weights", "inf,1"], "finite"),
    ],
)
def test_ensemble_weights_are_checked(capsys, db, args, needle):
    code, _, err = run_cli(capsys, db, "criticality", "--method", "ensemble", "-p", "USA", *args)
    assert code == 2 and needle in err


def test_user_blocs_reach_the_ensemble_method(capsys, db, tmp_path):
    blocs, scen = quad_files(tmp_path)
    code, out, err = run_cli(capsys, db, "--blocs", str(blocs), "criticality", "--method", "ensemble", "-p", "USA",
                         "--scenarios", str(scen), "--materials", "Ga", "-f", "json")  # fmt: skip
    assert code == 0, err
    assert json.loads(out)[0]["sr"] > 0


def test_scenarios_show_reads_what_run_reads(capsys, db, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ga-ge-ban-us").mkdir()  # e.g. an earlier `--out ga-ge-ban-us`
    code, _, err = run_cli(capsys, db, "scenarios", "show", "ga-ge-ban-us", "-f", "json")
    assert code == 0, err
    assert run_cli(capsys, db, "run", "ga-ge-ban-us", "--no-save", "-f", "json")[0] == 0


def test_numbers_beyond_what_can_be_stored_or_held_are_user_errors(capsys, db, tmp_path):
    big = tmp_path / "big.toml"
    big.write_text('name = "big"\nstart = "2026-01"\nmonths = 6\nseed = 99999999999999999999\n[[outage]]\n'
                   'region = "MYS"\nstage = "separation"\ncapacity_lost = 1.0\nstart = "2026-01"\nmonths = 2\n',
                   encoding="utf-8")  # fmt: skip
    late = tmp_path / "late.toml"
    late.write_text(big.read_text().replace("seed = 99999999999999999999", "").replace('"2026-01"', '"9999-01"'))
    heavy = tmp_path / "heavy.toml"
    heavy.write_text(big.read_text().replace("seed = 99999999999999999999\n", "") + '[[uncertain]]\n'
                     'field = "outage[0].months"\ndist = "choice"\nvalues = [1, 2]\nweights = [1e308, 1e308]\n',
                     encoding="utf-8")  # fmt: skip
    cases = [
        (["run", str(big)], "less than or equal to"),
        (["run", str(late)], "outside the years"),
        (["mc", str(heavy), "-n", "2"], "finite sum"),
        (["mc", "ga-ge-ban-us", "--seed", "99999999999999999999", "-n", "2"], "--seed"),
        (["mc", "ga-ge-ban-us", "--draws", "10000000000"], "GiB"),
        (["mc", "ga-ge-ban-us", "--scheduler", "tls://127.0.0.1:8786", "-n", "2"], "--scheduler"),
        (["data", "schema", "-o", "/proc/critmin-schema.md"], "cannot write"),
        (["data", "export", "production", "-o", "/proc/critmin-x.csv"], "cannot write"),
        (["scenarios", "new", "x" * 300], "file name"),
    ]
    for args, needle in cases:
        code, _, err = run_cli(capsys, db, *args)
        assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, (args, err)


def test_template_names_with_quotes_load_as_written(capsys, db, tmp_path):
    path = tmp_path / "q.toml"
    assert run_cli(capsys, db, "scenarios", "new", 'my "big" case', "--out", str(path))[0] == 0
    code, out, _ = run_cli(capsys, db, "scenarios", "show", str(path), "-f", "json")
    assert code == 0 and json.loads(out)["name"] == 'my "big" case'


def test_figure_place_is_checked_before_assessing(capsys, db, monkeypatch):
    import critmin.criticality as crit

    def fail(*a, **k):
        raise AssertionError("assessed before the output place was checked")

    monkeypatch.setattr(crit, "assess", fail)
    code, _, err = run_cli(capsys, db, "criticality", "--figure", "/proc/critmin-fig/x.html")
    assert code == 2 and "cannot write" in err


def test_mc_says_what_it_cannot_simulate_and_stores_an_absolute_path(capsys, tmp_path, monkeypatch, built_store):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rel.duckdb").write_bytes(built_store.path.read_bytes())
    code, out, err = run_cli(capsys, Path("rel.duckdb"), "mc", "ga-ge-ban-us", "-n", "3", "-f", "json")
    assert code == 0, err
    assert "Ge not simulated" in err
    assert Path(json.loads(out)["per_draw_parquet"]).is_absolute()


def test_first_compile_shows_a_spinner_on_a_terminal_and_passes_errors_on(monkeypatch):
    import io
    import time

    from rich.console import Console

    from critmin import cli
    from critmin.engine import month_loop

    buf = io.StringIO()
    monkeypatch.setattr(cli, "err", Console(file=buf, force_terminal=True, width=100))
    monkeypatch.setattr(month_loop, "warm_up", lambda: time.sleep(0.8))
    cli._warm_engine()
    assert "compiling the engine" in buf.getvalue()

    def broken() -> None:
        raise RuntimeError("no compiler")

    monkeypatch.setattr(month_loop, "warm_up", broken)
    with pytest.raises(RuntimeError, match="no compiler"):
        cli._warm_engine()
    # quick (cached) loads show nothing
    buf.truncate(0)
    buf.seek(0)
    monkeypatch.setattr(month_loop, "warm_up", lambda: None)
    cli._warm_engine()
    assert "compiling" not in buf.getvalue()
