"""The stockpile sizing model: a sample-average approximation over Monte Carlo draws, written in
linopy and solved with HiGHS.

Decisions: tonnes ``X[h, i]`` of each item ``i`` held by each holder ``h`` and its release limit
``L[h, i]`` (t per month). Recourse, per draw ``n`` and month ``t``: releases ``r`` (to the
holder itself under ``independent``; from any holder to any partner that can use the item under
``complementary``), at most ``L`` a month and ``X`` in all. First-order view of what a release
does: it cuts the receiver's end-use shortfall ``S[h, m, n, t]`` of material ``m`` by
``cover[i, m] · reach[h, m]`` per tonne, so the residual is ``R ≥ S − Σ_i cover · reach · r_in``,
``R ≥ 0``. ``reach`` is the share of a release that reaches the measured sector: 1, except for a
defence target in ``market`` mode, where the engine shares a holder's releases among its sectors
pro rata to demand (docs/engine.md §4.7), so only the defence share of it reaches defence.
(The full engine, with prices, contracts and the coupling of the magnet elements, checks the
result out of sample: :mod:`critmin.levers.stockpile`.)

Targets (each holder): the chance constraint ``P(any material short) ≤ p`` exactly, with one
binary per holder and draw (``Σ_t R ≤ Σ_t S · z + tol · D``, ``Σ_n z ≤ ⌊p N⌋``); the expected
shortfall; CVaR by Rockafellar–Uryasev (``η + Σ_n u_n / ((1 − α) N) ≤ y``, ``u_n ≥ Σ_t R − η``);
days of cover (``Σ_i cover · X ≥ d · consumption / 365``). Cost: the buying cost with the
market's price response (convex, in linear pieces, for the holders' purchases of an item
together) times ``1 + carrying share × years``, plus a negligible cost on release limits so that
they are the smallest that serve.

Draws without any shortfall need no variables: they count in ``N`` only.
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
from critmin.errors import UserError
from critmin.levers.holdings import PRICE_INDEX_CAP, Holdings
from critmin.levers.targets import Target

REGIMES = ("independent", "complementary")
#: relative optimality gap at which the chance-constrained model stops (reported with the result)
MIP_GAP = 0.005
#: the release limits' tie-break cost (USD per t/month): tiny against any price
_RELEASE_COST = 1e-3


class TargetUnreachable(UserError):
    """No stockpile meets the targets within the budget; the message gives the best reachable."""


class SolverFailed(UserError):
    """The solver stopped without a usable answer (time limit, numerical trouble)."""


@dataclass(frozen=True)
class Problem:
    """One stockpile problem (arrays in the order of ``holdings``)."""

    holdings: Holdings
    shortfall_t: NDArray[np.float64]  # (holder, material, draw, month), target units per month
    demand_t: NDArray[np.float64]  # (holder, material, draw), over the horizon
    targets: tuple[Target, ...]
    regime: str = "independent"
    years: float = 1.0  # horizon, for the carrying cost
    buy_months: float = 12.0
    budget_usd: float | None = None
    tolerance: float = 1e-3
    #: (holder, item) tonnes already held (earlier rounds): sunk, already in the shortfalls
    held_t: NDArray[np.float64] | None = None
    #: (holder, material) share of a release that reaches the measured sector (market mode shares
    #: a holder's releases among its sectors pro rata: the defence share of its demand for a
    #: defence target); ones when None
    reach: NDArray[np.float64] | None = None


@dataclass(frozen=True)
class Solution:
    """The optimum: tonnes and release limits per (holder, item), the cost of what was added."""

    tonnes: NDArray[np.float64]
    release_t_per_month: NDArray[np.float64]
    cost_usd: NDArray[np.float64]  # (holder, item): the holder's share of its item's cost
    total_cost_usd: float
    status: str
    seconds: float
    stats: dict[str, Any] = field(default_factory=dict)


def solve(problem: Problem, time_limit_s: float = 120.0, mip_gap: float = MIP_GAP) -> Solution:
    """Least-cost stockpile meeting ``problem.targets``; :class:`TargetUnreachable` (with the best
    reachable values and their cost) when no stockpile does within the budget.

    Examples
    --------
    One holder, one material, two equally likely draws short by 10 t and 30 t in one month: an
    expected shortfall of at most 5 t needs 20 t of cover (``(0 + 10) / 2 = 5``).

    >>> from critmin.levers.holdings import Item
    >>> from critmin.levers.targets import parse_target
    >>> book = toy_holdings(price_usd_per_t=1000.0)
    >>> s = np.array([10.0, 30.0]).reshape(1, 1, 2, 1)
    >>> sol = solve(Problem(book, s, np.full((1, 1, 2), 100.0), (parse_target("expected_shortfall_t<=5"),)))
    >>> round(float(sol.tonnes[0, 0]), 6), round(sol.total_cost_usd, 2)
    (20.0, 20000.0)
    """
    if problem.regime not in REGIMES:
        raise UserError(f"unknown regime {problem.regime!r} (valid: {', '.join(REGIMES)})")
    chance = any(t.metric == "p_shortfall" for t in problem.targets)
    heuristic: tuple[Any, dict[str, Any], float, float] | None = None
    if chance:
        # a feasible answer first: each holder gives up its most severe draws (an LP); it bounds
        # the exact model, which then only searches for cheaper answers
        h_model, h_parts = _build(problem, slack=False, severity_order=True)
        h_status, h_seconds = _run(h_model, time_limit_s, mip_gap)
        if h_status == "ok":
            heuristic = (h_model, h_parts, float(h_model.objective.value), h_seconds)
    cutoff = None if heuristic is None else heuristic[2] * (1 + 1e-6) + 1e-6
    model, parts = _build(problem, slack=False)
    status, seconds = _run(model, time_limit_s, mip_gap, cutoff)
    if heuristic is not None:
        h_model, h_parts, h_cost, h_seconds = heuristic
        exact_cost = float(model.objective.value) if status in ("ok", "time_limit") else math.inf
        if status == "infeasible" or exact_cost >= h_cost:
            # nothing cheaper than the severity order: keep it, with the exact model's bound
            bound = _dual_bound(model)
            gap = 0.0 if status == "infeasible" else max(0.0, (h_cost - bound) / h_cost) if h_cost > 0 else 0.0
            sol = _solution(problem, h_parts, "ok" if gap <= mip_gap else "time_limit", seconds + h_seconds)
            sol.stats.update(
                mip_gap=gap, answer="severity order (the exact model found nothing cheaper)",
                binaries=int(model.binaries.nvars) if len(model.binaries) else 0,
            )  # fmt: skip
            return sol
    if status == "infeasible":
        model, parts = _build(problem, slack=True)
        status2, _ = _run(model, time_limit_s, mip_gap)
        if status2 != "ok":
            raise SolverFailed(f"the solver could not find the best reachable targets ({status2})")
        raise TargetUnreachable(_unreachable_message(problem, parts))
    if status not in ("ok", "time_limit"):
        raise SolverFailed(f"the solver stopped without a solution: {status} (time limit {time_limit_s:g} s)")
    sol = _solution(problem, parts, status, seconds)
    if chance:
        sol.stats["answer"] = "exact model"
    return sol


# -- building -----------------------------------------------------------------------------------
def _build(p: Problem, slack: bool, severity_order: bool = False) -> tuple[Any, dict[str, Any]]:
    import linopy

    book = p.holdings
    H, M = len(book.holders), len(book.materials)
    S = np.asarray(p.shortfall_t, dtype=float)
    D = np.asarray(p.demand_t, dtype=float)
    if S.ndim != 4 or S.shape[:2] != (H, M) or D.shape != S.shape[:3]:
        raise ValueError("shortfall (holder, material, draw, month) and demand (holder, material, draw) shapes")
    if not (np.isfinite(S).all() and np.isfinite(D).all()):
        raise UserError("the shortfall draws hold NaN or infinite values")
    n_all, T = S.shape[2], S.shape[3]
    S = np.maximum(S, 0.0)
    keep = np.flatnonzero(S.sum((0, 1, 3)) > 0)  # draws with some shortfall
    S, D = S[:, :, keep], D[:, :, keep]
    N = keep.size
    hc = {"holder": list(book.holders)}
    ic = {"item": [it.label for it in book.items]}
    mc = {"material": list(book.materials)}
    nc = {"draw": keep}
    tc = {"month": np.arange(T)}
    cover = xr.DataArray(book.cover, coords={**ic, **mc}, dims=("item", "material"))
    active = xr.DataArray(S.sum(1) > 0, coords={**hc, **nc, **tc}, dims=("holder", "draw", "month"))
    usable = xr.DataArray(book.usable, coords={**hc, **ic}, dims=("holder", "item"))
    m = linopy.Model()
    complementary = p.regime == "complementary"
    own_mask = usable if not complementary else usable.any("holder").broadcast_like(usable)
    # an item a holder may not hold has an upper bound of zero (not a mask: every slot exists)
    upper = xr.where(own_mask, np.inf, 0.0)
    X = m.add_variables(lower=0, upper=upper, coords=[hc["holder"], ic["item"]], dims=("holder", "item"), name="X")
    L = m.add_variables(lower=0, upper=upper, coords=[hc["holder"], ic["item"]], dims=("holder", "item"), name="L")
    m.add_constraints(L - X <= 0, name="release_within_stock")
    parts: dict[str, Any] = {"X": X, "L": L, "keep": keep, "n_all": n_all, "targets": []}
    if N > 0:
        if complementary:
            giver = usable.rename(holder="giver").any("giver").broadcast_like(usable.rename(holder="giver"))
            mask = (giver & usable & active).transpose("giver", "holder", "item", "draw", "month")
            r = m.add_variables(
                lower=0, coords=[hc["holder"], hc["holder"], ic["item"], keep, tc["month"]],
                dims=("giver", "holder", "item", "draw", "month"), name="r", mask=mask,
            )  # fmt: skip
            rf = r.fillna(0)  # absent releases (masked) count as zero
            out = rf.sum("holder").rename(giver="holder")  # what each holder releases
            into = rf.sum("giver")  # what each holder receives
        else:
            mask = (usable & active).transpose("holder", "item", "draw", "month")
            r = m.add_variables(
                lower=0, coords=[hc["holder"], ic["item"], keep, tc["month"]],
                dims=("holder", "item", "draw", "month"), name="r", mask=mask,
            )  # fmt: skip
            out = into = r.fillna(0)  # type: ignore[assignment]  # (a linear expression either way)
        m.add_constraints(out - L <= 0, name="release_limit")
        m.add_constraints(out.sum("month") - X <= 0, name="release_within_stock_per_draw")
        s_da = xr.DataArray(S, coords={**hc, **mc, **nc, **tc}, dims=("holder", "material", "draw", "month"))
        some = (s_da > 0).any("material").broadcast_like(s_da)  # the holder is short of something
        R = m.add_variables(lower=0, coords=s_da.coords, name="R", mask=some)
        reach = xr.DataArray(
            np.ones((H, M)) if p.reach is None else np.asarray(p.reach, dtype=float), coords={**hc, **mc},
            dims=("holder", "material"),
        )  # fmt: skip
        covered = (into * (cover * reach)).sum("item")
        Rf = R.fillna(0)
        m.add_constraints(Rf + covered >= s_da, name="residual", mask=s_da > 0)
        # magnets couple the elements: a target's shortfall is at least what a heavy element's
        # uncovered shortfall leaves unusable of it (docs/levers.md, "coupling")
        k = book.coupling()
        for j, f in zip(*np.nonzero(k), strict=True):
            ratio = np.divide(D[:, j], D[:, f], out=np.zeros_like(D[:, j]), where=D[:, f] > 0) * k[j, f]
            fac = xr.DataArray(ratio, coords={**hc, **nc}, dims=("holder", "draw"))
            s_f = s_da.isel(material=f, drop=True)
            lhs = Rf.isel(material=j, drop=True) + fac * covered.isel(material=f, drop=True)
            m.add_constraints(
                lhs >= fac * s_f, name=f"coupled_{book.materials[j]}_{book.materials[f]}", mask=(s_f > 0) & (fac > 0)
            )
        parts.update(R=R, S=S, D=D)
    _add_targets(m, p, parts, slack, severity_order)
    cost = _add_cost(m, p, X)
    parts["cost"] = cost
    if p.budget_usd is not None:
        m.add_constraints(cost <= p.budget_usd, name="budget")
    objective = cost + _RELEASE_COST * L.sum()
    if slack:
        penalty = sum(v.sum() * w for v, w in parts["slacks"])
        objective = penalty + objective * 1e-9
    m.add_objective(objective)
    return m, parts


def _add_targets(m: Any, p: Problem, parts: dict[str, Any], slack: bool, severity_order: bool = False) -> None:
    book = p.holdings
    n_all = parts["n_all"]
    R = parts.get("R")
    slacks: list[tuple[Any, float]] = []
    parts["slacks"] = slacks
    hc, mc = list(book.holders), list(book.targets)
    nt = len(mc)
    for k, t in enumerate(p.targets):
        name = f"target{k}"
        v = None
        if slack:
            dims = ("holder",) if t.metric == "p_shortfall" else ("holder", "material")
            coords = [hc] if t.metric == "p_shortfall" else [hc, mc]
            v = m.add_variables(lower=0, coords=coords, dims=dims, name=f"slack{k}")
            # weight: one unit of slack in the target's own scale
            slacks.append((v, 1.0 / max(t.bound, 1e-6 if t.metric == "p_shortfall" else 1e-3)))
        parts["targets"].append((t, v))
        if t.metric == "days_of_cover":
            own_cover = book.cover[:, :nt]  # every item that covers the material (magnets: by content)
            own = xr.DataArray(own_cover, coords={"item": [i.label for i in book.items], "material": mc})
            need = xr.DataArray(
                t.bound * book.consumption_t_per_yr[:, :nt] / 365.0, coords={"holder": hc, "material": mc}
            )
            held = 0.0 if p.held_t is None else (np.asarray(p.held_t) @ own_cover)
            lhs = (parts["X"] * own).sum("item") + (v if v is not None else 0)
            m.add_constraints(lhs >= need - held, name=name)
            continue
        if R is None:  # no draw runs short: every risk target holds already
            continue
        rsum = R.fillna(0).sum("month").sel(material=mc)
        S, D = parts["S"][:, :nt], parts["D"][:, :nt]
        keep = parts["keep"]
        if t.metric == "p_shortfall":
            tot = S.sum(3)  # (H, M, N)
            over = tot > p.tolerance * D
            needy = over.any(1)  # (H, N)
            allowed = math.floor(t.bound * n_all + 1e-9)
            zmask = xr.DataArray(needy, coords={"holder": hc, "draw": keep})
            if severity_order:  # z fixed: each holder gives up its `allowed` most severe draws
                severity = np.divide(tot, D, out=np.zeros_like(tot), where=D > 0).sum(1)  # (H, N)
                fixed = np.zeros_like(severity)
                for h in range(severity.shape[0]):
                    worst = np.argsort(-np.where(needy[h], severity[h], -np.inf), kind="stable")[:allowed]
                    fixed[h, worst[needy[h, worst]]] = 1.0
                zval = xr.DataArray(fixed, coords=zmask.coords)
                z = m.add_variables(lower=zval, upper=zval, coords=[hc, keep], dims=("holder", "draw"),
                                    name=f"z{k}", mask=zmask)  # fmt: skip
            else:
                z = m.add_variables(coords=[hc, keep], dims=("holder", "draw"), name=f"z{k}", binary=True, mask=zmask)
            big = xr.DataArray(tot, coords={"holder": hc, "material": mc, "draw": keep})
            tol = xr.DataArray(p.tolerance * D, coords=big.coords)
            zf = z.fillna(0)  # a draw with no binary (no shortfall above tolerance) is not short
            m.add_constraints(rsum - big * zf <= tol, name=f"{name}_draw", mask=xr.DataArray(over, coords=big.coords))
            lhs = zf.sum("draw") - (v * n_all if v is not None else 0)
            m.add_constraints(lhs <= allowed, name=name)
            parts[f"z{k}"] = z
        elif t.metric == "expected_shortfall_t":
            lhs = rsum.sum("draw") - (v * n_all if v is not None else 0)
            m.add_constraints(lhs <= t.bound * n_all, name=name)
        else:  # CVaR (Rockafellar–Uryasev)
            eta = m.add_variables(lower=0, coords=[hc, mc], dims=("holder", "material"), name=f"eta{k}")
            u = m.add_variables(lower=0, coords=[hc, mc, keep], dims=("holder", "material", "draw"), name=f"u{k}")
            m.add_constraints(u - rsum + eta >= 0, name=f"{name}_excess")
            tail = eta + u.sum("draw") / ((1 - t.alpha) * n_all)
            m.add_constraints((tail - v if v is not None else tail) <= t.bound, name=name)


def _carry(p: Problem) -> float:
    """The carrying factor: 1 + the yearly carrying share × the horizon in years."""
    return 1.0 + p.holdings.carrying_share_per_yr * p.years


def _pieces(p: Problem, i: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Widths (t) and prices (USD/t) of item ``i``'s buying pieces left after what the holders
    already hold (which took the first pieces), with a last unbounded piece at the capped price."""
    book = p.holdings
    widths, slopes = book.cost_segments(book.items[i], p.buy_months)
    used = 0.0 if p.held_t is None else float(np.asarray(p.held_t)[:, i].sum())
    left = []
    for width in widths:
        take = min(used, width)
        left.append(width - take)
        used -= take
    return np.array([*left, np.inf]), np.array([*slopes, book.price_usd_per_t[i] * PRICE_INDEX_CAP])


