"""Experiment: would running blocks of draws in SIMD lanes speed up the compiled month loop?

One stage-boundary row shaped like the engine's (orders, contract calls over 6 sellers x 8 buyers,
the spot pools, shipments and relationship updates, spot prices, unsold stock), on synthetic data,
for 4,096 draws x 144 rows: the per-draw layout of ``critmin.engine.month_loop`` (``scalar``)
against the same arithmetic with the draws of a block in the innermost axis (``lanes``, L = 4, 8,
16), both compiled with numba with the engine's options. Prints nanoseconds per row and draw and
checks that both layouts give the same results. It measures a representative row, not the engine.

Run: ``.venv/bin/python benchmarks/bench_lanes.py``
"""

from __future__ import annotations

import time

import numpy as np
from numba import njit

R = 13
NS, NB = 6, 8  # sellers, buyers (typical of the magnet group)


@njit(cache=False, nogil=True, error_model="numpy")
def scalar(B, T, produced, unsold, need, stock, inv, sev, rho, rel, csh, qual, el, out):
    x = np.empty((R, R))
    col = np.empty((R, R))
    supply = np.empty(R)
    orders = np.empty(R)
    x_in = np.empty(R)
    x_out = np.empty(R)
    xe = np.empty(R)
    c_j = np.empty(R)
    free = np.empty(R)
    got = np.empty(R)
    upd = np.empty(R)
    acc = 0.0
    for b in range(B):
        acc = 0.0
        for _t in range(T):
            for r in range(R):
                offered = produced[b, r] + unsold[b, r]
                ao = need[b, r] + max(0.0, inv[r] - stock[b, r]) / 6.0
                supply[r] = offered
                orders[r] = ao
                x_in[r] = 0.0
                x_out[r] = 0.0
                xe[r] = 0.0
            for jj in range(NB):
                c_j[jj] = csh * orders[jj]
                free[jj] = 1.0 - sev[b, jj]
            for ii in range(NS):
                called = 0.0
                for jj in range(NB):
                    v = c_j[jj] * rel[b, ii, jj] * ((1.0 - rho[ii]) + rho[ii] * free[jj])
                    x[ii, jj] = v
                    called += v
                scale = supply[ii] / called if called > supply[ii] and called > 0 else 1.0
                xo = 0.0
                for jj in range(NB):
                    v = x[ii, jj] * scale
                    x[ii, jj] = v
                    x_in[jj] += v
                    xo += v
                x_out[ii] = xo
            se = 0.0
            so = 0.0
            for r in range(R):
                s_sp = max(supply[r] - x_out[r], 0.0)
                se += rho[r] * s_sp
                so += (1 - rho[r]) * s_sp
            for jj in range(NB):
                got[jj] = 0.0
            for ii in range(NS):
                ae = rho[ii] * supply[ii] / se if se > 0 else 0.0
                aO = (1 - rho[ii]) * supply[ii] / so if so > 0 else 0.0
                for jj in range(NB):
                    col[ii, jj] = x[ii, jj] + orders[jj] * 0.1 * ae + orders[jj] * 0.2 * aO
                    got[jj] += col[ii, jj]
            for jj in range(NB):
                upd[jj] = 1.0 / qual if got[jj] > 0 else 0.0
                got[jj] = 1.0 / got[jj] if got[jj] > 0 else 0.0
            for ii in range(NS):
                for jj in range(NB):
                    rel[b, ii, jj] += (col[ii, jj] * got[jj] - rel[b, ii, jj]) * upd[jj]
            for r in range(R):
                fill = (x_in[r] + 0.5 * orders[r]) / orders[r] if orders[r] > 0 else 1.0
                p = np.exp(el * np.log(max(fill, 1e-300))) if fill < 1 - 1e-9 else 1.0
                acc += p
                unsold[b, r] = max(supply[r] - x_out[r] - 0.5 * supply[r], 0.0) * 0.99
        out[b] = acc
    return acc


