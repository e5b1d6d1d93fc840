"""Scenarios: frozen, validated specifications of disruptions and responses, read from TOML.

A scenario says what happens (export restrictions, outages), what the world can do about it
(stocks, stockpiles, ramp-up, new projects, demand response, sector priorities) and how buyers
behave (``market`` or ``coordinated``). It is pure data: applying it to a
:class:`~critmin.chain.SupplyChain` is the engine's job (:mod:`critmin.engine`).

Unknown keys are errors, every name is checked against the known materials, stages, countries,
regions, blocs and sectors (with "did you mean"), and an invalid file is reported on one line
with the file, the line where it is known, and the field path.

Example
-------
>>> s = parse_scenario('''
... name = "test"
... start = "2026-01"
... months = 12
... [[disruption]]
... exporter = "China"
... materials = ["dysprosium"]
... stages = ["refining"]
... targets = ["framework"]
... severity = 0.5
... start = "2026-02"
... months = 3
... ''', "example.toml")
>>> s.disruption[0].exporter, s.disruption[0].materials, s.disruption[0].stages
('CHN', ('Dy',), ('separation',))
>>> s.disruption[0].end_month
'2026-04'
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from critmin import names
from critmin.dataset import SECTORS
from critmin.errors import UnknownNameError, UserError, suggest

#: the default simulation region set (DESIGN.md section 2); everything else is aggregated to ROW
DEFAULT_REGIONS: tuple[str, ...] = (
    "CHN", "USA", "JPN", "AUS", "MYS", "EU", "KOR", "VNM", "MMR", "IND", "CAN", "GBR", "ROW",
)  # fmt: skip

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def month_index(month: str) -> int:
    """Months since year 0 for a ``YYYY-MM`` string (so differences are month counts).

    >>> month_index("2026-03") - month_index("2025-12")
    3
    """
    m = _MONTH.match(month)
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise ValueError(f"{month!r} is not a month of the form YYYY-MM")
    return int(m.group(1)) * 12 + int(m.group(2)) - 1


def month_label(index: int) -> str:
    """Inverse of :func:`month_index`.

    >>> month_label(month_index("2026-11"))
    '2026-11'
    """
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def _check_month(v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError("a month is a string 'YYYY-MM'")
    month_index(v)
    return v


def _region_name(v: str) -> str:
    """A country (ISO3 or name) or a simulation region (EU, ROW)."""
    key = str(v).strip()
    if key.upper() in names.REGION_EXTRAS:
        return key.upper()
    try:
        return names.country(key)
    except UnknownNameError as exc:
        raise ValueError(str(exc)) from None


def _wrap(fn: Any, v: Any) -> Any:
    try:
        return fn(v)
    except UnknownNameError as exc:
        raise ValueError(str(exc)) from None


def _sector(v: str) -> str:
    key = str(v).strip().lower()
    if key not in SECTORS:
        raise ValueError(str(UnknownNameError("sector", key, SECTORS)))
    return key


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class _Timed(_Spec):
    start: str
    months: int = Field(ge=1, le=600)

    _v_start = field_validator("start", mode="before")(_check_month)

    @property
    def end_month(self) -> str:
        """Last month in effect (inclusive)."""
        return month_label(month_index(self.start) + self.months - 1)


class Disruption(_Timed):
    """An export restriction: ``exporter`` withholds ``severity`` of its shipments of ``stages``
    of ``materials`` to ``targets`` for ``months`` from ``start``.

    ``foreign_content = true`` extends it to the same stages made abroad from the exporter's
    material (the October 2025 rule), in proportion to the exporter's share of the maker's input.
    """

    exporter: str
    materials: tuple[str, ...] = Field(min_length=1)
    stages: tuple[str, ...] = Field(min_length=1)
    targets: tuple[str, ...] = Field(min_length=1)
    severity: float = Field(ge=0.0, le=1.0)
    foreign_content: bool = False
    note: str = ""

    _v_exporter = field_validator("exporter")(lambda v: _wrap(names.country, v))
    _v_materials = field_validator("materials")(lambda v: tuple(_wrap(names.material, m) for m in v))
    _v_stages = field_validator("stages")(lambda v: tuple(_wrap(names.stage, s) for s in v))

    @field_validator("stages")
    @classmethod
    def _no_end_use(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if "end_use" in v:
            raise ValueError("end_use is not traded; restrict a producing stage (mine, separation, metal, magnet)")
        return v

    @field_validator("targets")
    @classmethod
    def _targets(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        out = []
        blocs = names.default_blocs()
        for t in v:
            if t.lower() == "all" or t in blocs:
                out.append(t.lower())
                continue
            try:
                out.append(_region_name(t))
            except ValueError:
                valid = [*names.countries(), *names.REGION_EXTRAS, *blocs.names, "all"]
                raise ValueError(str(UnknownNameError("target (country, region, bloc or 'all')", t, valid))) from None
        return tuple(out)


class Outage(_Timed):
    """Capacity lost at a region's stage (or at one facility of the data's facility list)."""

    region: str | None = None
    facility: str | None = None
    stage: str | None = None
    materials: tuple[str, ...] = ()
    capacity_lost: float = Field(ge=0.0, le=1.0)
    note: str = ""

    _v_region = field_validator("region")(lambda v: None if v is None else _region_name(v))
    _v_stage = field_validator("stage")(lambda v: None if v is None else _wrap(names.stage, v))
    _v_materials = field_validator("materials")(lambda v: tuple(_wrap(names.material, m) for m in v))

    @model_validator(mode="after")
    def _where(self) -> Outage:
        if (self.region is None) == (self.facility is None):
            raise ValueError("give exactly one of region or facility")
        if self.region is not None and self.stage is None:
            raise ValueError("an outage by region needs a stage")
        return self


class Stockpile(_Spec):
    """A government stockpile: released only to cover its holder's shortfall (shared by the
    framework partners in ``coordinated`` mode), after commercial inventory."""

    holder: str
    material: str
    stage: str = "magnet"
    tonnes: float = Field(ge=0.0)
    max_release_t_per_month: float = Field(ge=0.0)
    note: str = ""

    _v_holder = field_validator("holder")(lambda v: _region_name(v))
    _v_material = field_validator("material")(lambda v: _wrap(names.material, v))
    _v_stage = field_validator("stage")(lambda v: _wrap(names.stage, v))

    @field_validator("stage")
    @classmethod
    def _held_stage(cls, v: str) -> str:
        if v == "end_use":
            raise ValueError("a stockpile holds a product (mine, separation, metal or magnet), not end_use")
        return v


class Inventory(_Spec):
    """Commercial inventory override: months of use held by buyers of ``stage``'s input."""

    region: str = "*"
    stage: str = "*"
    material: str = "*"
    months_of_use: float = Field(ge=0.0, le=60.0)

    _v_region = field_validator("region")(lambda v: v if v == "*" else _region_name(v))
    _v_stage = field_validator("stage")(lambda v: v if v == "*" else _wrap(names.stage, v))
    _v_material = field_validator("material")(lambda v: v if v == "*" else _wrap(names.material, v))


