"""Build the base dataset (model tables) from the shipped data pack.

The pack (``critmin/data/pack/*.csv``) holds sourced facts. The model needs
figures the pack does not state directly (element split, separation/metal/magnet
tonnages by country, demand by region and sector, inventory months). This module
derives them with arithmetic on pack rows (``confidence = derived``, the formula
in ``notes``) or from explicit assumptions (``data/assumptions.csv``,
``confidence = assumption``, the reason in ``notes``). Every output row keeps a
``source`` and a ``confidence``.

Assumptions are looked up in the ``parameters`` table, so a user can override any
of them (``critmin data build --overrides DIR`` with a ``parameters.csv``).

Example
-------
>>> tables = build_tables()
>>> prod = tables["production"]
>>> row = prod[(prod.material == "rare_earths") & (prod.stage == "mine")
...            & (prod.country_iso3 == "CHN") & (prod.year == 2024)]
>>> float(row.quantity.iloc[0])
270000.0
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from critmin import names
from critmin.errors import UserError
from critmin.names import SECTORS

BASE_YEAR = 2024
PACK = "pack"
SRC_ASSUMPTION = "critmin assumption"


def data_dir() -> Path:
    """Folder of the shipped data files."""
    return Path(str(resources.files("critmin") / "data"))


def read_pack(name: str) -> pd.DataFrame:
    """Read one pack CSV (``name`` without ``.csv``) as strings-preserving frame."""
    return pd.read_csv(data_dir() / PACK / f"{name}.csv", keep_default_na=True)


@dataclass
class Params:
    """Parameter lookup with wildcard fall-back (exact match beats ``*``).

    The frame is indexed once (a dict keyed by ``(parameter, material, stage, region)``, the
    first row of a key winning, as a filter would find it); :meth:`get` tries the exact key and
    then the wildcards in the order material, stage, region (so ``(m, s, *)`` beats ``(m, *, r)``,
    which beats ``(*, s, r)``).

    >>> p = Params(pd.DataFrame({"parameter": ["u", "u"], "material": ["*", "Dy"],
    ...                          "stage": ["*", "*"], "region": ["*", "*"], "value": [0.85, 0.5]}))
    >>> p.get("u", "Dy", "mine", "CHN"), p.get("u", "Nd", "mine", "CHN")
    (0.5, 0.85)
    """

    frame: pd.DataFrame
    used: set[tuple[str, str, str, str]] = field(default_factory=set)
    _index: dict[tuple[str, str, str, str], float] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        f = self.frame
        index: dict[tuple[str, str, str, str], float] = {}
        for key in zip(f["parameter"], f["material"], f["stage"], f["region"], f["value"], strict=True):
            index.setdefault((str(key[0]), str(key[1]), str(key[2]), str(key[3])), float(key[4]))
        self._index = index

    def get(self, parameter: str, material: str = "*", stage: str = "*", region: str = "*") -> float:
        index = self._index
        for m in (material, "*"):
            for s in (stage, "*"):
                for r in (region, "*"):
                    hit = index.get((parameter, m, s, r))
                    if hit is not None:
                        self.used.add((parameter, m, s, r))
                        return hit
        raise UserError(
            f"missing parameter {parameter!r} for material={material}, stage={stage}, "
            f"region={region}; add it to parameters (critmin data import csv parameters FILE)"
        )

    def cite(self, parameter: str, material: str = "*", stage: str = "*", region: str = "*") -> str:
        """Short provenance text for a parameter, for derived rows' notes."""
        v = self.get(parameter, material, stage, region)
        return f"{parameter}={v:g}"


