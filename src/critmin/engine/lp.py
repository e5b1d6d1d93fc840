"""The reference engine's kernels: closed forms where the answer has one, HiGHS where it needs a solver.

Same signatures as :mod:`critmin.engine.clearing`; the simulation loop is shared, so the two
engines differ only in how each month's allocations are computed. The kernels are what a
practitioner would write with ``highspy``: no LP is solved whose answer is a formula, and the LPs
that remain are solved once per step over all the rows of a call, stacked block-diagonally.

Closed forms (all batched over the rows of a call):

* market clearing, a row **without a targeted buyer** that orders anything under a finite quota
  (an infinite one restricts nothing): the feasible set is ``{0 <= y <= D, sum y <= SE + SO}``,
  whose max-min fair point is the common fill ``y = min(1, (SE + SO) / sum D) * D``; the same
  formula gives ``y = 0`` where there is no supply;
* market clearing, a row whose **supply covers every order**: ``y = D`` is feasible, and then it is
  the allocation, iff ``sum D <= SO + min(SE, sum_j cap_j)`` with ``cap_j = min(u_j, D_j)`` for a
  target and ``D_j`` for anyone else (the restricted pool can place at most ``min(SE, sum cap)``;
  a subset of buyers needs no more of the free pool than the whole row does, so checking the
  whole row is enough);
* the restricted pool's sales: the least and the most it can sell for given deliveries ``y`` are
  ``lo = max(sum y - SO, 0)`` (what the free pool cannot carry) and ``hi = min(SE, sum cap)`` with
  ``cap_j = min(u_j, y_j)`` for a target, ``y_j`` otherwise (the two LPs per row the earlier
  version solved); the sales rule then applies (pro-rata share clipped to ``[lo, hi]``, split in
  proportion to each buyer's cap);
* priority routing: class ``c`` (in priority order) gets the common fill
  ``min(1, max(supply - N_1 - ... - N_{c-1}, 0) / N_c)`` of its need ``N_c`` (the one-variable LP
  per class the earlier version solved).

What needs a solver: clearing rows with a targeted buyer whose supply does not cover every order.
Those rows get the lexicographic max-min fair allocation by **progressive filling**, in fill-rate
units (0-1) with each pool's supply row scaled to 1, so tonnes of terbium and of neodymium are
solved with the same relative accuracy; an empty pool's columns are fixed at 0. Each round is at
most three LPs, each of them one LP over every row of the call still filling (each row's variables
and constraints one independent block, the objective the sum of the blocks', so each block's part
of the optimum is that block's optimum); calls with more rows than fit in :data:`_MAX_COLS`
columns split them into several LPs:

* LP 1 raises the common fill ``t`` of each row's unfrozen buyers (frozen ones keep theirs); where
  ``t = 1`` or all supply is used, the row is finished;
* LP 2 (each unfrozen buyer held between ``t`` and ``t + 0.001``, maximise their sum) finds the
  buyers that can rise;
* LP 3 confirms each remaining buyer: one block per (row, buyer), a copy of the row maximising
  that buyer's fill with the row's other unfrozen buyers at ``t`` or more. Buyers that cannot rise
  are frozen at their LP 1 fill and the round repeats.

If a stacked LP fails, its blocks are solved one by one; a block that fails alone is retried with
other HiGHS settings (:data:`_RETRY`), and one that still fails is treated as the one-row version
treated it (a failed LP 1 is an error, a failed LP 2 sends every buyer to LP 3, a failed LP 3
freezes its buyer). Presolve is off, by measurement (see :data:`_PRESOLVE`).

Example
-------
>>> import numpy as np
>>> y = clear_market_lp(np.array(100.0), np.array(20.0), np.array([50.0, 50.0, 100.0]),
...                     np.array([0.0, np.inf, np.inf]), np.array([True, False, False]))
>>> [round(float(v), 6) for v in y]
[20.0, 33.333333, 66.666667]
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator
from typing import NamedTuple

import highspy
import numpy as np
from numpy.typing import NDArray

from critmin.engine.arrays import rowsum
from critmin.engine.arrays import safe_div as _safe_div
from critmin.engine.clearing import dust_free

Array = NDArray[np.float64]
Mask = NDArray[np.bool_]
_Option = bool | int | float | str
_INF = highspy.kHighsInf
_COLWISE = int(highspy.MatrixFormat.kColwise)
_MAXIMIZE = int(highspy.ObjSense.kMaximize)
#: absolute slack (in fill-rate units) on levels carried from one LP to the next: the solver's
#: answers are exact only to its feasibility tolerance (1e-10)
_SLACK = 2e-10
#: HiGHS presolve on the stacked LPs: off, by measurement. Speed (``benchmarks/bench_lp.py``: the
#: reference problem, 20 draws, one thread, medians of 5 runs with off and on interleaved, 2-core
#: machine under other load): off 20.6 and 24.6 draws/s, on 17.0 and 19.9, in two runs. Accuracy
#: (150,000 random rows, with orders, quotas and pools down to 1e-9 of the others next to them and
#: magnitudes from 1e-6 to 1e6, against ``clearing.clear_market`` at the engine tests' tolerance):
#: off, none outside it; on, 5 rows wrong (quotas about 1e-10 of the orders) and one call unsolved;
#: the earlier one-LP-per-row code (HiGHS's default presolve) failed the same way where both ran.
_PRESOLVE = "off"
#: HiGHS settings to retry a block with when it fails alone: rare (1 call in 3,000 random batches
#: with orders and quotas a millionth of those next to them, where the dual simplex stopped 4e-10
#: short of feasible); without HiGHS's own scaling it solved (``tests/test_lp_kernels.py``)
_RETRY: tuple[dict[str, _Option], ...] = ({"presolve": "on"}, {"simplex_scale_strategy": 0})
#: the most columns in one stacked LP (beyond, consecutive blocks go in several): a simplex solve
#: grows faster than its size; 1,000 rows of 13 buyers took 2.6 ms a row in one LP, 1.1-1.3 ms a
#: row in pieces of 500 to 5,000 columns
_MAX_COLS = 5000


_BANNER_LOCK = threading.Lock()


@contextlib.contextmanager
def silenced_stdout() -> Iterator[None]:
    """File descriptor 1 points to the null device meanwhile: HiGHS prints a banner from C when
    it is constructed, which would spoil a JSON document on standard output. Under a lock, or two
    threads could each save the other's redirection and lose stdout for good."""
    with _BANNER_LOCK:
        sys.stdout.flush()
        saved = os.dup(1)
        try:
            with open(os.devnull, "w") as devnull:
                os.dup2(devnull.fileno(), 1)
                yield
        finally:
            os.dup2(saved, 1)
            os.close(saved)