class RampUp(_Spec):
    """Spare capacity that can be brought on per month while the market is short."""

    region: str = "*"
    stage: str = "*"
    share_per_month: float = Field(ge=0.0, le=1.0)

    _v_region = field_validator("region")(lambda v: v if v == "*" else _region_name(v))
    _v_stage = field_validator("stage")(lambda v: v if v == "*" else _wrap(names.stage, v))


class Project(_Spec):
    """New capacity at ``stage`` in ``region`` from ``start``, reaching full rate linearly over
    ``ramp_months``. ``capacity_t_per_yr`` is tonnes of contained element per year, either one
    number for each of ``materials`` or a table ``{ Nd = 750, Pr = 250 }``.

    ``facility = "<id>"`` takes region, stage, capacity and start year from the data's facility
    list (ids: ``critmin scenarios facilities``); any key given here overrides the facility's.
    """

    name: str = ""
    facility: str | None = None
    region: str | None = None
    stage: str | None = None
    materials: tuple[str, ...] = ()
    capacity_t_per_yr: float | dict[str, float] | None = None
    start: str | None = None
    ramp_months: int = Field(default=12, ge=0, le=240)
    note: str = ""

    _v_region = field_validator("region")(lambda v: None if v is None else _region_name(v))
    _v_stage = field_validator("stage")(lambda v: None if v is None else _wrap(names.stage, v))
    _v_materials = field_validator("materials")(lambda v: tuple(_wrap(names.material, m) for m in v))
    _v_start = field_validator("start", mode="before")(lambda v: None if v is None else _check_month(v))

    @field_validator("capacity_t_per_yr")
    @classmethod
    def _capacity(cls, v: float | dict[str, float] | None) -> float | dict[str, float] | None:
        if v is None:
            return v
        if isinstance(v, dict):
            out = {_wrap(names.material, k): float(x) for k, x in v.items()}
            if not out or any(x <= 0 for x in out.values()):
                raise ValueError("capacity per material must be a non-empty table of positive tonnes")
            return out
        if v <= 0:
            raise ValueError(f"capacity must be positive (got {v})")
        return v

    @model_validator(mode="after")
    def _complete(self) -> Project:
        if self.facility is None:
            missing = [k for k in ("region", "stage", "capacity_t_per_yr", "start") if getattr(self, k) is None]
            if not self.materials and not isinstance(self.capacity_t_per_yr, dict):
                missing.append("materials")
            if missing:
                raise ValueError(f"a project without a facility needs {', '.join(missing)}")
        if self.stage == "end_use":
            raise ValueError("a project adds capacity at a producing stage, not end_use")
        return self

    def capacities(self) -> dict[str, float]:
        """Tonnes per year by material (for a project given without a facility)."""
        if isinstance(self.capacity_t_per_yr, dict):
            return dict(self.capacity_t_per_yr)
        assert self.capacity_t_per_yr is not None
        return {m: float(self.capacity_t_per_yr) for m in self.materials}


