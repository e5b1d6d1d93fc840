"""Concentration metrics: one function each, tidy DataFrames out.

Conventions
-----------
* Shares are fractions (0-1) of the world total for that material, stage and
  year: the reported USGS world total (``WLD``) where there is one, as USGS and
  the IEA quote shares, else the sum of the country rows. Because USGS rounds
  its world totals, shares can sum to slightly more or less than 1; the column
  ``share_sum`` shows it.
* ``OTH`` (an unattributed residual) counts in the world total but is not a
  supplier: it is left out of HHI, top-k and governance weighting, which therefore
  read as lower bounds where the residual is large (``unattributed_share``).
* HHI is on the 0-10,000 scale: ``sum((100 x share)^2)``.
* Governance weighting follows the EU CRM method: ``WGI_scaled = (2.5 - mean of
  the six WGI estimates) x 2`` and ``HHI_WGI = sum(share^2 x WGI_scaled)``, shares
  as fractions (0-10 scale).

Every function takes a :class:`~critmin.chain.SupplyChain` and optional
filters, and returns one row per (material, stage, year) unless it says
otherwise. The CLI, the report and the dashboard call these same functions.

Example
-------
>>> import pandas as pd
>>> from critmin.chain import SupplyChain
>>> prod = pd.DataFrame({"material": "Dy", "stage": "mine", "year": 2024, "unit": "t",
...                      "country_iso3": ["CHN", "MMR", "AUS"], "quantity": [50.0, 30.0, 20.0]})
>>> chain = SupplyChain.from_frames(prod)
>>> float(hhi(chain).hhi.iloc[0])
3800.0
>>> float(n1_coverage(chain).n1_coverage.iloc[0])
0.5
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from critmin.chain import SupplyChain
from critmin.names import STAGES

GROUP = ["material", "stage", "year"]
RESIDUAL = "OTH"


def _stage_order(df: pd.DataFrame) -> pd.DataFrame:
    order = {s: i for i, s in enumerate(STAGES)}
    from critmin.names import MATERIAL_IDS

    morder = {m: i for i, m in enumerate(MATERIAL_IDS)}
    return (
        df.assign(_m=df["material"].map(morder), _s=df["stage"].map(order))
        .sort_values(["_m", "_s", "year"])
        .drop(columns=["_m", "_s"])
        .reset_index(drop=True)
    )


def production_shares(
    chain: SupplyChain,
    material: str | None = None,
    stage: str | None = None,
    year: int | None = None,
) -> pd.DataFrame:
    """Production by country and its share of the world total.

    Columns: material, stage, year, country_iso3, quantity, unit, basis,
    world_total, share, source, confidence. Sorted by share, largest first.
    """
    df = chain.select(material, stage, year)
    if df.empty:
        return df.assign(world_total=[], share=[])
    summed = df.groupby(GROUP)["quantity"].sum().rename("rows_total")
    world = chain.world_totals
    if not world.empty:
        world = world.groupby(GROUP)["quantity"].sum().rename("reported_world")
        totals = pd.concat([summed, world], axis=1).dropna(subset=["rows_total"])
        totals["world_total"] = totals["reported_world"].fillna(totals["rows_total"])
    else:
        totals = summed.to_frame().assign(world_total=summed)
    out = df.merge(totals[["world_total"]].reset_index(), on=GROUP, how="left")
    unit_share = out["unit"] == "share_pct"
    out.loc[unit_share, "world_total"] = 100.0
    out["share"] = out["quantity"] / out["world_total"]
    cols = [
        "material",
        "stage",
        "year",
        "country_iso3",
        "quantity",
        "unit",
        "basis",
        "world_total",
        "share",
    ]
    cols += [c for c in ("source", "confidence") if c in out.columns]
    out = out[cols].sort_values([*GROUP, "share"], ascending=[True, True, True, False])
    return out.reset_index(drop=True)


def _named(shares: pd.DataFrame) -> pd.DataFrame:
    return shares[shares["country_iso3"] != RESIDUAL]


def _per_group(shares: pd.DataFrame) -> pd.DataFrame:
    """Skeleton frame with one row per group, world total and share bookkeeping."""
    g = shares.groupby(GROUP, sort=False)
    base = g.agg(world_total=("world_total", "first"), unit=("unit", "first"), share_sum=("share", "sum"))
    resid = shares[shares["country_iso3"] == RESIDUAL].groupby(GROUP)["share"].sum()
    base["unattributed_share"] = resid.reindex(base.index).fillna(0.0)
    base["n_countries"] = _named(shares).groupby(GROUP)["country_iso3"].nunique().reindex(base.index).fillna(0)
    return base


def hhi(
    chain: SupplyChain,
    material: str | None = None,
    stage: str | None = None,
    year: int | None = None,
) -> pd.DataFrame:
    """Herfindahl-Hirschman index on the 0-10,000 scale (named countries only)."""
    s = production_shares(chain, material, stage, year)
    out = _per_group(s)
    named = _named(s)
    out["hhi"] = (named.assign(sq=(100 * named["share"]) ** 2).groupby(GROUP)["sq"].sum()).reindex(out.index)
    return _stage_order(out.reset_index())


def top_k_share(
    chain: SupplyChain,
    k: int = 3,
    material: str | None = None,
    stage: str | None = None,
    year: int | None = None,
) -> pd.DataFrame:
    """Top-1 country and share, and the combined share of the top ``k``."""
    s = production_shares(chain, material, stage, year)
    out = _per_group(s)
    named = _named(s).sort_values([*GROUP, "share"], ascending=[True, True, True, False])
    first = named.groupby(GROUP).head(1).set_index(GROUP)
    out["top1_country"] = first["country_iso3"].reindex(out.index)
    out["top1_share"] = first["share"].reindex(out.index)
    out[f"top{k}_share"] = named.groupby(GROUP).head(k).groupby(GROUP)["share"].sum().reindex(out.index)
    return _stage_order(out.reset_index())


def group_share(
    chain: SupplyChain,
    countries: Iterable[str],
    material: str | None = None,
    stage: str | None = None,
    year: int | None = None,
    column: str = "group_share",
) -> pd.DataFrame:
    """Combined share of a set of countries (a country, a bloc, or any list)."""
    members = set(chain.expand(countries))
    s = production_shares(chain, material, stage, year)
    out = _per_group(s)
    sel = s[s["country_iso3"].isin(members)]
    out[column] = sel.groupby(GROUP)["share"].sum().reindex(out.index).fillna(0.0)
    return _stage_order(out.reset_index())


def china_share(
    chain: SupplyChain,
    material: str | None = None,
    stage: str | None = None,
    year: int | None = None,
) -> pd.DataFrame:
    """China's share of world output."""
    return group_share(chain, ["CHN"], material, stage, year, column="china_share")


