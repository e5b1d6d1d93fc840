"""The allocation closed forms of :mod:`critmin.engine.clearing` and :mod:`critmin.engine.simulate`
for one row (one draw, one material, one stage boundary), as plain loops compiled with numba.

These are what the compiled month loop (:mod:`critmin.engine.month_loop`) calls; the batched
numpy functions stay the readable reference, and ``tests/test_compiled.py`` checks that both give
the same numbers. No function here allocates: each writes into arrays it is given, and takes a
scratch array ``w`` (at least 8 rows of the buyer count) where it needs room, so that a month of
a draw runs without touching the allocator.

Example
-------
>>> import numpy as np
>>> y, w = np.zeros(3), np.zeros((8, 3)); order = np.zeros(3, dtype=np.int64)
>>> clear_row(100.0, 20.0, np.array([50.0, 50.0, 100.0]), np.array([0.0, np.inf, np.inf]),
...           np.array([True, False, False]), y, w, order)
>>> [round(float(v), 6) for v in y]
[20.0, 33.333333, 66.666667]
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

from critmin.engine.clearing import DUST

Array = NDArray[np.float64]
_TOL = 1e-12


@njit(cache=True, nogil=True, error_model="numpy")
def sdiv(a: float, b: float) -> float:
    """``a / b`` where ``b > 0``, else 0 (:func:`critmin.engine.arrays.safe_div`)."""
    return a / b if b > 0 else 0.0


@njit(cache=True, nogil=True, error_model="numpy")
def clear_row(
    SE: float,
    SO: float,
    D_in: Array,
    u: Array,
    tgt_in: NDArray[np.bool_],
    y: Array,
    w: Array,
    order: NDArray[np.int64],
    n: int = -1,
) -> None:
    """Deliveries ``y`` of the lexicographic max-min fair allocation of one row
    (:func:`critmin.engine.clearing.clear_market`, dust rule included), over its first ``n``
    buyers (all where ``n < 0``)."""
    if n < 0:
        n = D_in.shape[0]
    D = w[0]
    a = w[1]
    tg = w[2]  # 1.0 where the buyer is targeted (and orders something)
    SE = max(SE, 0.0)
    SO = max(SO, 0.0)
    total = 0.0
    dmax = 0.0
    for j in range(n):
        D[j] = max(D_in[j], 0.0)
        total += D[j]
        dmax = max(dmax, D[j])
    dusty = False
    for j in range(n):
        if D[j] > 0 and DUST * total > D[j]:
            dusty = True
    if dusty:
        total = 0.0
        for j in range(n):
            if not DUST * dmax <= D[j]:
                D[j] = 0.0
            total += D[j]
    if DUST * total > SE + SO:
        SE = 0.0
        SO = 0.0
    lam0 = min(1.0, sdiv(SE + SO, total) + (0.0 if total > 0 else 1.0))
    any_t = False
    d_nt = 0.0
    for j in range(n):
        if tgt_in[j] and D[j] > 0 and u[j] < np.inf:  # an infinite quota restricts nothing
            tg[j] = 1.0
            any_t = True
            a[j] = max(u[j], 0.0) / D[j]
        else:
            tg[j] = 0.0
            d_nt += D[j]
            a[j] = np.inf
    if not any_t:
        for j in range(n):
            y[j] = lam0 * D[j]
        return
    # targeted buyers in order of u/D (stable insertion sort: 13 regions)
    for j in range(n):
        order[j] = j
    for j in range(1, n):
        key = order[j]
        i = j - 1
        while i >= 0 and a[order[i]] > a[key]:
            order[i + 1] = order[i]
            i -= 1
        order[i + 1] = key
    n_valid = 0
    for j in range(n):
        if tg[j] > 0:
            n_valid += 1
    # the bound group: the prefix with the lowest common fill (SO + min(SE, U)) / D
    cum_d = 0.0
    cum_u = 0.0
    mu1 = np.inf
    ratio = w[3]
    for m in range(n_valid):
        j = order[m]
        cum_d += D[j]
        cum_u += max(u[j], 0.0)
        ratio[m] = (SO + min(SE, cum_u)) / cum_d if cum_d > 0 else np.inf
        mu1 = min(mu1, ratio[m])
    kstar = -1
    for m in range(n_valid):
        if ratio[m] <= mu1 * (1 + 1e-12) + _TOL:
            kstar = m
    bound = np.isfinite(mu1) and mu1 < lam0 * (1 - 1e-12) - _TOL
    if not bound:
        for j in range(n):
            y[j] = lam0 * D[j]
        return
    u_k1 = 0.0
    for m in range(kstar + 1):
        u_k1 += max(u[order[m]], 0.0)
    e_left = max(SE - u_k1, 0.0)
    # water-filling of what is left of E over the rest (non-targets and the other targets)
    cum_rest = w[4]
    cum_u_rest = w[5]
    f = w[6]
    cr = 0.0
    cu = 0.0
    for m in range(kstar + 1, n_valid):
        j = order[m]
        cr += D[j]
        cu += max(u[j], 0.0)
        cum_rest[m] = cr
        cum_u_rest[m] = cu
    total_rest = cr
    m_star = -1
    for m in range(kstar + 1, n_valid):
        f[m] = cum_u_rest[m] + a[order[m]] * (d_nt + (total_rest - cum_rest[m]))
        if f[m] <= e_left * (1 + 1e-15) + _TOL:
            m_star = m
    if m_star >= 0:
        lam_lo = a[order[m_star]]
        f_lo = f[m_star]
        slope = d_nt + (total_rest - cum_rest[m_star])
    else:
        lam_lo = 0.0
        f_lo = 0.0
        slope = d_nt + total_rest
    lam = min(1.0, lam_lo + sdiv(e_left - f_lo, slope) + (0.0 if slope > 0 else 1.0))
    lam = max(lam, mu1)
    for j in range(n):
        y[j] = min(lam * D[j], max(u[j], 0.0)) if tg[j] > 0 else lam * D[j]
    for m in range(kstar + 1):
        j = order[m]
        y[j] = mu1 * D[j]


@njit(cache=True, nogil=True, error_model="numpy")
def sales_row(SE: float, SO: float, y: Array, u: Array, tgt: NDArray[np.bool_], e: Array, n: int = -1) -> None:
    """The restricted pool's part ``e`` of deliveries ``y`` over its first ``n`` buyers (all where
    ``n < 0``; :func:`critmin.engine.clearing.restricted_sales`)."""
    if n < 0:
        n = y.shape[0]
    SE = max(SE, 0.0)
    SO = max(SO, 0.0)
    total = 0.0
    capsum = 0.0
    for j in range(n):
        c = min(max(u[j], 0.0), y[j]) if tgt[j] else y[j]
        e[j] = c
        total += y[j]
        capsum += c
    hi = min(SE, capsum)
    lo = max(total - SO, 0.0)
    e_sold = min(max(sdiv(SE, SE + SO) * total, lo), hi)
    scale = sdiv(e_sold, capsum)
    for j in range(n):
        e[j] = e[j] * scale


@njit(cache=True, nogil=True, error_model="numpy")
def priority_row(
    supply: float, need: Array, priority: NDArray[np.int64], classes: NDArray[np.int64], out: Array
) -> None:
    """Serve ``need`` from ``supply`` class by class (``classes`` in order), pro rata within a
    class (:func:`critmin.engine.clearing.priority_fill`)."""
    n = need.shape[0]
    left = max(supply, 0.0)
    for j in range(n):
        out[j] = 0.0
    for c in classes:
        n_c = 0.0
        for j in range(n):
            if priority[j] == c:
                n_c += max(need[j], 0.0)
        give = min(n_c, left)
        share = sdiv(give, n_c)
        for j in range(n):
            if priority[j] == c:
                out[j] += max(need[j], 0.0) * share
        left = left - give


@njit(cache=True, nogil=True, error_model="numpy")
def spot_index(fill: float, elasticity: float, inv_elasticity: float, cap: float) -> float:
    """Spot price index from a market's fill (``simulate._spot_index``); ``inv_elasticity`` is
    ``1 / min(elasticity, -1e-12)``."""
    if not fill < 1 - 1e-9:
        return min(1.0, cap)
    if elasticity < -1e-12 and fill > 0:
        return min(np.exp(inv_elasticity * np.log(max(fill, 1e-300))), cap)
    return min(np.inf, cap)


@njit(cache=True, nogil=True, error_model="numpy")
def couple_row(
    use: Array, need: Array, light: NDArray[np.int64], heavy: NDArray[np.int64], h: float, out: Array
) -> None:
    """What end users can use of the elements received when magnets couple them, for one cell
    (``use``, ``need`` and ``out`` over the group's materials; ``simulate.couple_grades``)."""
    f_light = np.inf
    for m in light:
        f_light = min(f_light, use[m] / need[m] if need[m] > 0 else 1.0)
    f_heavy = f_light
    for m in heavy:
        f_heavy = min(f_heavy, use[m] / need[m] if need[m] > 0 else 1.0)
    g_low = min(1.0, sdiv(f_light - h * f_heavy, 1 - h)) if h < 1 else 1.0
    for m in range(use.shape[0]):
        out[m] = use[m]
    for m in light:
        out[m] = min(need[m] * (h * f_heavy + (1 - h) * g_low), use[m])
    for m in heavy:
        out[m] = min(need[m] * f_heavy, use[m])
