"""The framework monitor: commitment status by date and evidence, evidence files validated like
imports, and the indicators (allied share of capacity) hand-computed on a tiny chain."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import pytest

from conftest import production_frame, run_cli
from critmin.chain import SupplyChain
from critmin.dataset import shipped_table
from critmin.errors import DataValidationError, UserError
from critmin.monitor.framework import (
    check_commitments,
    commitment_status,
    evidence_problems,
    framework_indicators,
    indicators_figure,
    parse_date,
    read_evidence,
)


def commitments() -> pd.DataFrame:
    return pd.DataFrame(
        {"commitment_id": ["A", "B"], "instrument": ["I", "I"], "parties": ["USA;JPN", "USA;JPN"],
         "commitment": ["finance projects", "a rapid response group"], "signed": ["2025-10-28", "2025-10-28"],
         "due": ["2026-04-28", ""], "source": "s", "confidence": "read"}
    )  # fmt: skip


def evidence(*rows: tuple[str, str, str, str]) -> pd.DataFrame:
    """Evidence rows from (evidence_id, commitment_id, date, effect)."""
    df = pd.DataFrame(rows, columns=["evidence_id", "commitment_id", "date", "effect"])
    return df.assign(text="what happened", source="a source", confidence="read-secondary")


def status(as_of: str, ev: pd.DataFrame | None = None) -> dict[str, str]:
    df = commitment_status(commitments(), evidence() if ev is None else ev, parse_date(as_of, "as of"))
    return dict(zip(df["commitment_id"], df["status"], strict=True))


# --------------------------------------------------------------------------- status rules


@pytest.mark.parametrize(
    ("as_of", "expected"),
    [
        ("2026-01-15", "upcoming"),
        ("2026-03-28", "upcoming"),  # 31 days before the due date
        ("2026-03-29", "due"),  # 30 days before: the window opens
        ("2026-04-28", "due"),  # the due date itself
        ("2026-04-29", "overdue"),
        ("2027-01-01", "overdue"),
    ],
)
def test_status_moves_from_upcoming_to_due_to_overdue(as_of: str, expected: str) -> None:
    assert status(as_of)["A"] == expected


def test_days_to_due_counts_down_and_is_none_without_a_due_date() -> None:
    df = commitment_status(commitments(), evidence(), date(2026, 4, 18)).set_index("commitment_id")
    assert df.loc["A", "days_to_due"] == 10
    assert df.loc["B", "days_to_due"] is None
    late = commitment_status(commitments(), evidence(), date(2026, 5, 1)).set_index("commitment_id")
    assert late.loc["A", "days_to_due"] == -3


def test_met_only_by_evidence_dated_on_or_before_the_day() -> None:
    ev = evidence(("e1", "A", "2026-04-10", "met"))
    assert status("2026-04-09", ev)["A"] == "due"  # not known yet
    assert status("2026-04-10", ev)["A"] == "met"
    assert status("2026-12-31", ev)["A"] == "met"  # met stays met after the due date
    df = commitment_status(commitments(), ev, date(2026, 4, 9))
    assert df.set_index("commitment_id").loc["A", "evidence"] == []


def test_progress_and_related_evidence_change_no_status_but_are_listed() -> None:
    ev = evidence(("e1", "A", "2026-01-10", "progress"), ("e2", "B", "2026-01-11", "related"),
                  ("e3", "A", "2026-01-09", "related"))  # fmt: skip
    df = commitment_status(commitments(), ev, date(2026, 2, 1)).set_index("commitment_id")
    assert df.loc["A", "status"] == "upcoming" and df.loc["B", "status"] == "unknown"
    assert [e["evidence_id"] for e in df.loc["A", "evidence"]] == ["e3", "e1"]  # oldest first
    assert df.loc["A", "last_evidence"] == "2026-01-10 progress: what happened"
    assert df.loc["A", "evidence"][0]["source"] == "a source"


def test_unknown_without_due_date_and_without_evidence() -> None:
    assert status("2026-01-01")["B"] == "unknown"
    assert status("2030-01-01")["B"] == "unknown"  # no date ever makes it late
    assert status("2026-01-01", evidence(("e1", "B", "2025-12-01", "met")))["B"] == "met"
    assert status("2026-01-01", evidence(("e1", "B", "2025-12-01", "missed")))["B"] == "overdue"


def test_missed_evidence_makes_a_commitment_overdue() -> None:
    ev = evidence(("e1", "A", "2026-04-28", "missed"))
    assert status("2026-04-27", ev)["A"] == "due"
    assert status("2026-04-28", ev)["A"] == "overdue"


def test_a_term_that_ends_is_not_overdue() -> None:
    c = commitments().assign(due_kind=["term_end", ""])
    ev = evidence()
    before = commitment_status(c, ev, date(2026, 4, 28)).set_index("commitment_id")
    after = commitment_status(c, ev, date(2026, 4, 29)).set_index("commitment_id")
    assert before.loc["A", "status"] == "due"
    assert after.loc["A", "status"] == "unknown"  # the term ran out: nothing fell due
    shipped = commitment_status(shipped_table("framework_commitments"), ev, date(2026, 11, 30))
    assert shipped.set_index("commitment_id").loc["CN-SUSPEND-2026", "status"] == "unknown"


# --------------------------------------------------------------------------- validation


def test_evidence_problems_name_line_field_and_suggest_the_id() -> None:
    ev = evidence(("e1", "A", "2026-01-01", "progress"), ("e2", "AA", "2026-01-01", "progress"),
                  ("e3", "B", "2026-13-01", "progress"), ("e4", "A", "2026-04-01", "missed"))  # fmt: skip
    problems = evidence_problems(ev, pd.DataFrame({"commitment_id": ["A", "AB"], "due": ["2026-04-28", ""]}))
    got = [(p.row, p.column, p.reason) for p in problems]
    assert (3, "commitment_id", "unknown commitment") in got
    assert any(row == 4 and col == "date" and "not a date" in why for row, col, why in got)
    assert any(row == 5 and col == "date" and "before the due date" in why for row, col, why in got)
    assert "did you mean" in next(p.hint for p in problems if p.column == "commitment_id")


def test_bad_dates_are_one_line_user_errors() -> None:
    for bad in ("2026-4-01", "01/04/2026", "2026-02-30", ""):
        with pytest.raises(UserError, match="--as-of"):
            parse_date(bad, "--as-of")
    bad_due = commitments().assign(due=["2026/04/28", ""])
    with pytest.raises(UserError, match=r"commitment 'A': due: .*not a date"):
        check_commitments(bad_due)


def _write(path: Path, rows: list[str]) -> Path:
    path.write_text("evidence_id,commitment_id,date,effect,text,source,confidence\n" + "\n".join(rows) + "\n")
    return path


def test_read_evidence_validates_like_an_import(tmp_path: Path) -> None:
    c = shipped_table("framework_commitments")
    ok = read_evidence(_write(tmp_path / "ok.csv", ["E1,USJP-FIN-6M,2026-04-20,met,projects selected,me,user"]), c)
    assert ok["commitment_id"].tolist() == ["USJP-FIN-6M"] and set(ok["layer"]) == {"file"}
    with pytest.raises(DataValidationError) as exc:
        read_evidence(_write(tmp_path / "id.csv", ["E1,USJP-FIN6M,2026-04-20,met,x,me,user"]), c)
    assert "id.csv" in str(exc.value) and "line 2" in str(exc.value) and "'commitment_id'" in str(exc.value)
    assert "did you mean 'USJP-FIN-6M'" in str(exc.value)
    with pytest.raises(DataValidationError, match=r"field 'effect'"):
        read_evidence(_write(tmp_path / "effect.csv", ["E1,USJP-FIN-6M,2026-04-20,done,x,me,user"]), c)
    with pytest.raises(DataValidationError, match=r"line 3, field 'date'"):
        read_evidence(_write(tmp_path / "date.csv", ["E1,USJP-FIN-6M,2026-04-20,met,x,me,user",
                                                     "E2,USJP-FIN-6M,20-04-2026,met,x,me,user"]), c)  # fmt: skip


# --------------------------------------------------------------------------- the CLI


def rows_by_id(out: str) -> dict[str, dict]:
    return {r["commitment_id"]: r for r in json.loads(out)}


def test_cli_framework_json_rows(capsys, db) -> None:
    code, out, _ = run_cli(capsys, db, "monitor", "framework", "--as-of", "2026-04-01", "--format", "json")
    assert code == 0
    rows = rows_by_id(out)
    assert {"commitment_id", "due", "status", "evidence"} <= set(rows["USJP-FIN-6M"])
    assert rows["USJP-FIN-6M"]["due"] == "2026-04-28" and rows["USJP-FIN-6M"]["status"] == "due"
    assert rows["USJP-MINISTERIAL-180D"]["status"] == "due"
    assert rows["USJP-RRG"]["status"] == "unknown" and rows["USJP-RRG"]["due"] == ""
    assert rows["JP-DEF-2PCT"]["status"] == "met"  # the supplementary budget enacted on 2025-12-16
    enacted = [e for e in rows["JP-DEF-2PCT"]["evidence"] if e["effect"] == "met"]
    assert enacted[0]["date"] == "2025-12-16" and enacted[0]["source"] and enacted[0]["confidence"]
    assert all(e["date"] <= "2026-04-01" for r in rows.values() for e in r["evidence"])


def test_cli_framework_statuses_follow_the_as_of_date(capsys, db) -> None:
    early = rows_by_id(run_cli(capsys, db, "monitor", "framework", "--as-of", "2025-11-01", "-f", "json")[1])
    assert early["JP-DEF-2PCT"]["status"] == "upcoming" and early["JP-DEF-2PCT"]["evidence"] == []
    assert early["USJP-FIN-6M"]["status"] == "upcoming"
    late = rows_by_id(run_cli(capsys, db, "monitor", "framework", "--as-of", "2026-05-01", "-f", "json")[1])
    assert late["USJP-FIN-6M"]["status"] == "overdue" and late["USAU-FIN-1BN"]["status"] == "overdue"
    assert late["CN-SUSPEND-2026"]["status"] == "upcoming"


def test_cli_framework_table(capsys, db) -> None:
    code, out, _ = run_cli(capsys, db, "monitor", "framework", "--as-of", "2026-04-01")
    assert code == 0
    assert "framework commitments as of 2026-04-01" in out and "USJP-FIN-6M" in out and "due" in out


def test_cli_evidence_file_marks_a_commitment_met(capsys, db, tmp_path) -> None:
    f = _write(tmp_path / "mine.csv", ["MY-1,USJP-FIN-6M,2026-04-20,met,projects selected and financed,my notes,user"])
    code, out, _ = run_cli(
        capsys, db, "monitor", "framework", "--as-of", "2026-05-01", "--evidence", str(f), "-f", "json"
    )
    assert code == 0
    row = rows_by_id(out)["USJP-FIN-6M"]
    assert row["status"] == "met"
    assert row["evidence"][-1]["evidence_id"] == "MY-1" and row["evidence"][-1]["layer"] == "file"


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("E1,USJP-FIN6M,2026-04-20,met,x,me,user", ["line 2", "'commitment_id'", "did you mean 'USJP-FIN-6M'"]),
        ("E1,USJP-FIN-6M,2026-4-20,met,x,me,user", ["line 2", "'date'", "not a date"]),
        ("E1,USJP-FIN-6M,2026-04-20,fulfilled,x,me,user", ["line 2", "'effect'", "met"]),
    ],
)
def test_cli_bad_evidence_file_exits_2_naming_file_line_and_field(capsys, db, tmp_path, row, expected) -> None:
    f = _write(tmp_path / "bad.csv", [row])
    code, _, err = run_cli(capsys, db, "monitor", "framework", "--evidence", str(f))
    assert code == 2
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: ") and "bad.csv" in last
    for frag in expected:
        assert frag in last
    assert "Traceback" not in err


def test_cli_bad_as_of_exits_2(capsys, db) -> None:
    code, _, err = run_cli(capsys, db, "monitor", "framework", "--as-of", "2026-13-01")
    assert code == 2 and "--as-of" in err and "Traceback" not in err


def test_imported_evidence_is_used_and_a_bad_imported_id_is_reported(capsys, db, tmp_path) -> None:
    good = _write(tmp_path / "good.csv", ["IMP-1,USAU-FIN-1BN,2026-04-15,met,USD 1 bn each committed,me,user"])
    assert run_cli(capsys, db, "data", "import", "csv", "framework_evidence", str(good))[0] == 0
    rows = rows_by_id(run_cli(capsys, db, "monitor", "framework", "--as-of", "2026-05-01", "-f", "json")[1])
    assert rows["USAU-FIN-1BN"]["status"] == "met"
    assert rows["USAU-FIN-1BN"]["evidence"][-1]["layer"] == "import"
    bad = _write(tmp_path / "bad.csv", ["IMP-2,USAU-FIN1BN,2026-04-15,met,x,me,user"])
    assert run_cli(capsys, db, "data", "import", "csv", "framework_evidence", str(bad))[0] == 0  # columns are fine
    code, _, err = run_cli(capsys, db, "monitor", "framework")
    assert code == 2
    assert "evidence 'IMP-2'" in err and "commitment_id" in err and "did you mean 'USAU-FIN-1BN'" in err


# --------------------------------------------------------------------------- indicators


def tiny_chain() -> SupplyChain:
    prod = production_frame(
        [
            ("rare_earths", "separation", "CHN", 2024, 90.0),
            ("rare_earths", "separation", "AUS", 2024, 10.0),
            ("rare_earths", "magnet", "CHN", 2024, 180.0),
            ("rare_earths", "magnet", "JPN", 2024, 20.0),
        ]
    )
    cap = prod.rename(columns={"quantity": "capacity_t_per_yr"})
    cap["basis"] = cap["stage"].map({"separation": "REO", "magnet": "NdFeB"})
    fac = pd.DataFrame(
        [
            ("Alpha refinery", "AUS", "separation", 20.0, "t/yr REO", "construction", 2026, "oxides"),
            ("Beta NdPr plant", "USA", "separation", 50.0, "t/yr NdPr oxide", "planned", 2026, "NdPr oxide"),
            ("Gamma old plant", "USA", "separation", 30.0, "t/yr REO", "operating", 2023, "oxides"),
            ("Delta magnets", "USA", "metal + magnet", 10.0, "t/yr NdFeB magnets", "operating (ramping)", 2025, ""),
            (
                "Epsilon campus",
                "USA",
                "magnet",
                40.0,
                "t/yr NdFeB magnets (total incl. Delta)",
                "construction",
                2027,
                "",
            ),
            ("Zeta works", "USA", "magnet", 100.0, "t/yr NdFeB", "planned - unlikely to proceed", 2026, ""),
            ("Eta plant", "EST", "magnet", 50.0, "t/yr", "planned", 2026, "sintered NdFeB magnets"),
            ("Theta plant", "USA", "magnet", None, None, "construction", 2026, "sintered NdFeB magnets"),
        ],
        columns=["facility", "country_iso3", "stage", "capacity", "unit", "status", "start_year", "product"],
    )
    return SupplyChain.from_frames(prod, capacity=cap, facilities=fac)


GOALS = pd.DataFrame(
    {"goal_id": ["G1", "G-Dy"], "measure": ["top1_share", "china_share"], "comparison": ["<=", "<"],
     "value": [0.65, 0.5], "material": ["*", "Dy"], "stage": ["*", "*"], "year": [2030, 2030], "notes": ["", ""]}
)  # fmt: skip


def test_indicators_hand_computed() -> None:
    df = framework_indicators(tiny_chain(), [2024, 2025, 2026, 2027], goals=GOALS)
    assert set(df["goal_id"]) == {"G1"}  # the Dy goal does not apply to rare_earths
    got = df.set_index(["stage", "year"])
    sep = got.loc["separation"]
    # separation: base CHN 90 + AUS 10; Alpha (AUS, +20) from 2026; Beta (NdPr oxide) and Gamma (2023) not added
    assert sep["world_capacity_t_per_yr"].tolist() == [100.0, 100.0, 120.0, 120.0]
    assert sep["bloc_share"].tolist() == pytest.approx([0.10, 0.10, 30 / 120, 30 / 120])
    assert sep["top1_share"].tolist() == pytest.approx([0.90, 0.90, 0.75, 0.75])
    mag = got.loc["magnet"]
    # magnet: base CHN 180 + JPN 20; Delta (USA +10) 2025; Eta (EST +50) 2026; Epsilon 40 incl. Delta: +30 in 2027
    assert mag["world_capacity_t_per_yr"].tolist() == [200.0, 210.0, 260.0, 290.0]
    assert mag["bloc_capacity_t_per_yr"].tolist() == [20.0, 30.0, 30.0, 60.0]
    assert mag["top1_share"].tolist() == pytest.approx([0.9, 180 / 210, 180 / 260, 180 / 290])
    assert mag["goal_met"].tolist() == [False, False, False, True]
    assert mag["goal_gap"].iloc[-1] == pytest.approx(180 / 290 - 0.65)
    assert mag["added_capacity_t_per_yr"].tolist() == [0.0, 10.0, 60.0, 90.0]
    assert set(df["top1_country"]) == {"CHN"} and set(df["bloc"]) == {"framework"}
    notes = " | ".join(df.attrs["notes"])
    assert "Beta NdPr plant (2026) left out" in notes and "Zeta works left out" in notes
    assert "Theta plant (2026) left out: no capacity" in notes
    assert "Epsilon campus adds 30 t/yr" in notes


def test_indicators_another_bloc_and_the_shipped_goal() -> None:
    df = framework_indicators(tiny_chain(), [2026], stages=["magnet"], bloc="eu")
    row = df.iloc[0]
    assert row["bloc"] == "eu" and row["bloc_share"] == pytest.approx(50 / 260)  # Estonia is in the EU
    assert row["goal_id"] == "EU-CRMA-2030-SINGLE-COUNTRY" and row["goal_value"] == 0.65


def test_indicators_on_the_shipped_data(built_store) -> None:
    from critmin.jobs import load_chain

    df = framework_indicators(load_chain(built_store))
    assert set(df["stage"]) == {"separation", "magnet"} and df["year"].max() == 2030
    base = df[df["year"] == 2024].set_index("stage")
    assert base.loc["magnet", "top1_share"] == pytest.approx(0.94, abs=0.005)  # 260 kt of 276.6 kt, at 0.85
    assert (df.groupby("stage")["bloc_capacity_t_per_yr"].diff().dropna() >= 0).all()  # the pipeline only adds
    sep = df[df["stage"] == "separation"].set_index("year")
    assert sep.loc[2027, "added_capacity_t_per_yr"] - sep.loc[2026, "added_capacity_t_per_yr"] == 17_500  # Eneabba
    assert not df["goal_met"].any()


def test_indicators_figure() -> None:
    df = framework_indicators(tiny_chain(), [2024, 2025, 2026, 2027], goals=GOALS)
    fig = indicators_figure(df)
    assert isinstance(fig, go.Figure)
    names = [t.name for t in fig.data]
    assert names == ["separation: framework share", "separation: largest supplier (CHN)",
                     "magnet: framework share", "magnet: largest supplier (CHN)", "goal G1"]  # fmt: skip
    assert list(fig.data[3].y) == pytest.approx([0.9, 180 / 210, 180 / 260, 180 / 290])


def test_cli_indicators_json(capsys, db) -> None:
    code, out, err = run_cli(capsys, db, "monitor", "framework", "--indicators", "-f", "json")
    assert code == 0
    rows = json.loads(out)
    assert {r["stage"] for r in rows} == {"separation", "magnet"}
    assert {"bloc_share", "top1_share", "goal_id", "goal_met"} <= set(rows[0])
    assert "held at base-year capacity" in err