@njit(cache=False, nogil=True, error_model="numpy")
def lanes(B, T, produced, unsold, need, stock, inv, sev, rho, rel, csh, qual, el, out, L):
    # arrays with the lane axis last: produced (B//L, R, L) etc.
    x = np.empty((R, R, L))
    col = np.empty((R, R, L))
    supply = np.empty((R, L))
    orders = np.empty((R, L))
    x_in = np.empty((R, L))
    x_out = np.empty((R, L))
    c_j = np.empty((R, L))
    free = np.empty((R, L))
    got = np.empty((R, L))
    upd = np.empty((R, L))
    called = np.empty(L)
    scale = np.empty(L)
    xo = np.empty(L)
    se = np.empty(L)
    so = np.empty(L)
    acc = np.zeros(L)
    for blk in range(B // L):
        acc[:] = 0.0
        for _t in range(T):
            for r in range(R):
                for q in range(L):
                    offered = produced[blk, r, q] + unsold[blk, r, q]
                    ao = need[blk, r, q] + max(0.0, inv[r] - stock[blk, r, q]) / 6.0
                    supply[r, q] = offered
                    orders[r, q] = ao
                    x_in[r, q] = 0.0
                    x_out[r, q] = 0.0
            for jj in range(NB):
                for q in range(L):
                    c_j[jj, q] = csh * orders[jj, q]
                    free[jj, q] = 1.0 - sev[blk, jj, q]
            for ii in range(NS):
                for q in range(L):
                    called[q] = 0.0
                for jj in range(NB):
                    for q in range(L):
                        v = c_j[jj, q] * rel[blk, ii, jj, q] * ((1.0 - rho[ii]) + rho[ii] * free[jj, q])
                        x[ii, jj, q] = v
                        called[q] += v
                for q in range(L):
                    c = called[q]
                    s = supply[ii, q]
                    scale[q] = s / c if (c > s and c > 0) else 1.0
                    xo[q] = 0.0
                for jj in range(NB):
                    for q in range(L):
                        v = x[ii, jj, q] * scale[q]
                        x[ii, jj, q] = v
                        x_in[jj, q] += v
                        xo[q] += v
                for q in range(L):
                    x_out[ii, q] = xo[q]
            for q in range(L):
                se[q] = 0.0
                so[q] = 0.0
            for r in range(R):
                for q in range(L):
                    s_sp = max(supply[r, q] - x_out[r, q], 0.0)
                    se[q] += rho[r] * s_sp
                    so[q] += (1 - rho[r]) * s_sp
            for jj in range(NB):
                for q in range(L):
                    got[jj, q] = 0.0
            for ii in range(NS):
                for jj in range(NB):
                    for q in range(L):
                        ae = rho[ii] * supply[ii, q] / se[q] if se[q] > 0 else 0.0
                        aO = (1 - rho[ii]) * supply[ii, q] / so[q] if so[q] > 0 else 0.0
                        v = x[ii, jj, q] + orders[jj, q] * 0.1 * ae + orders[jj, q] * 0.2 * aO
                        col[ii, jj, q] = v
                        got[jj, q] += v
            for jj in range(NB):
                for q in range(L):
                    g = got[jj, q]
                    upd[jj, q] = 1.0 / qual if g > 0 else 0.0
                    got[jj, q] = 1.0 / g if g > 0 else 0.0
            for ii in range(NS):
                for jj in range(NB):
                    for q in range(L):
                        rel[blk, ii, jj, q] += (col[ii, jj, q] * got[jj, q] - rel[blk, ii, jj, q]) * upd[jj, q]
            for r in range(R):
                for q in range(L):
                    o = orders[r, q]
                    fill = (x_in[r, q] + 0.5 * o) / o if o > 0 else 1.0
                    p = np.exp(el * np.log(max(fill, 1e-300))) if fill < 1 - 1e-9 else 1.0
                    acc[q] += p
                    unsold[blk, r, q] = max(supply[r, q] - x_out[r, q] - 0.5 * supply[r, q], 0.0) * 0.99
        for q in range(L):
            out[blk * L + q] = acc[q]
    return acc.sum()


def main():
    rng = np.random.default_rng(0)
    B, T = 4096, 144
    produced = rng.uniform(1, 10, (B, R))
    unsold = np.zeros((B, R))
    need = rng.uniform(0, 10, (B, R))
    stock = rng.uniform(0, 5, (B, R))
    inv = rng.uniform(0, 5, R)
    sev = rng.uniform(0, 1, (B, R)) * (rng.uniform(size=(B, R)) < 0.3)
    rho = (np.arange(R) == 0).astype(float)
    rel = rng.uniform(0, 1, (B, R, R))
    out = np.zeros(B)
    args = (produced, unsold.copy(), need, stock, inv, sev, rho, rel.copy(), 0.5, 3.0, -10.0)
    scalar(8, 2, *args[:1], args[1].copy(), *args[2:7], args[7].copy(), *args[8:], out)
    best, res = {}, {}
    for L in (4, 8, 16):

        def lay(a, L=L):
            return np.ascontiguousarray(a.reshape(B // L, L, *a.shape[1:]).transpose(0, *range(2, a.ndim + 1), 1))

        la = (lay(produced), lay(unsold), lay(need), lay(stock), inv, lay(sev), rho, lay(rel), 0.5, 3.0, -10.0)
        lanes(L, 2, *la[:1], la[1].copy(), *la[2:7], la[7].copy(), *la[8:], out, L)
        ts = []
        for _ in range(3):
            u, r_ = la[1].copy(), la[7].copy()
            t0 = time.process_time()
            lanes(B, T, la[0], u, *la[2:7], r_, *la[8:], out, L)
            ts.append(time.process_time() - t0)
        best[L] = min(ts)
        res[L] = out.copy()
    ts = []
    for _ in range(3):
        u, r_ = unsold.copy(), rel.copy()
        t0 = time.process_time()
        scalar(B, T, produced, u, need, stock, inv, sev, rho, r_, 0.5, 3.0, -10.0, out)
        ts.append(time.process_time() - t0)
    s = min(ts)
    rows = B * T
    print(f"scalar: {s / rows * 1e9:.0f} ns per row-draw")
    for L, v in best.items():
        same = np.allclose(out, res[L])
        print(f"lanes L={L}: {v / rows * 1e9:.0f} ns per row-draw ({s / v:.2f}x); same results: {same}")


if __name__ == "__main__":
    main()
