"""The simulation network: base-year production, capacity, yields, demand and stocks as arrays
on a region set, grouped by the stages each material has data for.

Every array is in tonnes of contained element per month (annual figures / 12). Countries outside
the region set are aggregated: EU members to ``EU`` when it is a region, the rest (and the
unattributed ``OTH``) to ``ROW``.

Stage conversion factors (``yield_``) are calibrated so that the base year balances: the world
output of stage k divided by that of stage k-1. They absorb the pack's mixed bases (oxide vs metal
content, NdPr in magnets above separated NdPr) and are reported, not hidden: a factor far from 1
says the data disagree, not that the chemistry gains mass.

Example
-------
>>> from critmin.jobs import load_chain, open_store
>>> net = build_network(load_chain(open_store()))
>>> net.regions[:4], "Nd" in net.materials
(('CHN', 'USA', 'JPN', 'AUS'), True)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from critmin import names
from critmin.chain import SupplyChain
from critmin.errors import UserError
from critmin.names import DEFAULT_REGIONS, PRODUCING_STAGES, SECTORS

Array = NDArray[np.float64]
DEFAULT_UTILISATION = 0.85


def region_of(country: str, regions: Sequence[str]) -> str:
    """The simulation region a country belongs to.

    >>> region_of("DEU", ("CHN", "EU", "ROW")), region_of("BRA", ("CHN", "EU", "ROW"))
    ('EU', 'ROW')
    """
    if country in regions:
        return country
    if country in names.EU_MEMBERS and "EU" in regions:
        return "EU"
    return "ROW"


@dataclass(frozen=True)
class Group:
    """Materials sharing one list of stages; arrays indexed [material, stage, region] etc."""

    materials: tuple[str, ...]
    stages: tuple[str, ...]
    base_out: Array  # (M, K, R) t/month
    capacity: Array  # (M, K, R) t/month
    yield_: Array  # (M, K): output of stage k per unit of stage k-1 product (k = 0: 1)
    demand0: Array  # (M, R, S) t/month
    inv_months: Array  # (M, K, R): months of use held by the buyers of product k
    need0: Array  # (M, K, R): base-year orders for product k by region


@dataclass(frozen=True)
class Network:
    """Everything the engines need that does not depend on the scenario's events."""

    regions: tuple[str, ...]
    sectors: tuple[str, ...]
    groups: tuple[Group, ...]
    base_year: int
    skipped: tuple[str, ...]  # "material: reason" for materials that cannot be simulated

    @property
    def materials(self) -> tuple[str, ...]:
        return tuple(m for g in self.groups for m in g.materials)

    def locate(self, material: str) -> tuple[int, int]:
        """(group index, material index) of a simulated material."""
        for gi, g in enumerate(self.groups):
            if material in g.materials:
                return gi, g.materials.index(material)
        raise KeyError(material)


def _latest(frame: pd.DataFrame, year: int) -> pd.DataFrame:
    """Rows of the latest year <= ``year`` (per material and stage)."""
    f = frame[frame["year"] <= year]
    if f.empty:
        return f
    latest = f.groupby(["material", "stage"])["year"].transform("max")
    return f[f["year"] == latest]


