"""The export-control monitor: the timeline's states as of a date (hand-made frames and the shipped
data), every modelled control of the data converted into a scenario that loads and runs, and the
two commands (`critmin monitor controls`, `critmin scenarios from-control`)."""

from __future__ import annotations

import json
import tomllib
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

import critmin
from conftest import run_cli
from critmin import jobs
from critmin.dataset import data_dir, shipped_table
from critmin.errors import UnknownNameError, UserError
from critmin.monitor.controls import (
    NO_LATER_EVENT,
    STATES,
    control_timeline,
    covers_mineral,
    mineral_terms,
    parse_date,
    parse_suspends,
)
from critmin.monitor.convert import control_scenario, event_stages
from critmin.scenario import load_scenario, parse_scenario

#: the events of the shipped data that concern a simulated material flow, and so convert
CONVERTIBLE = {"CN-2010-JP", "CN-2023-023", "CN-2024-046", "CN-2025-018", "CN-2025-061"}
#: the October 2025 package that Announcement 70 suspended
OCTOBER_2025 = ["CN-2025-055", "CN-2025-056", "CN-2025-057", "CN-2025-058", "CN-2025-061", "CN-2025-062"]


def events(*rows: dict[str, str]) -> pd.DataFrame:
    """A hand-made export_controls frame: every column the timeline shows, blank unless given."""
    cols = ["event_id", "date_announced", "date_effective", "date_end", "country", "instrument", "items", "minerals",
            "supply_chain_stage", "measure", "target", "status", "suspends", "source", "confidence"]  # fmt: skip
    base = dict.fromkeys(cols, "") | {"country": "CHN", "target": "all", "source": "test", "confidence": "user"}
    return pd.DataFrame([base | r for r in rows], columns=cols)


def state_of(frame: pd.DataFrame, as_of: str, event_id: str) -> pd.Series:
    return control_timeline(frame, as_of=as_of).set_index("event_id").loc[event_id]


# a control, announced then effective, suspended by S for the second half of 2025
CONTROL = {"event_id": "C", "date_announced": "2025-01-10", "date_effective": "2025-02-01",
           "measure": "export licensing", "minerals": "gallium", "status": "in force"}  # fmt: skip
SUSPENSION = {"event_id": "S", "date_announced": "2025-05-20", "date_effective": "2025-06-01",
              "date_end": "2025-12-31", "measure": "suspension", "suspends": "C", "minerals": "gallium"}  # fmt: skip


@pytest.mark.parametrize(
    ("as_of", "state"),
    [
        ("2025-01-05", "not yet announced"),
        ("2025-01-10", "announced"),
        ("2025-01-31", "announced"),
        ("2025-02-01", "in force"),
        ("2025-05", "in force"),  # the month's last day: S announced, not yet in force
        ("2025-06-01", "suspended"),
        ("2025-12-31", "suspended"),  # end dates are inclusive
        ("2026-01-01", "suspension lapsed"),
        ("2030-01", "suspension lapsed"),
    ],
)
def test_a_control_passes_through_its_states_by_date(as_of: str, state: str) -> None:
    row = state_of(events(CONTROL, SUSPENSION), as_of, "C")
    assert row["state"] == state
    assert row["state"] in STATES


def test_suspended_and_lapsed_name_the_suspension_and_say_nothing_later_is_known() -> None:
    frame = events(CONTROL, SUSPENSION)
    held = state_of(frame, "2025-07-01", "C")
    assert (held["suspended_by"], held["suspended_until"]) == ("S", "2025-12-31")
    assert held["status"] == "suspended until 2025-12-31 by S"
    lapsed = state_of(frame, "2026-02-01", "C")
    assert lapsed["status"] == f"the suspension by S lapsed after 2025-12-31; {NO_LATER_EVENT}"
    assert "no later event" in lapsed["status"]
    # the suspension itself: in force, then ended on its own end date
    assert state_of(frame, "2025-07-01", "S")["status"] == "in force since 2025-06-01 until 2025-12-31; suspends C"
    assert state_of(frame, "2026-01-01", "S")["state"] == "ended"


def test_a_later_suspension_in_the_data_is_named_instead_of_guessing() -> None:
    again = {"event_id": "S2", "date_announced": "2026-01-15", "date_effective": "2026-02-01",
             "date_end": "2026-12-31", "measure": "suspension", "suspends": "C"}  # fmt: skip
    frame = events(CONTROL, SUSPENSION, again)
    before = state_of(frame, "2026-01-10", "C")
    assert before["state"] == "suspension lapsed" and NO_LATER_EVENT in before["status"]
    known = state_of(frame, "2026-01-20", "C")
    assert known["state"] == "suspension lapsed"
    assert "S2 (announced 2026-01-15) suspends it from 2026-02-01" in known["status"]
    assert NO_LATER_EVENT not in known["status"]
    again_held = state_of(frame, "2026-03-01", "C")
    assert (again_held["state"], again_held["suspended_by"]) == ("suspended", "S2")


