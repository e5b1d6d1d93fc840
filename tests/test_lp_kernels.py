"""The ``lp`` engine's kernels on their own: batched LPs against the fast closed forms, row by row
against batched, the closed forms against the LPs they replace, and which rows reach HiGHS."""

from __future__ import annotations

import highspy
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from critmin.engine import lp
from critmin.engine.clearing import clear_market, priority_fill, restricted_sales
from critmin.engine.lp import clear_market_lp, priority_fill_lp, restricted_sales_lp

KINDS = ["random", "random", "random", "zero_demand", "zero_supply", "all_targeted", "u0", "uinf", "tiny_orders"]


@st.composite
def rows(draw, max_rows=6):
    """A batch of markets (m rows, n buyers), each of one kind and scaled by its own magnitude."""
    n = draw(st.integers(1, 7))
    m = draw(st.integers(1, max_rows))
    fl = st.floats(0, 100, allow_nan=False).map(_no_dust)
    SE, SO, D, u, tg = np.zeros(m), np.zeros(m), np.zeros((m, n)), np.zeros((m, n)), np.zeros((m, n), dtype=bool)
    for r in range(m):
        kind = draw(st.sampled_from(KINDS))
        mag = 10.0 ** draw(st.integers(-6, 6))
        D[r] = [draw(fl) * draw(st.sampled_from([0, 1, 1, 1])) for _ in range(n)]
        u[r] = [draw(fl) * draw(st.sampled_from([0, 1, 1])) for _ in range(n)]
        tg[r] = [draw(st.booleans()) for _ in range(n)]
        SE[r], SO[r] = draw(fl), draw(fl) * draw(st.sampled_from([0, 1]))
        if kind == "zero_demand":
            D[r] = 0.0
        elif kind == "zero_supply":
            SE[r] = SO[r] = 0.0
        elif kind == "all_targeted":
            tg[r] = True
        elif kind == "u0":
            u[r] = 0.0
        elif kind == "uinf":
            u[r] = np.inf
        elif kind == "tiny_orders":  # micro-tonnes next to tens of tonnes
            D[r] *= np.where(np.arange(n) % 2 == 0, 1e-6, 1.0)
        SE[r], SO[r], D[r] = SE[r] * mag, SO[r] * mag, D[r] * mag
        u[r] = u[r] * mag
    return SE, SO, D, u, tg


def _no_dust(x: float) -> float:
    return 0.0 if x < 1e-6 else x


def _close(y: np.ndarray, y_lp: np.ndarray, D: np.ndarray) -> bool:
    """The engine tests' tolerance: 1e-6 relative plus 1e-9 of the row's total order."""
    scale = np.maximum(D.sum(-1, keepdims=True), 1e-300)
    return bool(np.all(np.abs(y - y_lp) <= 1e-6 * np.abs(y) + 1e-9 * scale))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows())
def test_batched_lp_matches_the_fast_closed_form(market):
    SE, SO, D, u, tg = market
    y, y_lp = clear_market(SE, SO, D, u, tg), clear_market_lp(SE, SO, D, u, tg)
    assert _close(y, y_lp, D), (SE, SO, D, u, tg, y, y_lp)
    e, o = restricted_sales(SE, SO, y, u, tg)
    e_lp, o_lp = restricted_sales_lp(SE, SO, y, u, tg)
    assert _close(e, e_lp, D) and _close(o, o_lp, D)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows(max_rows=8))
def test_batched_solve_gives_each_row_its_answer_alone(market):
    SE, SO, D, u, tg = market
    together = clear_market_lp(SE, SO, D, u, tg)
    alone = np.array([clear_market_lp(SE[r], SO[r], D[r], u[r], tg[r]) for r in range(D.shape[0])])
    scale = np.maximum(D.sum(-1, keepdims=True), 1e-300)
    assert np.all(np.abs(together - alone) <= 1e-9 * np.abs(alone) + 1e-9 * scale)


