"""Market clearing for one product at one stage boundary, in closed form, batched.

The problem (documented in ``docs/engine.md``): suppliers form two pools, the restricted pool
``E`` (the restricting exporter, plus foreign makers' content under a foreign-content rule) with
supply ``SE`` and the free pool ``O`` with supply ``SO``. Buyer ``j`` orders ``D_j``; a targeted
buyer may take at most ``u_j`` from ``E``. The market allocation is the **lexicographic max-min
fair** vector of fill rates ``y_j / D_j``: the most-short buyer is as well off as possible, then
the next, and so on. Equivalently (Fujishige 1980) it is the unique minimiser of
``sum_j (D_j - y_j)^2 / D_j`` over the feasible deliveries, which is how the ``lp`` engine solves
it with HiGHS.

This module computes the same vector without a solver: a group of targeted buyers, taken in order
of ``u_j / D_j``, may be bound at a common fill ``mu = (SO + U(K)) / D(K)``; the rest share what is
left of ``E`` by water-filling. All functions take arrays with any leading batch shape and a last
axis of buyers.

Example
-------
>>> import numpy as np
>>> y = clear_market(np.array(100.0), np.array(20.0), np.array([50.0, 50.0, 100.0]),
...                  np.array([0.0, np.inf, np.inf]), np.array([True, False, False]))
>>> [round(float(v), 6) for v in y]
[20.0, 33.333333, 66.666667]
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from critmin.engine.arrays import rowany, rowsum
from critmin.engine.arrays import safe_div as _safe_div

Array = NDArray[np.float64]
_TOL = 1e-12
#: numerical dust, shared by both engines: an order below DUST x the largest order, or a total
#: supply below DUST x the total order, is treated as zero (far below any reported precision, and
#: below what a general solver resolves in scaled units)
DUST = 1e-7


def dust_free(SE: Array, SO: Array, D: Array) -> tuple[Array, Array, Array]:
    """Apply the :data:`DUST` rule: returns ``(SE, SO, D)`` with dust set to zero."""
    SE = np.maximum(np.asarray(SE, dtype=float), 0.0)
    SO = np.maximum(np.asarray(SO, dtype=float), 0.0)
    D = np.maximum(np.asarray(D, dtype=float), 0.0)
    total = rowsum(D)
    # an order at or above DUST x the total is above DUST x the largest: only smaller positive
    # orders need the (slower) comparison with the largest
    if ((D > 0) & (DUST * total[..., None] > D)).any():
        D = np.where(DUST * D.max(-1, keepdims=True) <= D, D, 0.0)
        total = rowsum(D)
    dust = DUST * total > SE + SO
    return np.where(dust, 0.0, SE), np.where(dust, 0.0, SO), D


def clear_market(SE: Array, SO: Array, D: Array, u: Array, targeted: NDArray[np.bool_]) -> Array:
    """Deliveries ``y`` (same shape as ``D``) of the lexicographic max-min fair allocation.

    ``SE``, ``SO`` have the batch shape; ``D``, ``u`` and ``targeted`` have the batch shape plus
    the buyer axis. ``u`` is ignored where ``targeted`` is False. Rows without a targeted buyer
    (most rows, most months) take the common fill at once; only the others are sorted.
    """
    SE, SO, D = dust_free(SE, SO, D)
    # a buyer with an infinite quota is not restricted (nor is one that orders nothing)
    tgt = np.asarray(targeted, dtype=bool) & (D > 0) & (np.broadcast_to(np.asarray(u, dtype=float), D.shape) < np.inf)
    d_all = rowsum(D)
    lam0 = np.minimum(1.0, _safe_div(SE + SO, d_all) + np.where(d_all > 0, 0.0, 1.0))
    y = lam0[..., None] * D
    n = D.shape[-1]
    tgt_f = tgt.reshape(-1, n)
    rows = np.flatnonzero(rowany(tgt_f))
    if rows.size:
        u_f = np.broadcast_to(np.asarray(u, dtype=float), D.shape).reshape(-1, n)
        y_f = y.reshape(-1, n)
        D_r = D.reshape(-1, n)[rows]
        tgt_r = tgt_f[rows]
        # only the buyers targeted in some row need the sorted treatment; the others enter
        # through their total demand and take the common fill
        cols = np.flatnonzero(tgt_r.any(0))
        # every total below is taken over the full row (or by sequential cumsum), so a draw gives
        # the same bits whatever other draws share its batch
        y_cols, lam, bound = _restricted_rows(
            SE.reshape(-1)[rows], SO.reshape(-1)[rows], D_r[:, cols], u_f[rows][:, cols], tgt_r[:, cols],
            lam0.reshape(-1)[rows], rowsum(np.where(tgt_r, 0.0, D_r)),
        )  # fmt: skip
        y_r = np.where(bound[:, None], lam[:, None] * D_r, y_f[rows])
        y_r[:, cols] = np.where(bound[:, None], y_cols, y_r[:, cols])
        y_f[rows] = y_r
        y = y_f.reshape(D.shape)
    return y


def _restricted_rows(
    SE: Array, SO: Array, D: Array, u: Array, tgt: NDArray[np.bool_], lam0: Array, d_nt: Array
) -> tuple[Array, Array, Array]:
    """The closed form on 2-d (rows, buyers) arrays where some buyer is targeted; ``d_nt`` is the
    row's whole untargeted demand (including buyers left out of the arrays). Sums over the buyer
    axis are sequential (the last ``cumsum``), so extra all-untargeted columns, which sort last as
    zeros, change no bit. Returns the deliveries of the buyers
    given, the fill ``lam`` of every untargeted buyer, and whether the row is bound (where it is
    not, the common fill ``lam0`` stands for everyone)."""
    u = np.where(tgt, np.maximum(u, 0.0), np.inf)
    # targeted buyers in order of u/D; prefix sets are the candidates for the bound group
    a = np.where(tgt, _safe_div(np.where(tgt, u, 0.0), D), np.inf)
    order = np.argsort(a, axis=-1, kind="stable")
    a_s = np.take_along_axis(a, order, -1)
    valid = np.isfinite(a_s)
    d_s = np.where(valid, np.take_along_axis(D, order, -1), 0.0)
    u_s = np.where(valid, np.take_along_axis(np.where(tgt, u, 0.0), order, -1), 0.0)
    cum_d = np.cumsum(d_s, -1)
    cum_u = np.cumsum(u_s, -1)
    ratio = np.where(
        valid & (cum_d > 0),
        _safe_div(SO[:, None] + np.minimum(SE[:, None], cum_u), cum_d),
        np.inf,
    )
    mu1 = ratio.min(-1)
    is_min = valid & (ratio <= mu1[:, None] * (1 + 1e-12) + _TOL)
    n = D.shape[-1]
    pos = np.arange(n)
    kstar = np.where(is_min.any(-1), np.max(np.where(is_min, pos, -1), -1), -1)
    bound = np.isfinite(mu1) & (mu1 < lam0 * (1 - 1e-12) - _TOL)

    in_k1_s = valid & (pos <= kstar[:, None]) & bound[:, None]
    u_k1 = _seqsum(np.where(in_k1_s, u_s, 0.0))
    e_left = np.maximum(SE - u_k1, 0.0)

    # water-filling of what is left of E over the rest (non-targets and the other targets):
    # f(lam) = lam * d_nt + sum_rest min(lam * D_j, u_j) is piecewise linear with breakpoints at
    # the rest targets' u_j / D_j; in sorted order f at breakpoint m is
    # (sum of u up to m) + a_m * (d_nt + sum of D after m)
    rest = valid & ~in_k1_s
    d_rest = np.where(rest, d_s, 0.0)
    cum_u_rest = np.cumsum(np.where(rest, u_s, 0.0), -1)
    cum_rest = np.cumsum(d_rest, -1)
    d_after = cum_rest[:, -1:] - cum_rest
    f = np.where(rest, cum_u_rest + np.where(rest, a_s, 0.0) * (d_nt[:, None] + d_after), np.inf)
    ok = f <= e_left[:, None] * (1 + 1e-15) + _TOL
    m_star = np.where(ok.any(-1), np.max(np.where(ok, pos, -1), -1), -1)
    has = m_star >= 0
    pick = np.maximum(m_star, 0)[:, None]
    lam_lo = np.where(has, np.take_along_axis(np.where(rest, a_s, 0.0), pick, -1)[:, 0], 0.0)
    f_lo = np.where(has, np.take_along_axis(np.where(rest, f, 0.0), pick, -1)[:, 0], 0.0)
    slope = d_nt + np.where(has, np.take_along_axis(d_after, pick, -1)[:, 0], cum_rest[:, -1])
    lam = np.minimum(1.0, lam_lo + _safe_div(e_left - f_lo, slope) + np.where(slope > 0, 0.0, 1.0))
    lam = np.maximum(lam, np.where(bound, mu1, 0.0))

    y_rest = np.where(tgt, np.minimum(lam[:, None] * D, u), lam[:, None] * D)
    inv = np.argsort(order, axis=-1, kind="stable")
    in_k1 = np.take_along_axis(in_k1_s, inv, -1)
    mu1_f = np.where(bound, mu1, 0.0)
    y_bound = np.where(in_k1, mu1_f[:, None] * D, y_rest)
    return y_bound, lam, bound


def _seqsum(x: Array) -> Array:
    """Left-to-right sum over the last axis (trailing zeros change no bit)."""
    return np.cumsum(x, -1)[:, -1]


def restricted_sales(SE: Array, SO: Array, y: Array, u: Array, targeted: NDArray[np.bool_]) -> tuple[Array, Array]:
    """Split deliveries ``y`` between the pools: returns ``(e, o)`` per buyer.

    The restricted pool sells its pro-rata share of the total, clipped to what the restrictions
    allow (at most ``min(SE, sum_j cap_j)`` with ``cap_j = min(u_j, y_j)`` for targets, ``y_j``
    otherwise) and to what the free pool cannot cover (at least ``sum y - SO``); each buyer's
    part is proportional to its cap.

    >>> e, o = restricted_sales(np.array(60.0), np.array(40.0), np.array([50.0, 50.0]),
    ...                         np.array([10.0, np.inf]), np.array([True, False]))
    >>> [float(v) for v in e], [float(v) for v in o]
    ([10.0, 50.0], [40.0, 0.0])
    """
    SE = np.maximum(np.asarray(SE, dtype=float), 0.0)
    SO = np.maximum(np.asarray(SO, dtype=float), 0.0)
    cap = np.where(targeted, np.minimum(np.maximum(u, 0.0), y), y)
    total = rowsum(y)
    hi = np.minimum(SE, rowsum(cap))
    lo = np.maximum(total - SO, 0.0)
    e_sold = np.minimum(np.maximum(_safe_div(SE, SE + SO) * total, lo), hi)
    e = cap * _safe_div(e_sold, rowsum(cap))[..., None]
    return e, y - e


def priority_fill(supply: Array, need: Array, priority: NDArray[np.int_]) -> Array:
    """Serve ``need`` (batch x items) from ``supply`` (batch) class by class in ``priority``
    order (1 first), pro rata within a class.

    >>> [float(v) for v in priority_fill(np.array(10.0), np.array([8.0, 4.0, 4.0]), np.array([1, 2, 2]))]
    [8.0, 1.0, 1.0]
    """
    supply = np.maximum(np.asarray(supply, dtype=float), 0.0)
    need = np.maximum(np.asarray(need, dtype=float), 0.0)
    out = np.zeros_like(need)
    left = supply.copy()
    for c in np.unique(priority):
        sel = priority == c
        n_c = rowsum(np.where(sel, need, 0.0))
        give = np.minimum(n_c, left)
        out = out + np.where(sel, need * _safe_div(give, n_c)[..., None], 0.0)
        left = left - give
    return out
