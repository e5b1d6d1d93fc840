"""The reference engine's kernels: each allocation solved as an optimisation problem with HiGHS.

Same signatures as :mod:`critmin.engine.clearing`; the simulation loop is shared, so the two
engines differ only in how each month's allocations are computed.

* market clearing: the lexicographic max-min fair allocation by progressive filling, a short
  sequence of LPs in fill-rate units (raise the common fill; freeze who cannot rise; repeat);
* the restricted pool's sales: two LPs giving the least and the most it can sell for those ``y``;
* priority routing: one LP per priority class, earlier classes fixed.

Each LP is written in fill rates (0-1) with each pool's supply row scaled to 1, so tonnes of
terbium and of neodymium are solved with the same relative accuracy.

Example
-------
>>> import numpy as np
>>> y = clear_market_lp(np.array(100.0), np.array(20.0), np.array([50.0, 50.0, 100.0]),
...                     np.array([0.0, np.inf, np.inf]), np.array([True, False, False]))
>>> [round(float(v), 6) for v in y]
[20.0, 33.333333, 66.666667]
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

import highspy
import numpy as np
from numpy.typing import NDArray

from critmin.engine.clearing import dust_free

Array = NDArray[np.float64]
_INF = highspy.kHighsInf
#: absolute slack (in fill-rate units) on levels carried from one LP to the next: the solver's
#: answers are exact only to its feasibility tolerance (1e-10)
_SLACK = 2e-10


_BANNER_LOCK = threading.Lock()


def _highs() -> highspy.Highs:
    # HiGHS prints a banner from C on construction: silence file descriptor 1 meanwhile (under a
    # lock, or two threads could each save the other's redirection and lose stdout for good)
    with _BANNER_LOCK:
        sys.stdout.flush()
        saved = os.dup(1)
        try:
            with open(os.devnull, "w") as devnull:
                os.dup2(devnull.fileno(), 1)
                h = highspy.Highs()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
    h.setOptionValue("output_flag", False)
    h.setOptionValue("primal_feasibility_tolerance", 1e-10)
    h.setOptionValue("dual_feasibility_tolerance", 1e-10)
    return h


_LOCAL = threading.local()


class _Model:
    """One HiGHS instance kept alive per thread (no construction and banner per solve); each solve
    passes the whole model.

    Changing only the data of a kept model (costs, bounds and the changed matrix entries) and
    starting from the previous basis was 1.2x faster, but on orders of a few micro-tonnes next to
    tens of tonnes it returned wrong allocations or no solution (5 of 3,000 random markets wrong,
    25 unsolved; ``tests/test_engine.py::test_lp_kernels_agree_over_a_long_sequence``); passing the
    whole model gets every one right.
    """

    def __init__(self) -> None:
        self.h = _highs()

    def solve(self, cost: Array, lower: Array, upper: Array, a: Array, row_lower: Array, row_upper: Array,
              maximize: bool) -> Array:  # fmt: skip
        h = self.h
        col_upper = np.where(np.isfinite(upper), upper, _INF).astype(float)
        row_lo = np.where(np.isfinite(row_lower), row_lower, -_INF).astype(float)
        row_hi = np.where(np.isfinite(row_upper), row_upper, _INF).astype(float)
        self._pass(cost, lower, col_upper, a, row_lo, row_hi, maximize)
        # a guard, not a budget: HiGHS's clock runs across solves on one instance
        h.setOptionValue("time_limit", h.getRunTime() + 30.0)
        h.run()
        ms = h.getModelStatus()
        if ms != highspy.HighsModelStatus.kOptimal:
            raise RuntimeError(f"HiGHS did not solve the allocation model: {h.modelStatusToString(ms)}")
        return np.asarray(h.getSolution().col_value, dtype=float)

    def _pass(self, cost: Array, lower: Array, upper: Array, a: Array, row_lo: Array, row_hi: Array,
              maximize: bool) -> None:  # fmt: skip
        n_row, n_col = a.shape
        lp = highspy.HighsLp()
        lp.num_col_ = n_col
        lp.num_row_ = n_row
        lp.col_cost_ = np.asarray(cost, dtype=float)
        lp.col_lower_ = np.asarray(lower, dtype=float)
        lp.col_upper_ = upper
        lp.row_lower_ = row_lo
        lp.row_upper_ = row_hi
        lp.sense_ = highspy.ObjSense.kMaximize if maximize else highspy.ObjSense.kMinimize
        nz = a != 0
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = np.concatenate([[0], np.cumsum(nz.sum(0))]).astype(np.int32)
        rows, cols = np.nonzero(nz.T)
        lp.a_matrix_.index_ = cols.astype(np.int32)
        lp.a_matrix_.value_ = a.T[rows, cols].astype(float)
        self.h.clearModel()
        if self.h.passModel(lp) == highspy.HighsStatus.kError:
            raise RuntimeError("HiGHS rejected the allocation model")


def _solve(
    key: tuple[Any, ...],
    cost: Array,
    lower: Array,
    upper: Array,
    a: Array,
    row_lower: Array,
    row_upper: Array,
    maximize: bool = False,
) -> Array:
    """Solve a small LP given dense ``a`` (rows x cols) on this thread's HiGHS instance; return the
    column values. ``key`` names the LP's structure (in error messages)."""
    model: _Model | None = getattr(_LOCAL, "model", None)
    if model is None:
        model = _LOCAL.model = _Model()
    try:
        return model.solve(cost, lower, upper, a, row_lower, row_upper, maximize)
    except RuntimeError as exc:
        raise RuntimeError(f"{exc} ({key[0]} LP, {key[1:]})") from None