def test_a_suspension_before_the_control_takes_effect() -> None:
    late = CONTROL | {"date_effective": "2025-07-01"}
    row = state_of(events(late, SUSPENSION), "2025-08-01", "C")
    assert row["status"] == "suspended until 2025-12-31 by S, before it took effect (effective date 2025-07-01)"


def test_partial_suspension_ended_informal_and_the_stored_status_is_not_read() -> None:
    partial = SUSPENSION | {"suspends": "C (clause 2)"}
    ended = {"event_id": "E", "date_announced": "2024-01", "date_effective": "2024-01", "date_end": "2024-06",
             "measure": "ban", "status": "in force"}  # fmt: skip
    informal = {"event_id": "I", "date_announced": "2010-09", "date_effective": "2010-09",
                "instrument": "informal (no published instrument)", "measure": "informal embargo"}  # fmt: skip
    frame = events(CONTROL | {"status": "suspended"}, partial, ended, informal)
    row = state_of(frame, "2025-07-01", "C")
    assert row["state"] == "partly suspended"
    assert row["status"] == "in force since 2025-02-01; clause 2 suspended until 2025-12-31 by S"
    lapsed = state_of(frame, "2026-01-01", "C")
    assert lapsed["state"] == "suspension lapsed"
    assert lapsed["status"].startswith("in force since 2025-02-01; the suspension of clause 2 by S lapsed after")
    assert state_of(frame, "2024-06-30", "E")["state"] == "in force"  # YYYY-MM as an end: the month's last day
    assert state_of(frame, "2024-07-01", "E")["status"] == "ended: in force from 2024-01 until 2024-06 (its end date)"
    assert state_of(frame, "2025-01", "I")["state"] == "historical (informal)"
    assert state_of(frame, "2010-08", "I")["state"] == "not yet announced"


def test_a_frame_without_the_suspends_column_has_no_suspensions() -> None:
    frame = events(CONTROL, SUSPENSION).drop(columns="suspends")
    assert state_of(frame, "2025-07-01", "C")["state"] == "in force"


@pytest.mark.parametrize("bad", ["2026-13", "2026-02-30", "1/2026", "2026", "today", ""])
def test_a_malformed_as_of_names_the_option_and_the_form(bad: str) -> None:
    with pytest.raises(UserError, match=r"^--as-of: .* is not a date; expected YYYY-MM-DD or YYYY-MM$"):
        control_timeline(events(CONTROL), as_of=bad)


def test_a_malformed_date_in_the_data_names_the_event_and_column() -> None:
    with pytest.raises(UserError, match=r"^export_controls C: date_effective: 'soon' is not a date"):
        control_timeline(events(CONTROL | {"date_effective": "soon"}), as_of="2025-01")


def test_dates_and_vocabulary() -> None:
    assert parse_date("2024-02", end=True) == date(2024, 2, 29)
    assert parse_suspends(" A ; B (clause 2) ;") == (("A", ""), ("B", "clause 2"))
    assert covers_mineral("rare_earths (Sm,Dy);magnets", "magnets")
    assert not covers_mineral("rare_earths (Sm,Dy)", "Nd")
    assert [t.base for t in mineral_terms("superhard materials;graphite")] == ["superhard materials", "graphite"]
    assert event_stages("ore;refined;technology") == (("mine", "separation"), ("technology",))


# -- the shipped data ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def shipped() -> pd.DataFrame:
    return shipped_table("export_controls")


def states(frame: pd.DataFrame, as_of: str) -> dict[str, str]:
    return dict(control_timeline(frame, as_of=as_of)[["event_id", "state"]].values.tolist())


def test_the_suspensions_come_from_the_data_column(shipped: pd.DataFrame) -> None:
    rel = {r.event_id: parse_suspends(r.suspends) for r in shipped.itertuples() if isinstance(r.suspends, str)}
    assert rel == {
        "CN-2025-070": tuple((e, "") for e in OCTOBER_2025),
        "CN-2025-046SUSP": (("CN-2024-046", "clause 2"),),
    }
    assert {e for pairs in rel.values() for e, _ in pairs} <= set(shipped["event_id"])
    assert (shipped["source"].str.len() > 0).all() and (shipped["confidence"].str.len() > 0).all()