class _Rows:
    """Accumulates rows for one table."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(self, **kw: Any) -> None:
        self.rows.append(kw)

    def frame(self, columns: list[str]) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=columns)


def _unit_factor(unit: str) -> tuple[float, str]:
    """USGS unit text -> (factor to tonnes, basis)."""
    u = unit.strip()
    if u == "t REO":
        return 1.0, "REO"
    if u.startswith("kg "):
        return 0.001, "content"
    if u.startswith("kt "):
        return 1000.0, "content"
    if "content" in u:
        return 1.0, "content"
    if u in ("t graphite",):
        return 1.0, "gross"
    return 1.0, "content"


def _mine_rows(out: _Rows, p: Params) -> None:
    """USGS mine/refinery production, latest edition per (mineral, country, year).

    Where a ``world_total_from_countries`` parameter is set for a material and stage, the world
    row is the sum of the country rows when USGS's rounded world total differs from it (see
    :func:`_world_from_countries`).
    """
    mp = read_pack("mine_production")
    mp = mp[mp.is_latest_estimate.astype(str).str.lower() == "true"]
    for r in mp.itertuples():
        if pd.isna(r.quantity):
            continue  # USGS blank or withheld: absent, not zero
        mid = names.material(str(r.mineral))
        st = "mine" if str(r.stage).startswith("mine") else "separation"
        factor, basis = _unit_factor(str(r.unit))
        note = "" if pd.isna(r.notes) else str(r.notes)
        if factor != 1.0:
            note = (note + "; " if note else "") + f"converted from {r.unit} x {factor:g}"
        out.add(
            material=mid,
            stage=st,
            country_iso3=str(r.country_iso3),
            year=int(r.year),
            quantity=float(r.quantity) * factor,
            unit="t",
            basis=basis,
            source=f"mine_production.csv: {r.source}",
            confidence=str(r.confidence),
            notes=note,
        )
    _world_from_countries(out, p)


def _world_from_countries(out: _Rows, p: Params) -> None:
    """Replace a rounded USGS world total by the sum of its country rows (flag parameter
    ``world_total_from_countries`` per material and stage, region ``WLD``).

    USGS rounds its world totals; where it lists every producer (its "Other countries" row is
    blank), the country rows are the world and the rounded total only makes the shares sum to
    more or less than 1 (gallium 2025: 900 + 3 + 6 = 909 t against a world total of 900 t).
    """
    flags = p.frame[p.frame.parameter == "world_total_from_countries"]
    for f in flags.itertuples():
        mats = {r["material"] for r in out.rows} if f.material == "*" else {str(f.material)}
        stages = {"mine", "separation"} if f.stage == "*" else {str(f.stage)}
        for mat in sorted(mats):
            for st in sorted(stages):
                if not p.get("world_total_from_countries", mat, st, "WLD"):
                    continue
                rows = [r for r in out.rows if r["material"] == mat and r["stage"] == st]
                for w in (r for r in rows if r["country_iso3"] == "WLD"):
                    countries = [r for r in rows if r["year"] == w["year"] and r["country_iso3"] != "WLD"]
                    total = sum(r["quantity"] for r in countries)
                    if not countries or abs(total - w["quantity"]) < 1e-9:
                        continue
                    parts = " + ".join(f"{r['country_iso3']} {r['quantity']:,.6g}" for r in countries)
                    w["notes"] = (
                        f"formula: {parts} = {total:,.6g} t (sum of the country rows, assumption "
                        f"world_total_from_countries); USGS world total (rounded) {w['quantity']:,.6g} t"
                        + (f"; {w['notes']}" if w["notes"] else "")
                    )
                    w["quantity"] = total
                    w["confidence"] = "derived"


def _share_rows(out: _Rows) -> None:
    """Refining shares with no tonnage (IEA GCMO 2026, 2025 data) for non-REE materials.

    Only where USGS gives no refinery tonnage; OTH takes the remainder.
    """
    ps = read_pack("processing_shares")
    wanted = {
        "germanium": "Ge",
        "graphite": "graphite",
        "tungsten": "W",
        "antimony": "Sb",
        "lithium": "Li",
        "nickel": "Ni",
        "cobalt": "Co",
        "manganese": "Mn",
    }
    for r in ps.itertuples():
        mineral = str(r.mineral)
        if mineral not in wanted or int(r.year) != 2025 or not str(r.stage).startswith("refining"):
            continue
        mid = wanted[mineral]
        share = float(r.share_pct)
        src = f"processing_shares.csv: {r.source}"
        common = dict(material=mid, stage="separation", year=2025, unit="share_pct")
        out.add(
            **common,
            country_iso3=str(r.country_iso3),
            quantity=share,
            basis=f"{r.stage} ({r.basis})",
            source=src,
            confidence=str(r.confidence),
            notes="share only; the pack has no refinery tonnage by country",
        )
        out.add(
            **common,
            country_iso3="OTH",
            quantity=round(100.0 - share, 6),
            basis=f"{r.stage} ({r.basis})",
            source=src,
            confidence="derived",
            notes=f"formula: 100 - {share:g} (remainder not attributed to a country)",
        )


def _get_value(frame: pd.DataFrame, **match: Any) -> pd.Series:
    f = frame
    for k, v in match.items():
        f = f[f[k].astype(str) == str(v)]
    if len(f) != 1:
        raise RuntimeError(f"pack lookup {match} matched {len(f)} rows")  # a pack change; not user input
    return f.iloc[0]


def _ree_stage_rows(out: _Rows, p: Params) -> dict[str, dict[str, float]]:
    """Separation, metal and magnet rows for total rare earths (base year).

    Returns {stage: {country: quantity}} for use by the element split.
    """
    y = BASE_YEAR
    mp = read_pack("mine_production")
    mp = mp[(mp.mineral == "rare_earths") & (mp.year == y) & (mp.is_latest_estimate.astype(str) == "True")]
    world_mine = float(_get_value(mp, country_iso3="WLD").quantity)
    ps = read_pack("processing_shares")
    chn_sep = _get_value(ps, mineral="rare_earths", stage="refining/separation", country_iso3="CHN", year=y)
    sep_out = read_pack("separation_output")
    lynas = _get_value(sep_out, item="total REO production (Lynas)", year="FY2025 (Jul 2024-Jun 2025)")
    mp_ndpr = _get_value(sep_out, item="NdPr oxide production (MP Materials)", year=y)

    k = p.get("separation_equals_mine", "rare_earths", "separation")
    p.get("lynas_fy2025_as_2024", "rare_earths", "separation", "MYS")
    world_sep = world_mine * k
    sep = {
        "CHN": world_sep * float(chn_sep.share_pct) / 100,
        "MYS": float(lynas.value),
        "USA": float(mp_ndpr.value),
    }
    sep["OTH"] = world_sep - sum(sep.values())
    notes = {
        "CHN": (
            f"formula: {float(chn_sep.share_pct):g}% (IEA, 2024) x world separation {world_sep:,.0f} t",
            f"processing_shares.csv: {chn_sep.source}",
            "derived",
        ),
        "MYS": (
            "Lynas FY2025 total REO (Jul 2024-Jun 2025) used for 2024 (assumption lynas_fy2025_as_2024)",
            f"separation_output.csv: {lynas.source}",
            "derived",
        ),
        "USA": (
            "MP Materials NdPr oxide 2024 (MP separated only NdPr in 2024)",
            f"separation_output.csv: {mp_ndpr.source}",
            "derived",
        ),
        "OTH": (
            "formula: world separation - CHN - MYS - USA (Estonia, India, Russia, Vietnam, Japan, ...)",
            "derived from rows above",
            "derived",
        ),
    }
    for c, q in sep.items():
        note, src, conf = notes[c]
        out.add(material="rare_earths", stage="separation", country_iso3=c, year=y, quantity=q,
                unit="t", basis="REO", source=src, confidence=conf, notes=note)  # fmt: skip
    out.add(material="rare_earths", stage="separation", country_iso3="WLD", year=y, quantity=world_sep,
            unit="t", basis="REO", source="derived from mine_production.csv (USGS world total)",
            confidence="derived",
            notes=f"formula: world mine {world_mine:,.0f} t x {p.cite('separation_equals_mine', 'rare_earths', 'separation')}")  # fmt: skip

    # magnets (t NdFeB)
    mprod = read_pack("magnet_production")
    mgd = read_pack("magnet_grades_and_demand")
    chn_mag = _get_value(
        mgd, category="magnet_production", item="China RE permanent magnet production 2024 (SMM forecast)"
    )
    p.get("china_magnet_smm_forecast_as_2024", "rare_earths", "magnet", "CHN")
    chn_mag_share = _get_value(ps, mineral="rare_earths", stage="magnet manufacturing", country_iso3="CHN", year=y)
    jpn_mag = _get_value(mprod, item="NdFeB magnet production (domestic, Japan)", year=2020)
    vnm_mag = _get_value(mprod, item="NdFeB magnet capacity (Shin-Etsu, Vietnam)")
    p.get("japan_magnet_output_held", "rare_earths", "magnet", "JPN")
    p.get("vietnam_magnet_at_capacity", "rare_earths", "magnet", "VNM")
    world_mag = float(chn_mag.value) / (float(chn_mag_share.share_pct) / 100)
    mag = {"CHN": float(chn_mag.value), "JPN": float(jpn_mag.value), "VNM": float(vnm_mag.value)}
    mag["OTH"] = world_mag - sum(mag.values())
    mag_notes = {
        "CHN": (f"SMM forecast of China's 2024 RE permanent magnet output ({chn_mag.scenario}; SMM gives 240 kt for "
                "2023), used as the 2024 output (assumption china_magnet_smm_forecast_as_2024); a forecast, not an "
                "outturn: Argus's 300 kt (magnet_production.csv) is kept in the pack as a conflicting estimate",
                f"magnet_grades_and_demand.csv: {chn_mag.source}", "derived"),
        "JPN": ("JSNM 2020 figure held for 2024 (assumption japan_magnet_output_held)",
                f"magnet_production.csv: {jpn_mag.source}", "derived"),
        "VNM": ("Shin-Etsu Vietnam capacity 2,200 t/yr, run at capacity (assumption vietnam_magnet_at_capacity)",
                f"magnet_production.csv: {vnm_mag.source}", "derived"),
        "OTH": ("formula: world - CHN - JPN - VNM (Korea, Germany, Estonia, Thailand, Philippines, USA ...)",
                "derived from rows above", "derived"),
    }  # fmt: skip
    for c, q in mag.items():
        note, src, conf = mag_notes[c]
        out.add(material="rare_earths", stage="magnet", country_iso3=c, year=y, quantity=q,
                unit="t", basis="NdFeB", source=src, confidence=conf, notes=note)  # fmt: skip
    out.add(material="rare_earths", stage="magnet", country_iso3="WLD", year=y, quantity=world_mag,
            unit="t", basis="NdFeB", source=f"processing_shares.csv: {chn_mag_share.source}",
            confidence="derived",
            notes=f"formula: China {float(chn_mag.value):,.0f} t (SMM 2024 forecast) / China share {float(chn_mag_share.share_pct):g}% (IEA 2024)")  # fmt: skip

    # metal (t RE metal) where magnets are made
    p.get("metal_follows_magnet", "rare_earths", "metal")
    content = p.get("magnet_content", "rare_earths", "magnet") / 100
    metal = {c: q * content for c, q in mag.items()}
    for c, q in metal.items():
        out.add(material="rare_earths", stage="metal", country_iso3=c, year=y, quantity=q, unit="t",
                basis="metal", source="derived from magnet-stage rows and magnet_chain.csv RE content",
                confidence="derived",
                notes=f"formula: magnet t x {content:g} RE metal per t NdFeB (assumption metal_follows_magnet)")  # fmt: skip
    return {"separation": sep, "magnet": mag, "metal": metal, "mine_world": {"WLD": world_mine}}


def _dy_mine_shares(p: Params, mine: Mapping[str, float]) -> dict[str, tuple[float, str]]:
    """Share of world Dy (and Tb) mine output by country, from the ore types mined.

    Ion-adsorption clays carry the heavy rare earths: they give ``dy_ionic_clay_share`` (80%,
    the lower bound of ">80% of global HREE supply") of the world's Dy, split between Myanmar
    (all its output taken as ionic clay, as for Y) and China's ion-adsorption share of its
    quota (``ionic_share_china_quota``) by REO tonnage. The rest comes from light-RE ores
    (Bayan Obo, Mount Weld, Mountain Pass, ...), split by their REO tonnage
    (``dy_light_ore_split_by_reo``: the pack has no Dy grade for any of them). Named: CHN, MMR,
    AUS, USA; OTH = the other producers' light-ore share.

    >>> p = Params(load_parameters())
    >>> s = _dy_mine_shares(p, {"CHN": 100.0, "MMR": 10.0, "AUS": 10.0, "NGA": 5.0})
    >>> {c: round(v, 3) for c, (v, _) in s.items()}
    {'CHN': 0.515, 'MMR': 0.457, 'AUS': 0.019, 'OTH': 0.009}
    >>> round(sum(v for v, _ in s.values()), 9)
    1.0
    """
    k = p.get("dy_ionic_clay_share", "Dy", "mine") / 100
    p.get("dy_light_ore_split_by_reo", "Dy", "mine")
    ionic_chn = p.get("ionic_share_china_quota", "rare_earths", "mine", "CHN") / 100
    ionic = {"CHN": mine.get("CHN", 0.0) * ionic_chn, "MMR": mine.get("MMR", 0.0)}
    light = {c: q - ionic.get(c, 0.0) for c, q in mine.items() if c != "MMR"}
    ionic_t, light_t = sum(ionic.values()), sum(light.values())
    named = ("CHN", "MMR", "AUS", "USA")
    rest = sum(q for c, q in light.items() if c not in named)
    out: dict[str, tuple[float, str]] = {}
    for c in named:
        if c not in mine:
            continue
        parts = []
        s = 0.0
        if c in ionic:
            s += k * ionic[c] / ionic_t
            parts.append(f"{k:g} ionic-clay share (dy_ionic_clay_share) x ionic REO {ionic[c]:,.0f} / {ionic_t:,.0f} t")
        if c in light:
            s += (1 - k) * light[c] / light_t
            parts.append(f"{1 - k:g} x light-ore REO {light[c]:,.0f} / {light_t:,.0f} t (dy_light_ore_split_by_reo)")
        out[c] = (s, " + ".join(parts))
    out["OTH"] = (
        (1 - k) * rest / light_t,
        f"{1 - k:g} x light-ore REO of the other producers {rest:,.0f} / {light_t:,.0f} t (dy_light_ore_split_by_reo)",
    )
    return out


def _china_gd_oxide(sep_out: pd.DataFrame) -> tuple[float, str]:
    """China's 2024 Gd2O3 output (t/yr): SMM's May and June 2024 surveys, mean x 12, and the
    formula for the notes. Gadolinium has no mine rows: the pack gives no Gd grade for any ore.

    >>> q, why = _china_gd_oxide(read_pack("separation_output"))
    >>> round(q, 1), why.split(";")[0]
    (3616.2, 'formula: SMM China Gd2O3 mean(303.8 t in 2024-05, 298.9 t in 2024-06) x 12')
    """
    rows = sep_out[(sep_out.item == "Gd oxide production (monthly)") & (sep_out.country_iso3 == "CHN")]
    vals = [float(v) for v in rows.value]
    months = ", ".join(f"{float(v):g} t in {m}" for v, m in zip(rows.value, rows.year, strict=True))
    return sum(vals) / len(vals) * 12, (
        f"formula: SMM China Gd2O3 mean({months}) x 12; annualised from two 2024 months, not an SMM annual "
        "figure (= the 3,616 t/yr run-rate of magnet_grades_and_demand.csv)"
    )


def _element_rows(out: _Rows, p: Params, ree: Mapping[str, Mapping[str, float]]) -> None:
    """Element-level rows (t oxide at mine and separation, t metal at metal and magnet)."""
    y = BASE_YEAR
    mp = read_pack("mine_production")
    mp = mp[(mp.mineral == "rare_earths") & (mp.year == y) & (mp.is_latest_estimate.astype(str) == "True")]
    mine = {
        str(r.country_iso3): float(r.quantity)
        for r in mp.itertuples()
        if not pd.isna(r.quantity) and r.country_iso3 != "WLD"
    }
    split = read_pack("ree_element_split")
    mtp = split[split.deposit_or_country.str.startswith("Mountain Pass")]
    la = float(_get_value(mtp, element="La (La2O3)").share_pct)
    ce = float(_get_value(mtp, element="Ce (CeO2)").share_pct)
    ndpr = float(_get_value(mtp, element="NdPr (Nd2O3+Pr6O11)").share_pct)
    mtp_src = "ree_element_split.csv: " + str(mtp.iloc[0].source)
    # NdPr: separated oxide by country from the pack (SMM China run-rate, Lynas, MP)
    sep_out_all = read_pack("separation_output")
    chn_ndpr_m = _get_value(
        read_pack("magnet_grades_and_demand"), category="ndpr_output", material="PrNd oxide", year="2024-06"
    )
    p.get("china_ndpr_smm_month_as_2024", "rare_earths", "separation", "CHN")
    lynas_ndpr = _get_value(sep_out_all, item="NdPr production (Lynas)", year="FY2025 (Jul 2024-Jun 2025)")
    mp_ndpr = _get_value(sep_out_all, item="NdPr oxide production (MP Materials)", year=y)
    ndpr_sep = {
        "CHN": (float(chn_ndpr_m.value) * 12, f"formula: SMM China Pr-Nd oxide {float(chn_ndpr_m.value):,.0f} t in {chn_ndpr_m.year} x 12 (assumption china_ndpr_smm_month_as_2024; magnet_grades_and_demand.csv ndpr_output)"),
        "MYS": (float(lynas_ndpr.value), "Lynas NdPr FY2025 used for 2024 (assumption lynas_fy2025_as_2024)"),
        "USA": (float(mp_ndpr.value), "MP Materials NdPr oxide 2024"),
    }  # fmt: skip
    world_ndpr_pct = 100 * sum(v for v, _ in ndpr_sep.values()) / sum(mine.values())
    nd_k = p.get("nd_share_of_ndpr", "Nd")
    pr_k = p.get("pr_share_of_ndpr", "Pr")
    basket = {
        "La": (la, f"Mountain Pass La2O3 {la:g}% of TREO"),
        "Ce": (ce, f"Mountain Pass CeO2 {ce:g}% of TREO"),
        "Nd": (world_ndpr_pct * nd_k, f"world NdPr/REO {world_ndpr_pct:.2f}% (separated NdPr / mined REO) x Nd {nd_k:g}"),
        "Pr": (world_ndpr_pct * pr_k, f"world NdPr/REO {world_ndpr_pct:.2f}% (separated NdPr / mined REO) x Pr {pr_k:g}"),
        "Sm": (p.get("ore_share_light", "Sm", "mine"), p.cite("ore_share_light", "Sm", "mine") + " (assumption)"),
    }  # fmt: skip
    usa_basket = {"Nd": ndpr * nd_k, "Pr": ndpr * pr_k}
    # light elements at mine: REO x light-ore basket (all producers)
    for el, (pct, why) in basket.items():
        for c, q in mine.items():
            if c == "USA" and el in usa_basket:
                pct, why = usa_basket[el], f"Mountain Pass NdPr {ndpr:g}% x {el} share"
            else:
                pct, why = basket[el]
            out.add(material=el, stage="mine", country_iso3=c, year=y, quantity=q * pct / 100,
                    unit="t", basis="oxide", source=mtp_src, confidence="derived",
                    notes=f"formula: USGS REO {q:,.0f} t x {pct:.4g}% ({why}); light-RE basket applied to every producer (assumption)")  # fmt: skip
    # Y at mine: ionic clays (MMR all, China's ion-adsorption share)
    y_pct = p.get("y_share_ionic", "Y", "mine")
    ionic_chn = p.get("ionic_share_china_quota", "rare_earths", "mine", "CHN")
    y_mine = {"MMR": mine["MMR"] * y_pct / 100, "CHN": mine["CHN"] * ionic_chn / 100 * y_pct / 100}
    for c, q in y_mine.items():
        out.add(material="Y", stage="mine", country_iso3=c, year=y, quantity=q, unit="t", basis="oxide",
                source="ree_element_split.csv (medium-Y ion-adsorption clay Y2O3 >20%; CREG ion-adsorption quota share)",
                confidence="derived",
                notes=f"formula: REO x {f'{ionic_chn:g}% ionic x ' if c == 'CHN' else ''}{y_pct:g}% Y2O3 (assumption y_share_ionic)")  # fmt: skip
    # Dy at mine: world total (JRC 2021, held) split by ore type; Tb follows Dy
    sep_out = read_pack("separation_output")
    p.get("dy_held_from_2021", "Dy", "mine")
    p.get("tb_follows_dy", "Tb", "mine")
    dy_rows = sep_out[(sep_out.element == "Dy") & (sep_out.year.astype(str) == "2021")]
    dy_world = float(_get_value(dy_rows, country_iso3="WLD").value)
    tb_world = float(_get_value(sep_out, item="terbium production (world, approx.)").value)
    dy_shares = _dy_mine_shares(p, mine)
    dy = {c: dy_world * s for c, (s, _) in dy_shares.items()}
    dy_src = (
        "ree_element_split.csv (ion-adsorption clays >80% of world HREE supply; China's ion-adsorption quota share)"
        " + mine_production.csv (USGS REO) + separation_output.csv (world Dy 2021, EU JRC RMIS)"
    )
    for c, (s, why) in dy_shares.items():
        out.add(material="Dy", stage="mine", country_iso3=c, year=y, quantity=dy[c], unit="t", basis="content",
                source=dy_src, confidence="derived",
                notes=f"formula: world Dy {dy_world:,.0f} t (JRC 2021, held for 2024: assumption dy_held_from_2021) "
                f"x share {s:.4f} ({why})")  # fmt: skip
        out.add(material="Tb", stage="mine", country_iso3=c, year=y, quantity=tb_world * s,
                unit="t", basis="content",
                source="separation_output.csv: terbium production (world, approx.), split like Dy",
                confidence="derived",
                notes=f"formula: world Tb {tb_world:g} t x Dy share {s:.4f} (assumption tb_follows_dy)")  # fmt: skip

    # separation: light elements follow REO separation x basket; heavy (Dy, Tb, Y, Gd) 99.9% China
    sep = ree["separation"]
    for el, k in (("Nd", nd_k), ("Pr", pr_k)):
        for c, (q, why) in ndpr_sep.items():
            out.add(material=el, stage="separation", country_iso3=c, year=y, quantity=q * k, unit="t",
                    basis="oxide", source="magnet_grades_and_demand.csv (SMM) + separation_output.csv (Lynas, MP Materials)",
                    confidence="derived",
                    notes=f"{why}; x {el} share of NdPr {k:g} (assumption)")  # fmt: skip
    for el in ("La", "Ce", "Sm"):
        pct, why = basket[el]
        for c, q in sep.items():
            if c == "USA":
                continue  # MP separated only NdPr in 2024
            out.add(material=el, stage="separation", country_iso3=c, year=y, quantity=q * pct / 100,
                    unit="t", basis="oxide", source="derived from rare_earths separation rows",
                    confidence="derived", notes=f"formula: separated REO {q:,.0f} t x {pct:.4g}% ({why})")  # fmt: skip
    chn_h = p.get("hree_separation_china_share", "*", "separation", "CHN") / 100
    heavy_mine_world = {
        "Dy": sum(dy.values()),
        "Tb": tb_world,
        "Y": sum(y_mine.values()),
    }
    chn_dy = float(_get_value(sep_out, item="Dy oxide production run-rate (indicative)").value)
    chn_tb = float(_get_value(sep_out, item="Tb oxide production run-rate (indicative)").value)
    chn_gd, gd_why = _china_gd_oxide(sep_out)
    chn_heavy = {
        "Dy": (chn_dy, "SMM Dy2O3 run-rate 2024 (separation_output.csv)"),
        "Tb": (chn_tb, "SMM Tb4O7 run-rate 2024 (separation_output.csv)"),
        "Y": (
            heavy_mine_world["Y"] * chn_h,
            f"world Y mine x {chn_h:g} China heavy-RE separation share",
        ),
        "Gd": (chn_gd, gd_why),
    }
    for el, (q_chn, why) in chn_heavy.items():
        out.add(material=el, stage="separation", country_iso3="CHN", year=y, quantity=q_chn, unit="t",
                basis="oxide", source="separation_output.csv / ree_element_split.csv", confidence="derived",
                notes=why)  # fmt: skip
        out.add(material=el, stage="separation", country_iso3="OTH", year=y, quantity=q_chn * (1 - chn_h) / chn_h,
                unit="t", basis="oxide", source="ree_element_split.csv (BMI: China 99.9% of heavy RE separation)",
                confidence="derived", notes=f"formula: CHN x (1 - {chn_h:g}) / {chn_h:g}")  # fmt: skip

    # metal and magnet stages: magnet-stage NdFeB x content (Nd, Pr, Dy, Tb)
    for el in ("Nd", "Pr", "Dy", "Tb"):
        content = p.get("magnet_content", el, "magnet") / 100
        for st in ("metal", "magnet"):
            for c, q in ree["magnet"].items():
                out.add(material=el, stage=st, country_iso3=c, year=y, quantity=q * content, unit="t",
                        basis="metal", source="derived from rare_earths magnet rows x magnet content",
                        confidence="derived",
                        notes=f"formula: NdFeB {q:,.0f} t x {content * 100:g} wt% {el}"
                        + (" (assumption metal_follows_magnet)" if st == "metal" else ""))  # fmt: skip


def _demand_rows(out: _Rows, p: Params, ree: Mapping[str, Mapping[str, float]]) -> None:
    """NdFeB demand by region and sector (base year), and element demand by content."""
    y = BASE_YEAR
    mx = read_pack("magnet_exports_2024")
    md = read_pack("magnet_demand")
    mc = read_pack("magnet_chain")
    world = sum(ree["magnet"].values())
    chn_out = ree["magnet"]["CHN"]
    exp_wld = float(
        _get_value(mx, importer_iso3="WLD", year=y, confidence="read-secondary", quantity_t=58152.0).quantity_t
    )
    exp_usa = float(_get_value(mx, importer_iso3="USA", year=y).quantity_t)
    usa_cn_share = float(_get_value(md, region="USA", item="China share of US sintered NdFeB imports (value)").value)
    kor_cn_share = float(_get_value(md, region="KOR", item="China share of NdFeB permanent-magnet imports").value)
    eu_use = float(_get_value(md, region="EU", item="permanent magnets used by EU industry").value)

    def monthly(importer: str) -> tuple[float, str]:
        rows = mx[(mx.importer_iso3 == importer) & mx.year.astype(str).str.match(r"^2024-\d\d$")]
        vals = [float(v) for v in rows.quantity_t]
        months = ", ".join(str(m) for m in rows.year)
        return sum(vals) / len(vals) * 12, f"mean of {len(vals)} monthly China exports ({months}) x 12"

    kor_imp, kor_why = monthly("KOR")
    jpn_imp, jpn_why = monthly("JPN")
    vnm_imp, vnm_why = monthly("VNM")
    region_demand: dict[str, tuple[float, str, str, str]] = {
        "CHN": (chn_out - exp_wld, f"formula: China output {chn_out:,.0f} - exports {exp_wld:,.0f} t",
                "magnet_production.csv + magnet_exports_2024.csv", "derived"),
        "USA": (exp_usa / (usa_cn_share / 100),
                f"formula: China exports to US {exp_usa:,.0f} t / China share of US imports {usa_cn_share:g}% (value share as tonnage proxy); US output ~0 in 2024",
                "magnet_exports_2024.csv + magnet_demand.csv", "derived"),
        "EU": (eu_use, "ECA: permanent magnets used by EU industry, 2024", "magnet_demand.csv", "read-secondary"),
        "JPN": (ree["magnet"]["JPN"] + jpn_imp,
                f"formula: Japan output {ree['magnet']['JPN']:,.0f} t + imports from China ({jpn_why}); Japan's exports not in the pack (overstates)",
                "magnet_production.csv + magnet_exports_2024.csv", "derived"),
        "KOR": (kor_imp / (kor_cn_share / 100),
                f"formula: imports from China ({kor_why}) / China share of Korea's imports {kor_cn_share:g}%",
                "magnet_exports_2024.csv + magnet_demand.csv", "derived"),
        "VNM": (ree["magnet"]["VNM"] + vnm_imp,
                f"formula: Vietnam output {ree['magnet']['VNM']:,.0f} t + imports from China ({vnm_why})",
                "magnet_production.csv + magnet_exports_2024.csv", "derived"),
    }  # fmt: skip
    rest = world - sum(v[0] for v in region_demand.values())
    region_demand["ROW"] = (
        rest,
        f"formula: world magnet output {world:,.0f} t (no stock change, assumption) - named regions",
        "derived from rows above",
        "derived",
    )

    # sector shares: China from JSNM (tonnage, read); others from analyst value shares
    def share(item: str, sector: str) -> float:
        return float(_get_value(md, item=item, region="CHN", sector=sector).value)

    jsnm = "NdFeB end-use share of China output"
    chn_sectors = {
        "automotive": share(jsnm, "EV traction") + share(jsnm, "automotive other"),
        "wind": share(jsnm, "wind"),
        "industrial": share(jsnm, "air-conditioner motors"),
        "electronics": share(jsnm, "electronics & mechanical parts"),
        "defence": 0.0,
        "robotics": 0.0,
        "other": float(_get_value(md, item=jsnm, sector="other / not itemised").value),
    }

    def vshare(text: str) -> float:
        return float(_get_value(mc, item=f"magnet demand share by value: {text}").value)

    value_sectors = {
        "automotive": vshare("EV motors"),
        "wind": vshare("wind turbines (direct drive)"),
        "industrial": vshare("industrial motors"),
        "electronics": vshare("consumer electronics"),
        "defence": vshare("defence/aerospace"),
        "robotics": vshare("robotics/AI/datacentre"),
    }
    value_sectors["other"] = 100.0 - sum(value_sectors.values())
    for region, (q, note, src, conf) in region_demand.items():
        shares = chn_sectors if region == "CHN" else value_sectors
        basis_note = (
            "JSNM tonnage split of China output (defence not itemised: inside other)"
            if region == "CHN"
            else "analyst value shares used as tonnage shares (assumption); other = 100 - listed"
        )
        for sector in SECTORS:
            s = shares[sector] / 100
            if s == 0:
                continue
            qs = q * s
            out.add(material="rare_earths", region=region, sector=sector, year=y, demand_t_per_yr=qs,
                    basis="NdFeB", source=src, confidence=conf if conf != "read-secondary" else "derived",
                    notes=f"{note}; x {sector} share {s:.4f} ({basis_note})")  # fmt: skip
            for el in ("Nd", "Pr", "Dy", "Tb"):
                content = p.get("magnet_content", el, "magnet") / 100
                out.add(material=el, region=region, sector=sector, year=y, demand_t_per_yr=qs * content,
                        basis="metal", source="derived from NdFeB demand x magnet content",
                        confidence="derived",
                        notes=f"formula: NdFeB {qs:,.1f} t x {content * 100:g} wt% {el}")  # fmt: skip


def _consumption_rows(out: _Rows, p: Params, production: pd.DataFrame) -> None:
    """Demand for materials outside the magnet chain, from apparent-consumption parameters:
    the named region's figure, and (for gallium) the rest of world refinery output in ROW."""
    y = BASE_YEAR
    prm = p.frame[p.frame.parameter == "apparent_consumption"]
    for r in prm.itertuples():
        mat, region, q = str(r.material), str(r.region), float(r.value)
        out.add(material=mat, region=region, sector="electronics", year=y, demand_t_per_yr=q, basis="content",
                source=str(r.source), confidence=str(r.confidence),
                notes=f"{r.notes}; sector taken as electronics (assumption: no sector split in the pack)")  # fmt: skip
        world = production[(production.material == mat) & (production.country_iso3 == "WLD") & (production.year == y)]
        if mat == "Ga" and len(world):
            flag = p.get("gallium_row_is_rest_of_world", mat, "end_use", "ROW")
            w = float(world.quantity.iloc[0])
            if flag:
                out.add(material=mat, region="ROW", sector="electronics", year=y, demand_t_per_yr=w - q,
                        basis="content", source="derived from USGS MCS2026 world refinery output",
                        confidence="derived",
                        notes=f"formula: world primary output {w:,.0f} t - {region} {q:,.0f} t "
                        "(assumption gallium_row_is_rest_of_world)")  # fmt: skip