def _flat(*arrays: Any) -> list[Array]:
    return [np.asarray(x, dtype=float) for x in arrays]


def clear_market_lp(SE: Array, SO: Array, D: Array, u: Array, targeted: NDArray[np.bool_]) -> Array:
    """Lexicographic max-min fair deliveries by progressive filling with HiGHS LPs (per batch item)."""
    SE, SO, D, u = _flat(SE, SO, D, u)
    SE, SO, D = dust_free(SE, SO, D)
    tgt = np.broadcast_to(np.asarray(targeted, dtype=bool), D.shape)
    batch = D.shape[:-1]
    out = np.zeros(D.shape)
    for idx in np.ndindex(*batch):
        out[idx] = _clear_one(float(SE[idx]), float(SO[idx]), D[idx], u[idx], tgt[idx])
    return out


def _fill_lp(
    se: float,
    so: float,
    d: Array,
    fcap: Array,
    fixed: dict[int, float],
    floor: float,
    objective: Array,
    extra_upper: Array | None = None,
) -> Array:
    """One LP of the progressive filling, in fill-rate units (scale-free).

    Columns: ``fE_j``, ``fO_j`` (buyer j's fill from each pool) and ``t``. Rows: each pool's
    supply (``sum_j D_j fE_j <= SE``, scaled by the pool's supply); each buyer's fill
    ``fE_j + fO_j`` between ``floor`` (unfixed) or its fixed value and 1 (or ``extra_upper``).
    ``objective`` has one weight per column.
    """
    n = d.size
    cols = 2 * n + 1
    # the same structure whoever is frozen (one model per buyer count): rows E pool, O pool,
    # then per buyer "fill_j - t >= 0" (left free once j is frozen) and "fill_j in [lo, hi]"
    a = np.zeros((2 + 2 * n, cols))
    scale_e = max(se, 1e-6 * float(d.sum()))
    scale_o = max(so, 1e-6 * float(d.sum()))
    a[0, :n] = d / scale_e
    a[1, n : 2 * n] = d / scale_o
    j = np.arange(n)
    a[2 + j, j] = a[2 + j, n + j] = 1.0
    a[2 + j, 2 * n] = -1.0
    a[2 + n + j, j] = a[2 + n + j, n + j] = 1.0
    is_fixed = np.zeros(n, dtype=bool)
    fixed_val = np.zeros(n)
    for i, f in fixed.items():
        is_fixed[i], fixed_val[i] = True, f
    top = np.ones(n) if extra_upper is None else np.asarray(extra_upper, dtype=float)
    # a frozen buyer keeps its fill (a hair of slack absorbs the solver's tolerance)
    lo = np.concatenate([[-np.inf, -np.inf], np.where(is_fixed, -np.inf, 0.0),
                         np.where(is_fixed, np.maximum(fixed_val - _SLACK, 0.0), floor)])  # fmt: skip
    hi = np.concatenate([[se / scale_e, so / scale_o], np.full(n, np.inf), np.where(is_fixed, fixed_val + _SLACK, top)])
    lower = np.zeros(cols)
    upper = np.concatenate([fcap, np.full(n, np.inf), [1.0]])
    return _solve(("fill", n), objective, lower, upper, a, lo, hi, maximize=True)