def test_batched_solve_over_many_hard_rows():
    """Fifty rows that all need the solver, with leading batch axes: the same answers as one by
    one and as the fast kernel, from a handful of LPs (one per step, not one per row)."""
    rng = np.random.default_rng(7)
    shape, n = (5, 10), 6
    D = rng.uniform(1, 100, (*shape, n)) * rng.choice([1e-3, 1.0, 1e3], (*shape, 1))
    tg = rng.random((*shape, n)) < 0.5
    tg[..., 0] = True
    u = rng.uniform(0, 0.5, (*shape, n)) * D
    SE = 0.5 * D.sum(-1) * rng.uniform(0.3, 1.0, shape)
    SO = 0.2 * D.sum(-1) * rng.uniform(0.0, 1.0, shape)
    calls = []
    solve = lp._Model.solve

    def counting(self, model):
        calls.append(model.cost.size)
        return solve(self, model)

    lp._Model.solve = counting
    try:
        y_lp = clear_market_lp(SE, SO, D, u, tg)
    finally:
        lp._Model.solve = solve
    assert len(calls) <= 3 * n  # at most three LPs per progressive-filling round
    assert _close(clear_market(SE, SO, D, u, tg), y_lp, D)
    alone = np.array([clear_market_lp(SE[i], SO[i], D[i], u[i], tg[i]) for i in np.ndindex(*shape)])
    assert np.allclose(y_lp.reshape(-1, n), alone, rtol=1e-9, atol=1e-9 * D.sum(-1).max())


def test_closed_form_rows_never_reach_highs(monkeypatch):
    """Rows without a targeted buyer that orders, rows whose supply covers every order and rows
    without supply are settled without the solver; so are the sales split and priority routing."""

    def fail(self, model):
        raise AssertionError("HiGHS called for a closed-form row")

    monkeypatch.setattr(lp._Model, "solve", fail)
    D = np.array([[50.0, 50.0, 100.0], [50.0, 50.0, 100.0], [50.0, 50.0, 100.0], [50.0, 0.0, 100.0], [0.0, 0, 0]])
    u = np.array([[0.0, 5, 5], [10.0, 0, 0], [0.0, 5, 5], [5.0, 1.0, np.inf], [1.0, 1, 1]])
    tg = np.array([[False] * 3, [True, False, False], [True] * 3, [False, True, False], [True] * 3])
    SE = np.array([100.0, 150.0, 0.0, 100.0, 10.0])
    SO = np.array([20.0, 50.0, 0.0, 20.0, 10.0])
    y = clear_market_lp(SE, SO, D, u, tg)
    assert np.allclose(y, clear_market(SE, SO, D, u, tg))
    assert np.allclose(y[0], 0.6 * D[0]) and np.allclose(y[1], D[1]) and np.all(y[2] == 0)
    # the only target orders nothing: the common fill
    assert np.allclose(y[3], 0.8 * D[3])
    restricted_sales_lp(SE, SO, y, u, tg)
    priority_fill_lp(np.array([10.0, 3.0]), np.array([[8.0, 4.0, 4.0], [1.0, 1.0, 5.0]]), np.array([1, 2, 2]))


def test_a_failed_stacked_lp_falls_back_to_each_row_alone(monkeypatch):
    """If HiGHS does not solve a stacked LP, its blocks are solved one by one with the same result."""
    rng = np.random.default_rng(11)
    D = rng.uniform(1, 100, (8, 4))
    tg = np.ones((8, 4), dtype=bool)
    u = rng.uniform(0, 0.3, (8, 4)) * D
    SE, SO = 0.6 * D.sum(-1), 0.1 * D.sum(-1)
    want = clear_market_lp(SE, SO, D, u, tg)
    solve = lp._Model.solve

    def stacked_fails(self, model):
        # a block of one row has at most 2 x 4 + 1 columns
        return None if model.cost.size > 9 else solve(self, model)

    monkeypatch.setattr(lp._Model, "solve", stacked_fails)
    got = clear_market_lp(SE, SO, D, u, tg)
    assert np.allclose(got, want, rtol=1e-9, atol=1e-9 * D.sum(-1).max())
    assert np.allclose(got, clear_market(SE, SO, D, u, tg), rtol=1e-6, atol=1e-9 * D.sum(-1).max())


