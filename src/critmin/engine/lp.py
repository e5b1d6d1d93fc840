"""The reference engine's kernels: each allocation solved as an optimisation problem with HiGHS.

Same signatures as :mod:`critmin.engine.clearing`; the simulation loop is shared, so the two
engines differ only in how each month's allocations are computed.

* market clearing: the convex QP ``min sum_j (D_j - y_j)^2 / D_j`` over flows from the two supply
  pools with the restriction caps (its unique ``y`` is the lexicographic max-min fair allocation);
* the restricted pool's sales: two LPs giving the least and the most it can sell for those ``y``;
* priority routing: one LP per priority class, earlier classes fixed.

Quantities are scaled by the total order before solving, so tonnes of terbium and of neodymium
are solved with the same relative accuracy.

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
from typing import Any

import highspy
import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]
_INF = highspy.kHighsInf


def _highs() -> highspy.Highs:
    # HiGHS prints a banner from C on construction: silence file descriptor 1 meanwhile
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
    h.setOptionValue("qp_regularization_value", 1e-13)
    return h


_SOLVER: highspy.Highs | None = None


def _solver() -> highspy.Highs:
    global _SOLVER
    if _SOLVER is None:
        _SOLVER = _highs()
    return _SOLVER


def _solve(
    cost: Array,
    lower: Array,
    upper: Array,
    a: Array,
    row_lower: Array,
    row_upper: Array,
    hessian_diag: Array | None = None,
    maximize: bool = False,
) -> Array:
    """Solve a small LP/QP given dense ``a`` (rows x cols); return the column values."""
    n_row, n_col = a.shape
    lp = highspy.HighsLp()
    lp.num_col_ = n_col
    lp.num_row_ = n_row
    lp.col_cost_ = np.asarray(cost, dtype=float)
    lp.col_lower_ = np.asarray(lower, dtype=float)
    lp.col_upper_ = np.where(np.isfinite(upper), upper, _INF).astype(float)
    lp.row_lower_ = np.where(np.isfinite(row_lower), row_lower, -_INF).astype(float)
    lp.row_upper_ = np.where(np.isfinite(row_upper), row_upper, _INF).astype(float)
    lp.sense_ = highspy.ObjSense.kMaximize if maximize else highspy.ObjSense.kMinimize
    nz = a != 0
    counts = nz.sum(0)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    rows, cols = np.nonzero(nz.T)
    lp.a_matrix_.index_ = cols.astype(np.int32)
    lp.a_matrix_.value_ = a.T[rows, cols].astype(float)
    h = _solver()
    h.clearModel()
    if hessian_diag is None:
        status = h.passModel(lp)
    else:
        model = highspy.HighsModel()
        model.lp_ = lp
        hs = highspy.HighsHessian()
        hs.dim_ = n_col
        hs.format_ = highspy.HessianFormat.kTriangular
        diag = np.asarray(hessian_diag, dtype=float)
        has = diag != 0
        hs.start_ = np.concatenate([[0], np.cumsum(has)]).astype(np.int32)
        hs.index_ = np.flatnonzero(has).astype(np.int32)
        hs.value_ = diag[has]
        model.hessian_ = hs
        status = h.passModel(model)
    if status == highspy.HighsStatus.kError:
        raise RuntimeError("HiGHS rejected the allocation model")
    h.run()
    ms = h.getModelStatus()
    if ms != highspy.HighsModelStatus.kOptimal:
        raise RuntimeError(f"HiGHS did not solve the allocation model: {h.modelStatusToString(ms)}")
    return np.asarray(h.getSolution().col_value, dtype=float)


def _flat(*arrays: Any) -> list[Array]:
    return [np.asarray(x, dtype=float) for x in arrays]


def clear_market_lp(SE: Array, SO: Array, D: Array, u: Array, targeted: NDArray[np.bool_]) -> Array:
    """Lexicographic max-min fair deliveries, solved as a QP with HiGHS (one solve per batch item)."""
    SE, SO, D, u = _flat(SE, SO, D, u)
    tgt = np.broadcast_to(np.asarray(targeted, dtype=bool), D.shape)
    batch = D.shape[:-1]
    out = np.zeros(D.shape)
    for idx in np.ndindex(*batch):
        out[idx] = _clear_one(float(SE[idx]), float(SO[idx]), D[idx], u[idx], tgt[idx])
    return out


def _clear_one(se: float, so: float, d: Array, u: Array, tgt: NDArray[np.bool_]) -> Array:
    y = np.zeros(d.shape)
    act = np.flatnonzero(d > 1e-12 * d.sum())
    scale = float(d[act].sum()) if act.size else 0.0
    if act.size == 0 or se + so <= 1e-12 * scale:
        return y
    dd = d[act] / scale
    uu = np.where(tgt[act], np.maximum(u[act], 0.0) / scale, np.inf)
    n = act.size
    # columns: xE (n), xO (n), y (n); rows: balance (n), E pool, O pool
    a = np.zeros((n + 2, 3 * n))
    a[np.arange(n), np.arange(n)] = 1.0
    a[np.arange(n), n + np.arange(n)] = 1.0
    a[np.arange(n), 2 * n + np.arange(n)] = -1.0
    a[n, :n] = 1.0
    a[n + 1, n : 2 * n] = 1.0
    row_lo = np.concatenate([np.zeros(n), [-np.inf, -np.inf]])
    row_hi = np.concatenate([np.zeros(n), [se / scale, so / scale]])
    lower = np.zeros(3 * n)
    upper = np.concatenate([uu, np.full(n, np.inf), dd])
    cost = np.concatenate([np.zeros(2 * n), np.full(n, -2.0)])
    hess = np.concatenate([np.zeros(2 * n), 2.0 / dd])
    sol = _solve(cost, lower, upper, a, row_lo, row_hi, hessian_diag=hess)
    y[act] = np.clip(sol[2 * n :], 0.0, dd) * scale
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
    row_lo = np.concatenate([yy, [-np.inf, -np.inf]])
    row_hi = np.concatenate([yy, [se / scale, so / scale]])
    upper = np.concatenate([cap[act] / scale, np.full(n, np.inf)])
    cost = np.concatenate([np.ones(n), np.zeros(n)])
    lower = np.zeros(2 * n)
    hi = _solve(cost, lower, upper, a, row_lo, row_hi, maximize=True)[:n].sum() * scale
    lo = _solve(cost, lower, upper, a, row_lo, row_hi)[:n].sum() * scale
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
            k = len(live)
            a = np.array([[tot[x] / scale for x in live]])
            lower = np.array([fills.get(x, 0.0) for x in live])
            upper = np.array([fills.get(x, 1.0 if x == c else 0.0) for x in live])
            cost = np.array([1.0 if x == c else 0.0 for x in live])
            sol = _solve(cost, lower, upper, a, np.array([-np.inf]), np.array([supply[idx] / scale]), maximize=True)
            fills[c] = float(min(max(sol[live.index(c)], 0.0), 1.0))
            del k
        for c, f in fills.items():
            out[idx] = np.where(priority == c, nd * f, out[idx])
    return out