def _smco_rows(out: _Rows, p: Params) -> dict[str, float]:
    """Samarium in SmCo magnets by country (t Sm, base year), at the magnet and metal stages.

    China's SmCo magnet output (2023, held for the base year: ``china_smco_2023_as_2024``) over
    China's share of permanent-magnet manufacturing (IEA, the NdFeB share: ``smco_world_from_china_share``)
    gives the world; the rest is OTH. Sm = SmCo x ``magnet_content`` (Sm, wt% of SmCo). Metal is
    made where magnets are made (``metal_follows_magnet``), as for Nd, Pr, Dy and Tb.
    Returns ``{country: t Sm}`` at the magnet stage.
    """
    y = BASE_YEAR
    chn = _get_value(read_pack("magnet_production"), item="SmCo magnet production", country_iso3="CHN", year=2023)
    p.get("china_smco_2023_as_2024", "Sm", "magnet", "CHN")
    p.get("smco_world_from_china_share", "Sm", "magnet")
    p.get("metal_follows_magnet", "Sm", "metal")
    ps = read_pack("processing_shares")
    share = float(
        _get_value(ps, mineral="rare_earths", stage="magnet manufacturing", country_iso3="CHN", year=y).share_pct
    )
    content = p.get("magnet_content", "Sm", "magnet") / 100
    chn_t = float(chn.value)
    world = chn_t / (share / 100)
    smco = {"CHN": chn_t, "OTH": world - chn_t}
    why = {
        "CHN": f"China SmCo magnet output {chn_t:,.0f} t in 2023 (magnet_production.csv: {chn.source}), held for "
        f"{y} (assumption china_smco_2023_as_2024)",
        "OTH": f"world SmCo {world:,.1f} t (China {chn_t:,.0f} t / China's {share:g}% of permanent-magnet "
        f"manufacturing, IEA; assumption smco_world_from_china_share) - China (Japan, USA, Germany: no tonnage)",
    }
    for st in ("magnet", "metal"):
        for c, q in smco.items():
            out.add(material="Sm", stage=st, country_iso3=c, year=y, quantity=q * content, unit="t", basis="metal",
                    source="magnet_production.csv (SmCo) + processing_shares.csv (IEA) + magnet_content (Sm)",
                    confidence="derived",
                    notes=f"formula: SmCo {q:,.1f} t x {content * 100:g} wt% Sm (magnet_content, Sm2Co17); {why[c]}"
                    + ("; metal made where the magnets are made (assumption metal_follows_magnet)" if st == "metal" else ""))  # fmt: skip
    return {c: q * content for c, q in smco.items()}