def test_a_block_that_fails_alone_is_retried():
    """A batch found by fuzzing: on the fifth row (quotas a millionth of the orders next to them)
    HiGHS's dual simplex, alone or stacked, stopped 4e-10 short of feasible in a later round; the
    retries (presolve on, then HiGHS's scaling off) solve it and the answer is the fast kernel's."""
    inf = np.inf
    SE = np.array([3236.7609734947578, 198884.8602256443, 3585285.324234353, 0.2509669424468852, 592.7716802267103,
                   18.770868333929403])  # fmt: skip
    SO = np.array([354.3146434908362, 792619.5209203595, 5752186.4622534625, 0.0, 155.6536812944258, 80.93287514825145])
    D = np.array([
        [0.0, 1162.364463654545, 8048.059685088992, 0.0, 0.0036071823346098936, 2492.119992029419, 5007.303964605426],
        [0.0, 755337.6109700418, 0.5299980627881269, 833737.1735331094, 0.0, 0.0, 0.0],
        [0.0, 0.0, 9153572.248926988, 0.0, 8705378.512201874, 4635909.602692983, 1571949.1972253486],
        [0.1720391513320091, 0.30488515338631217, 0.4368326077994177, 0.12468689064338424, 0.0, 0.47527883027637197,
         0.3298821951801296],
        [240.2051896550471, 0.0002961948251513254, 533.0533529666758, 0.0, 777.1110325940465, 652.7509360506583,
         0.0004458300040665076],
        [31.144235874920422, 85.87828207075194, 45.71444437713602, 68.15153330637446, 4.777220378751446,
         7.08114892928641e-05, 2.5020465269289426e-05],
    ])  # fmt: skip
    u = np.array([
        [5481.572538107654, 1103.5623625397218, 5716.577826751033, 636.9084278982307, 5774.815753088951,
         3608.5179956720203, 9964.705741176047],
        [0.0, 987356.2515938763, 536086.2713629411, 688710.6127725461, 0.0, 494133.270948989, 0.0],
        [inf, 1225806.4105805156, inf, 5233982.490251434, 0.0, 0.0, 0.0],
        [0.517511124811938, 0.2745543393871638, 0.4603254216310765, inf, 0.0579002434469823, 0.023686297619839092, inf],
        [4.966897296188488e-05, 0.0, 0.0008020301975384277, 0.00010956799573927622, 0.0005006958307267234, 0.0,
         0.0008629524135782467],
        [8.024388857624002e-05, 0.0, 0.0, 6.492353411351832e-05, inf, 0.0, 7.360896738688005e-05],
    ])  # fmt: skip
    tg = np.array([[0, 0, 1, 0, 1, 0, 1], [1, 1, 0, 0, 1, 1, 0], [1, 0, 1, 1, 1, 1, 1], [0, 1, 0, 1, 0, 1, 0],
                   [0, 1, 1, 0, 1, 0, 1], [1, 1, 1, 0, 0, 1, 1]], dtype=bool)  # fmt: skip
    assert _close(clear_market(SE, SO, D, u, tg), clear_market_lp(SE, SO, D, u, tg), D)