def _highs() -> highspy.Highs:
    with silenced_stdout():
        h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("primal_feasibility_tolerance", 1e-10)
    h.setOptionValue("dual_feasibility_tolerance", 1e-10)
    h.setOptionValue("presolve", _PRESOLVE)
    return h


_LOCAL = threading.local()


class _Model:
    """One HiGHS instance kept alive per thread (no construction and banner per solve); each solve
    passes the whole model.

    Changing only the data of a kept model (costs, bounds and the changed matrix entries) and
    starting from the previous basis was 1.2x faster in the one-LP-per-row version, but on orders
    of a few micro-tonnes next to tens of tonnes it returned wrong allocations or no solution (5 of
    3,000 random markets wrong, 25 unsolved;
    ``tests/test_engine.py::test_lp_kernels_agree_over_a_long_sequence``); passing the whole model
    gets every one right.
    """

    def __init__(self) -> None:
        self.h = _highs()

    def solve(self, lp: _Lp, options: dict[str, _Option] | None = None) -> Array | None:
        """The column values of ``lp`` (maximised), or None if HiGHS does not find an optimum;
        ``options`` apply to this solve only."""
        h = self.h
        h.clearModel()
        n_col, n_row = lp.cost.size, lp.row_lower.size
        # the array overload of passModel: about 25x faster to pass than a HighsLp built field by field
        status = h.passModel(n_col, n_row, lp.a_value.size, _COLWISE, _MAXIMIZE, 0.0, lp.cost, lp.col_lower,
                             lp.col_upper, lp.row_lower, lp.row_upper, lp.a_start, lp.a_index, lp.a_value,
                             np.zeros(n_col, dtype=np.int32))  # fmt: skip
        if status == highspy.HighsStatus.kError:
            raise RuntimeError("HiGHS rejected the allocation model")
        # a guard, not a budget: HiGHS's clock runs across solves on one instance
        h.setOptionValue("time_limit", h.getRunTime() + 30.0)
        saved = {k: h.getOptionValue(k)[1] for k in options or {}}
        try:
            for k, v in (options or {}).items():
                h.setOptionValue(k, v)
            h.run()
        finally:
            for k, v in saved.items():
                h.setOptionValue(k, v)
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        return np.asarray(h.getSolution().col_value, dtype=float)