def _sector_shares(p: Params, material: str, region: str) -> dict[str, float]:
    """End-use shares of a material by sector (parameters ``sector_share_<sector>``, stage
    ``end_use``; a region's own rows beat the ``*`` rows). They must sum to 1."""
    shares: dict[str, float] = {}
    for sector in SECTORS:
        try:
            shares[sector] = p.get(f"sector_share_{sector}", material, "end_use", region)
        except UserError:
            continue
    total = sum(shares.values())
    if abs(total - 1) > 1e-3:
        raise UserError(
            f"sector_share_* parameters for {material} (region {region}) sum to {total:g}, not 1; "
            "fix them with critmin data import csv parameters FILE"
        )
    return {s: v / total for s, v in shares.items() if v > 0}


def _ndfeb_region_shares(dem: _Rows, regions: set[str] | None = None) -> dict[str, float]:
    """Each region's share of NdFeB demand (the rare_earths rows of basis NdFeB), optionally
    among ``regions`` only."""
    tot: dict[str, float] = {}
    for r in dem.rows:
        if r["material"] == "rare_earths" and r["basis"] == "NdFeB" and (regions is None or r["region"] in regions):
            tot[r["region"]] = tot.get(r["region"], 0.0) + float(r["demand_t_per_yr"])
    s = sum(tot.values())
    return {k: v / s for k, v in tot.items()}


