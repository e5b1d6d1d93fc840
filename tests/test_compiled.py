"""The compiled engine (numba month loop) against the numpy reference (``fast``): same numbers to
1e-9 relative on every built-in, in both modes, on random networks with every kind of event, and
draw by draw in Monte Carlo batches; its row kernels against the batched closed forms."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from critmin.engine import build_network, compile_scenario, simulate
from critmin.engine.clearing import clear_market, priority_fill, restricted_sales
from critmin.engine.compiled import with_mode
from critmin.engine.month_loop import warm_up
from critmin.engine.rows import clear_row, priority_row, sales_row
from critmin.risk import run_ensemble
from critmin.sampling import apply_draws, sample
from critmin.scenario import builtin_names, load_scenario, parse_scenario
from test_engine import random_chain

RTOL = 1e-9
PRICES = ("spot_price", "paid_price", "price")


@pytest.fixture(scope="module")
def chain(built_store):
    from critmin.chain import SupplyChain

    return SupplyChain.from_store(built_store)


def assert_same(a, b, rtol: float = RTOL) -> None:
    """Every array of two simulate() results agrees to ``rtol`` relative: tonnes against the
    material's largest monthly flow or demand (a flow that should be zero may carry rounding dust
    of that size), price indices against their own size."""
    assert len(a) == len(b)
    for ga, gb in zip(a, b, strict=True):
        M = ga.received.shape[2]
        scale = np.array(
            [max(np.abs(ga.received[:, :, m]).max(), np.abs(ga.demand[:, :, m]).max(), 1e-300) for m in range(M)]
        )
        for f in ga.__dataclass_fields__:
            if f == "summary":
                continue
            x, y = getattr(ga, f), getattr(gb, f)
            assert x.shape == y.shape, f
            sc = 1.0 if f in PRICES else scale.reshape((1, 1, M) + (1,) * (x.ndim - 3))
            assert np.all(np.abs(x - y) <= rtol * (sc + np.abs(x))), f"{f}: {np.abs(x - y).max()}"
        for f in ga.summary.__dataclass_fields__:
            x = np.asarray(getattr(ga.summary, f), dtype=float)
            y = np.asarray(getattr(gb.summary, f), dtype=float)
            assert x.shape == y.shape, f
            if f == "first_short":
                assert np.array_equal(x, y), f
                continue
            tol = rtol * (np.abs(x) + (np.abs(x).max() if x.size else 0.0))
            assert np.all(np.abs(x - y) <= tol), f"summary.{f}: {np.abs(x - y).max() if x.size else 0}"


def test_warm_up_compiles_once_and_then_is_quick():
    import time

    warm_up()
    t = time.perf_counter()
    warm_up()
    assert time.perf_counter() - t < 5.0


@pytest.mark.parametrize("mode", ["market", "coordinated"])
@pytest.mark.parametrize("name", builtin_names())
def test_compiled_equals_numpy_on_builtins(chain, name, mode):
    net = build_network(chain)
    lv = with_mode(compile_scenario(load_scenario(name), net, chain.blocs, chain), mode)
    assert_same(simulate(net, lv, "fast"), simulate(net, lv, "compiled"))
    # summaries only (the Monte Carlo path): the same totals
    monthly = [("Nd", "USA"), ("Dy", "JPN")]
    a = simulate(net, lv, "fast", full=False, monthly=monthly)
    b = simulate(net, lv, "compiled", full=False, monthly=monthly)
    assert_same(a, b)
    # the defence shortfall alone, month by month (what the stockpile lever sizes against)
    a = simulate(net, lv, "fast", full=False, monthly=monthly, monthly_sector="defence")
    b = simulate(net, lv, "compiled", full=False, monthly=monthly, monthly_sector="defence")
    assert_same(a, b)


#: extra events for the random networks: a second exporter's licensing control, a project, a
#: coalition member's stockpile at the first stage, an uncertain-free second outage
EXTRA = """
[[project]]
region = "USA"
materials = ["Dy"]
stage = "{stage}"
capacity_t_per_yr = {cap:.1f}
start = "2026-02"
ramp_months = {ramp}
[[stockpile]]
holder = "JPN"
material = "Dy"
stage = "{first}"
tonnes = {tonnes:.2f}
max_release_t_per_month = {rel:.2f}
"""


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**31 - 1), st.sampled_from(["market", "coordinated"]), st.booleans())
def test_random_networks_compiled_equals_numpy(seed, mode, extra):
    chain, text = random_chain(seed)
    if extra:
        rng = np.random.default_rng(seed + 1)
        stages = list(chain.production["stage"].unique())
        order = [s for s in ("mine", "separation", "metal", "magnet") if s in stages]
        text += EXTRA.format(
            stage=order[-1], cap=float(rng.uniform(1, 400)), ramp=int(rng.integers(0, 4)), first=order[0],
            tonnes=float(rng.uniform(0, 30)), rel=float(rng.uniform(0, 8)),
        )  # fmt: skip
    s = parse_scenario(text)
    net = build_network(chain)
    lv = with_mode(compile_scenario(s, net, chain.blocs, chain), mode)
    assert_same(simulate(net, lv, "fast"), simulate(net, lv, "compiled"))


UNCERTAIN = [
    {"field": "disruption[0].severity", "dist": "uniform", "low": 0.0, "high": 1.0},
    {"field": "disruption[0].months", "dist": "triangular", "low": 1, "mode": 6, "high": 14},
    {"field": "disruption[0].start_shift", "dist": "uniform", "low": 0, "high": 6},
    {"field": "disruption[0].compliance", "dist": "uniform", "low": 0.0, "high": 1.0},
    {"field": "demand.growth_pct_per_yr", "dist": "normal", "mean": 3, "sd": 2, "low": -10, "high": 20},
    {"field": "demand.elasticity.automotive", "dist": "uniform", "low": -0.6, "high": 0.0},
    {"field": "ramp_up.scale", "dist": "uniform", "low": 0.0, "high": 3.0},
]


@pytest.mark.parametrize("mode", ["market", "coordinated"])
def test_monte_carlo_batches_agree_draw_by_draw(chain, mode):
    s = load_scenario("china-embargo-framework-12m").with_changes(uncertain=UNCERTAIN)
    net = build_network(chain)
    base = with_mode(compile_scenario(s, net, chain.blocs, chain), mode)
    lv = apply_draws(base, s, sample(s, 0, 24), 24)
    monthly = [("Nd", "USA"), ("Y", "JPN"), ("Ga", "EU")]
    assert_same(simulate(net, lv, "fast", full=False, monthly=monthly), simulate(net, lv, "compiled", False, monthly))


def test_licensing_stockpiles_and_outages_in_one_batch(chain):
    # apr2025-heavy-ree has licensing, a blocked SmCo line and several exporters' events; add a
    # stockpile and an outage with uncertain sizes
    s = load_scenario("apr2025-heavy-ree")
    extra = parse_scenario(
        """
