"""Regression tests for the data fixes in the derived base dataset (critmin/dataset.py).

Each test reads the store built from the shipped data (the session fixture ``built_store``) and
checks the derived value against arithmetic on the sourced pack figures, so a revert of the fix
(or a silent change of a pack row) fails here.
"""

from __future__ import annotations

import pandas as pd
import pytest

import critmin
from critmin import metrics
from critmin.chain import SupplyChain
from critmin.dataset import data_dir, read_pack
from critmin.engine.network import build_network
from critmin.errors import UserError
from critmin.names import SECTORS

#: SMM figures from the pack (magnet_grades_and_demand.csv), as the review asked for them
SMM_NDPR_JUNE_2024 = 7325.0  # t Pr-Nd oxide per month, China, June 2024
SMM_MAGNETS_2024 = 260_000.0  # t, China RE permanent magnets, 2024 forecast (May 2024)
IEA_CHINA_MAGNET_SHARE = 0.94
LYNAS_NDPR_FY2025 = 6558.0
MP_NDPR_2024 = 1294.0


def _rows(store: critmin.Store, material: str, stage: str, year: int = 2024) -> pd.DataFrame:
    p = store.read("production")
    return p[(p.material == material) & (p.stage == stage) & (p.year == year)].set_index("country_iso3")


def _q(store: critmin.Store, material: str, stage: str, country: str, year: int = 2024) -> float:
    return float(_rows(store, material, stage, year).loc[country, "quantity"])


def _param(name: str) -> pd.Series:
    prm = pd.read_csv(data_dir() / "assumptions.csv", dtype=str, keep_default_na=False)
    hit = prm[prm.parameter == name]
    assert len(hit) == 1, name
    return hit.iloc[0]


def test_new_reference_files_are_shipped_verbatim_in_the_pack() -> None:
    for name in ("magnet_grades_and_demand", "market_structure"):
        df = read_pack(name)
        assert {"category", "value", "source", "confidence"} <= set(df.columns), name
        assert df["source"].notna().all() and df["confidence"].notna().all(), name
        assert name + ".csv" in (data_dir() / "pack" / "README.md").read_text(encoding="utf-8")
    mgd = read_pack("magnet_grades_and_demand")
    june = mgd[(mgd.category == "ndpr_output") & (mgd.material == "PrNd oxide") & (mgd.year == "2024-06")]
    assert june.value.astype(float).tolist() == [SMM_NDPR_JUNE_2024]


# --- fix 1: China NdPr oxide = SMM June 2024 x 12 (was SMM October 2023, 6,322 t/month) -----------


def test_china_ndpr_separation_is_smm_june_2024_annualised(built_store: critmin.Store) -> None:
    chn_ndpr = SMM_NDPR_JUNE_2024 * 12  # 87,900 t/yr
    nd, pr = _q(built_store, "Nd", "separation", "CHN"), _q(built_store, "Pr", "separation", "CHN")
    assert nd == pytest.approx(chn_ndpr * 0.75)  # 65,925 t
    assert pr == pytest.approx(chn_ndpr * 0.25)  # 21,975 t
    assert nd + pr != pytest.approx(6322.0 * 12)  # the October-2023 figure is gone
    row = _rows(built_store, "Nd", "separation").loc["CHN"]
    assert "2024-06" in row["notes"] and "china_ndpr_smm_month_as_2024" in row["notes"]
    assert "magnet_grades_and_demand.csv" in row["source"]
    assert _param("china_ndpr_smm_month_as_2024")["confidence"] == "assumption"
    # the world NdPr/REO ratio (separated NdPr over mined REO) moves with it: Nd at mine
    mine = _rows(built_store, "rare_earths", "mine").drop(index="WLD").quantity.sum()
    ratio = (chn_ndpr + LYNAS_NDPR_FY2025 + MP_NDPR_2024) / mine  # 24.9 %
    assert _q(built_store, "Nd", "mine", "CHN") == pytest.approx(270_000 * ratio * 0.75)
    assert _q(built_store, "Pr", "mine", "AUS") == pytest.approx(29_000 * ratio * 0.25)


# --- fix 2: China NdFeB = SMM 260 kt (2024 forecast), was Argus 300 kt -----------------------------