def test_the_october_2025_package_before_and_after_its_suspension(shipped: pd.DataFrame) -> None:
    oct20 = states(shipped, "2025-10-20")
    assert [oct20[e] for e in OCTOBER_2025] == ["announced"] * 5 + ["in force"]  # No. 62 took effect at once
    assert oct20["CN-2025-070"] == "not yet announced"
    t = control_timeline(shipped, as_of="2026-01-15").set_index("event_id")
    for e in OCTOBER_2025:
        assert (t.loc[e, "state"], t.loc[e, "suspended_by"], t.loc[e, "suspended_until"]) == (
            "suspended", "CN-2025-070", "2026-11-10")  # fmt: skip
        assert t.loc[e, "status"].startswith("suspended until 2026-11-10 by CN-2025-070")
    assert t.loc["CN-2025-018", "state"] == "in force"  # not covered by the suspension
    assert states(shipped, "2026-11-10")["CN-2025-061"] == "suspended"


def test_after_november_2026_the_suspensions_have_lapsed_and_nothing_later_is_guessed(shipped: pd.DataFrame) -> None:
    t = control_timeline(shipped, as_of="2027-03").set_index("event_id")
    for e in OCTOBER_2025:
        assert t.loc[e, "state"] == "suspension lapsed"
        assert t.loc[e, "status"] == f"the suspension by CN-2025-070 lapsed after 2026-11-10; {NO_LATER_EVENT}"
    assert t.loc["CN-2025-070", "state"] == "ended"
    assert t.loc["CN-2024-046", "state"] == "suspension lapsed"
    assert "clause 2 by CN-2025-046SUSP lapsed after 2026-11-27" in t.loc["CN-2024-046", "status"]
    assert NO_LATER_EVENT in t.loc["CN-2024-046", "status"]
    assert states(shipped, "2026-11-27")["CN-2024-046"] == "partly suspended"  # its last day


def test_ann_46_clause_2_is_partly_suspended_until_november_2026(shipped: pd.DataFrame) -> None:
    row = control_timeline(shipped, as_of="2025-12-01").set_index("event_id").loc["CN-2024-046"]
    assert row["state"] == "partly suspended"
    assert row["status"] == "in force since 2024-12-03; clause 2 suspended until 2026-11-27 by CN-2025-046SUSP"
    assert states(shipped, "2025-11-08")["CN-2024-046"] == "in force"  # the day before the suspension


def test_the_computed_states_agree_with_the_stored_snapshot_of_november_2025(shipped: pd.DataFrame) -> None:
    computed = states(shipped, "2025-11")
    expected = {"in force": {"in force"}, "suspended": {"suspended"}, "clause 2": {"partly suspended"},
                "historical": {"historical (informal)"}}  # fmt: skip
    for r in shipped.itertuples():
        key = next(k for k in expected if r.status.startswith(k))
        assert computed[r.event_id] in expected[key], (r.event_id, r.status, computed[r.event_id])


def test_the_timeline_before_an_announcement_and_by_mineral(shipped: pd.DataFrame) -> None:
    assert states(shipped, "2025-03")["CN-2025-018"] == "not yet announced"
    ga = control_timeline(shipped, as_of="2026-01", mineral="gallium")
    assert set(ga["event_id"]) == {"CN-2023-023", "CN-2024-046", "US-CN-2025-BUSAN", "CN-2025-046SUSP"}
    dy = set(control_timeline(shipped, as_of="2026-01", mineral="Dy")["event_id"])
    assert {"CN-2025-018", "CN-2025-061", "CN-2010-JP"} <= dy and "CN-2025-057" not in dy
    assert set(control_timeline(shipped, as_of="2026-01", mineral="magnets")["event_id"]) == {
        "CN-2025-018", "CN-2025-061"}  # fmt: skip
    with pytest.raises(UnknownNameError, match="did you mean 'Dy'"):
        control_timeline(shipped, as_of="2026-01", mineral="dysprosim")


# -- conversion ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def chain(built_store: critmin.Store) -> critmin.SupplyChain:
    return jobs.load_chain(built_store)