def _ndfeb_sector_mix(dem: _Rows, region: str) -> dict[str, float]:
    """A region's NdFeB demand by sector as shares (the rare_earths rows of basis NdFeB); the
    world's mix where the region has none."""
    tot: dict[str, float] = {}
    for want in (region, None):
        for r in dem.rows:
            if r["material"] == "rare_earths" and r["basis"] == "NdFeB" and (want is None or r["region"] == want):
                tot[r["sector"]] = tot.get(r["sector"], 0.0) + float(r["demand_t_per_yr"])
        if tot:
            break
    s = sum(tot.values())
    return {k: v / s for k, v in tot.items() if v > 0}


def _gd_sector_shares(p: Params, region: str, ndfeb_mix: Mapping[str, float]) -> tuple[dict[str, float], str]:
    """Gd end use by sector in ``region``: the share ``gd_ndfeb_use_share`` that goes into NdFeB
    magnets follows the region's NdFeB demand by sector; the rest (MRI contrast agents, reactor
    burnable absorbers) follows the ``sector_share_<sector>`` parameters of Gd. Returns the shares
    and the rule in words, for the notes.

    >>> p = Params(load_parameters())
    >>> shares, _ = _gd_sector_shares(p, "USA", {"automotive": 0.5, "industrial": 0.5})
    >>> {k: round(v, 4) for k, v in shares.items()}
    {'automotive': 0.1667, 'industrial': 0.5, 'other': 0.3333}
    """
    k = p.get("gd_ndfeb_use_share", "Gd", "end_use", region)
    direct = _sector_shares(p, "Gd", region)
    shares = {
        s: (1 - k) * direct.get(s, 0.0) + k * ndfeb_mix.get(s, 0.0)
        for s in SECTORS
        if direct.get(s, 0.0) > 0 or ndfeb_mix.get(s, 0.0) > 0
    }
    why = (
        f"sector split: {k:.4g} in NdFeB magnets (assumption gd_ndfeb_use_share) by {region}'s NdFeB demand by "
        "sector ("
        + ", ".join(f"{s} {v:.3g}" for s, v in ndfeb_mix.items())
        + f"), {1 - k:.4g} outside magnets ("
        + ", ".join(f"{s} {v:.3g}" for s, v in direct.items())
        + ": assumption sector_share_*); no tonnage split by sector found"
    )
    return shares, why