def _clear_one(se: float, so: float, d: Array, u: Array, tgt: NDArray[np.bool_]) -> Array:
    """Progressive filling: raise the common fill of the unfrozen buyers as far as possible
    (LP 1); freeze the buyers that cannot go above it (LP 2 finds those that can, LP 3 confirms
    each remaining one); repeat with the rest."""
    y = np.zeros(d.shape)
    act = np.flatnonzero(d > 0)
    if act.size == 0 or se + so <= 0:
        return y
    dd = d[act]
    n = act.size
    fcap = np.where(tgt[act], np.minimum(np.maximum(u[act], 0.0) / dd, 1.0), 1.0)
    fixed: dict[int, float] = {}
    tol = 1e-9
    while len(fixed) < n:
        live = [j for j in range(n) if j not in fixed]
        obj = np.zeros(2 * n + 1)
        obj[2 * n] = 1.0
        sol1 = _fill_lp(se, so, dd, fcap, fixed, 0.0, obj)
        t = float(sol1[2 * n])
        # frozen buyers keep their fill in this solution: a feasible witness for every later LP
        witness = np.minimum(sol1[:n] + sol1[n : 2 * n], 1.0)
        used = t * dd[live].sum() + sum(dd[j] * f for j, f in fixed.items())
        if t >= 1 - tol or used >= (se + so) * (1 - tol):
            # everyone left is served in full, or all supply is used: no one can rise any further
            fixed.update({j: float(witness[j]) for j in live})
            break
        # LP 2: who can rise above t (each by at most a small step) with the others held at t?
        step = min(1e-3, (1 - t) / 2)
        obj = np.zeros(2 * n + 1)
        obj[:n] = obj[n : 2 * n] = [0.0 if j in fixed else 1.0 for j in range(n)]
        floor = max(t - _SLACK, 0.0)  # the level just found, less the solver's tolerance
        try:
            sol = _fill_lp(se, so, dd, fcap, fixed, floor, obj, extra_upper=np.full(n, t + step))
            fill = sol[:n] + sol[n : 2 * n]
        except RuntimeError:  # numerically at the edge: test every buyer with LP 3 instead
            fill = witness.copy()
        can_rise = {j for j in live if fill[j] > t + 1e-6 * step}
        frozen = []
        for j in live:
            if j in can_rise:
                continue
            # LP 3: the most j alone can get with every other unfrozen buyer at t or more
            obj = np.zeros(2 * n + 1)
            obj[j] = obj[n + j] = 1.0
            try:
                sol = _fill_lp(se, so, dd, fcap, fixed, floor, obj)
                best = sol[j] + sol[n + j]
            except RuntimeError:
                best = t
            if best <= t + 1e-9:
                frozen.append(j)
        if not frozen:  # numerical safety: freeze the least-served buyer
            frozen = [min(live, key=lambda j: fill[j])]
        fixed.update({j: float(witness[j]) for j in frozen})
    for j, f in fixed.items():
        y[act[j]] = f * dd[j]
    return y