class DemandResponse(_Spec):
    """Demand response by sector: price elasticity (<= 0), substitution and recycling shares
    (share of primary demand met otherwise), and demand growth."""

    elasticity: dict[str, float] = Field(default_factory=dict)
    substitution: dict[str, float] = Field(default_factory=dict)
    recycling: dict[str, float] = Field(default_factory=dict)
    growth_pct_per_yr: float = Field(default=0.0, ge=-50.0, le=100.0)
    price_index_cap: float = Field(default=10.0, ge=1.0)

    @field_validator("elasticity")
    @classmethod
    def _el(cls, v: dict[str, float]) -> dict[str, float]:
        out = {_sector(k): float(x) for k, x in v.items()}
        for k, x in out.items():
            if not -5.0 <= x <= 0.0:
                raise ValueError(f"elasticity of {k} must be between -5 and 0 (got {x})")
        return out

    @field_validator("substitution", "recycling")
    @classmethod
    def _shares(cls, v: dict[str, float]) -> dict[str, float]:
        out = {_sector(k): float(x) for k, x in v.items()}
        for k, x in out.items():
            if not 0.0 <= x <= 1.0:
                raise ValueError(f"share of {k} must be between 0 and 1 (got {x})")
        return out


#: what an [[uncertain]] entry may draw: section -> attribute -> how the draw is used
UNCERTAIN_FIELDS: dict[str, tuple[str, ...]] = {
    "disruption": ("severity", "months", "start_shift", "happens"),
    "outage": ("capacity_lost", "months", "start_shift", "happens"),
    "stockpile": ("tonnes", "max_release_t_per_month"),
    "project": ("capacity_scale", "start_shift", "ramp_months", "happens"),
    "demand": ("growth_pct_per_yr", *(f"elasticity.{s}" for s in SECTORS)),
    "ramp_up": ("scale",),
}
UNCERTAIN_FIELD = re.compile(
    r"^(disruption|outage|stockpile|project)\[(\d+)\]\.([a-z_]+)$|^(demand|ramp_up)\.([a-z_.]+)$"
)
DISTRIBUTIONS = ("fixed", "uniform", "triangular", "normal", "lognormal", "beta", "bernoulli", "choice")


