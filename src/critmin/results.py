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
from critmin.engine.compiled import CompiledScenario
from critmin.engine.network import PRODUCING_STAGES, Network
from critmin.engine.simulate import GroupResult
from critmin.scenario import Scenario
from critmin.tabular import records

#: a month counts as short when its shortfall exceeds this share of demand (numerical noise below)
SHORT_TOL = 1e-9


def to_dataset(
    net: Network,
    groups: tuple[GroupResult, ...],
    months: tuple[str, ...],
    batch: int = 0,
    levers: CompiledScenario | None = None,
) -> xr.Dataset:
    """Labelled arrays of one batch member: (month, material, region, sector),
    (month, material, stage, region) and prices. Stages a material has no data for are NaN.
    ``levers`` (the compiled scenario) adds the sectors' stoppage thresholds and the base prices in
    USD/kg."""
    mats = list(net.materials)
    stages = list(PRODUCING_STAGES)
    T, M, R, S, K = len(months), len(mats), len(net.regions), len(net.sectors), len(stages)
    flows = {v: np.zeros((T, M, R, S)) for v in ("demand", "delivered")}
    states = {v: np.full((T, M, K, R), np.nan) for v in STATE_VARIABLES}
    prices = {v: np.full((T, M, K, R), np.nan) for v in ("spot_price", "paid_price")}
    base_usd = np.full((M, K), np.nan)
    price = np.zeros((T, M))
    for gi, (g, res) in enumerate(zip(net.groups, groups, strict=True)):
        for mi, m in enumerate(g.materials):
            j = mats.index(m)
            flows["demand"][:, j] = res.demand[batch, :, mi]
            flows["delivered"][:, j] = res.delivered[batch, :, mi]
            price[:, j] = res.price[batch, :, mi]
            for ki, st in enumerate(g.stages):
                k = stages.index(st)
                for v in states:
                    states[v][:, j, k] = getattr(res, v)[batch, :, mi, ki]
                for v in prices:
                    prices[v][:, j, k] = getattr(res, v)[batch, :, mi, ki]
                if levers is not None:
                    base_usd[j, k] = levers.base_price[gi][mi, ki]
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
    stop = levers.stoppage_fill[batch] if levers is not None else np.full(S, np.nan)
    ds = xr.Dataset(
        {
            "demand_t": (fdims, flows["demand"]),
            "delivered_t": (fdims, flows["delivered"]),
            "shortfall_t": (fdims, np.maximum(flows["demand"] - flows["delivered"], 0.0)),
            "price_index": (("month", "material"), price),
            **{f"{v}_t": (sdims, a) for v, a in states.items()},
            "utilisation": (sdims, util),
            "spot_index": (sdims, prices["spot_price"]),
            "paid_index": (sdims, prices["paid_price"]),
            "base_price_usd_per_kg": (("material", "stage"), base_usd),
            "stoppage_fill": (("sector",), stop),
        },
        coords=coords,
    )
    ds["demand_t"].attrs["units"] = "t contained element per month"
    ds["price_index"].attrs["description"] = "world paid price index at end use (deliveries-weighted; base year = 1)"
    return ds


#: the (month, material, stage, region) variables of a run (``<name>_t`` in its dataset)
STATE_VARIABLES = (
    "production", "capacity", "inventory", "unsold", "stockpile", "received", "ordered", "exporter_flow", "contract"
)  # fmt: skip


