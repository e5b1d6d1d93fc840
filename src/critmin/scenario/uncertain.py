"""``[[uncertain]]`` entries: a distribution on one or more numeric fields of a scenario (what
``critmin mc`` draws)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import model_validator

from critmin.names import SECTORS
from critmin.scenario.specs import _Spec

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
