"""The portfolio selection model: which candidate projects to fund within a budget so that the
pooled shortfall of the counted regions is smallest, a mixed-integer programme over Monte Carlo
draws (sample-average approximation), written in linopy and solved with HiGHS.

Data, per objective material ``m``, draw ``n`` and month ``t``: the pooled shortfall without any
candidate ``S[m, n, t]`` (t) and, for each candidate ``p``, its effect ``E[p, m, n, t]``: how much
of that shortfall it removes on its own (:mod:`critmin.levers.portfolio` measures it with the full
engine or first order). Effects add up (a first-order view: the candidates' interactions are left
to the out-of-sample check):

    y_p ∈ {0, 1},   Σ_p capex_p · y_p ≤ budget,
    R[m, n, t] ≥ S[m, n, t] − Σ_p y_p · E[p, m, n, t],   R ≥ 0.

Objectives, over the draws' residual ``x_n = Σ_{m,t} R[m, n, t]`` (tonnes, the materials summed):

``expected_shortfall``
    ``(1/N) Σ_n x_n``;
``cvar95`` (``cvar90``, ``cvar99``)
    ``η + Σ_n u_n / ((1 − α) N)``, ``u_n ≥ x_n − η``, ``u ≥ 0`` (Rockafellar–Uryasev);
``p``
    the share of draws with any material short: a binary ``z_n`` per draw that has one,
    ``Σ_t R[m, n, t] ≤ Σ_t S[m, n, t] · z_n + tol · D[m, n]`` for every material over the tolerance,
    minimise ``(1/N) Σ_n z_n``.

A ``defence_`` prefix only says which shortfall ``S`` and demand ``D`` are (the defence sector's);
the model is the same. A negligible cost (a millionth of the no-project objective over the whole
budget) breaks ties towards cheaper sets, and a chosen project whose removal leaves the objective
as it is, is dropped after the solve.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr
from numpy.typing import NDArray

from critmin.engine.lp import silenced_stdout
from critmin.errors import UserError, suggest
from critmin.levers.targets import cvar

#: the objectives, their sector and what they measure
OBJECTIVES = (
    "expected_shortfall", "cvar90", "cvar95", "cvar99", "p",
    "defence_expected_shortfall", "defence_cvar90", "defence_cvar95", "defence_cvar99", "defence_p",
)  # fmt: skip
#: relative optimality gap at which the solver stops (reported with the result)
MIP_GAP = 1e-4


class SolverFailed(UserError):
    """The solver stopped without a usable answer (time limit without a solution, numerical trouble)."""


@dataclass(frozen=True)
class Objective:
    """What the portfolio minimises: ``metric`` (``expected_shortfall``, ``cvar`` or ``p``),
    ``sector`` (``all`` or ``defence``) and the CVaR level ``alpha``.

    >>> o = Objective.parse("defence_p")
    >>> o.metric, o.sector, o.units
    ('p', 'defence', 'probability')
    >>> Objective.parse("cvar95").alpha
    0.95
    >>> Objective.parse("expected_shortfal")
    Traceback (most recent call last):
    ...
    critmin.errors.UserError: --objective: unknown objective 'expected_shortfal' (did you mean 'expected_shortfall'?)
    """

    name: str
    metric: str
    sector: str
    alpha: float = math.nan

    @classmethod
    def parse(cls, text: str) -> Objective:
        key = str(text).strip().lower()
        if key not in OBJECTIVES:
            hint = suggest(key, OBJECTIVES)
            raise UserError(
                f"--objective: unknown objective {text!r}"
                + (f" (did you mean {hint[0]!r}?)" if hint else f" (valid: {', '.join(OBJECTIVES)})")
            )
        sector = "defence" if key.startswith("defence_") else "all"
        base = key.removeprefix("defence_")
        if base.startswith("cvar"):
            return cls(key, "cvar", sector, int(base[4:]) / 100)
        return cls(key, base, sector)

    @property
    def units(self) -> str:
        return "probability" if self.metric == "p" else "t"

    def describe(self) -> str:
        """In words: ``the expected shortfall (t) of all sectors``."""
        if self.metric == "cvar":
            what = f"the mean of the worst {100 - round(self.alpha * 100):g}% of draws' shortfall (t)"
        else:
            what = (
                "the expected shortfall (t)"
                if self.metric == "expected_shortfall"
                else "the probability of any shortfall"
            )
        return f"{what} of {'the defence sector' if self.sector == 'defence' else 'all sectors'}"


@dataclass(frozen=True)
class Problem:
    """One portfolio problem (arrays in the candidates' order).

    ``shortfall_t`` (material, draw, month) and ``effect_t`` (candidate, material, draw, month) are
    tonnes per month; ``demand_t`` (material, draw) over the horizon (for ``p``'s tolerance);
    ``capex_usd`` (candidate,) with NaN where unknown; ``allowed`` (candidate,) whether it may be
    chosen.
    """

    shortfall_t: NDArray[np.float64]
    effect_t: NDArray[np.float64]
    demand_t: NDArray[np.float64]
    capex_usd: NDArray[np.float64]
    allowed: NDArray[np.bool_]
    budget_usd: float
    objective: Objective
    tolerance: float = 1e-3
    names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        S, E, D = self.shortfall_t, self.effect_t, self.demand_t
        if S.ndim != 3 or E.ndim != 4 or E.shape[1:] != S.shape or D.shape != S.shape[:2]:
            raise ValueError("shapes: shortfall (m, n, t), effect (p, m, n, t), demand (m, n)")
        if self.capex_usd.shape != (E.shape[0],) or self.allowed.shape != (E.shape[0],):
            raise ValueError("capex and allowed: one per candidate")
        if not (np.isfinite(S).all() and np.isfinite(E).all() and np.isfinite(D).all()):
            raise UserError("the shortfall or effect draws hold NaN or infinite values")

    @property
    def candidates(self) -> int:
        return int(self.effect_t.shape[0])

    @property
    def draws(self) -> int:
        return int(self.shortfall_t.shape[1])


@dataclass(frozen=True)
class Solution:
    """The chosen set (a boolean per candidate), its objective value in the model, the solver's status."""

    chosen: NDArray[np.bool_]
    value: float
    status: str
    seconds: float
    stats: dict[str, Any] = field(default_factory=dict)


def per_draw(problem: Problem, chosen: NDArray[np.bool_]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The model's residual shortfall with the ``chosen`` set: per draw and material over the
    horizon (t), ``(material, draw)``, and per draw summed over the materials, ``(draw,)``."""
    S = problem.shortfall_t
    cut = np.tensordot(chosen.astype(float), problem.effect_t, axes=(0, 0)) if chosen.any() else 0.0
    residual = np.maximum(S - cut, 0.0).sum(axis=2)  # (m, n)
    return residual, residual.sum(axis=0)


def evaluate(problem: Problem, chosen: NDArray[np.bool_]) -> float:
    """The objective with the ``chosen`` set, in the model (what :func:`solve` minimises).

    >>> S = np.array([[[10.0], [30.0]]])                  # one material, two draws, one month
    >>> E = np.array([[[[10.0], [10.0]]], [[[0.0], [25.0]]]])  # two candidates
    >>> pb = Problem(S, E, np.full((1, 2), 100.0), np.array([4.0, 6.0]), np.ones(2, bool), 8.0,
    ...              Objective.parse("expected_shortfall"))
    >>> [evaluate(pb, np.array(c)) for c in ([False, False], [True, False], [False, True])]
    [20.0, 10.0, 7.5]
    """
    o = problem.objective
    residual, total = per_draw(problem, chosen)
    if o.metric == "expected_shortfall":
        return float(total.mean())
    if o.metric == "cvar":
        return cvar(total, o.alpha)[0]
    short = residual > problem.tolerance * problem.demand_t + 1e-9
    return float(short.any(axis=0).mean())


def solve(problem: Problem, time_limit_s: float = 120.0, mip_gap: float = MIP_GAP) -> Solution:
    """The best set within the budget; :class:`SolverFailed` when the solver gives no answer.

    Examples
    --------
    Two draws short by 10 t and 30 t; candidate A (capex 4) removes 10 t in both, B (capex 6)
    removes 25 t in the second. A budget of 8 buys one: B leaves (10 + 5) / 2 = 7.5 t expected,
    A (0 + 20) / 2 = 10 t, so B is chosen although A cuts more per dollar (2.5 t/$ against 2.08).

    >>> S = np.array([[[10.0], [30.0]]])
    >>> E = np.array([[[[10.0], [10.0]]], [[[0.0], [25.0]]]])
    >>> pb = Problem(S, E, np.full((1, 2), 100.0), np.array([4.0, 6.0]), np.ones(2, bool), 8.0,
    ...              Objective.parse("expected_shortfall"))
    >>> sol = solve(pb)
    >>> sol.chosen.tolist(), round(sol.value, 6), sol.status
    ([False, True], 7.5, 'ok')
    """
    t0 = time.perf_counter()
    pb = problem
    allowed = pb.allowed & np.isfinite(pb.capex_usd) & (np.nan_to_num(pb.capex_usd, nan=np.inf) <= pb.budget_usd)
    useful = allowed & (np.abs(pb.effect_t).reshape(pb.candidates, -1).max(axis=1) > 0)
    none = np.zeros(pb.candidates, dtype=bool)
    base = evaluate(pb, none)
    if not useful.any() or base <= 0:
        empty: dict[str, Any] = {
            "variables": 0,
            "binaries": 0,
            "constraints": 0,
            "mip_gap": None,
            "note": "nothing to choose",
        }
        return Solution(none, base, "ok", time.perf_counter() - t0, empty)
    model, parts = _build(pb, useful, base)
    status, seconds = _run(model, time_limit_s, mip_gap)
    if status not in ("ok", "time_limit"):
        raise SolverFailed(f"the portfolio solver stopped without a solution: {status} (time limit {time_limit_s:g} s)")
    y = np.zeros(pb.candidates)
    y[useful] = np.nan_to_num(parts["y"].solution.values)
    chosen = y > 0.5
    chosen = _prune(pb, chosen)
    stats: dict[str, Any] = {
        "draws": pb.draws,
        "draws_with_shortfall": int(parts["keep"].size),
        "variables": int(model.nvars),
        "binaries": int(model.binaries.nvars) if len(model.binaries) else 0,
        "constraints": int(model.ncons),
        "mip_gap": _gap(model),
        "solver_status": status,
    }
    return Solution(chosen, evaluate(pb, chosen), status, seconds, stats)


def _prune(pb: Problem, chosen: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Drop chosen projects (dearest first) whose removal leaves the objective where it is."""
    out = chosen.copy()
    value = evaluate(pb, out)
    scale = max(abs(value), 1e-12)
    for p in sorted(np.flatnonzero(out), key=lambda i: -float(pb.capex_usd[i])):
        trial = out.copy()
        trial[p] = False
        v = evaluate(pb, trial)
        if v <= value + 1e-9 * scale:
            out, value = trial, v
    return out


def _build(pb: Problem, useful: NDArray[np.bool_], base: float) -> tuple[Any, dict[str, Any]]:
    import linopy

    o = pb.objective
    idx = np.flatnonzero(useful)
    S = pb.shortfall_t
    E = pb.effect_t[idx]
    n_all = pb.draws
    keep = np.flatnonzero(S.sum(axis=(0, 2)) > 0)  # draws with some shortfall
    S, E, D = S[:, keep], E[:, :, keep], pb.demand_t[:, keep]
    M, _, T = S.shape
    names = [pb.names[i] if pb.names else f"c{i}" for i in idx]
    pc = {"candidate": names}
    coords = {"material": np.arange(M), "draw": keep, "month": np.arange(T)}
    s_da = xr.DataArray(S, coords=coords, dims=("material", "draw", "month"))
    e_da = xr.DataArray(E, coords={**pc, **coords}, dims=("candidate", "material", "draw", "month"))
    capex = xr.DataArray(pb.capex_usd[idx], coords=pc, dims=("candidate",))
    m = linopy.Model()
    y = m.add_variables(coords=[names], dims=("candidate",), name="y", binary=True)
    m.add_constraints((y * capex).sum() <= pb.budget_usd, name="budget")
    active = s_da > 0
    R = m.add_variables(lower=0, coords=s_da.coords, name="R", mask=active)
    cut = (y * e_da).sum("candidate")
    m.add_constraints(R.fillna(0) + cut >= s_da, name="residual", mask=active)
    x = R.fillna(0).sum(["material", "month"])  # (draw,)
    if o.metric == "expected_shortfall":
        value = x.sum() / n_all
        scale = base
    elif o.metric == "cvar":
        eta = m.add_variables(lower=0, name="eta")
        u = m.add_variables(lower=0, coords=[keep], dims=("draw",), name="u")
        m.add_constraints(u - x + eta >= 0, name="excess")
        value = eta + u.sum() / ((1 - o.alpha) * n_all)
        scale = base
    else:  # p: a binary per draw with any material over the tolerance
        tot = S.sum(axis=2)  # (m, n)
        over = tot > pb.tolerance * D + 1e-9
        needy = over.any(axis=0)
        z = m.add_variables(
            coords=[keep], dims=("draw",), name="z", binary=True, mask=xr.DataArray(needy, coords={"draw": keep})
        )
        big = xr.DataArray(tot, coords={"material": np.arange(M), "draw": keep})
        tol = xr.DataArray(pb.tolerance * D, coords=big.coords)
        rsum = R.fillna(0).sum("month")
        m.add_constraints(
            rsum - big * z.fillna(0) <= tol, name="short_draw", mask=xr.DataArray(over, coords=big.coords)
        )
        value = z.fillna(0).sum() / n_all
        scale = max(base, 1.0 / n_all)
    tie = 1e-6 * scale / pb.budget_usd  # per USD: at most a millionth of the no-project objective
    m.add_objective(value + (y * (capex * tie)).sum())
    return m, {"y": y, "keep": keep}


def _run(m: Any, time_limit_s: float, mip_gap: float) -> tuple[str, float]:
    t0 = time.perf_counter()
    quiet = logging.getLogger("linopy")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # the outcome is reported here, in one line
    try:
        with silenced_stdout():
            m.solve(
                solver_name="highs", progress=False, time_limit=float(time_limit_s), output_flag=False,
                mip_rel_gap=float(mip_gap),
            )  # fmt: skip
    finally:
        quiet.setLevel(level)
    seconds = time.perf_counter() - t0
    cond = str(m.termination_condition)
    if cond == "optimal":
        return "ok", seconds
    if cond == "time_limit" and np.isfinite(m.objective.value or np.nan):
        return "time_limit", seconds  # a feasible point at the time limit: its gap is reported
    return cond, seconds


def _gap(model: Any) -> float | None:
    try:
        info = model.solver_model.getInfo()
        return float(info.mip_gap)
    except Exception:
        return None