def restricted_sales_lp(SE: Array, SO: Array, y: Array, u: Array, targeted: NDArray[np.bool_]) -> tuple[Array, Array]:
    """The restricted pool's least and most possible sales by LP, then the shared rule
    (pro-rata share clipped to that range, split in proportion to each buyer's cap)."""
    SE, SO, y, u = _flat(SE, SO, y, u)
    tgt = np.broadcast_to(np.asarray(targeted, dtype=bool), y.shape)
    cap = np.where(tgt, np.minimum(np.maximum(u, 0.0), y), y)
    e = np.zeros(y.shape)
    for idx in np.ndindex(*y.shape[:-1]):
        se, so, yy, cc = float(SE[idx]), float(SO[idx]), y[idx], cap[idx]
        total = float(yy.sum())
        if total <= 0:
            continue
        lo, hi = _pool_range(se, so, yy, cc)
        share = se / (se + so) * total if se + so > 0 else 0.0
        e_sold = min(max(share, lo), hi)
        e[idx] = cc * (e_sold / cc.sum()) if cc.sum() > 0 else 0.0
    return e, y - e


def _pool_range(se: float, so: float, y: Array, cap: Array) -> tuple[float, float]:
    act = np.flatnonzero(y > 0)
    n = act.size
    scale = float(y[act].sum())
    yy = y[act] / scale
    # columns xE (n), xO (n); rows: xE + xO = y (n), E pool, O pool
    a = np.zeros((n + 2, 2 * n))
    a[np.arange(n), np.arange(n)] = 1.0
    a[np.arange(n), n + np.arange(n)] = 1.0
    a[n, :n] = 1.0
    a[n + 1, n:] = 1.0
    # the deliveries come from the clearing LPs, exact to their tolerance relative to the pools'
    # supply: give each pool a 1e-9 share of the two pools' total as slack, or a delivery a hair
    # above a small pool next to a large one reads as infeasible (seen: deliveries 3.5e-8 t above a
    # 0.27 t free pool when the restricted pool of 498 t was withheld from every buyer)
    slack = 1e-9 * (se + so) / scale
    row_lo = np.concatenate([yy, [-np.inf, -np.inf]])
    row_hi = np.concatenate([yy, [se / scale + slack, so / scale + slack]])
    upper = np.concatenate([cap[act] / scale, np.full(n, np.inf)])
    cost = np.concatenate([np.ones(n), np.zeros(n)])
    lower = np.zeros(2 * n)
    hi = _solve(("range-max", n), cost, lower, upper, a, row_lo, row_hi, maximize=True)[:n].sum() * scale
    lo = _solve(("range-min", n), cost, lower, upper, a, row_lo, row_hi)[:n].sum() * scale
    return float(lo), float(hi)


def priority_fill_lp(supply: Array, need: Array, priority: NDArray[np.int_]) -> Array:
    """Priority routing by one LP per class: maximise the class's common fill rate with the
    earlier classes fixed at theirs."""
    supply, need = _flat(supply, need)
    out = np.zeros(need.shape)
    classes = [int(c) for c in np.unique(priority)]
    for idx in np.ndindex(*need.shape[:-1]):
        nd = np.maximum(need[idx], 0.0)
        tot = {c: float(nd[priority == c].sum()) for c in classes}
        live = [c for c in classes if tot[c] > 0]
        if not live or supply[idx] <= 0:
            continue
        scale = float(sum(tot.values()))
        fills: dict[int, float] = {}
        for c in live:
            # columns: fill of each live class; one row: sum fill_c * N_c <= supply
            a = np.array([[tot[x] / scale for x in live]])
            lower = np.array([max(fills.get(x, 0.0) - _SLACK, 0.0) for x in live])
            upper = np.array([fills.get(x, 1.0 if x == c else 0.0) for x in live])
            cost = np.array([1.0 if x == c else 0.0 for x in live])
            sol = _solve(("priority", len(live)), cost, lower, upper, a, np.array([-np.inf]),
                         np.array([supply[idx] / scale]), maximize=True)  # fmt: skip
            fills[c] = float(min(max(sol[live.index(c)], 0.0), 1.0))
        for c, f in fills.items():
            out[idx] = np.where(priority == c, nd * f, out[idx])
    return out