class Uncertain(_Spec):
    """A distribution on one or more numeric fields (several fields share one draw, which is how
    related fields are correlated).

    Fields: ``disruption[i].severity | months | start_shift | happens``, ``outage[i].capacity_lost |
    months | start_shift | happens``, ``stockpile[i].tonnes | max_release_t_per_month``,
    ``project[i].capacity_scale | start_shift | ramp_months | happens``,
    ``demand.growth_pct_per_yr``, ``demand.elasticity.<sector>``, ``ramp_up.scale``.
    ``start_shift`` moves the start by the drawn number of months (rounded); ``happens`` (draw 0 or
    1, usually ``bernoulli``) switches the event off or on; ``months`` is rounded to whole months.

    Distributions and their parameters: ``fixed`` (value), ``uniform`` (low, high), ``triangular``
    (low, mode, high), ``normal`` (mean, sd; optional low/high truncate), ``lognormal`` (median,
    sigma of the log; optional low/high), ``beta`` (a, b; scaled to low..high, default 0..1),
    ``bernoulli`` (p), ``choice`` (values, optional weights).
    """

    name: str = ""
    field: str | None = None
    fields: tuple[str, ...] = ()
    dist: Literal["fixed", "uniform", "triangular", "normal", "lognormal", "beta", "bernoulli", "choice"]
    value: float | None = None
    low: float | None = None
    high: float | None = None
    mode: float | None = None
    mean: float | None = None
    sd: float | None = None
    median: float | None = None
    sigma: float | None = None
    a: float | None = None
    b: float | None = None
    p: float | None = None
    values: tuple[float, ...] = ()
    weights: tuple[float, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> Uncertain:
        if (self.field is None) == (not self.fields):
            raise ValueError('give field = "..." or fields = [...] (one of them)')
        for f in self.targets:
            if not UNCERTAIN_FIELD.match(f):
                raise ValueError(f"cannot put a distribution on {f!r} (see critmin docs: e.g. disruption[0].severity)")
        need = {
            "fixed": ("value",), "uniform": ("low", "high"), "triangular": ("low", "mode", "high"),
            "normal": ("mean", "sd"), "lognormal": ("median", "sigma"), "beta": ("a", "b"),
            "bernoulli": ("p",), "choice": (),
        }[self.dist]  # fmt: skip
        missing = [k for k in need if getattr(self, k) is None]
        if missing:
            raise ValueError(f"{self.dist} needs {', '.join(missing)}")
        lo, hi = self.low, self.high
        if lo is not None and hi is not None and lo > hi:
            raise ValueError(f"low ({lo}) is above high ({hi})")
        if self.dist == "triangular" and not (lo <= self.mode <= hi):  # type: ignore[operator]
            raise ValueError(f"mode ({self.mode}) must lie between low ({lo}) and high ({hi})")
        if self.dist == "normal" and self.sd is not None and self.sd <= 0:
            raise ValueError(f"sd must be positive (got {self.sd})")
        if self.dist == "lognormal":
            if self.median is not None and self.median <= 0:
                raise ValueError(f"median must be positive (got {self.median})")
            if self.sigma is not None and self.sigma <= 0:
                raise ValueError(f"sigma must be positive (got {self.sigma})")
        if self.dist == "beta" and ((self.a or 0) <= 0 or (self.b or 0) <= 0):
            raise ValueError("beta needs a > 0 and b > 0")
        if self.dist == "bernoulli" and not 0 <= (self.p or 0) <= 1:
            raise ValueError(f"p must be between 0 and 1 (got {self.p})")
        if self.dist == "choice":
            if not self.values:
                raise ValueError("choice needs values = [...]")
            if self.weights and (
                len(self.weights) != len(self.values) or min(self.weights) < 0 or sum(self.weights) <= 0
            ):
                raise ValueError("weights must be as many as values, non-negative, not all zero")
        if self.dist == "normal" and lo is not None and hi is not None and lo == hi:
            raise ValueError("a truncated normal needs low < high")
        return self

    @property
    def targets(self) -> tuple[str, ...]:
        return (self.field,) if self.field is not None else self.fields


class Scenario(_Spec):
    """A whole scenario. Build with :func:`load_scenario` or :func:`parse_scenario`."""

    name: str = Field(min_length=1)
    description: str = ""
    source: str = ""
    start: str
    months: int = Field(ge=1, le=240)
    mode: Literal["market", "coordinated"] = "market"
    seed: int = Field(default=0, ge=0)
    regions: tuple[str, ...] = DEFAULT_REGIONS
    coalition: str = "framework"
    disruption: tuple[Disruption, ...] = ()
    outage: tuple[Outage, ...] = ()
    stockpile: tuple[Stockpile, ...] = ()
    inventory: tuple[Inventory, ...] = ()
    ramp_up: tuple[RampUp, ...] = ()
    project: tuple[Project, ...] = ()
    demand: DemandResponse = DemandResponse()
    priorities: dict[str, int] = Field(default_factory=dict)
    uncertain: tuple[Uncertain, ...] = ()

    _v_start = field_validator("start", mode="before")(_check_month)

    @field_validator("regions")
    @classmethod
    def _regions(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        out = tuple(dict.fromkeys(_region_name(r) for r in v))
        if "ROW" not in out:
            out = (*out, "ROW")
        return out

    @field_validator("coalition")
    @classmethod
    def _coalition(cls, v: str) -> str:
        if v not in names.default_blocs():
            raise ValueError(str(UnknownNameError("bloc", v, names.default_blocs().names)))
        return v.lower()

    @field_validator("priorities")
    @classmethod
    def _priorities(cls, v: dict[str, int]) -> dict[str, int]:
        out = {_sector(k): int(x) for k, x in v.items()}
        for k, x in out.items():
            if x < 1:
                raise ValueError(f"priority of {k} must be 1 (first) or more (got {x})")
        return out

    @model_validator(mode="after")
    def _uncertain_fields(self) -> Scenario:
        seen: set[str] = set()
        for i, u in enumerate(self.uncertain):
            for f in u.targets:
                m = UNCERTAIN_FIELD.match(f)
                assert m is not None
                if m.group(1):
                    section, idx, attr = m.group(1), int(m.group(2)), m.group(3)
                    items = getattr(self, section)
                    if idx >= len(items):
                        raise ValueError(f"uncertain[{i}]: {f}: the scenario has {len(items)} [[{section}]] entries")
                else:
                    section, attr = m.group(4), m.group(5)
                if attr not in UNCERTAIN_FIELDS[section]:
                    hint = suggest(attr, UNCERTAIN_FIELDS[section])
                    raise ValueError(
                        f"uncertain[{i}]: {f}: {section} has no uncertain field {attr!r}"
                        + (
                            f" (did you mean {hint[0]!r}?)"
                            if hint
                            else f" (valid: {', '.join(UNCERTAIN_FIELDS[section])})"
                        )
                    )
                if f in seen:
                    raise ValueError(f"uncertain[{i}]: {f} already has a distribution")
                seen.add(f)
        return self

    @model_validator(mode="after")
    def _dates(self) -> Scenario:
        first = month_index(self.start)
        for kind, items in (("disruption", self.disruption), ("outage", self.outage)):
            for i, d in enumerate(items):
                if month_index(d.start) < first:
                    raise ValueError(f"{kind}[{i}] starts {d.start}, before the scenario start {self.start}")
        return self

    # -- derived -------------------------------------------------------------
    @property
    def month_labels(self) -> tuple[str, ...]:
        first = month_index(self.start)
        return tuple(month_label(first + i) for i in range(self.months))

    def sector_priority(self, sector: str) -> int:
        """Priority of a sector (1 = served first); defence is 1 and the rest 2 unless set."""
        default = 1 if sector == "defence" else 2
        return self.priorities.get(sector, default)

    def digest(self) -> str:
        """SHA-256 of the canonical JSON of the scenario (what a run stores)."""
        doc = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(doc.encode()).hexdigest()

    def with_changes(self, **changes: Any) -> Scenario:
        """A validated copy with top-level fields replaced (scenarios are immutable)."""
        doc = self.model_dump(mode="python")
        doc.update(changes)
        return Scenario.model_validate(doc)


# -- loading -------------------------------------------------------------------


def _line_of(text: str, loc: tuple[int | str, ...]) -> int | None:
    """Best-effort line number for a pydantic location in a TOML document."""
    lines = text.splitlines()
    begin = 0
    key: str | None = None
    i = 0
    while i < len(loc):
        part = loc[i]
        if isinstance(part, str) and i + 1 < len(loc) and isinstance(loc[i + 1], int):
            idx = int(loc[i + 1])
            header = re.compile(rf"^\s*\[\[\s*{re.escape(part)}\s*\]\]")
            hits = [n for n in range(begin, len(lines)) if header.match(lines[n])]
            if idx < len(hits):
                begin = hits[idx]
                key = part
                i += 2
                continue
            key = part
            break
        if isinstance(part, str):
            key = part
        i += 1
    if key is None:
        return None
    pat = re.compile(rf"^\s*{re.escape(key)}\s*=")
    for n in range(begin, len(lines)):
        if pat.match(lines[n]) or re.match(rf"^\s*\[\[?\s*{re.escape(key)}\s*\]\]?", lines[n]):
            return n + 1
    return begin + 1 if begin else None


def _format_loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _field_names(model: type[BaseModel]) -> list[str]:
    return list(model.model_fields)


def _loc_model(loc: tuple[int | str, ...]) -> type[BaseModel]:
    model: type[BaseModel] = Scenario
    sub: dict[str, type[BaseModel]] = {
        "disruption": Disruption,
        "outage": Outage,
        "stockpile": Stockpile,
        "inventory": Inventory,
        "ramp_up": RampUp,
        "project": Project,
        "demand": DemandResponse,
        "uncertain": Uncertain,
    }
    for part in loc[:-1]:
        if isinstance(part, str) and part in sub and model is Scenario:
            model = sub[part]
    return model


def parse_scenario(text: str, source: str = "<scenario>") -> Scenario:
    """Parse and validate a scenario document; raise :class:`UserError` with file, line and path."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{source}: not valid TOML: {exc}") from None
    return scenario_from_dict(doc, source, text)


def scenario_from_dict(doc: Any, source: str = "<scenario>", text: str = "") -> Scenario:
    """Validate a parsed document (``text``, when given, is used to find line numbers)."""
    if not isinstance(doc, dict):
        raise UserError(f"{source}: a scenario is a table of keys, not {type(doc).__name__}")
    try:
        return Scenario.model_validate(doc)
    except ValidationError as exc:
        # an unknown key is usually a typo that also explains a "field required": report it first
        errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
        err = errors[0]
        loc = tuple(err["loc"])
        line = _line_of(text, loc) if text else None
        where = f"{source}:{line}" if line else source
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden" and loc and isinstance(loc[-1], str):
            hint = suggest(loc[-1], _field_names(_loc_model(loc)))
            msg = f"unknown key {loc[-1]!r}" + (f" (did you mean {hint[0]!r}?)" if hint else "")
        more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise UserError(f"{where}: {_format_loc(loc)}: {msg}{more}") from None


def builtin_names() -> tuple[str, ...]:
    """Names of the shipped scenarios."""
    root = resources.files("critmin") / "scenarios"
    return tuple(sorted(p.name.removesuffix(".toml") for p in root.iterdir() if p.name.endswith(".toml")))


def builtin_text(name: str) -> str:
    """The TOML text of a shipped scenario."""
    if name not in builtin_names():
        raise UnknownNameError("scenario", name, builtin_names())
    return (resources.files("critmin") / "scenarios" / f"{name}.toml").read_text(encoding="utf-8")


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Load a scenario from a TOML file or by built-in name.

    >>> load_scenario("lynas-malaysia-outage-6m").outage[0].facility
    'lynas-malaysia-lamp-light-re-separation'
    """
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.exists():
        if not p.is_file():
            raise UserError(f"{p}: scenario file not found")
        return parse_scenario(p.read_text(encoding="utf-8"), str(p))
    return parse_scenario(builtin_text(str(name_or_path)), f"{name_or_path} (built-in)")


def expand_targets(targets: Iterable[str], blocs: names.Blocs | None = None) -> tuple[str, ...]:
    """ISO3 codes / regions for a list of targets (bloc names expanded; ``all`` kept as is)."""
    blocs = blocs or names.default_blocs()
    out: list[str] = []
    for t in targets:
        if t == "all":
            out.append("all")
        elif t in blocs:
            out.extend(blocs.members(t))
        else:
            out.append(t)
    return tuple(dict.fromkeys(out))


TEMPLATE = """# critmin scenario: {name}
# Months are "YYYY-MM"; quantities are tonnes of contained element; shares are 0..1.
# Validate with:  critmin scenarios show {path}      Run with:  critmin run {path}
name = "{name}"
description = "What this scenario asks"
source = "Where its numbers come from"
start = "2026-01"          # first month simulated
months = 36                # horizon (monthly steps)
mode = "market"            # market | coordinated (framework partners pool stocks, defence first)
# regions = ["CHN", "USA", "JPN", "AUS", "MYS", "EU", "KOR", "VNM", "MMR", "IND", "CAN", "GBR", "ROW"]
# coalition = "framework"  # the bloc that pools in coordinated mode

[[disruption]]             # an export restriction
exporter = "CHN"
materials = ["Dy", "Tb"]
stages = ["separation", "metal", "magnet"]
targets = ["framework"]    # ISO3 codes and/or bloc names, or ["all"]
severity = 1.0             # share of exports to the targets withheld
start = "2026-01"
months = 12
# foreign_content = false  # also restrict magnets made abroad from the exporter's material

# [[outage]]               # capacity lost
# region = "MYS"           # or facility = "lynas-malaysia-lamp-light-re-separation"
# stage = "separation"
# materials = ["Nd", "Pr"] # empty = every material
# capacity_lost = 1.0
# start = "2026-03"
# months = 6

# [[stockpile]]            # a government stockpile, released after commercial inventory
# holder = "JPN"
# material = "Dy"
# stage = "magnet"         # the product held: its holder's buyers of that product draw on it
# tonnes = 200
# max_release_t_per_month = 20

# [[inventory]]            # commercial inventory, months of use (defaults from the data)
# region = "USA"
# stage = "end_use"
# months_of_use = 2.0

# [[ramp_up]]              # spare capacity brought on per month while the market is short
# region = "AUS"
# stage = "mine"
# share_per_month = 0.05

# [[project]]              # new capacity (t/yr of contained element, per material)
# name = "new separation plant"
# region = "USA"
# stage = "separation"
# capacity_t_per_yr = {{ Dy = 200, Tb = 40 }}
# start = "2026-06"
# ramp_months = 12

# [[project]]              # or a facility from the data (critmin scenarios facilities)
# facility = "10x-magnet-campus"
# start = "2027-01"        # default: the facility's start year

# [demand]                 # demand response by sector
# growth_pct_per_yr = 0.0
# elasticity = {{ automotive = -0.1, defence = 0.0 }}
# substitution = {{ automotive = 0.05 }}
# recycling = {{ electronics = 0.02 }}

# [priorities]             # 1 = served first in coordinated mode
# defence = 1

# [[uncertain]]            # Monte Carlo (critmin mc): a distribution on a numeric field
# field = "disruption[0].severity"
# dist = "uniform"         # fixed uniform triangular normal lognormal beta bernoulli choice
# low = 0.5
# high = 1.0

# [[uncertain]]            # one draw shared by several fields correlates them
# fields = ["disruption[0].months"]
# dist = "triangular"
# low = 3
# mode = 9
# high = 18
"""


def template(name: str, path: str = "scenario.toml") -> str:
    """A commented scenario template that loads as written."""
    return TEMPLATE.format(name=name, path=path)