name = "x"
start = "2025-04"
months = 12
[[stockpile]]
holder = "JPN"
material = "Dy"
stage = "magnet"
tonnes = 40
max_release_t_per_month = 5
[[outage]]
region = "MYS"
stage = "separation"
capacity_lost = 0.5
start = "2025-05"
months = 3
"""
    )
    s = s.with_changes(
        stockpile=extra.stockpile,
        outage=extra.outage,
        uncertain=[
            {"field": "stockpile[0].tonnes", "dist": "uniform", "low": 0, "high": 200},
            {"field": "outage[0].capacity_lost", "dist": "uniform", "low": 0, "high": 1},
            {"field": "disruption[0].approval_share", "dist": "uniform", "low": 0, "high": 1},
            {"field": "disruption[0].processing_months", "dist": "uniform", "low": 0, "high": 4},
        ],
    )
    net = build_network(chain)
    for mode in ("market", "coordinated"):
        base = with_mode(compile_scenario(s, net, chain.blocs, chain), mode)
        lv = apply_draws(base, s, sample(s, 0, 16), 16)
        assert_same(simulate(net, lv, "fast"), simulate(net, lv, "compiled"))


def test_a_draw_gives_the_same_bits_alone_or_in_a_batch(chain):
    s = load_scenario("china-embargo-framework-12m").with_changes(uncertain=UNCERTAIN)
    net = build_network(chain)
    base = compile_scenario(s, net, chain.blocs, chain)
    whole = simulate(net, apply_draws(base, s, sample(s, 0, 12), 12), "compiled", full=False)
    for k in (0, 5, 11):
        alone = simulate(net, apply_draws(base, s, sample(s, k, 1), 1), "compiled", full=False)
        for gw, ga in zip(whole, alone, strict=True):
            assert np.array_equal(gw.summary.delivered[k], ga.summary.delivered[0])
            assert np.array_equal(gw.summary.peak_price[k], ga.summary.peak_price[0])


def test_ensembles_agree_between_compiled_and_numpy_and_across_threads(chain):
    s = load_scenario("china-embargo-framework-12m").with_changes(uncertain=UNCERTAIN[:3])
    fast = run_ensemble(s, chain, 40, seed=3, engine="fast", chunk=13)
    comp = run_ensemble(s, chain, 40, seed=3, engine="compiled", chunk=7, threads=2)
    comp_one = run_ensemble(s, chain, 40, seed=3, engine="compiled", chunk=40, threads=1)
    a, b = fast["shortfall_t"].values.astype(float), comp["shortfall_t"].values.astype(float)
    scale = fast["demand_t"].values.astype(float)
    assert np.all(np.abs(a - b) <= 1e-6 * scale + 1e-3)  # float32 summaries
    assert np.array_equal(comp["shortfall_t"].values, comp_one["shortfall_t"].values)
    assert np.array_equal(comp["peak_price_index"].values, comp_one["peak_price_index"].values)


# -- row kernels against the batched closed forms --------------------------------------------


@st.composite
def rows(draw):
    n = draw(st.integers(1, 9))
    mag = 10.0 ** draw(st.integers(-6, 6))
    floats = st.floats(0, 1, allow_nan=False).map(lambda v: 0.0 if v < 1e-9 else v)
    D = np.array([draw(floats) for _ in range(n)]) * mag
    zero = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    D[np.array(zero)] = 0.0
    u = np.array([draw(st.sampled_from([0.0, np.inf, draw(floats) * mag])) for _ in range(n)])
    tgt = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    se, so = draw(floats) * mag * n, draw(floats) * mag * n * draw(st.sampled_from([0.0, 0.1, 1.0]))
    return se, so, D, u, tgt


@settings(max_examples=300, deadline=None)
@given(rows())
def test_row_kernels_equal_the_batched_closed_forms(row):
    se, so, D, u, tgt = row
    n = D.size
    y_ref = clear_market(np.array(se), np.array(so), D, u, tgt)
    y, w, order = np.zeros(n), np.zeros((8, n)), np.zeros(n, dtype=np.int64)
    clear_row(se, so, D, u, tgt, y, w, order)
    scale = D.sum() + se + so + 1e-300
    assert np.all(np.abs(y - y_ref) <= 1e-12 * scale), (y, y_ref)
    e_ref, _ = restricted_sales(np.array(se), np.array(so), y_ref, u, tgt)
    e = np.zeros(n)
    sales_row(se, so, y_ref, u, tgt, e)
    assert np.all(np.abs(e - e_ref) <= 1e-12 * scale)
    prio = np.array([1 + (j % 3) for j in range(n)], dtype=np.int64)
    p_ref = priority_fill(np.array(se), D, prio)
    p = np.zeros(n)
    priority_row(se, D, prio, np.unique(prio), p)
    assert np.all(np.abs(p - p_ref) <= 1e-12 * scale)