def _gd_demand_rows(out: _Rows, p: Params, production: pd.DataFrame) -> None:
    """End-use demand for gadolinium (t Gd, base year).

    World = world separated Gd2O3 x Gd content (``gd_demand_equals_separation``: no world Gd
    consumption figure found); China its 2018 share of world rare-earth use
    (``china_ree_use_share_for_gd``); the rest by NdFeB demand among the other regions
    (``demand_region_by_ndfeb``), the US included (no US Gd figure). Sectors: see
    :func:`_gd_sector_shares`. Every row is ``confidence = assumption`` (regional rule).
    """
    y = BASE_YEAR
    mc = read_pack("magnet_chain")
    p.get("gd_demand_equals_separation", "Gd", "end_use")
    p.get("demand_region_by_ndfeb", "Gd", "end_use")
    k_gd = float(_get_value(mc, item="conversion factor Gd2O3 -> Gd metal (mass fraction of metal in oxide)").value)
    sep = production[(production.material == "Gd") & (production.stage == "separation") & (production.year == y)]
    gd_sep = float(sep.quantity.sum())
    gd_world = gd_sep * k_gd
    chn_pct = p.get("china_ree_use_share_for_gd", "Gd", "end_use", "CHN")
    chn_t = gd_world * chn_pct / 100
    world_why = (
        f"world Gd demand {gd_world:,.1f} t = world separated Gd2O3 {gd_sep:,.1f} t x {k_gd:g} (assumption "
        "gd_demand_equals_separation: no world Gd consumption figure found)"
    )
    totals = {
        "CHN": (
            chn_t,
            "magnet_chain.csv (China share of global rare earth consumption, 2018) + separation_output.csv (SMM Gd2O3)",
            f"formula: {world_why} x China {chn_pct:g}% (China's 2018 share of world rare-earth use applied to Gd: "
            "assumption china_ree_use_share_for_gd)",
        )
    }
    others = {r["region"] for r in out.rows if r["material"] == "rare_earths"} - {"CHN"}
    for region, share in _ndfeb_region_shares(out, others).items():
        totals[region] = (
            (gd_world - chn_t) * share,
            "derived from the Gd separation rows (SMM Gd2O3) + NdFeB demand rows",
            f"formula: ({world_why} - CHN {chn_t:,.1f} t) x {region} share of NdFeB demand outside China "
            f"{share:.4f} (assumption demand_region_by_ndfeb: no Gd use by region found)",
        )
    for region, (total, src, why) in totals.items():
        shares, split = _gd_sector_shares(p, region, _ndfeb_sector_mix(out, region))
        for sector, s in shares.items():
            out.add(material="Gd", region=region, sector=sector, year=y, demand_t_per_yr=total * s, basis="metal",
                    source=src, confidence="assumption",
                    notes=f"{why}; x {sector} share {s:.4g} ({split})")  # fmt: skip