def _add_cost(m: Any, p: Problem, X: Any) -> Any:
    """Buying cost (price response in linear pieces over the holders' purchases of an item,
    after what they already hold) times the carrying factor, as a linopy expression."""
    carry = _carry(p)
    terms = []
    for i, it in enumerate(p.holdings.items):
        widths, slopes = _pieces(p, i)
        pieces = m.add_variables(
            lower=0, upper=widths, coords=[np.arange(widths.size)], dims=("piece",), name=f"buy{i}"
        )
        m.add_constraints(pieces.sum() - X.sel(item=it.label).sum("holder") == 0, name=f"bought{i}")
        terms.append((pieces * xr.DataArray(slopes * carry, dims=("piece",))).sum())
    return sum(terms[1:], terms[0])


def _run(m: Any, time_limit_s: float, mip_gap: float, cutoff: float | None = None) -> tuple[str, float]:
    t0 = time.perf_counter()
    kw: dict[str, Any] = {"time_limit": float(time_limit_s), "output_flag": False}
    if any(v.attrs.get("binary") for v in m.variables.data.values()):
        kw["mip_rel_gap"] = mip_gap
        if cutoff is not None:
            kw["objective_bound"] = cutoff  # only answers cheaper than a known one are searched
    quiet = logging.getLogger("linopy")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # the outcome is reported here, in one line
    try:
        with silenced_stdout():
            m.solve(solver_name="highs", io_api="direct", progress=False, **kw)
    finally:
        quiet.setLevel(level)
    seconds = time.perf_counter() - t0
    cond = str(m.termination_condition)
    if cond in ("optimal",):
        return "ok", seconds
    if cond in ("infeasible", "infeasible_or_unbounded"):
        return "infeasible", seconds
    if cond == "time_limit":
        value = m.objective.value
        if value is not None and np.isfinite(value):
            return "time_limit", seconds  # a feasible point at the time limit: its gap is reported
        return "time limit reached without a solution", seconds
    return cond, seconds


