"""Risk targets of the levers: parsed from text such as ``defence_p_shortfall<=0.05`` and measured
on per-draw shortfalls, with their Monte Carlo standard error.

A target applies to **each holder** (every holder must meet it):

``[defence_]p_shortfall <= p``
    the probability that the holder runs short of any of the chosen materials over the horizon
    (a shortfall counts when it exceeds ``tolerance`` of the holder's demand of that material over
    the horizon, default 0.1 %);
``[defence_]expected_shortfall_t <= x``
    the expected shortfall over the horizon, tonnes, of each chosen material (in its own unit:
    tonnes of element, or of magnet for NdFeB);
``[defence_]cvar95_t <= y``
    the mean of the worst 5 % of draws' horizon shortfall of each material (``cvar90_t``,
    ``cvar99_t`` likewise);
``days_of_cover >= d``
    the stock held of each material, in days of the holder's consumption (all sectors, base year),
    as JOGMEC and Project Vault state their targets.

The ``defence_`` prefix measures the defence sector alone; without it, all sectors.

>>> t = parse_target("defence_p_shortfall<=0.05")
>>> t.metric, t.sector, t.bound
('p_shortfall', 'defence', 0.05)
>>> str(parse_target("cvar95_t <= 12.5"))
'cvar95_t<=12.5'
>>> parse_target("defence_p_shortfal<=0.05")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
critmin.errors.UserError: --target ...: unknown metric 'defence_p_shortfal' (did you mean 'defence_p_shortfall'?)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from critmin.errors import UserError, suggest

#: metrics and the direction of their bound
METRICS: dict[str, str] = {
    "p_shortfall": "<=",
    "expected_shortfall_t": "<=",
    "cvar90_t": "<=",
    "cvar95_t": "<=",
    "cvar99_t": "<=",
    "days_of_cover": ">=",
}
#: a shortfall counts as one when above this share of the holder's demand over the horizon
DEFAULT_TOLERANCE = 1e-3
_PATTERN = re.compile(r"^\s*([A-Za-z0-9_]+)\s*(<=|>=|<|>|=)\s*([^\s]+)\s*$")


@dataclass(frozen=True)
class Target:
    """One target: ``metric`` (a key of :data:`METRICS`), ``sector`` (``defence`` or ``all``),
    ``bound``; ``text`` is how the user wrote it."""

    metric: str
    sector: str
    bound: float

    def __str__(self) -> str:
        prefix = "defence_" if self.sector == "defence" else ""
        return f"{prefix}{self.metric}{METRICS[self.metric]}{self.bound:g}"

    @property
    def is_risk(self) -> bool:
        """Whether it is measured on the shortfall draws (``days_of_cover`` is not)."""
        return self.metric != "days_of_cover"

    @property
    def alpha(self) -> float:
        """The CVaR level (0.95 for ``cvar95_t``); NaN for other metrics."""
        return int(self.metric[4:6]) / 100 if self.metric.startswith("cvar") else math.nan

    def met(self, value: float) -> bool:
        """Whether ``value`` meets the bound (1e-9 of slack for rounding)."""
        slack = 1e-9 * max(1.0, abs(self.bound))
        return value <= self.bound + slack if METRICS[self.metric] == "<=" else value >= self.bound - slack


def parse_target(text: str) -> Target:
    """A :class:`Target` from ``metric<=value`` (``>=`` for ``days_of_cover``); a
    :class:`~critmin.errors.UserError` naming the text and the nearest metric otherwise."""
    m = _PATTERN.match(text)
    where = f"--target {text!r}"
    if not m:
        raise UserError(f"{where}: write it as METRIC<=VALUE, e.g. defence_p_shortfall<=0.05 or days_of_cover>=60")
    name, op, raw = m.groups()
    sector = "defence" if name.startswith("defence_") else "all"
    metric = name.removeprefix("defence_")
    if metric not in METRICS:
        valid = [*METRICS, *(f"defence_{k}" for k in METRICS if k != "days_of_cover")]
        hint = suggest(name, valid)
        raise UserError(
            f"{where}: unknown metric {name!r}"
            + (f" (did you mean {hint[0]!r}?)" if hint else f" (valid: {', '.join(valid)})")
        )
    if metric == "days_of_cover" and sector == "defence":
        raise UserError(f"{where}: days of cover count the holder's whole consumption; write days_of_cover>=D")
    want = METRICS[metric]
    if op.rstrip("=") != want.rstrip("="):
        raise UserError(f"{where}: {metric} takes a bound {want} VALUE")
    try:
        bound = float(raw)
    except ValueError:
        raise UserError(f"{where}: {raw!r} is not a number") from None
    if not math.isfinite(bound) or bound < 0:
        raise UserError(f"{where}: the bound must be a finite number >= 0 (got {raw})")
    if metric == "p_shortfall" and bound >= 1:
        raise UserError(f"{where}: a probability bound must be below 1 (got {raw})")
    return Target(metric, sector, bound)


def target_sector(targets: tuple[Target, ...]) -> str:
    """The one sector the risk targets measure (``all`` when there are none); an error when they mix."""
    sectors = {t.sector for t in targets if t.is_risk}
    if len(sectors) > 1:
        raise UserError("the targets mix defence and all-sector metrics: give targets for one sector per run")
    return sectors.pop() if sectors else "all"


def measure(
    target: Target, shortfall_t: NDArray[np.floating], demand_t: NDArray[np.floating], tolerance: float
) -> tuple[float, float]:
    """The target's metric for one holder and its Monte Carlo standard error.

    ``shortfall_t`` and ``demand_t`` are (draw, material) totals over the horizon. For the
    tonnage metrics the worst material is returned (the target must hold for each).

    >>> s = np.array([[0.0, 0.0], [5.0, 0.0], [0.0, 0.0], [10.0, 1.0]])
    >>> d = np.full((4, 2), 100.0)
    >>> measure(parse_target("p_shortfall<=0.1"), s, d, 1e-3)[0]
    0.5
    >>> measure(parse_target("expected_shortfall_t<=1"), s, d, 1e-3)[0]
    3.75
    """
    n = shortfall_t.shape[0]
    if n == 0:
        return math.nan, math.nan
    x = np.asarray(shortfall_t, dtype=float)
    if target.metric == "p_shortfall":
        hit = (x > tolerance * np.asarray(demand_t, dtype=float)).any(axis=1)
        p = float(hit.mean())
        return p, math.sqrt(p * (1 - p) / n)
    if target.metric == "expected_shortfall_t":
        means = x.mean(axis=0)
        j = int(np.argmax(means))
        return float(means[j]), float(x[:, j].std(ddof=1) / math.sqrt(n)) if n > 1 else 0.0
    if target.metric.startswith("cvar"):
        best = (-math.inf, 0.0)
        for j in range(x.shape[1]):
            v, se = cvar(x[:, j], target.alpha)
            if v > best[0]:
                best = (v, se)
        return best
    raise UserError(f"{target} is not measured on draws")


def cvar(x: NDArray[np.floating], alpha: float) -> tuple[float, float]:
    """CVaR at level ``alpha`` of the draws ``x`` (Rockafellar–Uryasev: VaR plus the mean excess
    over it divided by 1 − alpha, the value the optimisation bounds) and its standard error.

    >>> cvar(np.arange(20.0), 0.95)[0]
    19.0
    """
    x = np.sort(np.asarray(x, dtype=float))
    n = x.size
    var = float(x[min(n - 1, math.ceil(alpha * n) - 1)]) if n else math.nan
    excess = np.maximum(x - var, 0.0)
    value = var + float(excess.mean()) / (1 - alpha)
    se = float(excess.std(ddof=1)) / math.sqrt(n) / (1 - alpha) if n > 1 else 0.0
    return value, se
