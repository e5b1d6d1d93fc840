"""Run results: an xarray Dataset, tidy tables, a summary, and storage in DuckDB under a run id.

Example
-------
>>> from critmin.engine import run_scenario
>>> from critmin.jobs import load_chain, open_store
>>> from critmin.scenario import load_scenario
>>> res = run_scenario(load_scenario("lynas-malaysia-outage-6m"), load_chain(open_store()))
>>> list(res.summary().columns[:5])
['material', 'region', 'demand_t', 'delivered_t', 'shortfall_t']
>>> res.dataset["shortfall_t"].dims
('month', 'material', 'region', 'sector')
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from critmin import __version__
from critmin.engine.network import PRODUCING_STAGES, Network
from critmin.engine.simulate import GroupResult
from critmin.scenario import Scenario
from critmin.tabular import records

#: a month counts as short when its shortfall exceeds this share of demand (numerical noise below)
SHORT_TOL = 1e-9


def to_dataset(net: Network, groups: tuple[GroupResult, ...], months: tuple[str, ...], batch: int = 0) -> xr.Dataset:
    """Labelled arrays of one batch member: (month, material, region, sector) and
    (month, material, stage, region). Stages a material has no data for are NaN."""
    mats = list(net.materials)
    stages = list(PRODUCING_STAGES)
    T, M, R, S, K = len(months), len(mats), len(net.regions), len(net.sectors), len(stages)
    flows = {v: np.zeros((T, M, R, S)) for v in ("demand", "delivered")}
    states = {
        v: np.full((T, M, K, R), np.nan)
        for v in ("production", "capacity", "inventory", "unsold", "stockpile", "received", "ordered", "exporter_flow")
    }
    price = np.zeros((T, M))
    for g, res in zip(net.groups, groups, strict=True):
        for mi, m in enumerate(g.materials):
            j = mats.index(m)
            flows["demand"][:, j] = res.demand[batch, :, mi]
            flows["delivered"][:, j] = res.delivered[batch, :, mi]
            price[:, j] = res.price[batch, :, mi]
            for ki, s in enumerate(g.stages):
                for v in states:
                    states[v][:, j, stages.index(s)] = getattr(res, v)[batch, :, mi, ki]
    coords = {
        "month": list(months),
        "material": mats,
        "region": list(net.regions),
        "sector": list(net.sectors),
        "stage": stages,
    }
    fdims = ("month", "material", "region", "sector")
    sdims = ("month", "material", "stage", "region")
    with np.errstate(invalid="ignore", divide="ignore"):
        util = np.where(states["capacity"] > 0, states["production"] / states["capacity"], np.nan)
    ds = xr.Dataset(
        {
            "demand_t": (fdims, flows["demand"]),
            "delivered_t": (fdims, flows["delivered"]),
            "shortfall_t": (fdims, np.maximum(flows["demand"] - flows["delivered"], 0.0)),
            "price_index": (("month", "material"), price),
            **{f"{v}_t": (sdims, a) for v, a in states.items()},
            "utilisation": (sdims, util),
        },
        coords=coords,
    )
    ds["demand_t"].attrs["units"] = "t contained element per month"
    return ds


@dataclass(frozen=True)
class RunResult:
    """One deterministic run: the scenario, the engine, and its labelled results."""

    run_id: str
    scenario: Scenario
    engine: str
    mode: str
    dataset: xr.Dataset
    notes: tuple[str, ...]
    data_sha256: str = ""
    created_utc: str = ""

    @property
    def version(self) -> str:
        return __version__

    def tidy(self) -> pd.DataFrame:
        """One row per month x material x region x sector."""
        ds = self.dataset
        df = ds[["demand_t", "delivered_t", "shortfall_t"]].to_dataframe().reset_index()
        df = df.merge(ds["price_index"].to_dataframe().reset_index(), on=["month", "material"])
        return df[df["demand_t"] > 0].reset_index(drop=True)

    def by_month(self) -> pd.DataFrame:
        """Month x material x region totals (sectors summed)."""
        ds = self.dataset[["demand_t", "delivered_t", "shortfall_t"]].sum("sector")
        df = ds.to_dataframe().reset_index()
        df = df[df["demand_t"] > 0].reset_index(drop=True)
        df["short"] = df["shortfall_t"] > SHORT_TOL * df["demand_t"]
        return df[["month", "material", "region", "demand_t", "delivered_t", "shortfall_t"]].assign(
            months_short=df["short"].astype(int)
        )

    def summary(self, sector: str | None = None) -> pd.DataFrame:
        """Material x region over the horizon: demand, delivered, shortfall (t), shortfall share,
        months short, first month short and the peak price index. Sorted by shortfall."""
        ds = self.dataset[["demand_t", "delivered_t", "shortfall_t"]]
        ds = ds.sel(sector=sector) if sector else ds.sum("sector")
        monthly = ds.to_dataframe().reset_index()
        monthly = monthly[monthly["demand_t"] > 0]
        monthly = monthly.assign(short=monthly["shortfall_t"] > SHORT_TOL * monthly["demand_t"])
        g = monthly.groupby(["material", "region"], sort=False)
        out = g.agg(
            demand_t=("demand_t", "sum"),
            delivered_t=("delivered_t", "sum"),
            shortfall_t=("shortfall_t", "sum"),
            months_short=("short", "sum"),
        ).reset_index()
        first = monthly[monthly["short"]].groupby(["material", "region"])["month"].min()
        cover = self.end_use_cover().min("month").to_series()
        out["min_cover_months"] = [
            cover.get((m, r), np.nan) for m, r in zip(out["material"], out["region"], strict=True)
        ]
        out["first_month_short"] = [first.get((m, r), "") for m, r in zip(out["material"], out["region"], strict=True)]
        out["shortfall_share"] = np.where(out["demand_t"] > 0, out["shortfall_t"] / out["demand_t"], 0.0)
        peak = self.dataset["price_index"].max("month").to_series()
        out["peak_price_index"] = out["material"].map(peak)
        out["months_short"] = out["months_short"].astype(int)
        cols = ["material", "region", "demand_t", "delivered_t", "shortfall_t", "shortfall_share", "months_short",
                "first_month_short", "min_cover_months", "peak_price_index"]  # fmt: skip
        return (
            out[cols]
            .sort_values(["shortfall_t", "material", "region"], ascending=[False, True, True])
            .reset_index(drop=True)
        )

    def end_use_cover(self) -> xr.DataArray:
        """End users' inventory at the end of each month, in months of that month's demand
        (month, material, region): how close a region came to running out."""
        ds = self.dataset
        inv = ds["inventory_t"]
        has = np.isfinite(inv.isel(month=0, region=0).values)  # (material, stage)
        last = has.shape[1] - 1 - np.argmax(has[:, ::-1], axis=1)
        stock = inv.isel(stage=xr.DataArray(last, dims="material")).drop_vars("stage")
        need = ds["demand_t"].sum("sector")
        return (stock / need.where(need > 0)).rename("cover_months")

    def metadata(self) -> dict[str, Any]:
        """What identifies the run: id, scenario and its hash, engine, mode, seed, versions."""
        return {
            "run_id": self.run_id,
            "scenario": self.scenario.name,
            "scenario_sha256": self.scenario.digest(),
            "engine": self.engine,
            "mode": self.mode,
            "seed": self.scenario.seed,
            "critmin_version": self.version,
            "data_sha256": self.data_sha256,
        }

    def to_json(self) -> dict[str, Any]:
        """The ``critmin run --format json`` document."""
        return {
            **self.metadata(),
            "months": list(self.dataset.month.values),
            "notes": list(self.notes),
            "summary": records(self.summary()),
            "by_month": records(self.by_month()),
            "price_index": records(self.dataset["price_index"].to_dataframe().reset_index()),
        }

    def save(self, store: Any) -> str:
        """Store the run (scenario, hash, seed, version, results) in DuckDB; returns the run id."""
        from critmin.store import Store

        assert isinstance(store, Store)
        runs = pd.DataFrame(
            [
                {
                    **self.metadata(),
                    "created_utc": self.created_utc,
                    "start_month": self.scenario.start,
                    "months": self.scenario.months,
                    "notes": "\n".join(self.notes),
                    "scenario_json": json.dumps(self.scenario.model_dump(mode="json"), sort_keys=True),
                }
            ]
        )
        results = self.tidy().assign(run_id=self.run_id)[
            ["run_id", "month", "material", "region", "sector", "demand_t", "delivered_t", "shortfall_t", "price_index"]
        ]
        st = self.dataset[[v for v in self.dataset.data_vars if "stage" in self.dataset[v].dims and v != "ordered_t"]]
        states = st.to_dataframe().reset_index().dropna(subset=["production_t"]).assign(run_id=self.run_id)
        states = states[["run_id", "month", "material", "stage", "region", "production_t", "capacity_t", "utilisation",
                         "inventory_t", "unsold_t", "stockpile_t", "received_t", "exporter_flow_t"]]  # fmt: skip
        store.write_run(self.run_id, {"runs": runs, "run_results": results, "run_states": states})
        return self.run_id


def value_of_cooperation(market: RunResult, coordinated: RunResult, coalition: list[str]) -> pd.DataFrame:
    """What pooling is worth: shortfall (all sectors and defence) per material for each coalition
    member and for everyone else, in ``market`` and ``coordinated`` mode, and the gain
    (market - coordinated; positive = cooperation helps).

    Both runs must be of the same scenario.
    """
    if market.scenario.digest() != coordinated.scenario.digest():
        raise ValueError("value_of_cooperation compares two runs of one scenario")
    rows = []
    for label, res in (("market", market), ("coordinated", coordinated)):
        ds = res.dataset["shortfall_t"]
        regions = [str(r) for r in ds.region.values]
        group = [r if r in coalition else "others" for r in regions]
        total = ds.sum(("month", "sector")).to_pandas()  # material x region
        defence = ds.sel(sector="defence").sum("month").to_pandas()
        for m in total.index:
            for r, g in zip(regions, group, strict=True):
                rows.append({"mode": label, "material": m, "region": g, "shortfall_t": float(total.loc[m, r]),
                             "defence_shortfall_t": float(defence.loc[m, r])})  # fmt: skip
    df = pd.DataFrame(rows).groupby(["material", "region", "mode"], sort=False).sum().unstack("mode")
    out = pd.DataFrame(
        {
            "shortfall_market_t": df[("shortfall_t", "market")],
            "shortfall_coordinated_t": df[("shortfall_t", "coordinated")],
            "defence_shortfall_market_t": df[("defence_shortfall_t", "market")],
            "defence_shortfall_coordinated_t": df[("defence_shortfall_t", "coordinated")],
        }
    ).reset_index()
    pairs = (
        ("gain_t", "shortfall_market_t", "shortfall_coordinated_t"),
        ("defence_gain_t", "defence_shortfall_market_t", "defence_shortfall_coordinated_t"),
    )
    for gain, a, b in pairs:
        diff = out[a] - out[b]
        out[gain] = diff.where(diff.abs() > 1e-9 * (out[a].abs() + out[b].abs() + 1e-300), 0.0)
    keep = (out[["shortfall_market_t", "shortfall_coordinated_t"]].abs().sum(axis=1) > 0) | (out["region"] == "others")
    return out[keep].reset_index(drop=True)


def make_run_id(scenario: Scenario, engine: str, mode: str, created_utc: str) -> str:
    """``<scenario>-<12 hex>``: unique per run, derived from the scenario hash, engine, mode and time."""
    h = hashlib.sha256(f"{scenario.digest()}|{engine}|{mode}|{created_utc}|{__version__}".encode()).hexdigest()[:12]
    slug = "".join(c if c.isalnum() else "-" for c in scenario.name.lower()).strip("-")[:40]
    return f"{slug}-{h}"


def now_utc() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def load_runs(store: Any) -> pd.DataFrame:
    """The stored runs (newest first); empty if none yet."""
    cols = ["run_id", "scenario", "engine", "mode", "seed", "critmin_version", "created_utc", "scenario_sha256"]
    runs = store.read_runs("runs")[cols]
    return runs.sort_values("created_utc", ascending=False, kind="stable").reset_index(drop=True)