@pytest.mark.parametrize("event_id", sorted(CONVERTIBLE))
def test_every_modelled_control_converts_to_a_scenario_that_loads_and_runs(
    chain: critmin.SupplyChain, event_id: str, tmp_path: Path
) -> None:
    converted, path = jobs.control_scenario_job(chain, event_id, tmp_path / f"{event_id}.toml", months=2)
    assert path is not None and path.read_text(encoding="utf-8") == converted.text
    s = load_scenario(path, blocs=chain.blocs)
    assert s.disruption and s.months == 2
    row = chain.export_controls.set_index("event_id").loc[event_id]
    assert row["source"] in s.source
    assert f"# source: {row['source']}" in converted.text
    assert s.start == row["date_effective"][:7]
    outcome = jobs.run_job(s, chain)
    assert not outcome.run.summary().empty


def test_exactly_the_events_with_simulated_flows_convert(chain: critmin.SupplyChain) -> None:
    converted, refused = set(), {}
    for event_id in chain.export_controls["event_id"]:
        try:
            control_scenario(chain, event_id, months=1)
            converted.add(event_id)
        except UserError as exc:
            refused[event_id] = str(exc)
    assert converted == CONVERTIBLE
    for event_id, message in refused.items():
        assert message.startswith(event_id) and "\n" not in message
    assert "technology control" in refused["CN-2023-TECH"]
    assert "none of it is simulated" in refused["CN-2023-GRAPHITE"]
    assert "none of it is simulated" in refused["CN-2025-057"]  # Ho, Er, Tm, Eu, Yb
    assert "not material flows" in refused["CN-2025-056"]  # production equipment
    assert "is a suspension" in refused["CN-2025-070"] and "CN-2025-061" in refused["CN-2025-070"]
    assert "not an export control" in refused["US-CN-2025-BUSAN"]


def test_a_ban_is_a_restriction_that_ends_at_its_suspension(chain: critmin.SupplyChain) -> None:
    s = control_scenario(chain, "CN-2024-046").scenario
    [d] = s.disruption
    assert (d.kind, d.exporter, d.materials, d.stages, d.targets) == ("restriction", "CHN", ("Ga",), ("separation",),
                                                                       ("USA",))  # fmt: skip
    assert (s.start, s.months, d.start, d.months, d.severity) == ("2024-12", 12, "2024-12", 11, 1.0)
    # the built-in scenario of the same ban agrees
    builtin = load_scenario("ga-ge-ban-us").disruption[0]
    assert (builtin.start, builtin.months, builtin.targets) == (d.start, d.months, d.targets)
    half = control_scenario(chain, "CN-2024-046", months=36, severity=0.5).scenario
    assert (half.months, half.disruption[0].months, half.disruption[0].severity) == (36, 11, 0.5)


def test_licensing_takes_the_stores_parameters_and_covers_the_magnets_with_listed_elements(
    chain: critmin.SupplyChain,
) -> None:
    converted = control_scenario(chain, "CN-2025-018")
    prm = chain.parameters.set_index("parameter")["value"]
    ds = converted.scenario.disruption
    assert {d.kind for d in ds} == {"licensing"}
    assert {d.processing_months for d in ds} == {prm["licensing_processing_months"]}
    assert {d.approval_share for d in ds} == {prm["licensing_approval_share"]}
    assert all(d.military_denied and d.targets == ("all",) for d in ds)
    by = {(d.materials, d.stages): d.covered_share for d in ds}
    assert by[("Nd", "Pr", "Dy", "Tb"), ("magnet",)] == prm["heavy_grade_share"]
    assert by[("Sm",), ("magnet",)] == 1.0
    below = {m for (mats, st) in by if "magnet" not in st for m in mats}
    # the built-in scenario licenses the same elements (Lu is listed but not simulated)
    builtin = {m for m in load_scenario("apr2025-heavy-ree").disruption[0].materials if m != "Lu"}
    assert below == builtin
    assert "not simulated" in converted.text and "Lu, Sc" in converted.text
    assert "licensing_approval_share = 0.25 (CLEPA" in converted.scenario.source


def test_the_extraterritorial_rule_suspended_before_it_took_effect_is_a_what_if(chain: critmin.SupplyChain) -> None:
    converted = control_scenario(chain, "CN-2025-061", months=6)
    [d] = converted.scenario.disruption
    assert (d.foreign_content, d.stages, d.start, d.months) == (True, ("magnet",), "2025-12", 6)
    assert set(d.materials) == {"Nd", "Pr", "Dy", "Tb", "Sm"}
    assert "before it took effect: this scenario is the control as announced (a what-if)" in converted.text