def _minor_ree_demand_rows(out: _Rows, p: Params, production: pd.DataFrame, sm_magnet: Mapping[str, float]) -> None:
    """End-use demand for samarium, yttrium and gadolinium (t contained element, base year).

    * Sm: the Sm in the world's SmCo magnets (no stock change: output = use), split among
      regions by NdFeB demand (``demand_region_by_ndfeb``); non-magnet uses (catalysts, glass,
      nuclear, medical) have no tonnage in the pack and are left out.
    * Y: world = world separated Y2O3 x Y content (``y_demand_equals_separation``); the US from
      its 2024 imports (``us_yttrium_imports_as_consumption``); China its 2018 share of world
      rare-earth use (``china_ree_use_share_for_y``); the rest by NdFeB demand among the other
      regions (``demand_region_by_ndfeb``).

    * Gd: see :func:`_gd_demand_rows`. Lutetium has a material id but no demand rows: no
      world Lu demand figure for the 2020s was found (``minor_ree_demand.csv``).

    Sectors follow the ``sector_share_<sector>`` parameters (assumptions: no tonnage split found).
    Rows whose region total comes from a split rule are ``confidence = assumption``.
    """
    y = BASE_YEAR
    mc = read_pack("magnet_chain")
    minor = read_pack("minor_ree_demand")

    def emit(mat: str, region: str, total: float, conf: str, src: str, why: str) -> None:
        shares = _sector_shares(p, mat, region)
        basis = ", ".join(f"{s} {v:.4g}" for s, v in shares.items())
        for sector, s in shares.items():
            out.add(material=mat, region=region, sector=sector, year=y, demand_t_per_yr=total * s, basis="metal",
                    source=src, confidence=conf,
                    notes=f"{why}; x {sector} share {s:.4g} (sector split {basis}: assumption sector_share_*, "
                    "no tonnage split by sector found)")  # fmt: skip

    # samarium: SmCo magnets
    p.get("demand_region_by_ndfeb", "Sm", "end_use")
    sm_world = sum(sm_magnet.values())
    for region, share in _ndfeb_region_shares(out).items():
        emit("Sm", region, sm_world * share, "assumption",
             "derived from the Sm magnet rows (magnet_production.csv SmCo, IEA share, magnet_content) + NdFeB demand rows",
             f"formula: world Sm in SmCo magnets {sm_world:,.1f} t (2023 SmCo output held for {y}; no stock change) x "
             f"{region} share of NdFeB demand {share:.4f} (assumption demand_region_by_ndfeb: no Sm use by region in "
             "the pack); non-magnet Sm uses not covered (no tonnage)")  # fmt: skip

    # yttrium
    p.get("y_demand_equals_separation", "Y", "end_use")
    p.get("us_yttrium_imports_as_consumption", "Y", "end_use", "USA")
    p.get("demand_region_by_ndfeb", "Y", "end_use")
    k_y = float(_get_value(mc, item="conversion factor Y2O3 -> Y metal (mass fraction of metal in oxide)").value)
    sep = production[(production.material == "Y") & (production.stage == "separation") & (production.year == y)]
    y_sep = float(sep.quantity.sum())
    y_world = y_sep * k_y
    us = _get_value(minor, category="regional_demand", material="Y", geography="USA", year=y)
    us_t = float(us.value) * k_y
    chn_pct = p.get("china_ree_use_share_for_y", "Y", "end_use", "CHN")
    chn_t = y_world * chn_pct / 100
    rest = y_world - us_t - chn_t
    world_why = (
        f"world Y demand {y_world:,.1f} t = world separated Y2O3 {y_sep:,.1f} t x {k_y:g} (assumption "
        "y_demand_equals_separation: no world Y consumption figure in the pack)"
    )
    emit("Y", "USA", us_t, "derived", f"minor_ree_demand.csv: {us.source}",
         f"formula: US 2024 yttrium imports {float(us.value):g} t Y2O3 eq. x {k_y:g} (assumption "
         "us_yttrium_imports_as_consumption: the US is 100% import reliant)")  # fmt: skip
    emit("Y", "CHN", chn_t, "assumption", "magnet_chain.csv (China share of global rare earth consumption, 2018)",
         f"formula: {world_why} x China {chn_pct:g}% (China's 2018 share of world rare-earth use applied to Y: "
         "assumption china_ree_use_share_for_y)")  # fmt: skip
    for region, share in _ndfeb_region_shares(out, {r["region"] for r in out.rows} - {"CHN", "USA"}).items():
        emit("Y", region, rest * share, "assumption", "derived from the Y separation rows + NdFeB demand rows",
             f"formula: ({world_why} - USA {us_t:,.1f} t - CHN {chn_t:,.1f} t) x {region} share of NdFeB demand "
             f"outside China and the US {share:.4f} (assumption demand_region_by_ndfeb)")  # fmt: skip

    _gd_demand_rows(out, p, production)


def _capacity_rows(prod: pd.DataFrame, p: Params) -> pd.DataFrame:
    """Capacity = base-year output / utilisation (an assumption a user can override)."""
    base = prod[(prod.year == BASE_YEAR) & (prod.unit == "t") & (prod.country_iso3 != "WLD")]
    rows = []
    for r in base.itertuples():
        u = p.get("utilisation", str(r.material), str(r.stage), str(r.country_iso3))
        rows.append(
            dict(
                material=r.material,
                stage=r.stage,
                country_iso3=r.country_iso3,
                year=r.year,
                capacity_t_per_yr=float(r.quantity) / u,
                basis=r.basis,
                source="derived from production rows",
                confidence="derived",
                notes=f"formula: output {float(r.quantity):,.1f} t / utilisation {u:g} (assumption)",
            )
        )
    return pd.DataFrame(rows)


