"""The supply-chain map: materials x stages x countries x years, from the store.

A :class:`SupplyChain` is an immutable snapshot of the store's tables with
canonical names, labelled arrays and bloc definitions. Metrics, scenarios and
engines all start from it. Besides production, it carries the other tables the
model reads (facilities, export controls, framework commitments, parameters,
criticality inputs), so that overrides and imports reach every consumer; a chain
made from frames without them falls back on the shipped tables.

Example
-------
>>> import pandas as pd
>>> prod = pd.DataFrame({"material": ["Dy", "Dy"], "stage": ["mine", "mine"],
...                      "country_iso3": ["CHN", "MMR"], "year": [2024, 2024],
...                      "quantity": [60.0, 40.0], "unit": ["t", "t"]})
>>> chain = SupplyChain.from_frames(prod)
>>> chain.production_array().sel(material="Dy", stage="mine", year=2024).sum().item()
100.0
>>> int(chain.facilities["capacity"].notna().sum()) > 0  # the shipped facility list
True
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from critmin import names
from critmin.errors import UnknownNameError, UserError

WGI_INDICATORS = ("VA", "PV", "GE", "RQ", "RL", "CC")
_PROD_COLS = ["material", "stage", "country_iso3", "year", "quantity", "unit"]
#: the store tables a chain carries as they are (a chain from frames without one falls back on the
#: shipped table, :func:`critmin.dataset.shipped_table`)
REFERENCE_TABLES: tuple[str, ...] = (
    "facilities",
    "export_controls",
    "framework_commitments",
    "parameters",
    "criticality_inputs",
)


def _frames_sha256(*frames: pd.DataFrame | None) -> str:
    """A content hash of the frames a chain was built from (for chains not read from a store)."""
    h = hashlib.sha256()
    for f in frames:
        if f is None:
            h.update(b"-")
            continue
        h.update(",".join(map(str, f.columns)).encode())
        h.update(pd.util.hash_pandas_object(f, index=False).to_numpy().tobytes())
    return h.hexdigest()


def _canonical(values: pd.Series, fn: Callable[[str], str]) -> list[str]:
    """``fn`` of every value, called once per distinct value."""
    lookup = {v: fn(v) for v in pd.unique(values)}
    return [lookup[v] for v in values]


def wgi_scaled(governance: pd.DataFrame) -> pd.Series:
    """EU scaling of the WGI: ``(2.5 - mean of the six estimates) x 2`` (0 best, 10 worst).

    Uses each country's latest year. Returns a Series indexed by ISO3, named
    ``wgi_scaled``.

    >>> g = pd.DataFrame({"country_iso3": ["X"] * 6, "year": [2022] * 6,
    ...                   "indicator": list(WGI_INDICATORS), "estimate": [0.5] * 6})
    >>> float(wgi_scaled(g)["X"])
    4.0
    """
    if governance.empty:
        return pd.Series(dtype=float, name="wgi_scaled")
    latest = governance.groupby("country_iso3")["year"].transform("max")
    g = governance[governance["year"] == latest]
    mean = g.groupby("country_iso3")["estimate"].mean()
    return ((2.5 - mean) * 2).rename("wgi_scaled")


@dataclass(frozen=True)
class SupplyChain:
    """Production by material x stage x country x year, governance, trade and blocs.

    Build it with :meth:`from_store` (the normal way) or :meth:`from_frames`
    (tests, notebooks with their own data). Frames are copied; nothing passed in
    is mutated.
    """

    production: pd.DataFrame
    world_totals: pd.DataFrame
    governance: pd.Series
    trade: pd.DataFrame
    demand: pd.DataFrame
    capacity: pd.DataFrame
    inventory: pd.DataFrame
    blocs: names.Blocs
    base_year: int
    known_countries: frozenset[str] = field(default_factory=frozenset)
    #: the store's data fingerprint (``meta.data_sha256``), or a hash of the frames given
    data_sha256: str = ""
    #: {table: frame} of the :data:`REFERENCE_TABLES` given (the others are the shipped ones)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False, compare=False)

    def reference(self, name: str) -> pd.DataFrame:
        """A copy of one of the :data:`REFERENCE_TABLES`: the chain's own, else the shipped one."""
        if name not in REFERENCE_TABLES:
            raise UnknownNameError("reference table", name, REFERENCE_TABLES)
        own = self.tables.get(name)
        if own is not None:
            return own.copy()
        from critmin.dataset import shipped_table

        return shipped_table(name)

    @property
    def facilities(self) -> pd.DataFrame:
        """The facility list (store table ``facilities``)."""
        return self.reference("facilities")

    @property
    def export_controls(self) -> pd.DataFrame:
        """Export-control events (store table ``export_controls``)."""
        return self.reference("export_controls")

    @property
    def framework_commitments(self) -> pd.DataFrame:
        """Framework commitments (store table ``framework_commitments``)."""
        return self.reference("framework_commitments")

    @property
    def parameters(self) -> pd.DataFrame:
        """The model parameters in force (store table ``parameters``)."""
        return self.reference("parameters")

    @property
    def criticality_inputs(self) -> pd.DataFrame:
        """The criticality methods' default inputs (store table ``criticality_inputs``)."""
        return self.reference("criticality_inputs")

    # -- construction ------------------------------------------------------
    @classmethod
    def from_frames(
        cls,
        production: pd.DataFrame,
        governance: pd.DataFrame | None = None,
        trade: pd.DataFrame | None = None,
        demand: pd.DataFrame | None = None,
        capacity: pd.DataFrame | None = None,
        inventory: pd.DataFrame | None = None,
        blocs: names.Blocs | None = None,
        base_year: int = 2024,
        data_sha256: str = "",
        facilities: pd.DataFrame | None = None,
        export_controls: pd.DataFrame | None = None,
        framework_commitments: pd.DataFrame | None = None,
        parameters: pd.DataFrame | None = None,
        criticality_inputs: pd.DataFrame | None = None,
    ) -> SupplyChain:
        """Build from tidy frames (the ``production`` frame needs at least
        material, stage, country_iso3, year, quantity and unit; its stages are
        producing stages, not end use). ``WLD`` rows are reported world totals;
        ``OTH`` is an unattributed residual. The reference tables (facilities,
        export_controls, framework_commitments, parameters, criticality_inputs)
        are the shipped ones where not given."""
        missing = [c for c in _PROD_COLS if c not in production.columns]
        if missing:
            raise UserError(f"production frame lacks column(s): {', '.join(missing)}")
        prod = production.copy()
        if prod["quantity"].isna().any():
            bad = prod[prod["quantity"].isna()].iloc[0]
            raise UserError(
                f"NaN quantity for {bad['material']} / {bad['stage']} / {bad['country_iso3']} / "
                f"{bad['year']}: absence is not zero; drop the row if the value is unknown"
            )
        prod["material"] = _canonical(prod["material"], names.material)
        prod["stage"] = _canonical(prod["stage"], names.stage)
        end_use = prod[~prod["stage"].isin(names.PRODUCING_STAGES)]
        if len(end_use):
            bad = end_use.iloc[0]
            raise UserError(
                f"production row {bad['material']} / {bad['stage']} / {bad['country_iso3']} / {bad['year']}: "
                f"{bad['stage']} is not a producing stage (use {', '.join(names.PRODUCING_STAGES)}; end-use "
                "demand goes in demand)"
            )
        prod["year"] = prod["year"].astype(int)
        prod["quantity"] = prod["quantity"].astype(float)
        for col, default in (("basis", ""), ("source", "user"), ("confidence", "user")):
            if col not in prod.columns:
                prod[col] = default
        units = prod.groupby(["material", "stage", "year"])["unit"].nunique()
        if (units > 1).any():
            m, s, y = units[units > 1].index[0]
            raise UserError(f"mixed units within {m} / {s} / {y}: one unit per material, stage and year")
        world = prod[prod["country_iso3"] == "WLD"].reset_index(drop=True)
        prod = prod[prod["country_iso3"] != "WLD"].reset_index(drop=True)
        gov = wgi_scaled(governance) if governance is not None else pd.Series(dtype=float, name="wgi_scaled")
        empty = pd.DataFrame()
        known = set(names.countries()) | set(prod["country_iso3"]) | set(gov.index)
        given = {
            "facilities": facilities,
            "export_controls": export_controls,
            "framework_commitments": framework_commitments,
            "parameters": parameters,
            "criticality_inputs": criticality_inputs,
        }
        tables = {k: v.copy() for k, v in given.items() if v is not None}
        if not data_sha256:
            data_sha256 = _frames_sha256(production, governance, trade, demand, capacity, inventory)
            if tables:  # chains without their own reference tables keep their earlier hash
                data_sha256 = _frames_sha256(production, governance, trade, demand, capacity, inventory,
                                             *(given[k] for k in REFERENCE_TABLES))  # fmt: skip
        return cls(
            production=prod,
            world_totals=world,
            governance=gov,
            trade=trade.copy() if trade is not None else empty,
            demand=demand.copy() if demand is not None else empty,
            capacity=capacity.copy() if capacity is not None else empty,
            inventory=inventory.copy() if inventory is not None else empty,
            blocs=blocs or names.default_blocs(),
            base_year=base_year,
            known_countries=frozenset(known),
            data_sha256=data_sha256,
            tables=tables,
        )

    @classmethod
    def from_store(cls, store: object, blocs_file: str | Path | None = None) -> SupplyChain:
        """Build from a :class:`critmin.store.Store` (one consistent read)."""
        from critmin.store import Store

        if not isinstance(store, Store):
            raise TypeError("from_store expects a critmin.Store")
        t = store.read_many(
            ["production", "governance", "trade", "demand", "capacity", "inventory", *REFERENCE_TABLES, "meta"]
        )
        meta = dict(zip(t["meta"]["key"], t["meta"]["value"], strict=True))
        blocs = names.default_blocs()
        if blocs_file is not None:
            blocs = blocs.with_file(blocs_file, names.countries())
        return cls.from_frames(
            t["production"],
            governance=t["governance"],
            trade=t["trade"],
            demand=t["demand"],
            capacity=t["capacity"],
            inventory=t["inventory"],
            blocs=blocs,
            base_year=int(meta.get("base_year", 2024)),
            data_sha256=meta.get("data_sha256", ""),
            **{name: t[name] for name in REFERENCE_TABLES},
        )

    @property
    def fingerprint(self) -> str:
        """SHA-256 of everything in this chain that can change a result: the data fingerprint and
        the blocs in force (a user's bloc file changes targets and coalitions)."""
        blocs = json.dumps({b: self.blocs.members(b) for b in self.blocs.names}, sort_keys=True)
        return hashlib.sha256(f"{self.data_sha256}|{blocs}".encode()).hexdigest()

    # -- names -------------------------------------------------------------
    @property
    def materials(self) -> tuple[str, ...]:
        present = set(self.production["material"])
        return tuple(m for m in names.MATERIAL_IDS if m in present)

    @property
    def stages(self) -> tuple[str, ...]:
        present = set(self.production["stage"])
        return tuple(s for s in names.STAGES if s in present)

    @property
    def years(self) -> tuple[int, ...]:
        return tuple(sorted(int(y) for y in self.production["year"].unique()))

    @property
    def countries(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.production["country_iso3"])))

    def material(self, name: str) -> str:
        """Canonical id of a material that has data here."""
        mid = names.material(name)
        if mid not in self.materials:
            raise UnknownNameError("material (no data)", name, self.materials)
        return mid

    def stage(self, name: str) -> str:
        return names.stage(name)

    def country(self, code: str) -> str:
        c = code.strip().upper()
        if c not in self.known_countries:
            raise UnknownNameError("country", code, self.known_countries)
        return c

    def members(self, name: str) -> tuple[str, ...]:
        """ISO3 members of a bloc, or a one-country tuple for an ISO3 code."""
        if name in self.blocs:
            return self.blocs.members(name)
        try:
            return (self.country(name),)
        except UnknownNameError:
            raise UnknownNameError("country or bloc", name, [*self.known_countries, *self.blocs.names]) from None

    def expand(self, items: Iterable[str]) -> tuple[str, ...]:
        """Expand ISO3 codes and bloc names to sorted ISO3 codes."""
        out: set[str] = set()
        for item in items:
            out.update(self.members(item))
        return tuple(sorted(out))

    # -- views ---------------------------------------------------------------
    def select(self, material: str | None = None, stage: str | None = None, year: int | None = None) -> pd.DataFrame:
        """Production rows filtered by canonical names (validated), a copy."""
        df = self.production
        if material is not None:
            df = df[df["material"] == self.material(material)]
        if stage is not None:
            st = self.stage(stage)
            if material is not None and st not in set(df["stage"]):
                have = [s for s in names.STAGES if s in set(df["stage"])]
                raise UserError(
                    f"no production data for {material} at stage {st!r} (stages with data: {', '.join(have)})"
                )
            df = df[df["stage"] == st]
        if year is not None:
            if int(year) not in set(df["year"]):
                have_y = sorted(set(df["year"]))
                raise UserError(f"no production data for year {year} here (years with data: {have_y})")
            df = df[df["year"] == int(year)]
        return df.copy()

    def production_array(self) -> xr.DataArray:
        """Production as a labelled array ``production_t`` (material, stage, country, year).

        NaN marks absence (no data), which is different from zero. Rows whose
        unit is not tonnes are left out.
        """
        df = self.production[self.production["unit"] == "t"]
        idx = df.set_index(["material", "stage", "country_iso3", "year"])["quantity"]
        arr = xr.DataArray.from_series(idx).rename("production_t")
        arr = arr.rename({"country_iso3": "country"})
        arr.attrs["units"] = "t"
        arr.attrs["note"] = "NaN = no data (absent), not zero"
        return arr

    def wgi_scaled_of(self, countries: Iterable[str]) -> np.ndarray:
        """WGI_scaled for each code (NaN where unknown, e.g. OTH)."""
        return np.array([self.governance.get(c, np.nan) for c in countries], dtype=float)