class _Lp(NamedTuple):
    """A maximisation LP, column-wise (``a_start`` has one entry per column and the end)."""

    cost: Array
    col_lower: Array
    col_upper: Array
    row_lower: Array
    row_upper: Array
    a_start: NDArray[np.int32]
    a_index: NDArray[np.int32]
    a_value: Array


def _model() -> _Model:
    model: _Model | None = getattr(_LOCAL, "model", None)
    if model is None:
        model = _LOCAL.model = _Model()
    return model


def _flat(*arrays: object) -> list[Array]:
    return [np.asarray(x, dtype=float) for x in arrays]


# --- market clearing ---------------------------------------------------------------------------


def clear_market_lp(SE: Array, SO: Array, D: Array, u: Array, targeted: NDArray[np.bool_]) -> Array:
    """Lexicographic max-min fair deliveries: closed form where a row has no targeted buyer or its
    supply covers every order, batched progressive filling with HiGHS for the other rows."""
    SE, SO, D, u = _flat(SE, SO, D, u)
    SE, SO, D = dust_free(SE, SO, D)
    shape = D.shape
    n = shape[-1]
    se = np.broadcast_to(SE, shape[:-1]).reshape(-1)
    so = np.broadcast_to(SO, shape[:-1]).reshape(-1)
    d = D.reshape(-1, n)
    uu = np.broadcast_to(u, shape).reshape(-1, n)
    # a buyer restricted in the market: a target that orders something, under a finite quota
    tgt = np.broadcast_to(np.asarray(targeted, dtype=bool), shape).reshape(-1, n) & (d > 0) & (uu < np.inf)
    total = rowsum(d)
    # closed form: the common fill (rows without a target, rows with no supply, rows covered)
    y = np.minimum(1.0, _safe_div(se + so, total))[:, None] * d
    cap = np.where(tgt, np.minimum(np.maximum(uu, 0.0), d), d)
    covered = total <= so + np.minimum(se, rowsum(cap))
    hard = np.flatnonzero(tgt.any(-1) & ~covered & (se + so > 0))
    if hard.size:
        y[hard] = _progressive_filling(se[hard], so[hard], d[hard], uu[hard], tgt[hard])
    return y.reshape(shape)


class _Blocks(NamedTuple):
    """The rows of one stacked LP (one block each), every field with a leading block axis."""

    se: Array  # (b,) restricted pool's supply
    so: Array  # (b,) free pool's supply
    d: Array  # (b, n) orders (0 for a buyer not in the block)
    fcap: Array  # (b, n) most fill a buyer may take from the restricted pool
    fixed: Mask  # (b, n) frozen buyers
    fval: Array  # (b, n) their fill

    def take(self, i: NDArray[np.intp] | NDArray[np.bool_] | slice) -> _Blocks:
        """The blocks ``i`` (indices, a mask or a slice)."""
        return _Blocks(self.se[i], self.so[i], self.d[i], self.fcap[i], self.fixed[i], self.fval[i])