def test_china_magnet_output_is_smm_2024_forecast_and_what_derives_from_it(built_store: critmin.Store) -> None:
    mag = _rows(built_store, "rare_earths", "magnet")
    world = SMM_MAGNETS_2024 / IEA_CHINA_MAGNET_SHARE  # 276,596 t
    assert mag.loc["CHN", "quantity"] == pytest.approx(SMM_MAGNETS_2024)
    assert "forecast" in mag.loc["CHN", "notes"]
    assert mag.loc["WLD", "quantity"] == pytest.approx(world)
    assert mag.loc["OTH", "quantity"] == pytest.approx(world - SMM_MAGNETS_2024 - 12_400 - 2_200)  # 1,996 t
    assert mag.loc["OTH", "quantity"] > 0
    # metal_follows_magnet: RE metal = NdFeB x 30 wt%; element content of magnets
    assert _q(built_store, "rare_earths", "metal", "CHN") == pytest.approx(SMM_MAGNETS_2024 * 0.30)
    assert _q(built_store, "Nd", "magnet", "CHN") == pytest.approx(SMM_MAGNETS_2024 * 0.2475)
    assert _q(built_store, "Dy", "metal", "CHN") == pytest.approx(SMM_MAGNETS_2024 * 0.009)
    # capacity = output / utilisation
    cap = built_store.read("capacity")
    chn_cap = cap[(cap.material == "rare_earths") & (cap.stage == "magnet") & (cap.country_iso3 == "CHN")]
    assert float(chn_cap.capacity_t_per_yr.iloc[0]) == pytest.approx(SMM_MAGNETS_2024 / 0.85)
    # demand: China = output - exports; ROW = world - named regions (still positive)
    dem = built_store.read("demand")
    ree = dem[dem.material == "rare_earths"].groupby("region").demand_t_per_yr.sum()
    assert ree["CHN"] == pytest.approx(SMM_MAGNETS_2024 - 58_152)
    assert ree.sum() == pytest.approx(world)
    assert 0 < ree["ROW"] < 20_000
    assert _param("china_magnet_smm_forecast_as_2024")["confidence"] == "assumption"


# --- fix 3: Dy (and Tb) mine split by ore type, not the JRC 2021 split (AUS 20 %) ------------------


def test_dy_and_tb_mine_split_follows_ore_types(built_store: critmin.Store) -> None:
    dy = _rows(built_store, "Dy", "mine").quantity
    tb = _rows(built_store, "Tb", "mine").quantity
    assert set(dy.index) == {"CHN", "MMR", "AUS", "USA", "OTH"}
    assert dy.sum() == pytest.approx(3126.0)  # world total still the JRC 2021 figure
    assert tb.sum() == pytest.approx(600.0)
    reo = _rows(built_store, "rare_earths", "mine").drop(index="WLD").quantity
    ionic = {"CHN": reo["CHN"] * 0.0751, "MMR": reo["MMR"]}  # 20,277 + 27,000 t
    light_total = reo.sum() - sum(ionic.values())
    expected = {
        "CHN": 0.8 * ionic["CHN"] / sum(ionic.values()) + 0.2 * (reo["CHN"] - ionic["CHN"]) / light_total,
        "MMR": 0.8 * ionic["MMR"] / sum(ionic.values()),
        "AUS": 0.2 * reo["AUS"] / light_total,
        "USA": 0.2 * reo["USA"] / light_total,
    }
    for c, share in expected.items():
        assert dy[c] / 3126.0 == pytest.approx(share), c
        assert tb[c] / 600.0 == pytest.approx(share), c  # tb_follows_dy
    # Mount Weld is a light-RE deposit: Australia well under the old 20 % (625 t)
    assert dy["AUS"] / dy.sum() < 0.02
    assert dy["AUS"] == pytest.approx(53.8, abs=0.1)
    # the ionic-clay producers carry the heavies: China + Myanmar > 90 %, Myanmar about half
    assert (dy["CHN"] + dy["MMR"]) / dy.sum() > 0.9
    assert 0.4 < dy["MMR"] / dy.sum() < 0.5
    assert _param("dy_ionic_clay_share")["value"] == "80"
    assert _param("dy_light_ore_split_by_reo")["confidence"] == "assumption"
    split = read_pack("ree_element_split")
    iac = split[split.deposit_or_country.str.startswith("Ion-adsorption clay deposits")]
    assert iac.share_pct.tolist() == [80.0] and iac.confidence.tolist() == ["read-secondary"]


