"""The sections of a scenario: disruptions, outages, stockpiles, inventory, ramp-up, projects and
demand response, as frozen pydantic models. Every name is checked against the known materials,
stages, countries, regions, sectors and the blocs in force (the validation context's ``blocs``,
else the built-ins), with "did you mean"; every number must be finite and within its field's range.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from critmin import names
from critmin.errors import UnknownNameError
from critmin.months import check_month, month_index, month_label
from critmin.names import SECTORS


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


def blocs_in_force(info: ValidationInfo) -> names.Blocs:
    """The blocs a scenario is validated against: ``context={"blocs": ...}``, else the built-ins."""
    blocs = info.context.get("blocs") if isinstance(info.context, dict) else None
    return blocs if isinstance(blocs, names.Blocs) else names.default_blocs()


class FieldError(ValueError):
    """A validation error that names the field it is about: ``loc`` is the path below the model
    that raised it (``("disruption", 0, "start")`` from the scenario), so the loader can report
    that path and find its line."""

    def __init__(self, loc: tuple[int | str, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc


#: the valid range of a sector's price elasticity of demand
ELASTICITY_RANGE: tuple[float, float] = (-5.0, 0.0)


def _sector(v: str) -> str:
    key = str(v).strip().lower()
    if key not in SECTORS:
        raise ValueError(str(UnknownNameError("sector", key, SECTORS)))
    return key


class _Spec(BaseModel):
    # allow_inf_nan=False: TOML has nan and inf literals; every number in a scenario must be finite
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True, allow_inf_nan=False)


class _Timed(_Spec):
    start: str
    months: int = Field(ge=1, le=600)

    _v_start = field_validator("start", mode="before")(check_month)

    @property
    def end_month(self) -> str:
        """Last month in effect (inclusive)."""
        return month_label(month_index(self.start) + self.months - 1)


class Disruption(_Timed):
    """An export restriction: ``exporter`` withholds ``severity`` of its shipments of ``stages``
    of ``materials`` to ``targets`` for ``months`` from ``start``. ``targets`` are countries,
    regions, ``all`` or bloc names: the built-in blocs and those in force when the scenario is
    loaded (``load_scenario(path, blocs=...)``).

    ``foreign_content = true`` extends it to the same stages made abroad from the exporter's
    material (the October 2025 rule), in proportion to the exporter's share of the maker's input.
    """

    exporter: str
    materials: tuple[str, ...] = Field(min_length=1)
    stages: tuple[str, ...] = Field(min_length=1)
    targets: tuple[str, ...] = Field(min_length=1)
    severity: float = Field(default=1.0, ge=0.0, le=1.0)
    foreign_content: bool = False
    #: share of restricted-origin content in a third country's output that its makers withhold
    #: from the targets (used with ``foreign_content``; 1 = full compliance)
    compliance: float = Field(default=1.0, ge=0.0, le=1.0)
    #: share of the named flow that the control covers (e.g. the magnets that contain Dy or Tb)
    covered_share: float = Field(default=1.0, ge=0.0, le=1.0)
    #: ``restriction``: ``severity`` withheld while in force; ``licensing``: every shipment needs a
    #: licence; none is issued for ``processing_months``, then ``approval_share`` of the volume is
    #: licensed, moving linearly to ``approval_share_final`` over ``approval_ramp_months``
    kind: Literal["restriction", "licensing"] = "restriction"
    processing_months: float | None = Field(default=None, ge=0.0, le=24.0)
    approval_share: float | None = Field(default=None, ge=0.0, le=1.0)
    approval_share_final: float | None = Field(default=None, ge=0.0, le=1.0)
    approval_ramp_months: float = Field(default=0.0, ge=0.0, le=600.0)
    #: licensing: licences for military end users are refused (the defence share of each target's
    #: use of the material is never licensed)
    military_denied: bool = True
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

    @model_validator(mode="after")
    def _licensing_fields(self) -> Disruption:
        if self.kind == "restriction":
            given = [
                k
                for k in ("processing_months", "approval_share", "approval_share_final")
                if getattr(self, k) is not None
            ]
            if self.approval_ramp_months:
                given.append("approval_ramp_months")
            if given:
                verb = "apply" if len(given) > 1 else "applies"
                raise ValueError(f'{", ".join(given)} only {verb} to kind = "licensing"')
        elif self.approval_share_final is not None and self.approval_ramp_months <= 0:
            raise ValueError("approval_share_final needs approval_ramp_months > 0 (the months to reach it)")
        return self

    @field_validator("targets")
    @classmethod
    def _targets(cls, v: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        out = []
        blocs = blocs_in_force(info)
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

    A project may start before the scenario (it runs from the first month) or after its last month
    (facility pipelines run past any horizon): it then adds nothing within the horizon, and that is
    not an error, unlike a disruption or an outage that starts after the horizon.
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
    _v_start = field_validator("start", mode="before")(lambda v: None if v is None else check_month(v))

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
            lo, hi = ELASTICITY_RANGE
            if not lo <= x <= hi:
                raise ValueError(f"elasticity of {k} must be between {lo:g} and {hi:g} (got {x})")
        return out

    @field_validator("substitution", "recycling")
    @classmethod
    def _shares(cls, v: dict[str, float]) -> dict[str, float]:
        out = {_sector(k): float(x) for k, x in v.items()}
        for k, x in out.items():
            if not 0.0 <= x <= 1.0:
                raise ValueError(f"share of {k} must be between 0 and 1 (got {x})")
        return out


class Market(_Spec):
    """Market structure overrides: the share of each stage's product sold under contract, the
    months a buyer needs to qualify a new supplier of it, the fill rate below which a sector's
    production stops (the line-stoppage proxy) and the share of magnets made in Dy/Tb grades.
    Stages and sectors not named keep the data's parameters (``contract_share``,
    ``qualification_months``, ``stoppage_fill``, ``heavy_grade_share``)."""

    contract_share: dict[str, float] = Field(default_factory=dict)
    qualification_months: dict[str, float] = Field(default_factory=dict)
    stoppage_fill: dict[str, float] = Field(default_factory=dict)
    #: share of NdFeB made in grades that contain Dy or Tb (parameter ``heavy_grade_share``)
    heavy_grade_share: float | None = Field(default=None, ge=0.0, le=1.0)
    #: grade substitution: the most of a magnet's Dy/Tb that redesign (grain-boundary diffusion)
    #: saves, and the months it takes to get there (parameters ``heavy_thrift_max``,
    #: ``heavy_thrift_months``)
    heavy_thrift_max: float | None = Field(default=None, ge=0.0, le=1.0)
    heavy_thrift_months: float | None = Field(default=None, ge=1.0, le=240.0)

    @field_validator("contract_share", "qualification_months")
    @classmethod
    def _by_stage(cls, v: dict[str, float], info: ValidationInfo) -> dict[str, float]:
        out = {_wrap(names.stage, k): float(x) for k, x in v.items()}
        for k, x in out.items():
            if k == "end_use":
                raise ValueError("end_use is not traded; name a producing stage")
            lo, hi = (0.0, 1.0) if info.field_name == "contract_share" else (1.0, 120.0)
            if not lo <= x <= hi:
                raise ValueError(f"{info.field_name} of {k} must be between {lo:g} and {hi:g} (got {x})")
        return out

    @field_validator("stoppage_fill")
    @classmethod
    def _by_sector(cls, v: dict[str, float]) -> dict[str, float]:
        out = {_sector(k): float(x) for k, x in v.items()}
        for k, x in out.items():
            if not 0.0 <= x <= 1.0:
                raise ValueError(f"stoppage_fill of {k} must be between 0 and 1 (got {x})")
        return out
