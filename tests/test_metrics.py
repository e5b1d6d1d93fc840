"""Concentration metrics: hand-computed values, properties, shipped data, error paths."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import critmin
from conftest import TINY_WGI_SCALED, governance_frame, one, production_frame, tiny_frames
from critmin import metrics, names
from critmin.chain import SupplyChain, wgi_scaled
from critmin.errors import UnknownNameError, UserError
from critmin.schema import CONFIDENCE_LEVELS

# --------------------------------------------------------------------------- hand-computed


def test_wgi_scaled_uses_latest_year_and_eu_formula(tiny_chain: SupplyChain) -> None:
    # CHN 2022: mean -0.5 -> (2.5 + 0.5) x 2 = 6.0 (2020 all 2.5 would give 0.0: ignored)
    # MMR: (2.5 + 1.5) x 2 = 8.0; AUS: mean(1,2,1.5,1.5,1,2) = 1.5 -> (2.5 - 1.5) x 2 = 2.0
    # MYS: (2.5 - 0.5) x 2 = 4.0
    _, gov = tiny_frames()
    scaled = wgi_scaled(gov)
    assert scaled.to_dict() == pytest.approx(TINY_WGI_SCALED)
    assert tiny_chain.wgi_scaled_of(["CHN", "AUS"]).tolist() == pytest.approx([6.0, 2.0])
    assert math.isnan(tiny_chain.wgi_scaled_of(["OTH"])[0])


def test_production_shares(tiny_chain: SupplyChain) -> None:
    s = metrics.production_shares(tiny_chain, "Dy", "mine", 2024)
    # world = 50 + 30 + 20 = 100; shares 0.5, 0.3, 0.2, largest first
    assert s["country_iso3"].tolist() == ["CHN", "MMR", "AUS"]
    assert s["share"].tolist() == pytest.approx([0.5, 0.3, 0.2])
    assert (s["world_total"] == 100.0).all()
    assert s["share"].sum() == pytest.approx(1.0)


def test_hhi(tiny_chain: SupplyChain) -> None:
    h = metrics.hhi(tiny_chain, "Dy")
    # mine: 50^2 + 30^2 + 20^2 = 2500 + 900 + 400 = 3800
    assert one(h, stage="mine")["hhi"] == pytest.approx(3800.0)
    # separation: 90^2 + 10^2 = 8100 + 100 = 8200
    assert one(h, stage="separation")["hhi"] == pytest.approx(8200.0)
    # rows follow the stage order mine -> separation
    assert h["stage"].tolist() == ["mine", "separation"]
    assert one(h, stage="mine")["n_countries"] == 3


def test_top_k_and_china_and_bloc(tiny_chain: SupplyChain) -> None:
    t = one(metrics.top_k_share(tiny_chain, 3, "Dy", "mine", 2024))
    assert t["top1_country"] == "CHN"
    assert t["top1_share"] == pytest.approx(0.5)
    assert t["top3_share"] == pytest.approx(1.0)  # 0.5 + 0.3 + 0.2
    t2 = one(metrics.top_k_share(tiny_chain, 2, "Dy", "mine", 2024))
    assert t2["top2_share"] == pytest.approx(0.8)  # 0.5 + 0.3
    assert one(metrics.china_share(tiny_chain, "Dy", "mine", 2024))["china_share"] == pytest.approx(0.5)
    # framework = AUS, JPN, MYS, USA: only AUS produces Dy at the mine -> 0.2
    b = one(metrics.bloc_share(tiny_chain, "framework", "Dy", "mine", 2024))
    assert b["bloc_share"] == pytest.approx(0.2)
    assert b["bloc"] == "framework"
    # at separation the framework share is MYS 10/100 = 0.1
    sep = one(metrics.bloc_share(tiny_chain, "FRAMEWORK", "Dy", "separation", 2024))
    assert sep["bloc_share"] == pytest.approx(0.1)


def test_bloc_shares_long_format(tiny_chain: SupplyChain) -> None:
    bs = metrics.bloc_shares(tiny_chain, "Dy", "mine", 2024)
    assert set(bs["bloc"]) == {"allies", "eu", "framework"}
    # allies include AUS (0.2); the EU has no Dy mine output here (0.0)
    assert one(bs, bloc="allies")["bloc_share"] == pytest.approx(0.2)
    assert one(bs, bloc="eu")["bloc_share"] == pytest.approx(0.0)


def test_n1_and_nk_coverage(tiny_chain: SupplyChain) -> None:
    n1 = one(metrics.n1_coverage(tiny_chain, "Dy", "mine", 2024))
    assert n1["n1_coverage"] == pytest.approx(0.5)  # 1 - 0.5 (CHN)
    nk = one(metrics.nk_coverage(tiny_chain, ["CHN", "MMR"], "Dy", "mine", 2024))
    assert nk["nk_coverage"] == pytest.approx(0.2)  # 1 - (0.5 + 0.3)
    assert nk["lost_share"] == pytest.approx(0.8)
    assert nk["dropped"] == "CHN+MMR"
    # a bloc can be dropped too: framework at separation loses MYS 0.1 -> 0.9 left
    nkb = one(metrics.nk_coverage(tiny_chain, ["framework"], "Dy", "separation", 2024))
    assert nkb["nk_coverage"] == pytest.approx(0.9)


def test_hhi_wgi(tiny_chain: SupplyChain) -> None:
    h = metrics.hhi_wgi(tiny_chain, "Dy", year=2024)
    # mine: 0.5^2 x 6 + 0.3^2 x 8 + 0.2^2 x 2 = 1.50 + 0.72 + 0.08 = 2.30
    assert one(h, stage="mine")["hhi_wgi"] == pytest.approx(2.30)
    # separation: 0.9^2 x 6 + 0.1^2 x 4 = 4.86 + 0.04 = 4.90
    assert one(h, stage="separation")["hhi_wgi"] == pytest.approx(4.90)
    assert (h["wgi_coverage"] == 1.0).all()


def test_hhi_wgi_partial_coverage() -> None:
    # USA has no governance data: its share is left out and reported as missing coverage
    prod = production_frame([("Ga", "separation", "CHN", 2024, 80.0), ("Ga", "separation", "USA", 2024, 20.0)])
    chain = SupplyChain.from_frames(prod, governance=governance_frame({"CHN": [-0.5] * 6}))
    row = one(metrics.hhi_wgi(chain))
    assert row["hhi_wgi"] == pytest.approx(0.64 * 6.0)  # 0.8^2 x 6 = 3.84
    assert row["wgi_coverage"] == pytest.approx(0.8)  # 0.8 of named output has WGI data


def test_bottleneck_stage(tiny_chain: SupplyChain) -> None:
    b = one(metrics.bottleneck_stage(tiny_chain, "Dy", 2024))
    # separation 4.90 > mine 2.30
    assert b["bottleneck_stage"] == "separation"
    assert b["hhi_wgi"] == pytest.approx(4.90)


def test_concentration_one_table(tiny_chain: SupplyChain) -> None:
    c = metrics.concentration(tiny_chain, "Dy", year=2024)
    mine = one(c, stage="mine")
    assert mine["hhi"] == pytest.approx(3800.0)
    assert mine["top1_share"] == pytest.approx(0.5)
    assert mine["top3_share"] == pytest.approx(1.0)
    assert mine["china_share"] == pytest.approx(0.5)
    assert mine["bloc_share"] == pytest.approx(0.2)
    assert mine["n1_coverage"] == pytest.approx(0.5)
    assert mine["hhi_wgi"] == pytest.approx(2.30)
    assert mine["bottleneck_stage"] == "separation"
    assert mine["world_total"] == pytest.approx(100.0)
    assert mine["unattributed_share"] == pytest.approx(0.0)


def test_residual_oth_excluded_from_hhi_but_in_denominator() -> None:
    prod = production_frame(
        [
            ("Sb", "mine", "CHN", 2024, 60.0),
            ("Sb", "mine", "RUS", 2024, 20.0),
            ("Sb", "mine", "OTH", 2024, 20.0),
        ]
    )
    chain = SupplyChain.from_frames(prod, governance=governance_frame({"CHN": [-0.5] * 6, "RUS": [-1.0] * 6}))
    # world = 60 + 20 + 20 = 100 (OTH counts); HHI = 60^2 + 20^2 = 3600 + 400 = 4000 (OTH left out)
    h = one(metrics.hhi(chain))
    assert h["hhi"] == pytest.approx(4000.0)
    assert h["world_total"] == pytest.approx(100.0)
    assert h["unattributed_share"] == pytest.approx(0.2)
    assert h["n_countries"] == 2
    assert h["share_sum"] == pytest.approx(1.0)
    t = one(metrics.top_k_share(chain, 3))
    assert t["top1_country"] == "CHN"
    assert t["top3_share"] == pytest.approx(0.8)  # 0.6 + 0.2; OTH is not a supplier
    # OTH is not the largest supplier even if it were: coverage after CHN drops = 0.4
    assert one(metrics.n1_coverage(chain))["n1_coverage"] == pytest.approx(0.4)
    # HHI_WGI = 0.36 x 6 + 0.04 x 7 = 2.16 + 0.28 = 2.44 (RUS: (2.5 + 1) x 2 = 7); OTH ignored
    w = one(metrics.hhi_wgi(chain))
    assert w["hhi_wgi"] == pytest.approx(2.44)
    assert w["wgi_coverage"] == pytest.approx(1.0)


def test_oth_larger_than_any_country_is_not_top1() -> None:
    prod = production_frame(
        [("W", "mine", "CHN", 2024, 30.0), ("W", "mine", "VNM", 2024, 10.0), ("W", "mine", "OTH", 2024, 60.0)]
    )
    t = one(metrics.top_k_share(SupplyChain.from_frames(prod), 1))
    assert t["top1_country"] == "CHN"
    assert t["top1_share"] == pytest.approx(0.3)


def test_reported_world_total_is_denominator() -> None:
    prod = production_frame(
        [
            ("Ga", "separation", "CHN", 2024, 98.0),
            ("Ga", "separation", "JPN", 2024, 1.0),
            ("Ga", "separation", "WLD", 2024, 100.0),
        ]
    )
    chain = SupplyChain.from_frames(prod)
    assert "WLD" not in set(chain.production["country_iso3"])
    s = metrics.production_shares(chain)
    assert "WLD" not in set(s["country_iso3"])
    assert one(s, country_iso3="CHN")["share"] == pytest.approx(0.98)  # 98 / 100, not 98 / 99
    h = one(metrics.hhi(chain))
    assert h["world_total"] == pytest.approx(100.0)
    assert h["share_sum"] == pytest.approx(0.99)
    assert h["hhi"] == pytest.approx(9605.0)  # 98^2 + 1^2 = 9604 + 1
    assert one(metrics.n1_coverage(chain))["n1_coverage"] == pytest.approx(0.02)


def test_share_pct_rows_use_100_as_world() -> None:
    prod = production_frame(
        [("graphite", "separation", "CHN", 2024, 90.0), ("graphite", "separation", "JPN", 2024, 5.0)],
        unit="share_pct",
    )
    h = one(metrics.hhi(SupplyChain.from_frames(prod)))
    assert h["hhi"] == pytest.approx(8125.0)  # 90^2 + 5^2 = 8100 + 25
    assert h["world_total"] == pytest.approx(100.0)


# --------------------------------------------------------------------------- import reliance

# Dy separation 2024 production: CHN 90, MYS 10 (tiny chain). Trade in tonnes:
TRADE_ROWS = [
    ("CHN", "JPN", 30.0),
    ("CHN", "USA", 20.0),
    ("CHN", "WLD", 60.0),  # CHN's reported total: replaces its bilateral 30 + 20 = 50
    ("MYS", "JPN", 5.0),
    ("MYS", "USA", 2.0),
    ("JPN", "USA", 1.0),
]


@pytest.fixture
def trade_chain() -> SupplyChain:
    prod, gov = tiny_frames()
    trade = pd.DataFrame(TRADE_ROWS, columns=["exporter_iso3", "importer_iso3", "quantity_t"])
    trade = trade.assign(material="Dy", stage="separation", year=2024)[
        ["material", "stage", "exporter_iso3", "importer_iso3", "year", "quantity_t"]
    ]
    return SupplyChain.from_frames(prod, governance=gov, trade=trade)


def test_import_reliance_country(trade_chain: SupplyChain) -> None:
    # JPN: production 0, imports 30 (CHN) + 5 (MYS) = 35, exports 1 (USA)
    # apparent consumption = 0 + 35 - 1 = 34; NIR = (35 - 1) / 34 = 1.0
    r = one(metrics.import_reliance(trade_chain, "JPN", "Dy", "separation", 2024))
    assert r["production_t"] == pytest.approx(0.0)
    assert r["imports_t"] == pytest.approx(35.0)
    assert r["exports_t"] == pytest.approx(1.0)
    assert r["apparent_consumption_t"] == pytest.approx(34.0)
    assert r["net_import_reliance"] == pytest.approx(1.0)
    assert r["perspective"] == "JPN"


def test_import_reliance_net_exporter_negative(trade_chain: SupplyChain) -> None:
    # MYS: production 10, exports 5 + 2 = 7, imports 0 -> consumption 3; NIR = -7 / 3
    r = one(metrics.import_reliance(trade_chain, "MYS"))
    assert r["exports_t"] == pytest.approx(7.0)
    assert r["apparent_consumption_t"] == pytest.approx(3.0)
    assert r["net_import_reliance"] == pytest.approx(-7.0 / 3.0)


def test_import_reliance_exporter_wld_total_replaces_bilateral(trade_chain: SupplyChain) -> None:
    # CHN: exports = WLD row 60 (not 30 + 20 = 50, not 50 + 60 = 110)
    # consumption = 90 - 60 = 30; NIR = -60 / 30 = -2.0
    r = one(metrics.import_reliance(trade_chain, "CHN"))
    assert r["exports_t"] == pytest.approx(60.0)
    assert r["production_t"] == pytest.approx(90.0)
    assert r["net_import_reliance"] == pytest.approx(-2.0)


def test_import_reliance_bloc_nets_out_intra_bloc_trade(trade_chain: SupplyChain) -> None:
    # framework = AUS, JPN, MYS, USA. MYS->JPN, MYS->USA, JPN->USA are inside the bloc: ignored.
    # imports = CHN->JPN 30 + CHN->USA 20 = 50 (CHN->WLD is not an import of the bloc)
    # exports = 0; production = MYS 10; consumption = 10 + 50 = 60; NIR = 50 / 60
    r = one(metrics.import_reliance(trade_chain, "framework"))
    assert r["imports_t"] == pytest.approx(50.0)
    assert r["exports_t"] == pytest.approx(0.0)
    assert r["production_t"] == pytest.approx(10.0)
    assert r["net_import_reliance"] == pytest.approx(50.0 / 60.0)
    assert r["perspective"] == "framework"


def test_import_reliance_bloc_nets_intra_bloc_part_of_member_wld_total() -> None:
    prod, gov = tiny_frames()
    trade = pd.DataFrame(
        [("CHN", "JPN", 30.0), ("MYS", "JPN", 5.0), ("MYS", "USA", 2.0), ("MYS", "WLD", 7.0)],
        columns=["exporter_iso3", "importer_iso3", "quantity_t"],
    ).assign(material="Dy", stage="separation", year=2024)
    chain = SupplyChain.from_frames(prod, governance=gov, trade=trade)
    # MYS exports 7 t in total, all of it to JPN and USA, i.e. inside the framework bloc:
    # the bloc exports 0 t. imports = CHN->JPN 30; production = MYS 10
    # consumption = 10 + 30 - 0 = 40; NIR = 30 / 40 = 0.75 (the code gives 23 / 33 = 0.697)
    r = one(metrics.import_reliance(chain, "framework"))
    assert r["exports_t"] == pytest.approx(0.0)
    assert r["net_import_reliance"] == pytest.approx(0.75)


def test_import_reliance_no_trade_gives_empty(tiny_chain: SupplyChain) -> None:
    r = metrics.import_reliance(tiny_chain, "JPN")
    assert r.empty
    assert "net_import_reliance" in r.columns


def test_concentration_with_perspective(trade_chain: SupplyChain) -> None:
    c = metrics.concentration(trade_chain, "Dy", year=2024, perspective="JPN")
    assert one(c, stage="separation")["net_import_reliance"] == pytest.approx(1.0)
    assert math.isnan(one(c, stage="mine")["net_import_reliance"])  # no mine trade rows


# --------------------------------------------------------------------------- properties

ISO3 = ["CHN", "USA", "AUS", "MMR", "JPN", "MYS", "IND", "RUS", "BRA", "VNM"]
GROUPS = [("Nd", "mine"), ("Dy", "separation"), ("Ga", "separation")]
estimates = st.floats(min_value=-2.5, max_value=2.5, allow_nan=False, allow_infinity=False)
quantities = st.floats(min_value=1e-3, max_value=1e7, allow_nan=False, allow_infinity=False)


@st.composite
def random_chains(draw: st.DrawFn) -> tuple[SupplyChain, dict[str, int]]:
    """1-3 (material, stage) groups, each over a random subset of ISO3 with random tonnages,
    and WGI estimates in [-2.5, 2.5] for a random subset of the countries."""
    n_groups = draw(st.integers(min_value=1, max_value=len(GROUPS)))
    rows = []
    sizes = {}
    for material, stage in GROUPS[:n_groups]:
        codes = draw(st.lists(st.sampled_from(ISO3), min_size=1, max_size=len(ISO3), unique=True))
        qty = draw(st.lists(quantities, min_size=len(codes), max_size=len(codes)))
        rows += [(material, stage, c, 2024, q) for c, q in zip(codes, qty, strict=True)]
        sizes[material] = len(codes)
    gov_codes = draw(st.lists(st.sampled_from(ISO3), unique=True))
    gov = governance_frame({c: draw(st.lists(estimates, min_size=6, max_size=6)) for c in gov_codes})
    return SupplyChain.from_frames(production_frame(rows), governance=gov), sizes


@settings(max_examples=30, deadline=None)
@given(random_chains())
def test_properties_of_metrics(case: tuple[SupplyChain, dict[str, int]]) -> None:
    chain, sizes = case
    s = metrics.production_shares(chain)
    assert (s["share"] > 0).all()
    for material, total in s.groupby("material")["share"].sum().items():
        assert abs(total - 1.0) <= 1e-9, material
    n1 = metrics.n1_coverage(chain).set_index("material")
    h = metrics.hhi(chain).set_index("material")
    w = metrics.hhi_wgi(chain).set_index("material")
    assert set(h.index) == set(sizes)
    for material, n in sizes.items():
        assert h.at[material, "n_countries"] == n
        assert 1.0 / n - 1e-9 <= h.at[material, "hhi"] / 10_000 <= 1.0 + 1e-9
        assert 0.0 <= n1.at[material, "n1_coverage"] <= 1.0
        top = s[s["material"] == material]["share"].max()
        assert n1.at[material, "top1_share"] == pytest.approx(top)
        cov = w.at[material, "wgi_coverage"]
        assert 0.0 <= cov <= 1.0 + 1e-9
        if cov > 0:
            assert 0.0 <= w.at[material, "hhi_wgi"] <= 10.0 + 1e-9
        else:
            assert math.isnan(w.at[material, "hhi_wgi"])


@settings(max_examples=20, deadline=None)
@given(random_chains(), st.lists(st.sampled_from(ISO3), min_size=1, unique=True))
def test_property_group_share_complements_nk(case: tuple[SupplyChain, dict[str, int]], group: list[str]) -> None:
    chain, _ = case
    g = metrics.group_share(chain, group).set_index("material")["group_share"]
    nk = metrics.nk_coverage(chain, group).set_index("material")["nk_coverage"]
    assert ((g >= 0.0) & (g <= 1.0 + 1e-9)).all()
    assert ((nk >= 0.0) & (nk <= 1.0)).all()
    assert (g + nk.reindex(g.index)).tolist() == pytest.approx([1.0] * len(g))


# --------------------------------------------------------------------------- shipped data


@pytest.fixture(scope="module")
def real_chain(built_store: critmin.Store) -> SupplyChain:
    return SupplyChain.from_store(built_store)


def test_real_rare_earth_mine_china_share(real_chain: SupplyChain) -> None:
    c = one(metrics.china_share(real_chain, "rare_earths", "mine", 2024))
    assert c["world_total"] == pytest.approx(380_000.0)
    assert c["china_share"] == pytest.approx(270_000 / 380_000, abs=1e-4)
    assert c["china_share"] == pytest.approx(0.7105, abs=1e-4)
    s = metrics.production_shares(real_chain, "rare_earths", "mine", 2024)
    assert s.iloc[0]["country_iso3"] == "CHN"
    assert s.iloc[0]["quantity"] == pytest.approx(270_000.0)


@pytest.mark.parametrize("stage", ["separation", "magnet"])
def test_real_rare_earth_midstream_china_share(real_chain: SupplyChain, stage: str) -> None:
    c = one(metrics.china_share(real_chain, "rare_earths", stage, 2024))
    assert c["china_share"] >= 0.9
    assert c["china_share"] <= 1.0


def test_real_concentration_sane(real_chain: SupplyChain) -> None:
    c = metrics.concentration(real_chain, year=2024)
    assert not c.empty
    named = c.dropna(subset=["hhi"])
    assert ((named["hhi"] >= 0) & (named["hhi"] <= 10_000 * 1.05)).all()
    assert ((c["china_share"] >= 0) & (c["china_share"] <= 1.05)).all()
    w = c.dropna(subset=["hhi_wgi"])
    assert ((w["hhi_wgi"] >= 0) & (w["hhi_wgi"] <= 10.5)).all()
    assert set(c["bottleneck_stage"].dropna()) <= set(names.STAGES)


@pytest.mark.parametrize("name", ["production", "capacity", "demand", "inventory", "governance", "trade", "parameters"])
def test_real_rows_have_provenance(built_store: critmin.Store, name: str) -> None:
    df = built_store.read(name)
    assert len(df) > 0
    assert df["source"].notna().all()
    assert (df["source"].astype(str).str.strip() != "").all()
    assert set(df["confidence"]) <= set(CONFIDENCE_LEVELS)


def test_real_sources_assumptions_listed(built_store: critmin.Store) -> None:
    a = built_store.sources(confidence="assumption")
    assert len(a) > 0
    assert (a["confidence"] == "assumption").all()
    assert (a["rows"] > 0).all()
    assert "parameters" in set(a["table"])
    everything = built_store.sources()
    assert everything["rows"].sum() >= a["rows"].sum()
    assert set(everything["confidence"]) <= set(CONFIDENCE_LEVELS)


# --------------------------------------------------------------------------- error paths


def test_unknown_material_suggests_dy(tiny_chain: SupplyChain) -> None:
    with pytest.raises(UnknownNameError, match=r"did you mean 'Dy'"):
        metrics.hhi(tiny_chain, material="Dx")


def test_unknown_material_raises_user_error_with_hint(tiny_chain: SupplyChain) -> None:
    with pytest.raises(UnknownNameError, match=r"unknown material 'Dx' \(did you mean '") as exc:
        metrics.hhi(tiny_chain, material="Dx")
    assert isinstance(exc.value, UserError)
    with pytest.raises(UnknownNameError, match=r"did you mean 'Dy'"):
        metrics.hhi(tiny_chain, material="Dyy")


def test_material_without_data(tiny_chain: SupplyChain) -> None:
    with pytest.raises(UnknownNameError, match="no data"):
        metrics.hhi(tiny_chain, material="Nd")


def test_stage_and_year_without_data(tiny_chain: SupplyChain) -> None:
    with pytest.raises(UserError, match="stages with data: mine, separation"):
        metrics.hhi(tiny_chain, material="Dy", stage="magnet")
    with pytest.raises(UnknownNameError, match="unknown stage 'smelting'"):
        metrics.hhi(tiny_chain, material="Dy", stage="smelting")
    with pytest.raises(UserError, match="year 1999"):
        metrics.hhi(tiny_chain, material="Dy", year=1999)


def test_unknown_bloc(tiny_chain: SupplyChain) -> None:
    with pytest.raises(UnknownNameError, match=r"unknown country or bloc 'framwork'.*'framework'"):
        metrics.bloc_share(tiny_chain, "framwork", "Dy", "mine", 2024)
    with pytest.raises(UnknownNameError, match="bloc"):
        names.default_blocs().members("quad")


def test_nan_quantity_rejected() -> None:
    prod = production_frame([("Dy", "mine", "CHN", 2024, 50.0), ("Dy", "mine", "MMR", 2024, float("nan"))])
    with pytest.raises(UserError, match=r"NaN quantity for Dy / mine / MMR / 2024"):
        SupplyChain.from_frames(prod)


def test_mixed_units_rejected() -> None:
    prod = pd.concat(
        [
            production_frame([("Dy", "mine", "CHN", 2024, 50.0)]),
            production_frame([("Dy", "mine", "MMR", 2024, 30.0)], unit="share_pct"),
        ]
    )
    with pytest.raises(UserError, match="mixed units"):
        SupplyChain.from_frames(prod)


def test_missing_production_column_rejected() -> None:
    prod = production_frame([("Dy", "mine", "CHN", 2024, 50.0)]).drop(columns=["unit"])
    with pytest.raises(UserError, match="lacks column"):
        SupplyChain.from_frames(prod)


def test_from_frames_does_not_mutate_input() -> None:
    prod = production_frame([("dysprosium", "mining", "CHN", 2024, 50.0), ("Dy", "mine", "WLD", 2024, 60.0)])
    before = prod.copy()
    chain = SupplyChain.from_frames(prod)
    pd.testing.assert_frame_equal(prod, before)
    assert chain.materials == ("Dy",)
    assert chain.stages == ("mine",)
    assert one(metrics.china_share(chain))["china_share"] == pytest.approx(50 / 60)


def test_user_bloc_file(tmp_path: Path, tiny_chain: SupplyChain) -> None:
    f = tmp_path / "blocs.toml"
    f.write_text('[blocs]\nquad = ["USA", "JPN", "AUS", "IND"]\nwide = ["quad", "MMR"]\n', encoding="utf-8")
    blocs = names.default_blocs().with_file(f, names.countries())
    assert blocs.members("quad") == ("AUS", "IND", "JPN", "USA")
    assert blocs.members("QUAD") == ("AUS", "IND", "JPN", "USA")
    assert blocs.members("wide") == ("AUS", "IND", "JPN", "MMR", "USA")
    assert "framework" in blocs  # built-ins kept
    prod, gov = tiny_frames()
    chain = SupplyChain.from_frames(prod, governance=gov, blocs=blocs)
    # quad at the Dy mine: AUS 20 / 100 = 0.2; wide adds MMR 0.3 -> 0.5
    assert one(metrics.bloc_share(chain, "quad", "Dy", "mine", 2024))["bloc_share"] == pytest.approx(0.2)
    assert one(metrics.bloc_share(chain, "wide", "Dy", "mine", 2024))["bloc_share"] == pytest.approx(0.5)


def test_user_bloc_file_unknown_country(tmp_path: Path) -> None:
    f = tmp_path / "blocs.toml"
    f.write_text('[blocs]\nquad = ["USA", "JPX", "AUS", "IND"]\n', encoding="utf-8")
    with pytest.raises(UnknownNameError, match=r"'JPX' \(did you mean 'JPN'\?\)") as exc:
        names.default_blocs().with_file(f, names.countries())
    assert "quad" in str(exc.value)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[blocs\n", "not valid TOML"),
        ('[other]\nx = ["USA"]\n', r"\[blocs\]"),
        ("[blocs]\nquad = []\n", "non-empty list"),
    ],
)
def test_user_bloc_file_malformed(tmp_path: Path, text: str, match: str) -> None:
    f = tmp_path / "blocs.toml"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(UserError, match=match):
        names.default_blocs().with_file(f, names.countries())


def test_user_bloc_file_missing(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not found"):
        names.default_blocs().with_file(tmp_path / "nope.toml", names.countries())