def _inventory_rows(p: Params, regions: list[str]) -> pd.DataFrame:
    rows = []
    prm = p.frame[p.frame.parameter == "inventory_months"]
    for r in prm.itertuples():
        for region in regions if r.region == "*" else [str(r.region)]:
            rows.append(
                dict(
                    material=r.material,
                    region=region,
                    stage=r.stage,
                    months_of_use=float(r.value),
                    source=r.source,
                    confidence=r.confidence,
                    notes=r.notes,
                )
            )
    return pd.DataFrame(rows).drop_duplicates(["material", "region", "stage"], keep="last")


def _governance_rows() -> pd.DataFrame:
    w = read_pack("wgi")
    return pd.DataFrame(
        dict(
            country_iso3=w.country_iso3,
            year=w.year.astype(int),
            indicator=w.indicator,
            estimate=w.estimate.astype(float),
            source="wgi.csv: " + w.source,
            confidence=w.confidence,
            notes="",
        )
    )


def _trade_rows() -> pd.DataFrame:
    """Calendar-year China magnet exports by destination (tonnes)."""
    mx = read_pack("magnet_exports_2024")
    mx = mx[mx.year.astype(str).str.fullmatch(r"\d{4}") & mx.quantity_t.notna()]
    mx = mx[~mx.importer_iso3.isin(["TOP10", "OTH"]) & ~mx.importer_iso3.str.contains(";")]
    # one row per key: prefer read-secondary/read over derived cross-checks
    rank = {"read": 0, "read-secondary": 1, "derived": 2}
    mx = (
        mx.assign(_r=mx.confidence.map(rank))
        .sort_values(["_r"])
        .drop_duplicates(["exporter_iso3", "importer_iso3", "year"], keep="first")
    )
    return pd.DataFrame(
        dict(
            material="rare_earths",
            stage="magnet",
            exporter_iso3=mx.exporter_iso3,
            importer_iso3=mx.importer_iso3,
            year=mx.year.astype(int),
            quantity_t=mx.quantity_t.astype(float),
            basis="NdFeB",
            source="magnet_exports_2024.csv: " + mx.source,
            confidence=mx.confidence,
            notes=mx.notes.fillna(""),
        )
    ).sort_values(["year", "importer_iso3"])


def load_parameters() -> pd.DataFrame:
    """Shipped parameters (assumptions and read/derived constants)."""
    df = pd.read_csv(data_dir() / "assumptions.csv", dtype=str, keep_default_na=False)
    df["value"] = df["value"].astype(float)
    return df


#: shipped files stored as they are: table -> (file under data/, column renames)
REFERENCE_FILES: dict[str, tuple[str, dict[str, str]]] = {
    "facilities": (f"{PACK}/facilities.csv", {}),
    "export_controls": (f"{PACK}/export_controls.csv", {"status_as_of_2025-11": "status"}),
    "framework_commitments": (f"{PACK}/framework_commitments.csv", {}),
    "framework_evidence": (f"{PACK}/framework_evidence.csv", {}),
    "framework_goals": (f"{PACK}/framework_goals.csv", {}),
    "japan_defense_budget": (f"{PACK}/japan_defense_budget.csv", {}),
    "criticality_inputs": ("criticality.csv", {}),
}


def reference_tables() -> dict[str, pd.DataFrame]:
    """The shipped files that become store tables as they are (facilities, export controls,
    framework commitments, their evidence and goals, Japan's defence budgets, criticality inputs),
    every cell as text; the store validates them like any import.

    >>> sorted(reference_tables())  # doctest: +NORMALIZE_WHITESPACE
    ['criticality_inputs', 'export_controls', 'facilities', 'framework_commitments',
     'framework_evidence', 'framework_goals', 'japan_defense_budget']
    """
    out = {}
    for name, (rel, renames) in REFERENCE_FILES.items():
        df = pd.read_csv(data_dir() / rel, dtype=str, keep_default_na=False)
        if name == "criticality_inputs":  # with the rows derived from the EU 2023 assessment and USGS MCS 2025
            from critmin import eu_crm, mcs2025, national_trade

            df = pd.concat(
                [df, eu_crm.criticality_rows(), mcs2025.criticality_rows(), national_trade.criticality_rows()],
                ignore_index=True,
            )
        out[name] = df.rename(columns=renames)
    return out


@cache
def _shipped(name: str) -> pd.DataFrame:
    from critmin.schema import TABLES
    from critmin.validate import problems_error, validate_frame

    raw = load_parameters() if name == "parameters" else reference_tables()[name]
    t = TABLES[name]
    typed, problems = validate_frame(raw, t)
    if problems:
        raise problems_error(f"shipped table {name}", problems)  # a packaging error, not user input
    return typed.assign(layer="shipped").sort_values(list(t.key)).reset_index(drop=True)


def shipped_table(name: str) -> pd.DataFrame:
    """One of the tables built from the shipped files alone (``parameters``, ``facilities``,
    ``export_controls``, ``framework_commitments``, ``framework_evidence``, ``framework_goals``,
    ``japan_defense_budget``, ``criticality_inputs``), validated as the store
    holds it (``layer = 'shipped'``): what a :class:`~critmin.chain.SupplyChain` made from frames
    falls back on. A copy: callers may change it.

    >>> shipped_table("facilities")[["facility", "layer"]].iloc[0].tolist()[1]
    'shipped'
    """
    if name != "parameters" and name not in REFERENCE_FILES:
        raise ValueError(f"{name} is not a table built from the shipped files alone")
    return _shipped(name).copy()


def build_tables(parameters: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    """Derive every model table from the pack and the parameters, and read the shipped reference
    tables (facilities, export controls, framework commitments, evidence and goals, Japan's defence
    budgets, criticality inputs).

    Parameters
    ----------
    parameters:
        The parameters table to use (defaults to the shipped ``assumptions.csv``);
        pass a frame with user overrides merged in to re-derive with them.
    """
    prm = load_parameters() if parameters is None else parameters
    p = Params(prm)
    prod = _Rows()
    _mine_rows(prod, p)
    _share_rows(prod)
    ree = _ree_stage_rows(prod, p)
    _element_rows(prod, p, ree)
    sm_magnet = _smco_rows(prod, p)
    pcols = [
        "material",
        "stage",
        "country_iso3",
        "year",
        "quantity",
        "unit",
        "basis",
        "source",
        "confidence",
        "notes",
    ]
    production = prod.frame(pcols)
    dem = _Rows()
    _demand_rows(dem, p, ree)
    _minor_ree_demand_rows(dem, p, production, sm_magnet)
    _consumption_rows(dem, p, production)
    demand = dem.frame(
        [
            "material",
            "region",
            "sector",
            "year",
            "demand_t_per_yr",
            "basis",
            "source",
            "confidence",
            "notes",
        ]
    )
    regions = sorted(demand.region.unique())
    tables = {
        "production": production,
        "capacity": _capacity_rows(production, p),
        "demand": demand,
        "inventory": _inventory_rows(p, regions),
        "governance": _governance_rows(),
        "trade": _trade_rows(),
        "parameters": prm.copy(),
        **reference_tables(),
    }
    for t in tables.values():
        if "notes" in t.columns:
            t["notes"] = t["notes"].fillna("").astype(str)
    return tables