def _solution(p: Problem, parts: dict[str, Any], status: str, seconds: float) -> Solution:
    book = p.holdings
    X = np.nan_to_num(parts["X"].solution.values)
    L = np.nan_to_num(parts["L"].solution.values)
    X[X < 1e-9] = 0.0
    L = np.minimum(L, X)
    item_cost = np.array([_value(parts["cost"], i, p) for i in range(len(book.items))])
    total = float(parts["cost"].solution.sum()) if hasattr(parts["cost"], "solution") else float(item_cost.sum())
    share = np.divide(X, X.sum(0, keepdims=True), out=np.zeros_like(X), where=X.sum(0, keepdims=True) > 0)
    model = parts["X"].model
    stats = {
        "draws": int(parts["n_all"]),
        "draws_with_shortfall": len(parts["keep"]),
        "variables": int(model.nvars),
        "binaries": int(model.binaries.nvars) if len(model.binaries) else 0,
        "constraints": int(model.ncons),
        "objective_usd": float(model.objective.value),
        "mip_gap": _gap(model),
    }
    return Solution(X, L, share * item_cost, total, status, seconds, stats)


def _value(cost: Any, i: int, p: Problem) -> float:
    """What item ``i``'s purchase costs in the solution (its pieces at their prices, carried)."""
    pieces = cost.model.variables[f"buy{i}"].solution.values
    return float(np.nansum(pieces * _pieces(p, i)[1]) * _carry(p))