def to_trade(net: Network, groups: tuple[GroupResult, ...], months: tuple[str, ...], batch: int = 0) -> xr.DataArray:
    """Shipments of each stage's product between regions, t per month: (month, material, stage,
    exporter, importer); a region's shipments to itself are its domestic sales."""
    mats = list(net.materials)
    stages = list(PRODUCING_STAGES)
    R = len(net.regions)
    arr = np.zeros((len(months), len(mats), len(stages), R, R))
    for g, res in zip(net.groups, groups, strict=True):
        for mi, m in enumerate(g.materials):
            for ki, st in enumerate(g.stages):
                arr[:, mats.index(m), stages.index(st)] = res.trade[batch, :, mi, ki]
    return xr.DataArray(
        arr,
        dims=("month", "material", "stage", "exporter", "importer"),
        coords={
            "month": list(months),
            "material": mats,
            "stage": stages,
            "exporter": list(net.regions),
            "importer": list(net.regions),
        },
        name="trade_t",
    )


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
    #: shipments between regions (:func:`to_trade`), t per month
    trade_t: xr.DataArray | None = None

    @property
    def version(self) -> str:
        return __version__

    def trade(self, min_t: float = 1e-6) -> pd.DataFrame:
        """Shipments between regions (exporter != importer) of at least ``min_t`` t in a month:
        ``month, material, stage, exporter, importer, t`` and, for magnets, ``product_t`` (tonnes
        of magnet: the element's tonnes over its content in NdFeB, ``magnet_content``)."""
        cols = ["month", "material", "stage", "exporter", "importer", "t", "product_t"]
        if self.trade_t is None:
            return pd.DataFrame(columns=cols)
        df = self.trade_t.to_dataframe().reset_index().rename(columns={"trade_t": "t"})
        df = df[(df["exporter"] != df["importer"]) & (df["t"] >= min_t)]
        content = self.dataset["magnet_content_pct"].to_series() if "magnet_content_pct" in self.dataset else None
        pct = df["material"].map(content) if content is not None else np.nan
        df["product_t"] = np.where((df["stage"] == "magnet") & (pct > 0), df["t"] / (pct / 100), np.nan)
        return df[cols].reset_index(drop=True)

    def prices(self) -> pd.DataFrame:
        """Regional prices: ``month, material, stage, region, spot_index, paid_index`` and, where
        the data has a base price for the product, ``usd_per_kg`` (spot) and ``paid_usd_per_kg``.
        Stages a material does not have are left out."""
        ds = self.dataset
        df = ds[["spot_index", "paid_index"]].to_dataframe().reset_index().dropna(subset=["spot_index"])
        base = ds["base_price_usd_per_kg"].to_series()
        usd = pd.Series([base.get((m, st), np.nan) for m, st in zip(df["material"], df["stage"], strict=True)],
                        index=df.index)  # fmt: skip
        df["usd_per_kg"] = df["spot_index"] * usd
        df["paid_usd_per_kg"] = df["paid_index"] * usd
        return df[["month", "material", "stage", "region", "spot_index", "paid_index", "usd_per_kg",
                   "paid_usd_per_kg"]].reset_index(drop=True)  # fmt: skip

    def products(self) -> pd.DataFrame:
        """Magnets as products, tonnes of magnet per month x region: ``NdFeB`` from Nd (magnets couple
        the elements, so Nd's fill is the magnets' fill, docs/engine.md 4.5) and ``SmCo`` from Sm,
        each over its content in the magnet (``magnet_content``). Columns ``month, product, region,
        demand_t, delivered_t, shortfall_t``; regions with demand only."""
        cols = ["month", "product", "region", "demand_t", "delivered_t", "shortfall_t"]
        ds = self.dataset
        if "magnet_content_pct" not in ds:
            return pd.DataFrame(columns=cols)
        content = ds["magnet_content_pct"].to_series()
        frames = []
        for product, element in (("NdFeB", "Nd"), ("SmCo", "Sm")):
            pct = float(content.get(element, np.nan))
            if not pct > 0:
                continue
            m = ds[["demand_t", "delivered_t", "shortfall_t"]].sel(material=element).sum("sector") / (pct / 100)
            df = m.to_dataframe().reset_index().drop(columns="material")
            frames.append(df[df["demand_t"] > 0].assign(product=product))
        if not frames:
            return pd.DataFrame(columns=cols)
        return pd.concat(frames, ignore_index=True)[cols]

    def element_prices(self) -> pd.DataFrame:
        """Each element's price to each region's buyers: ``month, material, region, spot_index``
        (the dearest spot index among the stages at which the region received the element that
        month; the reference market's where it received none), ``paid_index`` (receipts-weighted
        over those stages) and ``usd_per_kg`` (spot index x the element's oxide base price, where the
        data has one). This is what a price reporter's regional quote of the oxide compares with:
        buyers outside China take their Dy in metal and magnets, not only as oxide."""
        ds = self.dataset
        got = ds["received_t"].fillna(0.0)
        buys = got > 1e-9
        spot = ds["spot_index"].where(buys).max("stage")
        paid = (ds["paid_index"] * got).sum("stage") / got.sum("stage").where(got.sum("stage") > 0)
        # the reference market: the region and stage with the largest output of the element
        made = ds["production_t"].fillna(0.0).sum("month").values  # (material, stage, region)
        flat = made.reshape(made.shape[0], -1).argmax(axis=1)
        k_ref, r_ref = np.unravel_index(flat, made.shape[1:])
        spot_all = ds["spot_index"].transpose("month", "material", "stage", "region").values
        ref = spot_all[:, np.arange(made.shape[0]), k_ref, r_ref]  # (month, material)
        fallback = xr.DataArray(ref, dims=("month", "material"), coords={"month": ds.month, "material": ds.material})
        spot = spot.fillna(fallback)
        paid = paid.fillna(spot)
        base = ds["base_price_usd_per_kg"].max("stage")
        df = xr.Dataset({"spot_index": spot, "paid_index": paid}).to_dataframe().reset_index()
        df["usd_per_kg"] = df["spot_index"] * df["material"].map(base.to_series())
        return df[["month", "material", "region", "spot_index", "paid_index", "usd_per_kg"]]

    def stoppage(self) -> pd.DataFrame:
        """The line-stoppage proxy per material x region x sector: the months in which less than
        the sector's ``stoppage_fill`` of its need was delivered (``months_stopped``), the first
        such month and the lowest monthly fill. Only sectors with demand; sorted by months stopped."""
        ds = self.dataset
        dem, got = ds["demand_t"], ds["delivered_t"]
        fill = (got / dem.where(dem > 0)).rename("fill")
        stopped = fill < ds["stoppage_fill"]
        df = pd.concat([fill.to_dataframe()["fill"], stopped.rename("stopped").to_dataframe()["stopped"]], axis=1)
        df = df.reset_index().dropna(subset=["fill"])
        g = df.groupby(["material", "region", "sector"], sort=False)
        out = g.agg(months_stopped=("stopped", "sum"), min_fill=("fill", "min")).reset_index()
        first = df[df["stopped"]].groupby(["material", "region", "sector"])["month"].min()
        out["first_month_stopped"] = [first.get(k, "") for k in zip(out["material"], out["region"], out["sector"],
                                                                     strict=True)]  # fmt: skip
        out["threshold"] = out["sector"].map(ds["stoppage_fill"].to_series())
        out["months_stopped"] = out["months_stopped"].astype(int)
        return out.sort_values(["months_stopped", "material", "region", "sector"], ascending=[False, True, True, True],
                               kind="stable").reset_index(drop=True)  # fmt: skip

    def by_year(self) -> pd.DataFrame:
        """Material x region x calendar year: demand, delivered, shortfall and its share (so that a
        shock inside one year is not diluted by the horizon)."""
        m = self.by_month()
        m = m.assign(year=m["month"].str[:4].astype(int))
        out = m.groupby(["material", "region", "year"], sort=False)[["demand_t", "delivered_t", "shortfall_t"]].sum()
        out = out.reset_index()
        out["shortfall_share"] = np.where(out["demand_t"] > 0, out["shortfall_t"] / out["demand_t"], 0.0)
        return out

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
        months short, first month short, the peak month (largest shortfall share of a month's
        demand) and that share, the lowest end-use cover and the peak spot price index of the
        region's end-use market. Sorted by shortfall."""
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
        # the worst month: the largest shortfall share of that month's demand
        share = monthly.assign(s=monthly["shortfall_t"] / monthly["demand_t"])
        worst = share.loc[share.groupby(["material", "region"], sort=False)["s"].idxmax()]
        worst = worst.set_index(["material", "region"])
        keys = list(zip(out["material"], out["region"], strict=True))
        out["peak_month"] = [worst["month"].get(k, "") if worst["s"].get(k, 0.0) > SHORT_TOL else "" for k in keys]
        out["peak_month_share"] = [float(worst["s"].get(k, 0.0)) for k in keys]
        # the highest spot index of the region's end-use market (its last stage)
        spot = self.dataset["spot_index"]
        has = np.isfinite(spot.isel(month=0, region=0).values)
        last = has.shape[1] - 1 - np.argmax(has[:, ::-1], axis=1)
        end_spot = spot.isel(stage=xr.DataArray(last, dims="material")).drop_vars("stage").max("month").to_series()
        out["peak_price_index"] = [float(end_spot.get(k, np.nan)) for k in keys]
        out["months_short"] = out["months_short"].astype(int)
        cols = ["material", "region", "demand_t", "delivered_t", "shortfall_t", "shortfall_share", "months_short",
                "first_month_short", "peak_month", "peak_month_share", "min_cover_months",
                "peak_price_index"]  # fmt: skip
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
            "by_year": records(self.by_year()),
            "price_index": records(self.dataset["price_index"].to_dataframe().reset_index()),
            "prices": records(self.prices()),
            "trade": records(self.trade()),
            "stoppage": records(self.stoppage()),
            "products": records(self.products()),
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