def bloc_share(
    chain: SupplyChain,
    bloc: str,
    material: str | None = None,
    stage: str | None = None,
    year: int | None = None,
) -> pd.DataFrame:
    """Share of a named bloc (``framework``, ``allies``, ``eu`` or a user bloc)."""
    return group_share(chain, [bloc], material, stage, year, column="bloc_share").assign(bloc=bloc.lower())


def bloc_shares(
    chain: SupplyChain,
    material: str | None = None,
    stage: str | None = None,
    year: int | None = None,
) -> pd.DataFrame:
    """Share of every named bloc: long format (material, stage, year, bloc, bloc_share)."""
    parts = [bloc_share(chain, b, material, stage, year) for b in chain.blocs.names]
    cols = [*GROUP, "bloc", "bloc_share"]
    return pd.concat([p[cols] for p in parts], ignore_index=True)


def n1_coverage(
    chain: SupplyChain,
    material: str | None = None,
    stage: str | None = None,
    year: int | None = None,
) -> pd.DataFrame:
    """IEA-style N-1: share of world output left if the largest supplier drops out."""
    out = top_k_share(chain, 1, material, stage, year)
    out["n1_coverage"] = 1.0 - out["top1_share"]
    return out


def nk_coverage(
    chain: SupplyChain,
    countries: Iterable[str],
    material: str | None = None,
    stage: str | None = None,
    year: int | None = None,
) -> pd.DataFrame:
    """N-k: share of world output left if a named set (e.g. CHN+MMR) drops out."""
    members = chain.expand(countries)
    out = group_share(chain, members, material, stage, year, column="lost_share")
    out["nk_coverage"] = (1.0 - out["lost_share"]).clip(lower=0.0)
    out["dropped"] = "+".join(members)
    return out