def build_network(chain: SupplyChain, regions: Sequence[str] = DEFAULT_REGIONS) -> Network:
    """Arrays for every material with end-use demand and production in ``chain``."""
    regions = tuple(regions)
    if "ROW" not in regions:
        regions = (*regions, "ROW")
    r_index = {r: i for i, r in enumerate(regions)}
    s_index = {s: i for i, s in enumerate(SECTORS)}
    R, S = len(regions), len(SECTORS)
    y = chain.base_year
    prod = chain.production
    prod = _latest(prod[(prod["unit"] == "t") & (prod["stage"].isin(PRODUCING_STAGES))], y)
    cap = chain.capacity
    dem = chain.demand
    if dem.empty:
        raise UserError("the store has no demand rows: run `critmin data build` first")
    dem = dem[dem["year"] == dem.groupby("material")["year"].transform("max")]
    skipped: list[str] = []
    # one pass over each table: rows by (material, stage) / material, looked up below
    prod_by = dict(tuple(prod.groupby(["material", "stage"], sort=False)))
    cap_by = dict(tuple(cap.groupby(["material", "stage"], sort=False))) if not cap.empty else {}
    dem_by = dict(tuple(dem.groupby("material", sort=False)))
    inv_by = _inventory_index(chain.inventory)
    by_stages: dict[tuple[str, ...], list[str]] = {}
    for m in sorted(dem_by, key=lambda x: names.MATERIAL_IDS.index(x)):
        if dem_by[m]["basis"].isin(["NdFeB"]).all():
            continue  # magnet tonnage: reported as the NdFeB view, not simulated as a flow
        st = tuple(s for s in PRODUCING_STAGES if (m, s) in prod_by)
        if not st:
            skipped.append(f"{m}: no production by country in the store")
            continue
        by_stages.setdefault(st, []).append(m)
    groups: list[Group] = []
    for stages, mats in by_stages.items():
        M, K = len(mats), len(stages)
        base = np.zeros((M, K, R))
        capa = np.zeros((M, K, R))
        demand0 = np.zeros((M, R, S))
        inv = np.zeros((M, K, R))
        for mi, m in enumerate(mats):
            for ki, s in enumerate(stages):
                rows = prod_by[(m, s)]
                for c, q in zip(rows["country_iso3"], rows["quantity"], strict=True):
                    base[mi, ki, r_index[region_of(str(c), regions)]] += float(q) / 12
                got = np.zeros(R)
                crow = cap_by.get((m, s))
                if crow is not None:
                    crow = crow[crow["year"] == crow["year"].max()]
                    for c, q in zip(crow["country_iso3"], crow["capacity_t_per_yr"], strict=True):
                        got[r_index[region_of(str(c), regions)]] += float(q) / 12
                capa[mi, ki] = np.where(got > 0, np.maximum(got, base[mi, ki]), base[mi, ki] / DEFAULT_UTILISATION)
            drows = dem_by[m]
            for rg, sec, q in zip(drows["region"], drows["sector"], drows["demand_t_per_yr"], strict=True):
                demand0[mi, r_index[region_of(str(rg), regions)], s_index[str(sec)]] += float(q) / 12
            for ki in range(K):
                holder = stages[ki + 1] if ki + 1 < K else "end_use"
                inv[mi, ki] = _inventory_months(inv_by, m, holder, regions)
        world = base.sum(-1)  # (M, K)
        yld = np.ones((M, K))
        yld[:, 1:] = np.divide(world[:, 1:], world[:, :-1], out=np.zeros((M, K - 1)), where=world[:, :-1] > 0)
        # the last stage must balance end-use demand in the base year
        end_total = demand0.sum((1, 2))
        scale = np.divide(end_total, world[:, -1], out=np.ones(M), where=world[:, -1] > 0)
        for mi, m in enumerate(mats):
            if abs(scale[mi] - 1) > 1e-9:
                skipped.append(
                    f"{m}: end-use demand {end_total[mi] * 12:,.0f} t/yr differs from last-stage output "
                    f"{world[mi, -1] * 12:,.0f} t/yr; output scaled by {scale[mi]:.4f} to balance the base year"
                )
        base[:, -1] *= scale[:, None]
        capa[:, -1] *= scale[:, None]
        if K > 1:
            yld[:, -1] *= scale
        need0 = np.zeros((M, K, R))
        for ki in range(K - 1):
            need0[:, ki] = np.divide(
                base[:, ki + 1], yld[:, ki + 1, None], out=np.zeros((M, R)), where=yld[:, ki + 1, None] > 0
            )
        need0[:, K - 1] = demand0.sum(-1)
        groups.append(Group(tuple(mats), stages, base, capa, yld, demand0, inv, need0))
    return Network(regions, SECTORS, tuple(groups), y, tuple(skipped))


_InventoryIndex = dict[str, tuple[dict[tuple[str, str], float], list[tuple[str, float]]]]


def _inventory_index(inv: pd.DataFrame) -> _InventoryIndex:
    """Inventory rows by holder stage: ``{(material, region): months}`` (first row wins) and the
    list of ``(material, months)`` rows, for :func:`_inventory_months`."""
    out: _InventoryIndex = {}
    if inv.empty:
        return out
    for m, r, k, v in zip(inv["material"], inv["region"], inv["stage"], inv["months_of_use"], strict=True):
        exact, rows = out.setdefault(str(k), ({}, []))
        exact.setdefault((str(m), str(r)), float(v))
        rows.append((str(m), float(v)))
    return out


def _inventory_months(index: _InventoryIndex, material: str, stage: str, regions: Sequence[str]) -> Array:
    """Months of use held by the buyers of ``stage``'s input in each region: the region's own row
    for the material, else its ``*`` row, else the material's all-region row, else the ``*``
    material's; regions without any row (e.g. AUS) use the mean of the rows listed for the
    material (or ``*``)."""
    out = np.zeros(len(regions))
    if stage not in index:
        return out
    exact, rows = index[stage]
    listed = [v for m, v in rows if m in (material, "*")]
    fallback = float(np.mean(listed)) if listed else 0.0
    for i, r in enumerate(regions):
        for key in ((material, r), (material, "*"), ("*", r), ("*", "*")):
            if key in exact:
                out[i] = exact[key]
                break
        else:
            out[i] = fallback
    return out