def _fill_lp(
    blk: _Blocks, floor: Array, top: Array, obj_fill: Array, obj_t: Array | None = None
) -> tuple[Array, Array, NDArray[np.bool_]]:
    """One stacked LP of the progressive filling, in fill-rate units; returns each buyer's fill
    ``(b, n)``, each block's ``t`` ``(b,)`` and whether each block was solved ``(b,)``.

    Per block: columns ``fE_j``, ``fO_j`` (buyer j's fill from each pool) and, given ``obj_t``
    (LP 1), ``t``. Rows: each pool's supply (``sum_j D_j fE_j <= SE``, scaled by the pool's
    supply); per buyer ``fill_j = fE_j + fO_j`` between ``floor`` and ``top`` (unfrozen) or its
    frozen value (with a hair of slack for the solver's tolerance); with ``t``, per unfrozen buyer
    ``fill_j - t >= 0``. Maximises ``obj_fill . fill (+ obj_t . t)`` summed over the blocks.
    """
    fill = np.zeros(blk.d.shape)
    t = np.zeros(blk.se.shape)
    ok = np.ones(blk.se.shape, dtype=bool)
    # consecutive blocks in pieces of about _MAX_COLS columns (one piece in all but huge calls)
    cols = 2 * np.count_nonzero(blk.d > 0, axis=-1) + (obj_t is not None)
    piece = (np.cumsum(cols) - cols) // _MAX_COLS
    for p in np.unique(piece):
        i = np.flatnonzero(piece == p)
        sl = slice(int(i[0]), int(i[-1]) + 1)
        ot = None if obj_t is None else obj_t[sl]
        fill[sl], t[sl], ok[sl] = _fill_piece(blk.take(sl), floor[sl], top[sl], obj_fill[sl], ot)
    return fill, t, ok


def _fill_piece(
    blk: _Blocks, floor: Array, top: Array, obj_fill: Array, obj_t: Array | None
) -> tuple[Array, Array, NDArray[np.bool_]]:
    """:func:`_fill_lp` on blocks stacked into one LP; if HiGHS does not solve it, block by block."""
    sol = _model().solve(_stacked(blk, floor, top, obj_fill, obj_t))
    if sol is not None:
        return *_unpack(sol, blk.d > 0), np.ones(blk.se.shape, dtype=bool)
    # numerically at the edge somewhere: every block alone, so one bad block spoils only itself
    fill = np.zeros(blk.d.shape)
    t = np.zeros(blk.se.shape)
    ok = np.ones(blk.se.shape, dtype=bool)
    for i in range(blk.se.size):
        one = blk.take(slice(i, i + 1))
        ot = None if obj_t is None else obj_t[i : i + 1]
        lp = _stacked(one, floor[i : i + 1], top[i : i + 1], obj_fill[i : i + 1], ot)
        sol = _model().solve(lp)
        for options in _RETRY:
            if sol is None:
                sol = _model().solve(lp, options)
        if sol is None:
            ok[i] = False
        else:
            f1, t1 = _unpack(sol, one.d > 0)
            fill[i], t[i] = f1[0], t1[0]
    return fill, t, ok