# --- fix 4: gallium refinery shares sum to 1 (2025 summed to 1.01) --------------------------------


def test_gallium_refinery_shares_sum_to_one(built_store: critmin.Store) -> None:
    chain = SupplyChain.from_store(built_store)
    shares = metrics.production_shares(chain, "Ga", "separation")
    sums = shares.groupby("year").share.sum()
    assert sorted(sums.index) == [2023, 2024, 2025]
    for year, s in sums.items():
        assert s == pytest.approx(1.0, abs=1e-12), year
    ga25 = _rows(built_store, "Ga", "separation", 2025)
    assert ga25.loc["WLD", "quantity"] == pytest.approx(909.0)  # 900 + 3 + 6, not the rounded 900
    assert ga25.loc["WLD", "confidence"] == "derived"
    assert ga25.loc["CHN", "quantity"] == pytest.approx(900.0)  # the USGS country figure is kept
    # 2024: Korea's MCS2025 estimate is superseded by MCS2026 (world 848 = 839 + 3 + 6)
    ga24 = _rows(built_store, "Ga", "separation", 2024)
    assert "KOR" not in ga24.index
    assert ga24.loc["WLD", "quantity"] == pytest.approx(848.0)
    assert ga24.loc["WLD", "confidence"] == "read"
    ps = read_pack("processing_shares")
    chn25 = ps[(ps.mineral == "gallium") & (ps.year == 2025) & (ps.confidence == "derived")]
    assert chn25.share_pct.tolist() == [99.0]
    # the demand side still uses the 2024 world total
    dem = built_store.read("demand")
    ga_row = dem[(dem.material == "Ga") & (dem.region == "ROW")]
    assert float(ga_row.demand_t_per_yr.iloc[0]) == pytest.approx(848.0 - 16.0)


# --- samarium and yttrium: demand, production chain and provenance (China's April 2025 list) -------

SMCO_CHINA_2023 = 3723.0  # t, China SmCo magnet output (magnet_production.csv, CSRE via Metalnomist)
SM_IN_SM2CO17 = 0.25  # Sm2Co17 'generally 25% samarium' (magnet_grades_and_demand.csv)
Y2O3_TO_Y = 0.7874  # magnet_chain.csv conversion factor
US_Y_IMPORTS_2024 = 470.0  # t Y2O3 eq. (minor_ree_demand.csv, Reuters via MarketScreener)
CONFIDENCE = {"read", "read-secondary", "derived", "assumption"}


def _demand(store: critmin.Store, material: str) -> pd.DataFrame:
    d = store.read("demand")
    return d[d.material == material]


def test_sm_and_y_have_demand_production_sources_and_confidence(built_store: critmin.Store) -> None:
    prod = built_store.read("production")
    for mat, stages in (("Sm", {"mine", "separation", "metal", "magnet"}), ("Y", {"mine", "separation"})):
        dem = _demand(built_store, mat)
        assert len(dem) > 0 and (dem.demand_t_per_yr > 0).all(), mat
        assert set(dem.year) == {2024} and set(dem.basis) == {"metal"}, mat
        assert set(dem.sector) <= set(SECTORS), mat
        assert {"CHN", "USA", "EU", "JPN"} <= set(dem.region), mat
        p = prod[(prod.material == mat) & (prod.year == 2024)]
        assert set(p.stage) == stages, mat
        for frame in (dem, p):
            assert frame.source.str.len().gt(0).all(), mat
            assert set(frame.confidence) <= CONFIDENCE, mat
            assert frame.notes.str.len().gt(0).all(), mat
        # rows split by a rule say so: confidence assumption, the rule named in the notes
        rule = dem[dem.confidence == "assumption"]
        assert len(rule) > 0 and rule.notes.str.contains("assumption").all(), mat
    # separation by country: China dominates (heavy 99.9 % for Y; Sm follows REO separation)
    ysep = _rows(built_store, "Y", "separation").quantity
    assert ysep["CHN"] / ysep.sum() == pytest.approx(0.999)
    smsep = _rows(built_store, "Sm", "separation").quantity
    assert set(smsep.index) == {"CHN", "MYS", "OTH"} and smsep["CHN"] / smsep.sum() > 0.9