def _dual_bound(model: Any) -> float:
    """The exact model's proven lower bound on the cost (0 when the solver has none)."""
    try:
        v = float(model.solver_model.getInfo().mip_dual_bound)
        return v if math.isfinite(v) else 0.0
    except Exception:
        return 0.0


def _gap(model: Any) -> float | None:
    try:
        h = model.solver_model
        info = h.getInfo()
        return float(info.mip_gap) if info.mip_node_count >= 0 else None
    except Exception:
        return None


def _unreachable_message(p: Problem, parts: dict[str, Any]) -> str:
    book = p.holdings
    model = parts["X"].model
    cost = float(parts["cost"].solution.sum()) if hasattr(parts["cost"], "solution") else math.nan
    worst: list[str] = []
    for t, v in parts["targets"]:
        sl = np.nan_to_num(v.solution.values) if v is not None else np.zeros(1)
        gap = float(sl.max())
        if gap <= 1e-9:
            continue
        idx = np.unravel_index(int(np.argmax(sl)), sl.shape)
        who = book.holders[idx[0]] + (f" {book.materials[idx[1]]}" if sl.ndim > 1 else "")
        best = max(0.0, t.bound - gap) if t.metric == "days_of_cover" else t.bound + gap
        worst.append(f"{t.metric} {best:.4g} for {who} (target {t})")
    budget = f"within the budget of ${p.budget_usd:,.0f}" if p.budget_usd is not None else "with the items allowed"
    unusable = [f"{h} {item}: {why}" for (h, item), why in book.why_not.items()]
    companions = book.materials[len(book.targets) :]
    if companions:
        budget += (
            f" (magnets couple the elements: the targets also need {', '.join(companions)}, which only the "
            "items held can cover; add them or NdFeB to --materials)"
        )
    extra = f"; items the holders cannot use: {'; '.join(unusable)}" if unusable and p.budget_usd is None else ""
    del model
    return (
        f"no stockpile meets the targets {budget}: the best reachable is "
        + ", ".join(worst or ["(no target could be improved)"])
        + f", costing ${cost:,.0f}{extra}"
    )


def toy_holdings(price_usd_per_t: float = 1000.0, holders: tuple[str, ...] = ("USA",)) -> Holdings:
    """A one-material, one-item book for examples and hand-checked tests: holding 1 t covers 1 t
    of shortfall, the price does not respond to buying, no carrying cost."""
    from critmin.levers.holdings import Item

    n = len(holders)
    return Holdings(
        holders=holders, materials=("Dy",), items=(Item("Dy", "magnet"),), cover=np.ones((1, 1)),
        usable=np.ones((n, 1), dtype=bool), why_not={}, consumption_t_per_yr=np.full((n, 1), 365.0),
        price_usd_per_t=np.array([price_usd_per_t]), price_source=("toy",), world_t_per_month=np.array([1e12]),
        elasticity=np.array([0.0]), content={"Nd": 0.2475}, carrying_share_per_yr=0.0, carrying_source="toy",
    )  # fmt: skip