def _stacked(blk: _Blocks, floor: Array, top: Array, obj_fill: Array, obj_t: Array | None) -> _Lp:
    """The block-diagonal LP of :func:`_fill_lp`, column-wise.

    Layout with ``K`` (block, buyer) pairs in row-major order, ``L`` of them unfrozen: columns
    ``fE`` (K), ``fO`` (K), then ``t`` (one per block); rows: E pools (one per block), O pools,
    ``fill`` (K), then ``fill - t`` (L). Without ``obj_t`` there is no ``t`` and no ``fill - t``
    row (``t = 0`` would satisfy them all)."""
    b = blk.se.size
    bi, ji = np.nonzero(blk.d > 0)
    K = bi.size
    k = np.arange(K)
    dsum = rowsum(blk.d)
    scale_e = np.maximum(blk.se, 1e-6 * dsum)
    scale_o = np.maximum(blk.so, 1e-6 * dsum)
    dk = blk.d[bi, ji]
    fixed = blk.fixed[bi, ji]
    fval = blk.fval[bi, ji]
    fill_row = 2 * b + k
    ones = np.ones(K)
    # (column, row, value): fE_k in its E pool and fill rows, fO_k in its O pool and fill rows
    col = [k, k, K + k, K + k]
    row = [bi, fill_row, b + bi, fill_row]
    val = [dk / scale_e[bi], ones, dk / scale_o[bi], ones]
    n_col, row_lo, row_hi = 2 * K, [], []
    if obj_t is not None:
        # fill_k - t_r >= 0 for each unfrozen pair k of block r
        lk = np.flatnonzero(~fixed)
        link = 2 * b + K + np.arange(lk.size)
        col += [lk, K + lk, 2 * K + bi[lk]]
        row += [link, link, link]
        val += [np.ones(lk.size), np.ones(lk.size), -np.ones(lk.size)]
        n_col += b
        row_lo, row_hi = [np.zeros(lk.size)], [np.full(lk.size, _INF)]
    cols, rows, vals = np.concatenate(col), np.concatenate(row), np.concatenate(val)
    order = np.lexsort((rows, cols))
    start = np.concatenate([[0], np.cumsum(np.bincount(cols, minlength=n_col))])
    cost = [obj_fill[bi, ji], obj_fill[bi, ji]] + ([] if obj_t is None else [obj_t])
    # an empty pool sells nothing: its columns are fixed at 0 (left to its row alone, a buyer could
    # take up to the feasibility tolerance over the row's largest coefficient from it)
    upper = [np.where(blk.se[bi] > 0, blk.fcap[bi, ji], 0.0), np.where(blk.so[bi] > 0, _INF, 0.0)]
    upper += [] if obj_t is None else [np.ones(b)]
    return _Lp(
        cost=np.concatenate(cost).astype(float),
        col_lower=np.zeros(n_col),
        col_upper=np.concatenate(upper),
        row_lower=np.concatenate(
            [np.full(2 * b, -_INF), np.where(fixed, np.maximum(fval - _SLACK, 0.0), floor[bi]), *row_lo]
        ),
        row_upper=np.concatenate(
            [blk.se / scale_e, blk.so / scale_o, np.where(fixed, fval + _SLACK, top[bi, ji]), *row_hi]
        ),
        a_start=start.astype(np.int32),
        a_index=rows[order].astype(np.int32),
        a_value=vals[order],
    )


def _unpack(sol: Array, act: Mask) -> tuple[Array, Array]:
    bi, ji = np.nonzero(act)
    K = bi.size
    fill = np.zeros(act.shape)
    fill[bi, ji] = sol[:K] + sol[K : 2 * K]
    t = sol[2 * K :] if sol.size > 2 * K else np.zeros(act.shape[0])
    return fill, t