def _range_lp(se: float, so: float, y: np.ndarray, cap: np.ndarray) -> tuple[float, float]:
    """The least and the most the restricted pool can sell for deliveries ``y``, by two LPs in
    units of the total delivery (columns xE, xO per buyer; xE + xO = y, xE <= cap, sum xE <= SE,
    sum xO <= SO, each pool with a 1e-9 share of the two pools' total as slack)."""
    n, scale = y.size, float(y.sum())
    y, cap, se, so = y / scale, cap / scale, se / scale, so / scale
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("primal_feasibility_tolerance", 1e-10)
    h.setOptionValue("dual_feasibility_tolerance", 1e-10)
    h.addVars(2 * n, np.zeros(2 * n), np.concatenate([cap, np.full(n, highspy.kHighsInf)]))
    for j in range(n):
        h.addRow(y[j], y[j], 2, np.array([j, n + j], dtype=np.int32), np.ones(2))
    slack = 1e-9 * (se + so)
    h.addRow(-highspy.kHighsInf, se + slack, n, np.arange(n, dtype=np.int32), np.ones(n))
    h.addRow(-highspy.kHighsInf, so + slack, n, np.arange(n, 2 * n, dtype=np.int32), np.ones(n))
    out = []
    for sense in (highspy.ObjSense.kMinimize, highspy.ObjSense.kMaximize):
        h.changeColsCost(n, np.arange(n, dtype=np.int32), np.ones(n))
        h.changeObjectiveSense(sense)
        h.run()
        assert h.getModelStatus() == highspy.HighsModelStatus.kOptimal
        out.append(float(np.sum(h.getSolution().col_value[:n])) * scale)
    return out[0], out[1]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows(max_rows=3))
def test_sales_range_closed_form_is_the_lp_range(market):
    """The restricted pool's sales lie in [max(sum y - SO, 0), min(SE, sum cap)], the two LPs'
    answers: where the share is clipped, the sales are those LP bounds."""
    SE, SO, D, u, tg = market
    y = clear_market(SE, SO, D, u, tg)
    e, _ = restricted_sales_lp(SE, SO, y, u, tg)
    for r in range(D.shape[0]):
        if y[r].sum() <= 0:
            assert np.all(e[r] == 0)
            continue
        cap = np.where(tg[r], np.minimum(np.maximum(u[r], 0.0), y[r]), y[r])
        lo, hi = _range_lp(SE[r], SO[r], y[r], cap)
        tol = 1e-8 * (SE[r] + SO[r] + y[r].sum())  # the LPs' slack and tolerance
        assert lo == pytest.approx(max(y[r].sum() - SO[r], 0.0), rel=1e-6, abs=tol)
        assert hi == pytest.approx(min(SE[r], cap.sum()), rel=1e-6, abs=tol)
        share = SE[r] / (SE[r] + SO[r]) * y[r].sum()
        assert e[r].sum() == pytest.approx(min(max(share, lo), hi), rel=1e-6, abs=tol)


@settings(max_examples=100, deadline=None)
@given(
    st.integers(1, 6).flatmap(
        lambda n: st.tuples(
            st.lists(st.floats(0, 1e6, allow_nan=False).map(_no_dust), min_size=2, max_size=2),
            st.lists(st.floats(0, 1e3, allow_nan=False).map(_no_dust), min_size=2 * n, max_size=2 * n),
            st.lists(st.integers(1, 3), min_size=n, max_size=n),
        )
    )
)
def test_priority_closed_form_matches_fast(data):
    supply, need, prio = data
    n = len(prio)
    supply, need, prio = np.array(supply) * 1e-3, np.array(need).reshape(2, n), np.array(prio)
    got, want = priority_fill_lp(supply, need, prio), priority_fill(supply, need, prio)
    assert np.allclose(got, want, rtol=1e-12, atol=1e-12)
    assert np.all(got <= need + 1e-12) and np.all(got.sum(-1) <= supply * (1 + 1e-12) + 1e-12)


def test_priority_by_hand():
    got = priority_fill_lp(np.array([10.0, 0.0, 20.0]), np.array([[8.0, 4.0, 4.0]] * 3), np.array([1, 2, 2]))
    assert np.allclose(got, [[8.0, 1.0, 1.0], [0.0, 0.0, 0.0], [8.0, 4.0, 4.0]])
