"""Candidate projects of the financing portfolio: what a candidate may say, read from the data's
facility pipeline (``critmin/data/project_candidates.csv``) or from a user's TOML file, and
resolved onto a scenario's regions and simulated materials.

A candidates file::

    [[candidate]]
    name = "US heavy-RE separation"
    region = "USA"
    stage = "separation"                       # or ["mine", "separation"] for an integrated plant
    capacity_t_per_yr = { Dy = 200, Tb = 50 }  # t of contained element a year, at each stage
    capex_usd = 3.0e8
    start = "2027-01"
    ramp_months = 18                           # linear ramp to full rate (default 12)
    p_delivery = 0.8                           # probability it is built at all (default 1)
    delay_months = { dist = "triangular", low = 0, mode = 6, high = 24 }   # start delay (default none)

    [[candidate]]
    name = "Eneabba with a split"
    facility = "eneabba-rare-earths-refinery"  # region, stage(s), capacity, start from the facility list
    capacity_t_per_yr = { NdPr = 5500, Dy = 300, Tb = 60 }
    capex_usd = 1.17e9

Capacity tables take elements (``Nd``, ``Pr``, ``Dy``, ``Tb``, ...) and two products: ``NdPr``
(split by the parameters ``nd_share_of_ndpr`` / ``pr_share_of_ndpr``) and ``NdFeB`` (t of magnet,
split by ``magnet_content``), as the engine reads facilities. ``delay_months`` is any
``[[uncertain]]`` distribution (``fixed``, ``uniform``, ``triangular``, ``normal``, ``lognormal``,
``beta``, ``choice``; ``bernoulli`` is refused) of the months added to ``start``. A user's
candidate must give ``capex_usd``; a pipeline candidate without a sourced capex is listed and
excluded from the budgeted choice.

>>> c = parse_candidates('[[candidate]]\\nname = "a"\\nregion = "USA"\\nstage = "metal"\\n'
...                      'capacity_t_per_yr = { NdFeB = 1000 }\\ncapex_usd = 1e8\\nstart = "2027-01"', "c.toml")
>>> c[0].stages, c[0].capex_usd
(('metal',), 100000000.0)
>>> parse_candidates('[[candidate]]\\nname = "a"\\ncapex_usdd = 1', "c.toml")
Traceback (most recent call last):
...
critmin.errors.UserError: c.toml:3: candidate[0].capex_usdd: unknown key 'capex_usdd' (did you mean 'capex_usd'?)
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from critmin import names
from critmin.chain import SupplyChain
from critmin.engine.network import Network
from critmin.errors import UnknownNameError, UserError, suggest
from critmin.months import check_month, month_index, month_label
from critmin.scenario import Scenario
from critmin.scenario.loading import _format_loc, _line_of
from critmin.scenario.uncertain import PROJECT_SHIFT_MONTHS, Uncertain

#: the shipped pipeline (one row per candidate and field, each value with its source and confidence)
PIPELINE_FILE = "project_candidates.csv"
#: products a capacity table may name besides elements, and the elements they split into
PRODUCTS: dict[str, tuple[str, ...]] = {"NdPr": ("Nd", "Pr"), "NdFeB": ("Nd", "Pr", "Dy", "Tb")}
#: stages a project adds capacity at, in chain order
PROJECT_STAGES = ("mine", "separation", "metal", "magnet")
#: fields a pipeline row may set (``project_candidates.csv`` column ``field``)
PIPELINE_FIELDS = (
    "facility", "status", "capacity_t_per_yr", "capex_usd", "start", "ramp_months", "p_delivery", "delay_months",
)  # fmt: skip


def _product_or_material(name: str) -> str:
    key = str(name).strip()
    for p in PRODUCTS:
        if key.lower() == p.lower():
            return p
    try:
        return names.material(key)
    except UnknownNameError:
        raise ValueError(str(UnknownNameError("material", key, (*names.MATERIAL_IDS, *PRODUCTS)))) from None


def _region(v: str) -> str:
    key = str(v).strip()
    if key.upper() in names.REGION_EXTRAS:
        return key.upper()
    try:
        return names.country(key)
    except UnknownNameError as exc:
        raise ValueError(str(exc)) from None


def _stage(v: str) -> str:
    try:
        s = names.stage(v)
    except UnknownNameError as exc:
        raise ValueError(str(exc)) from None
    if s not in PROJECT_STAGES:
        raise ValueError(f"a project adds capacity at {', '.join(PROJECT_STAGES)}, not {s}")
    return s


class _Model(BaseModel):
    # allow_inf_nan=False: TOML has nan and inf literals; every number must be finite
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True, allow_inf_nan=False)


class Delay(_Model):
    """The distribution of a candidate's start delay in months (an ``[[uncertain]]`` entry on the
    project's ``start_shift``, without the field). Draws are rounded to whole months, as the engine
    rounds a shift."""

    dist: Literal["fixed", "uniform", "triangular", "normal", "lognormal", "beta", "choice"]
    value: float | None = None
    low: float | None = None
    mode: float | None = None
    high: float | None = None
    mean: float | None = None
    sd: float | None = None
    median: float | None = None
    sigma: float | None = None
    a: float | None = None
    b: float | None = None
    values: tuple[float, ...] = ()
    weights: tuple[float, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> Delay:
        u = self.uncertain(("project[0].start_shift",))  # the distribution's own checks
        bad = u.range_problem("a delay", -PROJECT_SHIFT_MONTHS, PROJECT_SHIFT_MONTHS)
        if bad is not None:
            raise ValueError(bad[1])
        return self

    def uncertain(self, fields: tuple[str, ...]) -> Uncertain:
        """The ``[[uncertain]]`` entry drawing this delay for ``fields`` (one draw shared)."""
        try:
            return Uncertain(fields=fields, **self.model_dump(exclude_defaults=True))
        except ValidationError as exc:
            raise ValueError(str(exc.errors()[0]["msg"]).removeprefix("Value error, ")) from None

    @property
    def support(self) -> tuple[float, float]:
        """The smallest and largest delay (months) a draw can take."""
        return self.uncertain(("project[0].start_shift",)).support

    def text(self) -> str:
        """``triangular(low=0, mode=6, high=24)``."""
        args = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in self._params().items())
        return f"{self.dist}({args})"

    def _params(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump(exclude_defaults=True).items() if k != "dist"}


class Candidate(_Model):
    """One candidate project (see the module docstring for the keys).

    Without ``facility`` it needs ``region``, ``stage``, ``capacity_t_per_yr`` (with ``materials``
    when it is one number) and ``start``. With ``facility`` every key given overrides the
    facility's.
    """

    name: str = Field(min_length=1)
    facility: str | None = None
    region: str | None = None
    stage: tuple[str, ...] = ()
    materials: tuple[str, ...] = ()
    capacity_t_per_yr: float | dict[str, float] | None = None
    capex_usd: float | None = Field(default=None, gt=0)
    start: str | None = None
    ramp_months: int = Field(default=12, ge=0, le=240)
    p_delivery: float = Field(default=1.0, ge=0.0, le=1.0)
    delay_months: Delay | None = None
    status: str = ""
    note: str = ""

    _v_region = field_validator("region")(lambda v: None if v is None else _region(v))
    _v_start = field_validator("start", mode="before")(lambda v: None if v is None else check_month(v))

    @field_validator("stage", mode="before")
    @classmethod
    def _stages(cls, v: Any) -> tuple[str, ...]:
        items = [v] if isinstance(v, str) else list(v or ())
        out = tuple(dict.fromkeys(_stage(s) for s in items))
        return tuple(s for s in PROJECT_STAGES if s in out)

    @field_validator("materials")
    @classmethod
    def _materials(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(_product_or_material(m) for m in v))

    @field_validator("capacity_t_per_yr")
    @classmethod
    def _capacity(cls, v: float | dict[str, float] | None) -> float | dict[str, float] | None:
        if v is None:
            return v
        if isinstance(v, dict):
            out: dict[str, float] = {}
            for k, x in v.items():
                key = _product_or_material(k)
                if not (math.isfinite(x) and x > 0):
                    raise ValueError(f"capacity of {key} must be a positive finite number of t/yr (got {x})")
                out[key] = out.get(key, 0.0) + float(x)
            if not out:
                raise ValueError("capacity per material must be a non-empty table of positive tonnes")
            return out
        if v <= 0:
            raise ValueError(f"capacity must be positive (got {v})")
        return v

    @model_validator(mode="after")
    def _complete(self) -> Candidate:
        if self.facility is None:
            missing = [k for k in ("region", "capacity_t_per_yr", "start") if getattr(self, k) is None]
            if not self.stage:
                missing.insert(1, "stage")
            if isinstance(self.capacity_t_per_yr, float | int) and not self.materials:
                missing.append("materials")
            if missing:
                raise ValueError(f"a candidate without a facility needs {', '.join(missing)}")
        if isinstance(self.capacity_t_per_yr, float | int) and not self.materials:
            raise ValueError("capacity_t_per_yr as one number needs materials = [...]; or give a table")
        return self

    @property
    def stages(self) -> tuple[str, ...]:
        return self.stage

    def capacity_table(self) -> dict[str, float] | None:
        """t/yr by element or product as given (``None``: take the facility's)."""
        cap = self.capacity_t_per_yr
        if cap is None:
            return None
        table = dict(cap) if isinstance(cap, dict) else {m: float(cap) for m in self.materials}
        if isinstance(cap, dict) and self.materials:
            table = {m: v for m, v in table.items() if m in self.materials}
        return table


# -- reading -----------------------------------------------------------------------------------
def parse_candidates(
    text: str, source: str = "<candidates>", *, facility_ids: tuple[str, ...] | None = None
) -> tuple[Candidate, ...]:
    """Validate a candidates document (``[[candidate]]`` tables); a one-line :class:`UserError`
    naming the file, the line and the field, with "did you mean", otherwise. ``capex_usd`` is
    required; names must be unique; ``facility_ids`` (when given) are the known facilities."""
    doc = names.parse_toml(text, source)
    extra = [k for k in doc if k != "candidate"]
    if extra:
        hint = suggest(extra[0], ["candidate"])
        raise UserError(
            f"{source}: unknown key {extra[0]!r}" + (" (did you mean 'candidate'?)" if hint else "")
            + ": a candidates file holds [[candidate]] tables"
        )  # fmt: skip
    items = doc.get("candidate")
    if not isinstance(items, list) or not items or not all(isinstance(x, dict) for x in items):
        raise UserError(f"{source}: no [[candidate]] tables (see `critmin optimize portfolio --help`)")
    out: list[Candidate] = []
    for i, item in enumerate(items):
        where = f"candidate[{i}]"
        try:
            c = Candidate.model_validate(item)
        except ValidationError as exc:
            errors = sorted(exc.errors(), key=lambda e: {"extra_forbidden": 0, "finite_number": 1}.get(e["type"], 2))
            err = errors[0]
            loc = _clean(("candidate", i, *err["loc"]))
            msg = str(err["msg"]).removeprefix("Value error, ")
            if err["type"] == "extra_forbidden" and isinstance(loc[-1], str):
                model = Delay if "delay_months" in loc[:-1] else Candidate
                hint = suggest(loc[-1], list(model.model_fields))
                msg = f"unknown key {loc[-1]!r}" + (f" (did you mean {hint[0]!r}?)" if hint else "")
            line = _line_of(text, loc)
            raise UserError(f"{source}{f':{line}' if line else ''}: {_format_loc(loc)}: {msg}") from None
        line = _line_of(text, ("candidate", i, "name"))
        at = f"{source}{f':{line}' if line else ''}: {where}"
        if c.capex_usd is None:
            raise UserError(f"{at}: capex_usd: give the candidate's capital cost in USD (a positive number)")
        if any(c.name == o.name for o in out):
            raise UserError(f"{at}: name: {c.name!r} is given twice; candidate names must be unique")
        if facility_ids is not None and c.facility is not None and c.facility not in facility_ids:
            fline = _line_of(text, ("candidate", i, "facility"))
            raise UserError(
                f"{source}{f':{fline}' if fline else ''}: {where}.facility: "
                f"{UnknownNameError('facility', c.facility, facility_ids)} (ids: critmin scenarios facilities)"
            )
        out.append(c)
    return tuple(out)


def _clean(loc: tuple[Any, ...]) -> tuple[int | str, ...]:
    """Drop pydantic's union-member tags (``capacity_t_per_yr.float``) from an error location."""
    tags = {"float", "int", "dict[str,float]", "str", "tuple[str, ...]", "function-after[_check(), Delay]"}
    return tuple(p for p in loc if not (isinstance(p, str) and (p in tags or p.startswith("function-"))))


def read_candidates(path: str | Path, chain: SupplyChain | None = None) -> tuple[Candidate, ...]:
    """The candidates of a user's TOML file (see :func:`parse_candidates`); facility ids are
    checked against ``chain``'s facility list (the shipped one without a chain)."""
    text = names.read_text_file(path, "candidates file")
    return parse_candidates(text, str(path), facility_ids=_facility_ids(chain))


def _facility_ids(chain: SupplyChain | None) -> tuple[str, ...]:
    from critmin.engine.compiled import facilities

    return tuple(str(f) for f in facilities(chain)["fid"])


def pipeline_table() -> pd.DataFrame:
    """The shipped pipeline as stored: one row per candidate and field (``candidate, field, value,
    unit, source, confidence, notes``)."""
    with resources.files("critmin").joinpath("data", PIPELINE_FILE).open("r", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return pd.DataFrame(rows, columns=["candidate", "field", "value", "unit", "source", "confidence", "notes"])


def pipeline_candidates() -> tuple[Candidate, ...]:
    """The data's facility pipeline (planned or under construction) as candidates, in file order.

    >>> c = {x.name: x for x in pipeline_candidates()}
    >>> c["white-mesa-mill-phase-2-ree-expansion"].capex_usd, c["eneabba-rare-earths-refinery"].capacity_t_per_yr
    (410000000.0, None)
    """
    table = pipeline_table()
    out: list[Candidate] = []
    for name, rows in table.groupby("candidate", sort=False):
        doc: dict[str, Any] = {"name": str(name)}
        for f, value in zip(rows["field"], rows["value"], strict=True):
            if f not in PIPELINE_FIELDS:
                raise UserError(f"{PIPELINE_FILE}: candidate {name}: unknown field {f!r}")
            v = str(value).strip()
            if not v:
                continue
            doc[f] = _toml_value(v) if f in ("capacity_t_per_yr", "delay_months") else v
        try:
            out.append(Candidate.model_validate(doc))
        except ValidationError as exc:
            raise UserError(f"{PIPELINE_FILE}: candidate {name}: {exc.errors()[0]['msg']}") from None
    return tuple(out)


def _toml_value(text: str) -> Any:
    return names.parse_toml(f"x = {text}", PIPELINE_FILE)["x"]


# -- resolving onto a scenario -----------------------------------------------------------------
@dataclass(frozen=True)
class Resolved:
    """A candidate placed on a scenario: its simulated region, stages and element capacities.
    ``excluded`` says why it cannot be chosen ("" when it can)."""

    candidate: Candidate
    origin: str  # "pipeline", a file name or "given"
    region: str  # the simulated region
    location: str  # the country or region as given
    stages: tuple[str, ...]
    capacity_t_per_yr: dict[str, float]  # simulated element -> t/yr (at each stage)
    start: str | None
    excluded: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def name(self) -> str:
        return self.candidate.name

    def start_offset(self, scenario: Scenario) -> int:
        """Months from the scenario's start to the candidate's (negative: before it)."""
        assert self.start is not None
        return month_index(self.start) - month_index(scenario.start)

    def earliest_offset(self, scenario: Scenario) -> float:
        """The earliest first month of output, from the scenario's start (the delay's lower bound)."""
        delay = self.candidate.delay_months
        low = round(delay.support[0]) if delay is not None else 0
        return max(float(max(self.start_offset(scenario), 0) + low), 0.0)

    def projects(self) -> list[dict[str, Any]]:
        """Its scenario ``[[project]]`` entries: one per stage, in chain order."""
        assert self.start is not None
        note = f"candidate {self.name}" + (f" (facility {self.candidate.facility})" if self.candidate.facility else "")
        return [
            {"name": f"{self.name} {s}", "region": self.region, "stage": s,
             "capacity_t_per_yr": dict(self.capacity_t_per_yr), "start": self.start,
             "ramp_months": self.candidate.ramp_months, "note": note}
            for s in self.stages
        ]  # fmt: skip

    def uncertain(self, first: int, on: bool = True) -> list[dict[str, Any]]:
        """Its two ``[[uncertain]]`` entries for the projects ``project[first] ...``: delivery
        (``happens``: bernoulli ``p_delivery``, fixed 1 when certain, fixed 0 when ``on`` is false)
        and the delay (``start_shift``: its distribution, fixed 0 without one). Always two, so that
        the entries of the candidates after it keep their positions (and their draws)."""
        idx = range(first, first + len(self.stages))
        p = self.candidate.p_delivery if on else 0.0
        happens: dict[str, Any] = (
            {"dist": "bernoulli", "p": p} if 0.0 < p < 1.0 else {"dist": "fixed", "value": 1.0 if p >= 1.0 else 0.0}
        )
        delay = self.candidate.delay_months
        shift: dict[str, Any] = (
            {"dist": "fixed", "value": 0.0} if delay is None else delay.model_dump(exclude_defaults=True)
        )
        return [
            {"name": f"{self.name}: delivery", "fields": [f"project[{i}].happens" for i in idx], **happens},
            {"name": f"{self.name}: delay", "fields": [f"project[{i}].start_shift" for i in idx], **shift},
        ]


def resolve(
    candidate: Candidate, origin: str, chain: SupplyChain, scenario: Scenario, net: Network | None = None
) -> Resolved:
    """Place ``candidate`` on ``scenario``'s regions and simulated materials (facility data and
    parameters from ``chain``; ``net``: the chain's network on the scenario's regions, built when
    not given). An unknown facility is a :class:`UserError`; a candidate that
    cannot be simulated (no capacity in element tonnes, a stage the data lacks) or has no capex is
    returned with ``excluded`` set."""
    from critmin.dataset import Params
    from critmin.engine.compiled import facilities
    from critmin.engine.network import build_network, region_of

    c = candidate
    notes: list[str] = []
    excluded: list[str] = []
    location = c.region
    stages = c.stages
    start = c.start
    table = c.capacity_table()
    if c.facility is not None:
        fac = facilities(chain)
        hit = fac[fac["fid"] == c.facility]
        if hit.empty:
            raise UserError(f"candidate {c.name!r}: {UnknownNameError('facility', c.facility, fac['fid'])}")
        row = hit.iloc[0]
        location = location or str(row["country_iso3"])
        if not stages:
            words = str(row["stage"]).replace("/", " ").replace("+", " ").split()
            stages = tuple(s for s in PROJECT_STAGES if s in words)
            if not stages:
                excluded.append(f"the facility's stage {row['stage']!r} is not a simulated stage")
        if start is None:
            year = pd.to_numeric(pd.Series([row["start_year"]]), errors="coerce").iloc[0]
            if pd.notna(year):
                start = f"{int(year)}-01"
            else:
                excluded.append("no start: the facility list has no start year (give start)")
        if table is None:
            table, why = _facility_capacity(row, stages)
            if table is None:
                excluded.append(why)
    if c.capex_usd is None:
        excluded.append("no sourced capex")
    if c.p_delivery <= 0:
        excluded.append("p_delivery is 0: never delivered")
    assert location is not None
    regions = scenario.regions
    region = region_of(location, regions)
    if region != location:
        notes.append(f"{location} simulated as {region}")
    net = net if net is not None else build_network(chain, regions)
    prm = Params(chain.parameters)
    caps: dict[str, float] = {}
    for key, v in (table or {}).items():
        if key == "NdPr":
            parts = {m: v * prm.get(f"{m.lower()}_share_of_ndpr", m) for m in PRODUCTS["NdPr"]}
        elif key == "NdFeB":
            parts = {m: v * prm.get("magnet_content", m, "magnet") / 100 for m in PRODUCTS["NdFeB"]}
        else:
            parts = {key: v}
        for m, x in parts.items():
            caps[m] = caps.get(m, 0.0) + x
    kept: dict[str, float] = {}
    for m, v in caps.items():
        if m not in net.materials:
            notes.append(f"{m} is not simulated: left out")
            continue
        have = net.groups[net.locate(m)[0]].stages
        missing = [s for s in stages if s not in have]
        if missing:
            notes.append(f"{m} has no {', '.join(missing)} stage in the data: left out")
            continue
        kept[m] = v
    if table is not None and not kept and stages:
        excluded.append("none of its materials is simulated at its stages")
    return Resolved(c, origin, region, location, stages, kept, start, "; ".join(dict.fromkeys(excluded)), tuple(notes))


def _facility_capacity(row: pd.Series, stages: tuple[str, ...]) -> tuple[dict[str, float] | None, str]:
    """The facility list's capacity as a table of elements or products, or why it cannot be one
    (the rules of :func:`critmin.engine.compiled.resolve_project`)."""
    value = pd.to_numeric(pd.Series([row["capacity"]]), errors="coerce").iloc[0]
    unit = "" if row["unit"] is None or pd.isna(row["unit"]) else str(row["unit"])
    if pd.isna(value):
        return None, "no capacity in the facility list (give capacity_t_per_yr)"
    if "NdPr" in unit:
        return {"NdPr": float(value)}, ""
    if "magnet" in stages and unit.startswith("t/yr"):
        return {"NdFeB": float(value)}, ""
    return None, f"capacity {float(value):,.0f} {unit} cannot be turned into element tonnes (give capacity_t_per_yr)"


def delivered_t(
    resolved: Resolved, scenario: Scenario, happens: np.ndarray, shift: np.ndarray, months: int
) -> dict[str, np.ndarray]:
    """Element output at the candidate's last stage, t per month, per draw: ``{element: (draw,
    month)}``, with the engine's rules (start clipped to the first month, then shifted by the
    rounded delay and clipped again; linear ramp ``min(1, (t - start + 1) / ramp)``; nothing when it
    is not delivered).

    >>> c = Candidate(name="x", region="USA", stage="metal", capacity_t_per_yr={"Nd": 120.0},
    ...               capex_usd=1.0, start="2026-03", ramp_months=2)
    >>> r = Resolved(c, "given", "USA", "USA", ("metal",), {"Nd": 120.0}, "2026-03")
    >>> from critmin.scenario import load_scenario
    >>> s = load_scenario("china-embargo-framework-12m").with_changes(months=6)  # starts 2026-01
    >>> delivered_t(r, s, np.array([1.0, 0.0]), np.array([0.0, 0.0]), 6)["Nd"]
    array([[ 0.,  0.,  5., 10., 10., 10.],
           [ 0.,  0.,  0.,  0.,  0.,  0.]])
    """
    start0 = max(float(resolved.start_offset(scenario)), 0.0)
    s = np.maximum(start0 + np.rint(shift), 0.0)[:, None]  # (draw, 1)
    t = np.arange(months, dtype=float)[None, :]
    ramp = float(resolved.candidate.ramp_months)
    frac = np.where(t >= s, np.minimum(1.0, (t - s + 1) / ramp) if ramp > 0 else 1.0, 0.0)
    on = (np.asarray(happens) > 0.5)[:, None]
    return {m: cap / 12.0 * frac * on for m, cap in resolved.capacity_t_per_yr.items()}


def horizon_text(scenario: Scenario) -> str:
    """``2026-01 to 2030-12``."""
    first = month_index(scenario.start)
    return f"{scenario.start} to {month_label(first + scenario.months - 1)}"