def hhi_wgi(
    chain: SupplyChain,
    material: str | None = None,
    stage: str | None = None,
    year: int | None = None,
) -> pd.DataFrame:
    """Governance-weighted HHI (EU CRM): ``sum(share^2 x WGI_scaled)``, 0-10 scale.

    ``wgi_coverage`` is the share of named output whose country has WGI data;
    below 1 means the value omits those countries (never a silent zero).
    """
    shares = production_shares(chain, material, stage, year)
    out = _per_group(shares)
    s = _named(shares).copy()
    s["wgi_scaled"] = chain.wgi_scaled_of(s["country_iso3"])
    have = s[s["wgi_scaled"].notna()]
    out["hhi_wgi"] = (
        have.assign(term=have["share"] ** 2 * have["wgi_scaled"]).groupby(GROUP)["term"].sum().reindex(out.index)
    )
    cov = have.groupby(GROUP)["share"].sum() / s.groupby(GROUP)["share"].sum()
    out["wgi_coverage"] = cov.reindex(out.index).fillna(0.0)
    return _stage_order(out.reset_index())


def import_reliance(
    chain: SupplyChain,
    perspective: str,
    material: str | None = None,
    stage: str | None = None,
    year: int | None = None,
) -> pd.DataFrame:
    """Net import reliance of a country or bloc, where trade data allow.

    ``NIR = (imports - exports) / (production + imports - exports)``, with trade
    inside a bloc netted out. Only (material, stage, year) groups that have
    trade rows touching the perspective are returned; negative values mean a net
    exporter. Columns: production_t, imports_t, exports_t, apparent_consumption_t,
    net_import_reliance.
    """
    members = set(chain.expand([perspective]))
    cols = [*GROUP, "perspective", "production_t", "imports_t", "exports_t", "apparent_consumption_t",
            "net_import_reliance"]  # fmt: skip
    tr = chain.trade
    if tr.empty:
        return pd.DataFrame(columns=cols)
    sel = tr
    if material is not None:
        sel = sel[sel["material"] == chain.material(material)]
    if stage is not None:
        sel = sel[sel["stage"] == chain.stage(stage)]
    if year is not None:
        sel = sel[sel["year"] == int(year)]
    eu_alias = {"EU"} if members >= set(chain.blocs.members("eu")) else set()
    inside = members | eu_alias
    imp_mask = (sel["importer_iso3"].isin(inside)) & ~sel["exporter_iso3"].isin(members)
    exp_mask = sel["exporter_iso3"].isin(members) & ~sel["importer_iso3"].isin(inside)
    # A member's world total (WLD) already includes its bilateral rows: where it exists, the
    # exports leaving the perspective are WLD minus that member's shipments to fellow members.
    exp = sel[exp_mask]
    keys = [*GROUP, "exporter_iso3"]
    wld = exp[exp["importer_iso3"] == "WLD"].groupby(keys)["quantity_t"].sum()
    if len(wld):
        intra = sel[sel["exporter_iso3"].isin(members) & sel["importer_iso3"].isin(inside)]
        intra_sum = intra.groupby(keys)["quantity_t"].sum().reindex(wld.index).fillna(0.0)
        net_wld = (wld - intra_sum).clip(lower=0.0).rename("quantity_t").reset_index()
        bilateral = exp[~exp.set_index(keys).index.isin(wld.index)]
        exp = pd.concat([bilateral, net_wld], ignore_index=True)
    imports = sel[imp_mask].groupby(GROUP)["quantity_t"].sum()
    exports = exp.groupby(GROUP)["quantity_t"].sum()
    idx = imports.index.union(exports.index)
    if len(idx) == 0:
        return pd.DataFrame(columns=cols)
    prod = chain.production
    prod = prod[prod["country_iso3"].isin(members) & (prod["unit"] == "t")].groupby(GROUP)["quantity"].sum()
    out = pd.DataFrame(index=idx)
    out["production_t"] = prod.reindex(idx).fillna(0.0)
    out["imports_t"] = imports.reindex(idx).fillna(0.0)
    out["exports_t"] = exports.reindex(idx).fillna(0.0)
    out["apparent_consumption_t"] = out["production_t"] + out["imports_t"] - out["exports_t"]
    with np.errstate(divide="ignore", invalid="ignore"):
        nir = (out["imports_t"] - out["exports_t"]) / out["apparent_consumption_t"]
    out["net_import_reliance"] = nir.where(out["apparent_consumption_t"] > 0)
    out["perspective"] = perspective
    return _stage_order(out.reset_index())[cols]


