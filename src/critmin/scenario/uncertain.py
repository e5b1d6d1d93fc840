"""``[[uncertain]]`` entries: a distribution on one or more numeric fields of a scenario (what
``critmin mc`` draws), with the range each field's draws must stay in."""

from __future__ import annotations

import math
import re
from typing import Literal

from annotated_types import Ge, Gt, Le, Lt
from pydantic import BaseModel, model_validator

from critmin.names import SECTORS
from critmin.scenario.specs import ELASTICITY_RANGE, DemandResponse, Disruption, Outage, Project, Stockpile, _Spec

#: what an [[uncertain]] entry may draw: section -> attribute -> how the draw is used
UNCERTAIN_FIELDS: dict[str, tuple[str, ...]] = {
    "disruption": (
        "severity",
        "months",
        "start_shift",
        "happens",
        "compliance",
        "covered_share",
        "processing_months",
        "approval_share",
        "approval_share_final",
    ),
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

#: how far a project's start may be shifted, in months either way (a project may start outside the
#: horizon, see :class:`~critmin.scenario.specs.Project`, so this is only a sanity bound: 50 years)
PROJECT_SHIFT_MONTHS = 600


def _bounds(model: type[BaseModel], name: str) -> tuple[float, float]:
    """The ``ge``/``le`` bounds a spec model declares for one of its fields (so that a drawn value
    has the same range as the value written in the file)."""
    lo, hi = -math.inf, math.inf
    for m in model.model_fields[name].metadata:
        if isinstance(m, Ge | Gt):
            lo = float(m.ge if isinstance(m, Ge) else m.gt)  # type: ignore[arg-type]
        elif isinstance(m, Le | Lt):
            hi = float(m.le if isinstance(m, Le) else m.lt)  # type: ignore[arg-type]
    return lo, hi


#: the range every draw of a field must lie in, ``"section.attribute"`` -> (low, high), the same as
#: the field's range in the spec models; ``capacity_scale`` and ``ramp_up.scale`` multiply a
#: capacity (>= 0). Not here: ``happens`` (0 or 1) and the ``start_shift`` of a disruption or an
#: outage, whose shifted start must stay within the scenario's horizon (checked by the scenario).
UNCERTAIN_RANGES: dict[str, tuple[float, float]] = {
    "disruption.severity": _bounds(Disruption, "severity"),
    "disruption.months": _bounds(Disruption, "months"),
    "disruption.compliance": _bounds(Disruption, "compliance"),
    "disruption.covered_share": _bounds(Disruption, "covered_share"),
    "disruption.processing_months": _bounds(Disruption, "processing_months"),
    "disruption.approval_share": _bounds(Disruption, "approval_share"),
    "disruption.approval_share_final": _bounds(Disruption, "approval_share_final"),
    "outage.capacity_lost": _bounds(Outage, "capacity_lost"),
    "outage.months": _bounds(Outage, "months"),
    "stockpile.tonnes": _bounds(Stockpile, "tonnes"),
    "stockpile.max_release_t_per_month": _bounds(Stockpile, "max_release_t_per_month"),
    "project.capacity_scale": (0.0, math.inf),
    "project.start_shift": (-float(PROJECT_SHIFT_MONTHS), float(PROJECT_SHIFT_MONTHS)),
    "project.ramp_months": _bounds(Project, "ramp_months"),
    "demand.growth_pct_per_yr": _bounds(DemandResponse, "growth_pct_per_yr"),
    **{f"demand.elasticity.{s}": ELASTICITY_RANGE for s in SECTORS},
    "ramp_up.scale": (0.0, math.inf),
}


def range_text(lo: float, hi: float) -> str:
    """A range in words: ``[0, 1]``, ``>= 0``.

    >>> range_text(0, 1), range_text(0, math.inf), range_text(-3, 9)
    ('in [0, 1]', '>= 0', 'in [-3, 9]')
    """
    if math.isinf(hi) and math.isinf(lo):
        return "any finite number"
    if math.isinf(hi):
        return f">= {lo:g}"
    if math.isinf(lo):
        return f"<= {hi:g}"
    return f"in [{lo:g}, {hi:g}]"


def _interval(lo: float, hi: float, open_low: bool = False) -> str:
    left = "(-inf" if math.isinf(lo) else f"({lo:g}" if open_low else f"[{lo:g}"
    return left + ", " + ("inf)" if math.isinf(hi) else f"{hi:g}]")


class Uncertain(_Spec):
    """A distribution on one or more numeric fields (several fields share one draw, which is how
    related fields are correlated).

    Fields: ``disruption[i].severity | months | start_shift | happens | compliance | covered_share |
    processing_months | approval_share | approval_share_final``, ``outage[i].capacity_lost |
    months | start_shift | happens``, ``stockpile[i].tonnes | max_release_t_per_month``,
    ``project[i].capacity_scale | start_shift | ramp_months | happens``,
    ``demand.growth_pct_per_yr``, ``demand.elasticity.<sector>``, ``ramp_up.scale``.
    ``start_shift`` moves the start by the drawn number of months (rounded); ``happens`` (draw 0 or
    1, usually ``bernoulli``) switches the event off or on; ``months`` is rounded to whole months.

    Every value the distribution can draw must lie in the field's range (checked when the scenario
    loads, :data:`UNCERTAIN_RANGES`): severity and capacity_lost in [0, 1]; months in [1, 600];
    tonnes, max_release_t_per_month, capacity_scale and ramp_up.scale >= 0; ramp_months in
    [0, 240]; growth_pct_per_yr in [-50, 100]; elasticity in [-5, 0]; happens 0 or 1; the
    ``start_shift`` of a disruption or an outage keeps its start within the scenario's horizon
    (first to last month), a project's is within 600 months either way.

    Distributions and their parameters: ``fixed`` (value), ``uniform`` (low, high), ``triangular``
    (low, mode, high), ``normal`` (mean, sd; optional low/high truncate), ``lognormal`` (median,
    sigma of the log; optional low/high), ``beta`` (a, b; scaled to low..high, default 0..1),
    ``bernoulli`` (p), ``choice`` (values, optional weights). A normal is unbounded and a lognormal
    unbounded above: on a bounded field, truncate them with low/high.

    >>> Uncertain(field="disruption[0].severity", dist="beta", a=2, b=5).support
    (0.0, 1.0)
    >>> u = Uncertain(field="disruption[0].severity", dist="normal", mean=0.5, sd=0.2)
    >>> print(u.range_problem("disruption[0].severity", 0, 1)[1])
    disruption[0].severity must be in [0, 1], but normal draws from (-inf, inf): truncate it with low and high
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
            if hi is not None and hi <= 0:
                raise ValueError(f"a lognormal draws only positive numbers: high must be positive (got {hi})")
        if self.dist == "beta":
            if (self.a or 0) <= 0 or (self.b or 0) <= 0:
                raise ValueError("beta needs a > 0 and b > 0")
            b_lo, b_hi = self.support
            if b_lo > b_hi:
                raise ValueError(f"beta is scaled to [low, high] = [{b_lo:g}, {b_hi:g}] (defaults 0 and 1): low > high")
        if self.dist == "bernoulli" and not 0 <= (self.p or 0) <= 1:
            raise ValueError(f"p must be between 0 and 1 (got {self.p})")
        if self.dist == "choice":
            if not self.values:
                raise ValueError("choice needs values = [...]")
            if self.weights and (
                len(self.weights) != len(self.values)
                or min(self.weights) < 0
                or not 0 < sum(self.weights) < float("inf")
            ):
                raise ValueError("weights must be as many as values, non-negative, not all zero, with a finite sum")
        if self.dist == "normal" and lo is not None and hi is not None and lo == hi:
            raise ValueError("a truncated normal needs low < high")
        return self

    @property
    def targets(self) -> tuple[str, ...]:
        return (self.field,) if self.field is not None else self.fields

    @property
    def points(self) -> tuple[float, ...] | None:
        """The values a discrete distribution draws (fixed, bernoulli, choice); None if continuous."""
        if self.dist == "fixed":
            return (float(self.value or 0.0),)
        if self.dist == "bernoulli":
            return (0.0, 1.0)
        if self.dist == "choice":
            return tuple(self.values)
        return None

    @property
    def support(self) -> tuple[float, float]:
        """The smallest and largest value a draw can take (``-inf``/``inf`` where unbounded)."""
        pts = self.points
        if pts is not None:
            return min(pts), max(pts)
        lo = -math.inf if self.low is None else self.low
        hi = math.inf if self.high is None else self.high
        if self.dist == "lognormal":
            return max(lo, 0.0), hi
        if self.dist == "beta":
            return (0.0 if self.low is None else self.low), (1.0 if self.high is None else self.high)
        return lo, hi

    def range_problem(self, target: str, lo: float, hi: float, why: str = "") -> tuple[str, str] | None:
        """``(key, message)`` if this distribution can draw a value of ``target`` outside
        ``[lo, hi]`` (``key`` is the entry's key to point at), else None."""
        must = f"{target} must be {range_text(lo, hi)}{why}"
        pts = self.points
        if pts is not None:
            bad = [x for x in pts if not lo <= x <= hi]
            if not bad:
                return None
            key = {"fixed": "value", "bernoulli": "dist", "choice": "values"}[self.dist]
            return key, f"{must}, but {self.dist} draws {bad[0]:g}"
        s_lo, s_hi = self.support
        if lo <= s_lo and s_hi <= hi:
            return None
        where = _interval(s_lo, s_hi, open_low=self.dist == "lognormal" and (self.low or 0.0) <= 0.0)
        if self.dist in ("normal", "lognormal"):  # untruncated sides that leave the range
            need = [
                k
                for k, given, out in (("low", self.low, s_lo < lo), ("high", self.high, s_hi > hi))
                if out and given is None
            ]
            if need:
                return "dist", f"{must}, but {self.dist} draws from {where}: truncate it with {' and '.join(need)}"
        key = "low" if s_lo < lo else "high"
        note = " (beta's default scale; set low and high)" if self.dist == "beta" and getattr(self, key) is None else ""
        return key, f"{must}, but {self.dist} draws from {where}{note}"

    def switch_problem(self, target: str) -> tuple[str, str] | None:
        """``(key, message)`` unless every draw is 0 or 1 (what a ``happens`` field takes)."""
        pts = self.points
        must = f"{target} is a switch (0 = off, 1 = on)"
        if pts is None:
            return "dist", f'{must}: use dist = "bernoulli" with p, or fixed or choice of 0 and 1 (not {self.dist})'
        bad = [x for x in pts if x not in (0.0, 1.0)]
        if bad:
            return ("value" if self.dist == "fixed" else "values"), f"{must}, but {self.dist} draws {bad[0]:g}"
        return None