def test_sm_smco_magnet_chain_and_demand(built_store: critmin.Store) -> None:
    mag = _rows(built_store, "Sm", "magnet")
    world_smco = SMCO_CHINA_2023 / IEA_CHINA_MAGNET_SHARE  # 3,961 t
    assert mag.loc["CHN", "quantity"] == pytest.approx(SMCO_CHINA_2023 * SM_IN_SM2CO17)  # 930.75 t
    assert mag.loc["OTH", "quantity"] == pytest.approx((world_smco - SMCO_CHINA_2023) * SM_IN_SM2CO17)
    assert mag.quantity.sum() == pytest.approx(world_smco * SM_IN_SM2CO17)  # 990.2 t
    metal = _rows(built_store, "Sm", "metal")
    assert metal.quantity.to_dict() == pytest.approx(mag.quantity.to_dict())  # metal_follows_magnet
    assert "china_smco_2023_as_2024" in mag.loc["CHN", "notes"] and "magnet_production.csv" in mag.loc["CHN", "source"]
    # cross-check: world SmCo under 2 % of permanent-magnet use (Binnemans, minor_ree_demand.csv)
    ndfeb_world = SMM_MAGNETS_2024 / IEA_CHINA_MAGNET_SHARE
    assert world_smco / (world_smco + ndfeb_world) < 0.02
    # demand = the Sm in the world's magnets, split by NdFeB demand, half defence, half industrial
    dem = _demand(built_store, "Sm")
    assert dem.demand_t_per_yr.sum() == pytest.approx(mag.quantity.sum())
    assert set(dem.confidence) == {"assumption"}
    ree = built_store.read("demand")
    ndfeb = ree[ree.material == "rare_earths"].groupby("region").demand_t_per_yr.sum()
    by_region = dem.groupby("region").demand_t_per_yr.sum()
    for region, q in by_region.items():
        assert q == pytest.approx(mag.quantity.sum() * ndfeb[region] / ndfeb.sum()), region
    by_sector = dem.groupby("sector").demand_t_per_yr.sum()
    assert set(by_sector.index) == {"defence", "industrial"}
    assert by_sector["defence"] == pytest.approx(by_sector["industrial"])
    for name in ("china_smco_2023_as_2024", "smco_world_from_china_share", "sector_share_defence"):
        assert _param(name)["confidence"] == "assumption", name
    prm = pd.read_csv(data_dir() / "assumptions.csv", dtype=str, keep_default_na=False)
    sm_content = prm[(prm.parameter == "magnet_content") & (prm.material == "Sm")]
    assert sm_content.value.tolist() == ["25"] and sm_content.confidence.tolist() == ["assumption"]


def test_y_demand_world_us_china_and_rest(built_store: critmin.Store) -> None:
    dem = _demand(built_store, "Y")
    sep = _rows(built_store, "Y", "separation").quantity.sum()  # t Y2O3
    world = sep * Y2O3_TO_Y
    assert dem.demand_t_per_yr.sum() == pytest.approx(world)
    by_region = dem.groupby("region").demand_t_per_yr.sum()
    # the one sourced regional figure: US 2024 imports, Y2O3 eq. converted to Y
    assert by_region["USA"] == pytest.approx(US_Y_IMPORTS_2024 * Y2O3_TO_Y)
    us = dem[dem.region == "USA"]
    assert set(us.confidence) == {"derived"} and us.source.str.contains("marketscreener").all()
    pack = read_pack("minor_ree_demand")
    us_pack = pack[(pack.material == "Y") & (pack.geography == "USA") & (pack.year == "2024")]
    assert us_pack.value.astype(float).tolist() == [US_Y_IMPORTS_2024]
    # China: its 2018 share of world rare-earth use (magnet_chain.csv), an assumption for Y
    mc = read_pack("magnet_chain")
    chn_pct = float(mc[mc.item == "share of global rare earth consumption"].value.iloc[0])
    assert chn_pct == 56.5 and float(_param("china_ree_use_share_for_y")["value"]) == chn_pct
    assert by_region["CHN"] == pytest.approx(world * chn_pct / 100)
    # the rest by NdFeB demand among the other regions
    rest = world - by_region["USA"] - by_region["CHN"]
    ree = built_store.read("demand")
    ndfeb = ree[(ree.material == "rare_earths") & ~ree.region.isin(["CHN", "USA"])].groupby("region")
    ndfeb_t = ndfeb.demand_t_per_yr.sum()
    for region, q in ndfeb_t.items():
        assert by_region[region] == pytest.approx(rest * q / ndfeb_t.sum()), region
    assert set(dem[~dem.region.isin(["USA"])].confidence) == {"assumption"}
    by_sector = dem.groupby("sector").demand_t_per_yr.sum() / world
    assert by_sector.to_dict() == pytest.approx({"industrial": 2 / 3, "electronics": 1 / 3}, abs=1e-5)