def bottleneck_stage(chain: SupplyChain, material: str | None = None, year: int | None = None) -> pd.DataFrame:
    """The stage with the highest governance-weighted concentration, per material and year."""
    h = hhi_wgi(chain, material, None, year).dropna(subset=["hhi_wgi"])
    idx = h.groupby(["material", "year"])["hhi_wgi"].idxmax()
    out = h.loc[idx, ["material", "year", "stage", "hhi_wgi"]].rename(columns={"stage": "bottleneck_stage"})
    return out.reset_index(drop=True)


def concentration(
    chain: SupplyChain,
    material: str | None = None,
    stage: str | None = None,
    year: int | None = None,
    bloc: str = "framework",
    perspective: str | None = None,
) -> pd.DataFrame:
    """Every metric in one tidy table, one row per (material, stage, year).

    Columns: material, stage, year, unit, basis (what the tonnes count: REO, oxide, metal,
    NdFeB, content, gross), world_total, hhi, top1_country,
    top1_share, top3_share, china_share, bloc, bloc_share, n1_coverage, hhi_wgi,
    wgi_coverage, unattributed_share, share_sum, n_countries, bottleneck_stage
    (the material's bottleneck in that year), and, with ``perspective``,
    net_import_reliance.
    """
    base = hhi(chain, material, stage, year)
    if base.empty:
        return base
    parts = [
        top_k_share(chain, 3, material, stage, year)[[*GROUP, "top1_country", "top1_share", "top3_share"]],
        china_share(chain, material, stage, year)[[*GROUP, "china_share"]],
        bloc_share(chain, bloc, material, stage, year)[[*GROUP, "bloc", "bloc_share"]],
        hhi_wgi(chain, material, stage, year)[[*GROUP, "hhi_wgi", "wgi_coverage"]],
    ]
    out = base
    for p in parts:
        out = out.merge(p, on=GROUP, how="left")
    out["n1_coverage"] = 1.0 - out["top1_share"]
    if "basis" in chain.production.columns:
        basis = chain.production.groupby(GROUP, as_index=False)["basis"].first()
        out = out.merge(basis, on=GROUP, how="left")
    else:
        out["basis"] = ""
    bn = bottleneck_stage(chain, material, year)[["material", "year", "bottleneck_stage"]]
    out = out.merge(bn, on=["material", "year"], how="left")
    if perspective is not None:
        nir = import_reliance(chain, perspective, material, stage, year)
        out = out.merge(nir[[*GROUP, "net_import_reliance"]], on=GROUP, how="left")
        out["perspective"] = perspective
    cols = [*GROUP, "unit", "basis", "world_total", "hhi", "top1_country", "top1_share", "top3_share", "china_share",
            "bloc", "bloc_share", "n1_coverage", "hhi_wgi", "wgi_coverage", "unattributed_share", "share_sum",
            "n_countries", "bottleneck_stage"]  # fmt: skip
    if perspective is not None:
        cols += ["perspective", "net_import_reliance"]
    return _stage_order(out[cols])
