"""Trade-restriction factors that carry their dates: a control's factor applies from its effective
date to its end or suspension, so an assessment as of a day uses the factors in force then (hand-made
export-control frames and the shipped data)."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from critmin.chain import SupplyChain
from critmin.cli import main
from critmin.controls_timeline import as_of_date
from critmin.criticality import assess, factors_text
from critmin.criticality.inputs import Inputs
from critmin.criticality.supply import default_as_of, perspective, resolve_as_of, trade_factors
from critmin.errors import UserError

COLS = ["event_id", "date_announced", "date_effective", "date_end", "country", "instrument", "items", "minerals",
        "supply_chain_stage", "measure", "target", "status", "suspends", "source", "confidence"]  # fmt: skip

#: a licence on gallium, effective 2025-02-01, suspended by S for the second half of 2025
CONTROL = {"event_id": "C", "date_announced": "2025-01-10", "date_effective": "2025-02-01",
           "measure": "export licensing", "minerals": "gallium", "status": "in force"}  # fmt: skip
SUSPENSION = {"event_id": "S", "date_announced": "2025-05-20", "date_effective": "2025-06-01",
              "date_end": "2025-12-31", "measure": "suspension", "suspends": "C", "minerals": "gallium"}  # fmt: skip
#: a ban on the USA, in force for 2024 only (its own end date)
BAN = {"event_id": "B", "date_announced": "2024-01-01", "date_effective": "2024-01-01", "date_end": "2024-12-31",
       "measure": "ban", "minerals": "gallium", "target": "USA"}  # fmt: skip


def chain_with(*controls: dict[str, str]) -> SupplyChain:
    """Gallium separated in China alone (2024), with the given export controls."""
    base = dict.fromkeys(COLS, "") | {"country": "CHN", "target": "all", "source": "test", "confidence": "user"}
    ec = pd.DataFrame([base | c for c in controls], columns=COLS)
    prod = pd.DataFrame([{"material": "Ga", "stage": "separation", "year": 2024, "unit": "t", "country_iso3": "CHN",
                          "quantity": 100.0}])  # fmt: skip
    return SupplyChain.from_frames(prod, export_controls=ec)


@pytest.fixture(scope="module")
def inp() -> Inputs:
    return Inputs.defaults()


@pytest.fixture(scope="module")
def shipped(built_store) -> SupplyChain:
    return SupplyChain.from_store(built_store)


def t_of(chain: SupplyChain, inp: Inputs, as_of: str, persp: str = "USA", material: str = "Ga") -> float:
    return trade_factors(inp, perspective(chain, persp), material, chain, as_of).get("CHN", (1.0, ""))[0]


@pytest.mark.parametrize(
    ("as_of", "t"),
    [
        ("2025-01-31", 1.0),  # announced, not yet effective
        ("2025-02-01", 1.1),  # effective that day
        ("2025-05-31", 1.1),  # S announced, not yet in force
        ("2025-06-01", 1.0),  # suspended
        ("2025-12-31", 1.0),  # end dates are inclusive
        ("2026-01-01", 1.1),  # the suspension lapsed, no later event: back in force
    ],
)
def test_a_factor_applies_only_inside_its_dates_and_not_while_suspended(inp, as_of, t):
    chain = chain_with(CONTROL, SUSPENSION)
    assert t_of(chain, inp, as_of) == pytest.approx(t)


def test_a_lapsed_suspension_says_so_in_the_basis(inp):
    chain = chain_with(CONTROL, SUSPENSION)
    usa = perspective(chain, "USA")
    why = trade_factors(inp, usa, "Ga", chain, "2026-03")["CHN"][1]
    assert "lapsed after 2025-12-31" in why and "taken as back in force" in why
    assert trade_factors(inp, usa, "Ga", chain, "2025-03")["CHN"][1] == "export licensing in force since 2025-02-01 (C)"


def test_an_ended_control_gives_nothing_and_a_ban_targets_its_perspective(inp):
    chain = chain_with(BAN)
    assert t_of(chain, inp, "2023") == 1.0
    assert t_of(chain, inp, "2024") == pytest.approx(1.2)  # 31 December 2024: its last day
    assert t_of(chain, inp, "2025-01-01") == 1.0  # ended
    assert t_of(chain, inp, "2024", persp="JPN") == 1.0  # not a target


def test_a_partly_suspended_ban_counts_as_a_restriction(inp):
    part = SUSPENSION | {"suspends": "B (clause 2)", "date_effective": "2024-06-01", "date_announced": "2024-06-01"}
    chain = chain_with(BAN, part)
    assert t_of(chain, inp, "2024-05") == pytest.approx(1.2)
    assert t_of(chain, inp, "2024-07") == pytest.approx(1.1)
    assert "partly suspended by S" in trade_factors(inp, perspective(chain, "USA"), "Ga", chain, "2024-07")["CHN"][1]


def test_an_undated_control_is_taken_by_its_status(inp):
    undated = {"event_id": "U", "measure": "export licensing", "minerals": "gallium"}
    assert t_of(chain_with(undated | {"status": "in force"}), inp, "2000") == pytest.approx(1.1)
    assert t_of(chain_with(undated | {"status": "suspended"}), inp, "2030") == 1.0


def test_as_of_accepts_a_year_a_month_or_a_day():
    assert as_of_date("2024") == as_of_date(2024) == date(2024, 12, 31)
    assert as_of_date("2026-06") == date(2026, 6, 30)
    assert as_of_date(date(2025, 3, 1)) == date(2025, 3, 1)
    with pytest.raises(UserError, match="YYYY, YYYY-MM-DD or YYYY-MM"):
        as_of_date("June 2026")


def test_default_as_of_follows_the_data_not_the_clock(tmp_path):
    chain = chain_with(CONTROL)
    f = tmp_path / "inputs.csv"
    f.write_text(
        "parameter,material,sector,country,value,source,confidence\nsector_share,Ga,electronics,,1,test,user\n"
        "wgi_scaled,,,CHN,5,test,user\n"
        # the shipped US sourcing mix of gallium (USGS import sources) names these too
        "wgi_scaled,,,JPN,2,test,user\nwgi_scaled,,,DEU,2,test,user\nwgi_scaled,,,CAN,2,test,user\n"
    )
    inp = Inputs.load([f])
    assert default_as_of(chain) == date(2024, 12, 31)  # the production data's year
    assert resolve_as_of(chain, None)[1].startswith("default: 31 December")
    assert "CHN" not in trade_factors(inp, perspective(chain, "USA"), "Ga", chain)  # C takes effect in 2025
    row = assess(chain, "eu", "USA", ["Ga"], inp)[0].iloc[0]
    assert row["inputs"]["trade_factors_as_of"] == "2024-12-31"
    assert row["inputs"]["stages"]["separation"]["trade_factors"] == {}
    later = assess(chain, "eu", "USA", ["Ga"], inp, as_of="2025-03")[0].iloc[0]
    assert later["inputs"]["stages"]["separation"]["trade_factors"]["CHN"]["t"] == pytest.approx(1.1)
    assert later["sr"] > row["sr"]


# -- the shipped data ---------------------------------------------------------------------------
def test_shipped_ga_ge_licensing_applies_from_2023(shipped, inp):
    for material in ("Ga", "Ge"):
        assert t_of(shipped, inp, "2022", persp="EU", material=material) == 1.0
        tf = trade_factors(inp, perspective(shipped, "EU"), material, shipped, 2024)
        assert tf["CHN"] == (pytest.approx(1.1), "export licensing in force since 2023-08-01 (CN-2023-023)")


def test_shipped_assessment_as_of_2022_and_2024(shipped):
    old = assess(shipped, "eu", "EU", ["Ga"], as_of=2022)[0].iloc[0]
    new = assess(shipped, "eu", "EU", ["Ga"], as_of=2024)[0].iloc[0]
    st_old, st_new = (r["inputs"]["stages"]["separation"] for r in (old, new))
    assert "CHN" not in st_old["trade_factors"]
    assert st_new["trade_factors"]["CHN"]["t"] == pytest.approx(1.1)
    assert new["sr"] > old["sr"]


def test_shipped_ga_ge_ban_on_the_usa_and_its_suspension(shipped, inp):
    # CN-2024-046 (a ban on the USA, from 2024-12-03); CN-2025-046SUSP suspends its clause 2 from
    # 2025-11-09 to 2026-11-27, after which the data hold no later event
    assert t_of(shipped, inp, "2025-06", material="Ge") == pytest.approx(1.2)
    assert t_of(shipped, inp, "2025-12", material="Ge") == pytest.approx(1.1)  # partly suspended
    assert t_of(shipped, inp, "2026-06", material="Ge") == pytest.approx(1.1)
    assert t_of(shipped, inp, "2026-12", material="Ge") == pytest.approx(1.2)  # lapsed: back in force


def test_shipped_october_2025_package_is_suspended_then_lapses(shipped, inp):
    # the October 2025 rare-earth package (CN-2025-056, effective 2025-11-08) carries no Ga or Ge;
    # Announcement 70 (CN-2025-070) suspends it until 2026-11-10
    assert t_of(shipped, inp, "2025-12", material="Nd") == 1.0
    assert t_of(shipped, inp, "2026-06", material="Nd") == 1.0
    assert t_of(shipped, inp, "2026-12", material="Nd") == pytest.approx(1.1)
    assert t_of(shipped, inp, "2025-12", material="Ga") == t_of(shipped, inp, "2026-06", material="Ga")


def test_factors_text_names_the_control_and_its_date():
    why = "export licensing in force since 2025-04-04 (CN-2025-018)"
    assert factors_text({"CHN": {"t": 1.1, "why": why}}) == "CHN 1.1 (CN-2025-018 since 2025-04-04)"


def test_cli_as_of_reaches_the_assessment(capsys):
    assert main(["criticality", "--materials", "Ga", "--as-of", "2022", "--format", "csv"]) == 0
    out = capsys.readouterr()
    assert "export controls in force on 2022-12-31" in out.err
    header, row = out.out.splitlines()[:2]
    assert "t_as_of" in header and "2022-12-31" in row
    assert main(["criticality", "--materials", "Ga", "--as-of", "2024", "--format", "csv"]) == 0
    assert "CN-2023-023 since 2023-08-01" in capsys.readouterr().out
    assert main(["criticality", "--materials", "Ga", "--as-of", "soon"]) == 2
    assert "--as-of: 'soon' is not a date" in capsys.readouterr().err