def test_network_simulates_sm_and_y_and_balances_within_tolerance(built_store: critmin.Store) -> None:
    net = build_network(SupplyChain.from_store(built_store))
    assert {"Sm", "Y"} <= set(net.materials)
    for mat, stages, last_stage in (
        ("Sm", ("mine", "separation", "metal", "magnet"), "magnet"),
        ("Y", ("mine", "separation"), "separation"),
    ):
        gi, mi = net.locate(mat)
        g = net.groups[gi]
        assert g.stages == stages, mat
        end = float(g.demand0[mi].sum()) * 12
        world_last = float(_rows(built_store, mat, last_stage).quantity.sum())
        scale = end / world_last
        assert 1 / 1.5 <= scale <= 1.5, (mat, scale)
        assert float(g.base_out[mi, -1].sum()) * 12 == pytest.approx(end)  # the engine balanced it
        notes = [n for n in net.skipped if n.startswith(f"{mat}:")]
        if mat == "Sm":
            assert scale == pytest.approx(1.0) and notes == []  # demand is the Sm in the magnets
        else:
            # the chain stops at the oxide: the last stage is scaled by the Y2O3 -> Y factor only
            assert scale == pytest.approx(Y2O3_TO_Y)
            assert len(notes) == 1 and f"scaled by {Y2O3_TO_Y:.4f}" in notes[0]


def test_sector_shares_are_parameters_a_user_can_override() -> None:
    from critmin.dataset import Params, _sector_shares, build_tables, load_parameters

    prm = load_parameters()
    p = Params(prm)
    assert _sector_shares(p, "Sm", "USA") == pytest.approx({"industrial": 0.5, "defence": 0.5})
    extra = pd.DataFrame(
        {
            "parameter": ["sector_share_defence", "sector_share_industrial"],
            "material": ["Sm", "Sm"],
            "stage": ["end_use", "end_use"],
            "region": ["USA", "USA"],
            "value": [1.0, 0.0],
            "unit": ["fraction", "fraction"],
            "source": ["test", "test"],
            "confidence": ["assumption", "assumption"],
            "notes": ["", ""],
        }
    )
    dem = build_tables(pd.concat([extra, prm], ignore_index=True))["demand"]
    us = dem[(dem.material == "Sm") & (dem.region == "USA")]
    assert us.sector.tolist() == ["defence"]
    jp = dem[(dem.material == "Sm") & (dem.region == "JPN")]
    assert sorted(jp.sector) == ["defence", "industrial"]
    bad = pd.concat([extra.assign(value=[0.7, 0.7]), prm], ignore_index=True)
    with pytest.raises(UserError, match=r"sum to 1\.4"):
        _sector_shares(Params(bad), "Sm", "USA")


# --- gadolinium (simulated from separation) and lutetium (an id, no data) -------------------------

SMM_GD2O3_CHINA_2024 = (303.8, 298.9)  # t Gd2O3 per month, May and June 2024 (separation_output.csv)
GD2O3_TO_GD = 0.8676  # magnet_chain.csv conversion factor
CHINA_RE_USE_SHARE_2018 = 56.5  # % of world rare-earth use (magnet_chain.csv)


def test_gd_and_lu_are_material_ids() -> None:
    from critmin import names

    assert names.material("gadolinium") == "Gd" and names.material("Lutetium") == "Lu"
    assert {"Gd", "Lu"} <= set(names.REE_ELEMENTS) and {"Gd", "Lu"} <= set(names.MATERIAL_IDS)
    assert names.material_group("Gd") == names.material_group("Lu") == "ree"