def test_the_file_is_valid_toml_with_comments_only_in_the_header(chain: critmin.SupplyChain) -> None:
    text = control_scenario(chain, "CN-2010-JP").text
    doc = tomllib.loads(text)
    assert doc["name"] == "from-cn-2010-jp" and len(doc["disruption"]) == 2
    assert text.startswith("# critmin scenario converted from export-control event CN-2010-JP")
    assert parse_scenario(text, "x.toml").disruption[0].targets == ("JPN",)


@pytest.mark.parametrize(
    ("months", "severity", "option"),
    [(0, None, "--months"), (241, None, "--months"), (None, 1.5, "--severity"), (None, -0.1, "--severity")],
)
def test_out_of_range_options_name_the_option(chain, months, severity, option) -> None:
    with pytest.raises(UserError, match=f"^{option}: "):
        control_scenario(chain, "CN-2024-046", months=months, severity=severity)


# -- the commands ----------------------------------------------------------------------------------------


def test_monitor_controls_json_carries_the_event_ids(capsys, db) -> None:
    code, out, _ = run_cli(capsys, db, "monitor", "controls", "--as-of", "2027-01", "--format", "json")
    assert code == 0
    rows = {r["event_id"]: r for r in json.loads(out)}
    assert set(rows) == set(shipped_table("export_controls")["event_id"])
    assert rows["CN-2025-061"]["state"] == "suspension lapsed"
    assert "no later event" in rows["CN-2025-061"]["status"]
    assert rows["CN-2025-018"]["announced"] == "2025-04-04"


def test_monitor_controls_table_and_mineral(capsys, db) -> None:
    code, out, _ = run_cli(capsys, db, "monitor", "controls", "--as-of", "2026-01", "--mineral", "Ga")
    assert code == 0
    assert "as of 2026-01-31" in out and "CN-2024-046" in out and "CN-2025-018" not in out
    code, out, _ = run_cli(capsys, db, "monitor", "controls", "-m", "Ga", "-f", "json")  # today
    assert code == 0 and {r["event_id"] for r in json.loads(out)} >= {"CN-2023-023"}


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["monitor", "controls", "--as-of", "2026-13"], "--as-of: '2026-13' is not a date; expected YYYY-MM-DD"),
        (["monitor", "controls", "--mineral", "galium"], "unknown mineral 'galium' (did you mean 'Ga'?)"),
        (["scenarios", "from-control", "CN-2025-18"], "(did you mean 'CN-2025-018'?)"),
        (["scenarios", "from-control", "CN-2023-TECH"], "CN-2023-TECH is a technology control"),
        (["scenarios", "from-control", "CN-2025-010"], "CN-2025-010 concerns tungsten"),
        (["scenarios", "from-control", "CN-2024-046", "--months", "0"], "--months: 0"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_2(capsys, db, args, expected) -> None:
    code, out, err = run_cli(capsys, db, *args)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and expected in err and "Traceback" not in err


def test_from_control_prints_or_writes_all_or_nothing(capsys, db, tmp_path: Path) -> None:
    code, out, err = run_cli(capsys, db, "scenarios", "from-control", "CN-2025-018", "--months", "3")
    assert code == 0
    assert parse_scenario(out, "stdout").name == "from-cn-2025-018"
    assert "critmin run" in err
    target = tmp_path / "ann18.toml"
    code, out, _ = run_cli(capsys, db, "scenarios", "from-control", "CN-2025-018", "-o", str(target))
    assert code == 0 and f"wrote {target}" in out
    first = target.read_text(encoding="utf-8")
    code, _, err = run_cli(capsys, db, "scenarios", "from-control", "CN-2024-046", "-o", str(target))
    assert code == 2 and "exists; use --force" in err
    assert target.read_text(encoding="utf-8") == first
    code, _, _ = run_cli(capsys, db, "scenarios", "from-control", "CN-2024-046", "-o", str(target), "--force")
    assert code == 0 and load_scenario(target).name == "from-cn-2024-046"
    code, _, err = run_cli(capsys, db, "scenarios", "from-control", "CN-2023-TECH", "-o", str(tmp_path / "t.toml"))
    assert code == 2 and not (tmp_path / "t.toml").exists()
    code, _, err = run_cli(capsys, db, "scenarios", "from-control", "CN-2024-046", "-o", str(db), "--force")
    assert code == 2 and "database" in err
    code, out, _ = run_cli(capsys, db, "run", str(target), "--format", "json")
    assert code == 0 and json.loads(out)["scenario"] == "from-cn-2024-046"


def test_the_pack_file_keeps_the_new_column_beside_source_and_confidence() -> None:
    header = (data_dir() / "pack" / "export_controls.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header.split(",")[-4:] == ["suspends", "notes", "source", "confidence"]