def _progressive_filling(se: Array, so: Array, d: Array, u: Array, tgt: Mask) -> Array:
    """Progressive filling over rows ``(m, n)``, every LP stacked over the rows still filling:
    raise the common fill of each row's unfrozen buyers (LP 1); freeze the buyers that cannot go
    above it (LP 2 finds those that can, LP 3 confirms each remaining one); repeat with the rest."""
    m, n = d.shape
    act = d > 0
    fcap = np.where(tgt, np.minimum(_safe_div(np.maximum(u, 0.0), d), 1.0), 1.0)
    fixed = ~act
    fval = np.zeros((m, n))
    tol = 1e-9
    rows = np.flatnonzero(~fixed.all(-1))
    while rows.size:
        blk = _Blocks(se[rows], so[rows], d[rows], fcap[rows], fixed[rows], fval[rows])
        b = rows.size
        live = ~blk.fixed
        obj_t = np.ones(b)
        fill1, t, ok = _fill_lp(blk, np.zeros(b), np.ones((b, n)), np.zeros((b, n)), obj_t)
        if not ok.all():
            bad = rows[~ok][0]
            raise RuntimeError(f"HiGHS did not solve the allocation model (fill LP, row {se[bad], so[bad], d[bad]})")
        # frozen buyers keep their fill in this solution: a feasible witness for every later LP
        witness = np.minimum(fill1, 1.0)
        used = t * rowsum(np.where(live, blk.d, 0.0)) + rowsum(np.where(blk.fixed & act[rows], blk.d * blk.fval, 0.0))
        done = (t >= 1 - tol) | (used >= (blk.se + blk.so) * (1 - tol))
        # everyone left is served in full, or all supply is used: no one can rise any further
        freeze = live & done[:, None]
        go = ~done
        if go.any():
            # LP 2: who can rise above t (each by at most a small step) with the others held at t?
            sub = blk.take(go)
            t_g = t[go]
            step = np.minimum(1e-3, (1 - t_g) / 2)
            floor = np.maximum(t_g - _SLACK, 0.0)  # the level just found, less the solver's tolerance
            live_g = live[go]
            top = np.broadcast_to((t_g + step)[:, None], live_g.shape)
            fill2, _, ok2 = _fill_lp(sub, floor, top, live_g.astype(float))
            fill2 = np.where(ok2[:, None], fill2, witness[go])  # at the edge: test every buyer with LP 3
            cand = live_g & ~(fill2 > (t_g + 1e-6 * step)[:, None])
            # LP 3: one block per (row, candidate): the most j alone can get with every other
            # unfrozen buyer of its row at t or more
            ci, cj = np.nonzero(cand)
            frozen = np.zeros(live_g.shape, dtype=bool)
            if ci.size:
                copies = sub.take(ci)
                obj = np.zeros((ci.size, n))
                obj[np.arange(ci.size), cj] = 1.0
                fill3, _, ok3 = _fill_lp(copies, floor[ci], np.ones((ci.size, n)), obj)
                best = np.where(ok3, fill3[np.arange(ci.size), cj], t_g[ci])
                frozen[ci, cj] = best <= t_g[ci] + 1e-9
            # numerical safety: where no one is confirmed, freeze the least-served buyer
            none = ~frozen.any(-1)
            if none.any():
                least = np.argmin(np.where(live_g, fill2, np.inf), -1)
                frozen[np.flatnonzero(none), least[none]] = True
            freeze[go] = frozen
        r_i, j_i = np.nonzero(freeze)
        fixed[rows[r_i], j_i] = True
        fval[rows[r_i], j_i] = witness[r_i, j_i]
        rows = rows[~fixed[rows].all(-1)]
    return fval * d


# --- closed forms ------------------------------------------------------------------------------


def restricted_sales_lp(SE: Array, SO: Array, y: Array, u: Array, targeted: NDArray[np.bool_]) -> tuple[Array, Array]:
    """The restricted pool's least and most possible sales in closed form (see the module
    docstring), then the sales rule (pro-rata share clipped to that range, split in proportion to
    each buyer's cap)."""
    SE, SO, y, u = _flat(SE, SO, y, u)
    SE, SO = np.maximum(SE, 0.0), np.maximum(SO, 0.0)
    tgt = np.broadcast_to(np.asarray(targeted, dtype=bool), y.shape)
    cap = np.where(tgt, np.minimum(np.maximum(u, 0.0), y), y)
    total, cap_sum = rowsum(y), rowsum(cap)
    lo = np.maximum(total - SO, 0.0)
    hi = np.minimum(SE, cap_sum)
    share = _safe_div(SE, SE + SO) * total
    e_sold = np.minimum(np.maximum(share, lo), hi)
    e = cap * _safe_div(e_sold, cap_sum)[..., None]
    return e, y - e


def priority_fill_lp(supply: Array, need: Array, priority: NDArray[np.int_]) -> Array:
    """Priority routing in closed form: each class's common fill is what the earlier classes leave,
    over its need, at most 1."""
    supply, need = _flat(supply, need)
    supply = np.maximum(supply, 0.0)
    need = np.maximum(need, 0.0)
    prio = np.broadcast_to(np.asarray(priority), need.shape)
    out = np.zeros(need.shape)
    before = np.zeros(supply.shape)  # total need of the classes served earlier
    for c in np.unique(prio):
        sel = prio == c
        n_c = rowsum(np.where(sel, need, 0.0))
        fill = np.minimum(1.0, _safe_div(np.maximum(supply - before, 0.0), n_c))
        out = np.where(sel, need * fill[..., None], out)
        before = before + n_c
    return out