def test_gd_separation_is_smm_china_run_rate_and_no_mine_rows(built_store: critmin.Store) -> None:
    so = read_pack("separation_output")
    months = so[(so.element == "Gd") & (so.item == "Gd oxide production (monthly)")]
    assert months.value.astype(float).tolist() == list(SMM_GD2O3_CHINA_2024)
    sep = _rows(built_store, "Gd", "separation")
    assert set(sep.index) == {"CHN", "OTH"}
    chn = sum(SMM_GD2O3_CHINA_2024) / 2 * 12  # 3,616.2 t Gd2O3
    assert sep.loc["CHN", "quantity"] == pytest.approx(chn)
    assert sep.loc["CHN", "quantity"] / sep.quantity.sum() == pytest.approx(0.999)  # OTH 0.1 %, like Dy/Tb/Y
    assert set(sep.confidence) == {"derived"} and sep.notes.str.len().gt(0).all()
    assert set(sep.basis) == {"oxide"} and sep.source.str.len().gt(0).all()
    prod = built_store.read("production")
    assert set(prod[prod.material == "Gd"].stage) == {"separation"}  # no Gd grade for any ore in the pack
    gap = read_pack("minor_ree_demand")
    assert ((gap.category == "gap") & (gap.material == "Gd")).any()


def test_gd_demand_world_china_rest_and_sectors(built_store: critmin.Store) -> None:
    dem = _demand(built_store, "Gd")
    world = _rows(built_store, "Gd", "separation").quantity.sum() * GD2O3_TO_GD
    assert dem.demand_t_per_yr.sum() == pytest.approx(world)
    assert set(dem.confidence) == {"assumption"} and dem.notes.str.contains("assumption").all()
    assert dem.source.str.len().gt(0).all() and set(dem.basis) == {"metal"} and set(dem.year) == {2024}
    assert float(_param("china_ree_use_share_for_gd")["value"]) == CHINA_RE_USE_SHARE_2018
    by_region = dem.groupby("region").demand_t_per_yr.sum()
    assert by_region["CHN"] == pytest.approx(world * CHINA_RE_USE_SHARE_2018 / 100)
    ree = built_store.read("demand")
    ndfeb = ree[ree.material == "rare_earths"]
    rest = ndfeb[ndfeb.region != "CHN"].groupby("region").demand_t_per_yr.sum()
    assert "USA" in rest.index  # no US Gd figure: the US is split like the others
    for region, q in rest.items():
        assert by_region[region] == pytest.approx((world - by_region["CHN"]) * q / rest.sum()), region
    # a third follows the region's NdFeB sectors; the other two thirds half other (MRI), half industrial
    k = float(_param("gd_ndfeb_use_share")["value"])
    assert k == pytest.approx(1 / 3, abs=1e-6)
    for region, total in by_region.items():
        mix = ndfeb[ndfeb.region == region].groupby("sector").demand_t_per_yr.sum()
        mix = mix / mix.sum()
        got = dem[dem.region == region].set_index("sector").demand_t_per_yr
        for sector in set(got.index) | set(mix.index):
            direct = 0.5 if sector in ("other", "industrial") else 0.0
            want = total * ((1 - k) * direct + k * float(mix.get(sector, 0.0)))
            assert float(got.get(sector, 0.0)) == pytest.approx(want), (region, sector)


def test_network_simulates_gd_from_separation_and_not_lu(built_store: critmin.Store) -> None:
    net = build_network(SupplyChain.from_store(built_store))
    gi, mi = net.locate("Gd")
    g = net.groups[gi]
    assert g.stages == ("separation",)
    end = float(g.demand0[mi].sum()) * 12
    world = float(_rows(built_store, "Gd", "separation").quantity.sum())
    assert end / world == pytest.approx(GD2O3_TO_GD)  # the last stage is scaled by the oxide factor only
    assert float(g.base_out[mi, -1].sum()) * 12 == pytest.approx(end)
    notes = [n for n in net.skipped if n.startswith("Gd:")]
    assert len(notes) == 1 and f"scaled by {GD2O3_TO_GD:.4f}" in notes[0]
    # lutetium: an id without rows; no 2020s world figure was found (minor_ree_demand.csv gap row)
    for table in ("production", "demand"):
        t = built_store.read(table)
        assert (t.material == "Lu").sum() == 0, table
    assert "Lu" not in net.materials and not [n for n in net.skipped if n.startswith("Lu:")]
    pack = read_pack("minor_ree_demand")
    assert ((pack.category == "gap") & (pack.material == "Lu")).any()
