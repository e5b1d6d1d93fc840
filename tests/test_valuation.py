"""What a shortfall costs (critmin.levers.valuation): the 2013 stockpile report's Table 10-1
arithmetic, unit conversions, the levers' unit prices and the economic loss of an ensemble."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from critmin.chain import SupplyChain
from critmin.dataset import Params, data_dir, shipped_table
from critmin.errors import UnknownNameError, UserError
from critmin.levers import valuation as v
from critmin.risk import Ensemble
from critmin.schema import CONFIDENCE_LEVELS

#: the rows the issue quotes: (table name, unit, shortfall, $M, shortfall with extra buy, $M)
ISSUE_ROWS = [
    ("Gallium", "kg", 17_686, 10.48, 13_750, 8.15),
    ("Germanium", "kg", 28_888, 35.66, 21_605, 26.67),
    ("Antimony", "short_ton", 22_575, 182.04, 15_195, 122.53),
    ("Tungsten", "lb", 11_288_268, 84.26, 4_311_920, 32.19),
]
NEW_PARAMETERS = ("lever_price_usd_per_kg", "carrying_cost_share_per_yr")


@pytest.fixture(scope="module")
def prm() -> pd.DataFrame:
    return shipped_table("parameters")


# --- Table 10-1 -----------------------------------------------------------------------------------


def test_table_10_1_ships_the_rows_the_issue_quotes() -> None:
    t = v.table_10_1().set_index("material")
    for name, unit, s, val, s_eb, val_eb in ISSUE_ROWS:
        row = t.loc[name]
        assert (row.unit, row.shortfall, row.value_usd_m) == (unit, s, val), name
        assert (row.shortfall_with_extra_buy, row.value_with_extra_buy_usd_m) == (s_eb, val_eb), name
    assert v.table_10_1_totals() == {
        "value_usd_m": 1221.41,
        "value_with_extra_buy_usd_m": 578.75,
        "reduction_usd_m": 642.66,
    }


@pytest.mark.parametrize(("name", "unit", "s", "val", "s_eb", "val_eb"), ISSUE_ROWS)
def test_table_10_1_arithmetic_is_reproduced_at_one_unit_price(
    name: str, unit: str, s: float, val: float, s_eb: float, val_eb: float
) -> None:
    price = val * 1e6 / s  # USD per table unit, from the base columns
    # the base value is shortfall x unit price; the extra buy is valued at the same price
    out = v.shortfall_value({name: s}, {name: price}, unit=unit, extra_buy={name: s - s_eb})
    assert out.value_usd == pytest.approx(val * 1e6)
    assert out.table.shortfall_with_extra_buy.iloc[0] == s_eb
    assert round(out.value_with_extra_buy_usd / 1e6, 2) == val_eb  # the table's figure after rounding
    assert abs(out.value_with_extra_buy_usd / 1e6 - val_eb) <= 0.01
    row = v.check_table_10_1().rows.set_index("material").loc[name]
    assert row.ok and abs(row.difference_usd_m) <= 0.01
    assert row.implied_unit_price_usd == pytest.approx(price)


def test_every_row_of_table_10_1_is_consistent_and_sums_to_the_totals() -> None:
    check = v.check_table_10_1()
    assert check.ok and check.complete
    assert len(check.rows) == v.TABLE_10_1_MATERIAL_ROWS == 18
    assert (check.rows.value_at_implied_price_usd_m - check.rows.value_usd_m).abs().max() < 1e-9
    assert (check.rows.difference_usd_m.abs() <= check.rows.tolerance_usd_m).all()
    assert check.rows.reduction_ok.all()
    totals = check.totals.set_index("column")
    assert totals.loc["value_with_extra_buy_usd_m", "sum_of_rows_usd_m"] == pytest.approx(578.75)
    assert abs(totals.loc["value_usd_m", "difference_usd_m"]) <= 0.01
    assert (totals.difference_usd_m.abs() <= totals.tolerance_usd_m).all()


def test_table_check_flags_a_wrong_row_and_skips_totals_of_an_incomplete_table() -> None:
    t = v.table_10_1()
    wrong = t.assign(value_with_extra_buy_usd_m=np.where(t.material == "Gallium", 8.25, t.value_with_extra_buy_usd_m))
    check = v.check_table_10_1(wrong)
    assert not check.ok
    assert not bool(check.rows.set_index("material").loc["Gallium", "ok"])
    part = v.check_table_10_1(t[t.material.isin([r[0] for r in ISSUE_ROWS])])
    assert part.ok and part.totals is None and not part.complete
    assert "not shipped" in part.note


def test_table_10_1_rows_carry_the_citation() -> None:
    raw = pd.read_csv(data_dir() / "nds_2013_table_10_1.csv", dtype=str, keep_default_na=False)
    assert set(raw.confidence) <= set(CONFIDENCE_LEVELS)
    assert raw.source.str.contains("Strategic and Critical Materials 2013 Report on Stockpile Requirements").all()
    assert raw.source.str.contains("Table 10-1").all()
    # rows whose material assignment is inferred say so
    assert (raw[raw.confidence == "derived"].notes.str.len() > 40).all()


# --- units ----------------------------------------------------------------------------------------


def test_unit_conversions_are_explicit() -> None:
    assert v.KG_PER_UNIT == {"kg": 1.0, "t": 1000.0, "short_ton": 907.18474, "lb": 0.45359237}
    assert v.convert(1, "short ton", "kg") == 907.18474
    assert v.convert(2000, "pounds", "short_ton") == pytest.approx(1.0)
    assert v.convert(1, "t", "kg") == 1000.0
    assert v.convert(1, "MT", "lb") == pytest.approx(1000 / 0.45359237)
    with pytest.raises(UnknownNameError, match="unknown mass unit 'ton'"):
        v.unit_name("ton")  # short or metric: ambiguous, refused


def test_shortfall_value_converts_the_price_unit_and_clips_the_extra_buy() -> None:
    out = v.shortfall_value(
        {"Sb": 10.0, "W": 1000.0},
        {"Sb": 2.0, "W": 3.0},  # USD per kg
        unit={"Sb": "short_ton", "W": "lb"},
        price_unit="kg",
        extra_buy={"Sb": 4.0, "W": 5000.0},
    )
    t = out.table.set_index("material")
    assert t.loc["Sb", "unit_price_usd"] == pytest.approx(2.0 * 907.18474)
    assert t.loc["Sb", "value_usd"] == pytest.approx(10 * 2.0 * 907.18474)
    assert t.loc["Sb", "value_with_extra_buy_usd"] == pytest.approx(6 * 2.0 * 907.18474)
    assert t.loc["W", "shortfall_with_extra_buy"] == 0.0  # the extra buy exceeds the shortfall
    assert out.value_usd == pytest.approx(t.value_usd.sum())
    assert out.reduction_usd == pytest.approx(4 * 2.0 * 907.18474 + 1000 * 3.0 * 0.45359237)


def test_shortfall_value_refuses_bad_input() -> None:
    with pytest.raises(UserError, match=r"no unit price for Dy .*did you mean 'Dy2'"):
        v.shortfall_value({"Dy": 1.0}, {"Dy2": 1.0})
    with pytest.raises(UserError, match="not negative"):
        v.shortfall_value({"Dy": -1.0}, {"Dy": 1.0})
    with pytest.raises(UserError, match="extra buy for Tb, which has no shortfall"):
        v.shortfall_value({"Dy": 1.0}, {"Dy": 1.0}, extra_buy={"Tb": 1.0})


# --- the parameters added: lever prices, carrying cost, values at risk ----------------------------------


def _added_rows(prm: pd.DataFrame) -> pd.DataFrame:
    added = prm.parameter.isin(NEW_PARAMETERS) | prm.parameter.str.startswith(v.VALUE_AT_RISK)
    return prm[added]


def test_every_added_parameter_row_is_sourced(prm: pd.DataFrame) -> None:
    rows = _added_rows(prm)
    assert len(rows) == 21
    assert (rows.source.str.strip().str.len() > 0).all()
    assert set(rows.confidence) <= set(CONFIDENCE_LEVELS) - {"user"}
    not_read = rows[rows.confidence.isin(["derived", "assumption"])]
    assert (not_read.notes.str.len() > 40).all()  # the formula or the reason
    assert (rows.value > 0).all()


def test_lever_prices_exist_for_dy_tb_and_ndfeb(prm: pd.DataFrame) -> None:
    for mat in ("Dy", "Tb", "Nd", "Pr"):
        oxide = v.lever_unit_price_usd_per_t(prm, mat, "separation")
        metal = v.lever_unit_price_usd_per_t(prm, mat, "metal")
        assert oxide.usd_per_t > 0 and oxide.source
        assert metal.usd_per_t > oxide.usd_per_t  # a kg of metal holds more element than a kg of oxide
    magnet = v.lever_unit_price_usd_per_t(prm, "NdFeB")
    assert magnet == v.lever_unit_price_usd_per_t(prm, "rare_earths", "magnet")
    assert magnet.usd_per_t == pytest.approx(112_600.0) and magnet.confidence == "derived"
    assert v.lever_unit_price_usd_per_t(prm, "gallium", "refinery").usd_per_t == 725_000.0
    for mat in ("Y", "Sm", "Gd"):
        assert v.lever_unit_price_usd_per_t(prm, mat, "separation").usd_per_t > 0
    # the Dy metal price is the oxide's divided by Dy's mass fraction of Dy2O3 (magnet_chain.csv)
    dy = v.lever_unit_price_usd_per_t(prm, "Dy", "metal").usd_per_t
    assert dy == pytest.approx(v.lever_unit_price_usd_per_t(prm, "Dy", "separation").usd_per_t / 0.8713, rel=1e-5)
    assert v.carrying_cost_share_per_yr(prm) == v.carrying_cost_share_per_yr(Params(prm), "Tb", "metal") == 0.05


def test_lever_prices_follow_a_chain_parameters_and_a_regional_override(prm: pd.DataFrame) -> None:
    extra = pd.DataFrame(
        [["lever_price_usd_per_kg", "Dy", "separation", "JPN", 300.0, "USD/kg", "user quote", "user", ""]],
        columns=["parameter", "material", "stage", "region", "value", "unit", "source", "confidence", "notes"],
    )
    own = pd.concat([extra, prm.drop(columns="layer")], ignore_index=True)
    assert v.lever_unit_price_usd_per_t(own, "Dy", "separation", region="JPN") == (300_000.0, "user quote", "user")
    assert v.lever_unit_price_usd_per_t(own, "Dy", "separation", region="USA").usd_per_t == 800_000.0


def test_unknown_material_or_missing_price_is_a_user_error_with_did_you_mean(prm: pd.DataFrame) -> None:
    with pytest.raises(UnknownNameError, match=r"unknown material 'Dx' \(did you mean 'Dy'\?\)"):
        v.lever_unit_price_usd_per_t(prm, "Dx", "separation")
    with pytest.raises(UserError, match=r"for Tb at stage 'mine' \(did you mean 'Tb/metal'\?\)"):
        v.lever_unit_price_usd_per_t(prm, "Tb", "mine")
    with pytest.raises(UserError, match="give the stage of Tb"):
        v.lever_unit_price_usd_per_t(prm, "Tb")
    with pytest.raises(UserError, match="its stage is 'magnet'"):
        v.lever_unit_price_usd_per_t(prm, "NdFeB", "metal")
    with pytest.raises(UnknownNameError, match="did you mean 'defence'"):
        v.value_at_risk_usd_per_t(prm, "Nd", "defense")


def test_value_at_risk_of_an_element_is_the_magnet_value_over_its_content(prm: pd.DataFrame) -> None:
    magnet = v.value_at_risk_usd_per_t(prm, "NdFeB", "automotive")
    assert magnet.usd_per_t == pytest.approx(56_520 / 0.003)  # EV price / 3 kg of NdFeB
    for mat, pct in (("Nd", 24.75), ("Pr", 8.25), ("Dy", 0.9), ("Tb", 0.2)):
        el = v.value_at_risk_usd_per_t(prm, mat, "automotive")
        assert el.usd_per_t == pytest.approx(magnet.usd_per_t / (pct / 100)), mat
        assert el.confidence == "assumption" and "magnet_content" in el.source
    # an element's own row beats the derivation
    own = pd.concat(
        [prm, pd.DataFrame([{"parameter": "value_at_risk_usd_per_t_wind", "material": "Nd", "stage": "*",
                             "region": "*", "value": 1.0, "source": "x", "confidence": "user"}])],
        ignore_index=True,
    )  # fmt: skip
    assert v.value_at_risk_usd_per_t(own, "Nd", "wind").usd_per_t == 1.0
    with pytest.raises(UserError, match="no value at risk for Ga in sector wind"):
        v.value_at_risk_usd_per_t(prm, "Ga", "wind")


# --- economic loss and cost-benefit ----------------------------------------------------------------------


def _hand_params() -> pd.DataFrame:
    rows = [
        ("value_at_risk_usd_per_t_defence", "rare_earths", "magnet", 1e6),
        ("value_at_risk_usd_per_t_automotive", "rare_earths", "magnet", 1e5),
        ("value_at_risk_usd_per_t_wind", "rare_earths", "magnet", 2e5),
        ("magnet_content", "Nd", "magnet", 25.0),
        ("magnet_content", "Dy", "magnet", 1.0),
    ]
    df = pd.DataFrame(rows, columns=["parameter", "material", "stage", "value"])
    return df.assign(region="*", source="hand", confidence="assumption")


def _hand_ensemble() -> Ensemble:
    pairs = [("Nd", "JPN"), ("Dy", "JPN"), ("Nd", "USA"), ("Ga", "USA")]
    short = np.array([[10.0, 0.5, 4.0, 1.0], [0.0, 0.25, 0.0, 0.0], [2.0, 0.0, 8.0, 2.0]])
    defence = np.array([[2.0, 0.0, 0.0, 0.0], [0.0, 0.25, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]])
    return Ensemble.from_arrays(
        pairs=pairs, price_materials=["Nd", "Dy", "Ga"], demand_t=np.full((3, 4), 100.0), shortfall_t=short,
        defence_demand_t=np.full((3, 4), 5.0), defence_shortfall_t=defence, first_short_month=np.zeros((3, 4)),
        peak_price_index=np.ones((3, 3)),
    )  # fmt: skip


def test_economic_loss_matches_a_hand_computation() -> None:
    shares = pd.DataFrame(
        {
            "material": ["Nd", "Nd", "Nd", "Dy", "Dy"],
            "region": ["JPN", "JPN", "USA", "JPN", "*"],
            "sector": ["automotive", "wind", "wind", "automotive", "wind"],
            "share": [0.75, 0.25, 1.0, 1.0, 1.0],
        }
    )
    loss = v.economic_loss(_hand_ensemble(), _hand_params(), shares)
    # per t of Nd (25 wt%): defence 4e6, automotive 4e5, wind 8e5; per t of Dy (1 wt%): 1e8, 1e7, 2e7
    nd_jpn_other = 0.75 * 4e5 + 0.25 * 8e5  # 5e5
    expected = np.array(
        [
            [2 * 4e6 + 8 * nd_jpn_other, 0.5 * 1e7, 4 * 8e5, np.nan],
            [0.0, 0.25 * 1e8, 0.0, np.nan],
            [2 * nd_jpn_other, 0.0, 1 * 4e6 + 7 * 8e5, np.nan],
        ]
    )
    np.testing.assert_allclose(loss.per_draw["loss_usd"].values, expected)
    np.testing.assert_allclose(loss.per_draw["defence_loss_usd"].values[:, 1], [0.0, 0.25e8, 0.0])
    # Japan's Nd and Dy are parts of one magnet: the draw counts the larger; the US has Nd alone
    total = np.maximum(expected[:, 0], expected[:, 1]) + expected[:, 2]
    np.testing.assert_allclose(loss.per_draw["total_loss_usd"].values, total)
    assert loss.expected_total_usd == pytest.approx(total.mean())
    assert loss.stderr_total_usd == pytest.approx(total.std(ddof=1) / math.sqrt(3))
    s = loss.summary.set_index(["material", "region"])
    assert s.loc[("Nd", "JPN"), "expected_loss_usd"] == pytest.approx(expected[:, 0].mean())
    assert s.loc[("Nd", "JPN"), "stderr_loss_usd"] == pytest.approx(expected[:, 0].std(ddof=1) / math.sqrt(3))
    assert s.loc[("Nd", "JPN"), "usd_per_t_other"] == pytest.approx(nd_jpn_other)
    assert not s.loc[("Ga", "USA"), "valued"] and loss.unvalued == ("Ga",)
    assert loss.per_draw["loss_usd"].attrs["units"] == "USD"
    assert set(loss.value_at_risk.material) == {"Nd", "Dy"}


def test_economic_loss_refuses_what_it_cannot_value() -> None:
    shares = pd.DataFrame({"material": ["Nd"], "region": ["*"], "sector": ["wind"], "share": [1.0]})
    with pytest.raises(UserError, match="no value at risk for Ga"):
        v.economic_loss(_hand_ensemble(), _hand_params(), shares, materials=["Ga"])
    with pytest.raises(UserError, match="Dy in JPN runs short outside defence"):
        v.economic_loss(_hand_ensemble(), _hand_params(), shares)
    with pytest.raises(UserError, match="give sector_shares"):
        v.economic_loss(_hand_ensemble(), _hand_params())


def test_economic_loss_takes_sector_shares_from_a_chains_demand() -> None:
    demand = pd.DataFrame(
        {
            "material": ["Nd", "Nd", "Nd", "Dy", "Nd"],
            "region": ["JPN", "JPN", "JPN", "JPN", "DEU"],
            "sector": ["defence", "automotive", "wind", "automotive", "wind"],
            "year": [2024] * 5,
            "demand_t_per_yr": [5.0, 60.0, 20.0, 1.0, 50.0],
        }
    )
    production = pd.DataFrame(
        {"material": ["Nd"], "stage": ["mine"], "country_iso3": ["CHN"], "year": [2024], "quantity": [1.0],
         "unit": ["t"]}
    )  # fmt: skip
    chain = SupplyChain.from_frames(production, demand=demand, parameters=_hand_params())
    pairs = [("Nd", "JPN"), ("Nd", "EU")]
    ens = Ensemble.from_arrays(
        pairs=pairs, price_materials=["Nd"], demand_t=np.full((1, 2), 10.0), shortfall_t=[[4.0, 2.0]],
        defence_demand_t=np.ones((1, 2)), defence_shortfall_t=np.zeros((1, 2)), first_short_month=np.zeros((1, 2)),
        peak_price_index=np.ones((1, 1)),
    )  # fmt: skip
    loss = v.economic_loss(ens, chain)
    # Japan: automotive 60 / wind 20 of non-defence demand; the EU's (from DEU) is all wind
    per_t_jpn = 0.75 * 4e5 + 0.25 * 8e5
    np.testing.assert_allclose(loss.per_draw["loss_usd"].values, [[4 * per_t_jpn, 2 * 8e5]])


def test_cost_benefit_reports_cost_against_loss_avoided() -> None:
    cb = v.cost_benefit(cost_usd=5e6, expected_loss_before_usd=40e6, expected_loss_after_usd=15e6)
    assert cb["loss_avoided_usd"] == 25e6 and cb["net_benefit_usd"] == 20e6
    assert cb["benefit_cost_ratio"] == 5.0 and cb["cost_per_usd_avoided"] == 0.2
    free = v.cost_benefit(0.0, 1.0, 0.0)
    assert free["benefit_cost_ratio"] == math.inf
    assert math.isnan(v.cost_benefit(0.0, 1.0, 1.0)["benefit_cost_ratio"])
    assert v.cost_benefit(1.0, 1.0, 1.0)["cost_per_usd_avoided"] == math.inf
    with pytest.raises(UserError, match="cost_usd must be finite and not negative"):
        v.cost_benefit(-1.0, 1.0, 0.0)
