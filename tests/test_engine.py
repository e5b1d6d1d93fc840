"""The disruption engine: hand-checked allocations, mass balance, monotonicity, modes, and the
agreement of the fast engine with the HiGHS reference on the built-ins and random networks."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from critmin.chain import SupplyChain
from critmin.engine import build_network, compile_scenario, run_scenario, simulate
from critmin.engine.clearing import clear_market, priority_fill, restricted_sales
from critmin.engine.lp import clear_market_lp, priority_fill_lp, restricted_sales_lp
from critmin.errors import UserError
from critmin.scenario import builtin_names, load_scenario, parse_scenario

PARTNERS = ["USA", "JPN", "AUS", "MYS"]


@pytest.fixture(scope="module")
def chain(built_store) -> SupplyChain:
    return SupplyChain.from_store(built_store)


# -- the allocation kernels -------------------------------------------------------------------


def test_clearing_by_hand():
    # 100 t from the restricted exporter, 20 t from others; the target (50 t) may take nothing
    # from the exporter; two free buyers want 50 and 100 t. The target gets all 20 t of the other
    # supply (diversion); the 100 t of the exporter goes to the free buyers at equal fill 2/3.
    y = clear_market(np.array(100.0), np.array(20.0), np.array([50.0, 50.0, 100.0]),
                     np.array([0.0, np.inf, np.inf]), np.array([True, False, False]))  # fmt: skip
    assert y == pytest.approx([20.0, 100 / 1.5 * 0.5, 100 / 1.5])
    # without the restriction everyone gets the same fill 120/200
    y0 = clear_market(np.array(100.0), np.array(20.0), np.array([50.0, 50.0, 100.0]),
                      np.array([0.0, np.inf, np.inf]), np.array([False, False, False]))  # fmt: skip
    assert y0 == pytest.approx([30.0, 30.0, 60.0])


def test_clearing_quota_binds_only_when_short():
    # plenty of other supply: the restriction does not cost the target anything
    y = clear_market(np.array(50.0), np.array(100.0), np.array([40.0, 60.0]), np.array([0.0, np.inf]),
                     np.array([True, False]))  # fmt: skip
    assert y == pytest.approx([40.0, 60.0])


def test_priority_fill_by_hand():
    got = priority_fill(np.array(10.0), np.array([8.0, 4.0, 4.0]), np.array([1, 2, 2]))
    assert got == pytest.approx([8.0, 1.0, 1.0])
    assert priority_fill_lp(np.array(10.0), np.array([8.0, 4.0, 4.0]), np.array([1, 2, 2])) == pytest.approx(got)


@st.composite
def markets(draw):
    n = draw(st.integers(1, 7))
    fl = st.floats(0, 100, allow_nan=False).map(lambda x: 0.0 if x < 1e-6 else x)
    D = np.array([draw(fl) * draw(st.sampled_from([0, 1, 1, 1])) for _ in range(n)])
    tg = np.array([draw(st.booleans()) for _ in range(n)])
    u = np.array([draw(fl) * draw(st.sampled_from([0, 1, 1])) for _ in range(n)])
    return draw(fl), draw(fl) * draw(st.sampled_from([0, 1])), D, u, tg


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(markets())
def test_fast_kernel_matches_highs(market):
    se, so, D, u, tg = market
    y = clear_market(np.array(se), np.array(so), D, u, tg)
    y_lp = clear_market_lp(np.array(se), np.array(so), D, u, tg)
    scale = max(D.sum(), 1e-300)
    assert np.all(np.abs(y - y_lp) <= 1e-6 * np.abs(y) + 1e-9 * scale)
    # feasibility: within orders, within supply, quotas respected
    assert np.all(y <= D + 1e-9 * scale) and np.all(y >= -1e-12)
    e, o = restricted_sales(np.array(se), np.array(so), y, u, tg)
    e_lp, _ = restricted_sales_lp(np.array(se), np.array(so), y, u, tg)
    assert np.allclose(e, e_lp, rtol=1e-6, atol=1e-9 * scale)
    assert e.sum() <= se * (1 + 1e-9) + 1e-9 and o.sum() <= so * (1 + 1e-9) + 1e-9
    assert np.all(np.where(tg, e <= u * (1 + 1e-9) + 1e-9, True))
    # efficiency: nothing is left unsold while someone who may buy it is short
    short = D - y > 1e-7 * scale
    if (short & ~tg).any():
        assert se + so - y.sum() <= 1e-7 * max(scale, se + so)


def test_lp_kernels_agree_over_a_long_sequence():
    """One HiGHS instance per LP structure serves a long run of different markets (tens of tonnes
    next to micro-tonnes): every answer must still be the fast kernel's. Re-solving a kept model
    warm, with only its changed data passed, got 5 of 3,000 such markets wrong and failed on 25 (in
    this sequence of 1,200: market 875 wrong, and unsolved ones before it)."""
    rng = np.random.default_rng(0)
    for _ in range(1200):
        n = 3
        D = rng.uniform(0, 100, n) * rng.choice([0, 1, 1, 1], n)
        u = rng.uniform(0, 100, n) * rng.choice([0, 1, 1], n)
        if rng.random() < 0.3:
            u = u * 1e-6
        if rng.random() < 0.3:
            D = D * np.where(rng.random(n) < 0.3, 1e-6, 1)
        tg = rng.random(n) < 0.5
        se, so = np.array(rng.uniform(0, 100)), np.array(rng.uniform(0, 100) * rng.choice([0, 1]))
        y, y_lp = clear_market(se, so, D, u, tg), clear_market_lp(se, so, D, u, tg)
        scale = max(D.sum(), 1e-300)
        assert np.all(np.abs(y - y_lp) <= 1e-6 * np.abs(y) + 1e-9 * scale), (se, so, D, u, tg, y, y_lp)


def test_lp_keeps_one_highs_instance_per_thread():
    """The lp engine re-solves on one kept HiGHS instance per thread (no construction per LP)."""
    import threading

    from critmin.engine import lp

    D = np.array([[50.0, 50.0, 100.0], [10.0, 80.0, 30.0]])
    u = np.array([[0.0, np.inf, np.inf], [5.0, np.inf, np.inf]])
    tg = np.array([[True, False, False], [True, False, False]])
    y1 = clear_market_lp(np.array([100.0, 60.0]), np.array([20.0, 10.0]), D, u, tg)
    model = lp._LOCAL.model
    y2 = clear_market_lp(np.array([100.0, 60.0]), np.array([20.0, 10.0]), D, u, tg)
    assert lp._LOCAL.model is model  # the same HiGHS instance, not a rebuilt one
    other: list[object] = []
    t = threading.Thread(target=lambda: (clear_market_lp(np.array(1.0), np.array(0.0), D[0], u[0], tg[0]),
                                         other.append(lp._LOCAL.model)))  # fmt: skip
    t.start()
    t.join()
    assert other and other[0] is not model  # another thread has its own
    assert np.allclose(y1, y2, rtol=1e-9, atol=1e-9)
    assert np.allclose(y1, clear_market(np.array([100.0, 60.0]), np.array([20.0, 10.0]), D, u, tg), atol=1e-7)


def test_kernels_are_batched():
    rng = np.random.default_rng(3)
    D = rng.uniform(0, 10, (4, 5, 6))
    tg = rng.random((4, 5, 6)) < 0.4
    u = rng.uniform(0, 5, (4, 5, 6))
    se, so = rng.uniform(0, 30, (4, 5)), rng.uniform(0, 10, (4, 5))
    batched = clear_market(se, so, D, u, tg)
    for i in range(4):
        for j in range(5):
            assert batched[i, j] == pytest.approx(clear_market(se[i, j], so[i, j], D[i, j], u[i, j], tg[i, j]))


def test_a_row_clears_to_the_same_bits_whatever_its_batch():
    """Monte Carlo reproducibility across chunk sizes rests on this: a row's result may not
    depend on which other rows share its batch (different targets, zeros, sizes). The markets are
    tight (quotas bind), where an earlier version differed in the last bit in a quarter of rows."""
    for seed in range(3):
        rng = np.random.default_rng(seed)
        n_rows, n = 300, 13
        D = rng.lognormal(0, 1, (n_rows, n)) * (rng.random((n_rows, n)) < 0.8)
        tg = rng.random((n_rows, n)) < rng.uniform(0, 0.6, (n_rows, 1))
        u = rng.uniform(0, 0.3, (n_rows, n)) * D
        se = D.sum(1) * rng.uniform(0.3, 1.2, n_rows)
        so = D.sum(1) * rng.uniform(0.0, 0.3, n_rows)
        whole = clear_market(se, so, D, u, tg)
        e_whole, _ = restricted_sales(se, so, whole, u, tg)
        for lo, hi in [(i, i + 1) for i in range(n_rows)] + [(17, 90), (90, 300), (3, 7)]:
            part = clear_market(se[lo:hi], so[lo:hi], D[lo:hi], u[lo:hi], tg[lo:hi])
            assert np.array_equal(part, whole[lo:hi]), (seed, lo, hi)
            e_part, _ = restricted_sales(se[lo:hi], so[lo:hi], part, u[lo:hi], tg[lo:hi])
            assert np.array_equal(e_part, e_whole[lo:hi]), (seed, lo, hi)


# -- whole runs on the shipped data -----------------------------------------------------------


def _agree(a, b) -> None:
    """Every output of two runs agrees to 1e-6 relative (plus 1e-9 of the material's monthly demand);
    price indices to 1e-6 x 10 relative: a spot index is fill ** (1 / elasticity), which magnifies a
    relative difference in fill by 1 / |elasticity| (10 at the default -0.1)."""
    scale = a.dataset["demand_t"].sum(("region", "sector")).max("month")
    for v in a.dataset.data_vars:
        x, y = a.dataset[v], b.dataset[v]
        both_nan = np.isnan(x) & np.isnan(y)
        if v.endswith("_index"):
            ok = (abs(x - y) <= 1e-5 * abs(x) + 1e-12) | both_nan
        else:
            ok = (abs(x - y) <= 1e-6 * abs(x) + 1e-9 * scale) | both_nan
        assert bool(ok.all()), f"{v}: fast and lp differ by up to {float(abs(x - y).max())}"


@pytest.mark.parametrize("mode", ["market", "coordinated"])
@pytest.mark.parametrize("name", builtin_names())
def test_lp_and_fast_agree_on_builtins(chain, name, mode):
    s = load_scenario(name)
    _agree(run_scenario(s, chain, "fast", mode), run_scenario(s, chain, "lp", mode))


BASELINE = """
name = "baseline"
start = "2024-01"
months = 12
"""


def test_no_disruption_no_shortfall_in_base_year(chain):
    res = run_scenario(parse_scenario(BASELINE), chain)
    ds = res.dataset
    assert float(ds["shortfall_t"].max()) <= 1e-9 * float(ds["demand_t"].max())
    assert np.allclose(ds["price_index"], 1.0)
    # demand is the base-year table, month by month
    dem = chain.demand
    nd = dem[(dem.material == "Nd") & (dem.year == 2024)].demand_t_per_yr.sum()
    assert float(ds["demand_t"].sel(material="Nd").sum()) == pytest.approx(nd, rel=1e-12)
    # utilisation stays at the base-year 0.85 and stocks at their targets
    util = ds["utilisation"].where(ds["capacity_t"] > 0)
    assert float(util.max()) == pytest.approx(0.85, rel=1e-9)


@pytest.mark.parametrize("name", builtin_names())
def test_mass_balance(chain, name):
    """delivered + shortfall = demand; output within capacity; no negative stock; every tonne
    sold by producers is received by buyers and every tonne received is used or stocked."""
    s = load_scenario(name)
    net = build_network(chain, s.regions)
    lv = compile_scenario(s, net, chain.blocs)
    for g, r in zip(net.groups, simulate(net, lv), strict=True):
        tol = 1e-9 * g.demand0.sum()
        assert np.all(r.delivered >= -tol) and np.all(r.delivered <= r.demand + tol)
        assert np.all(r.production <= r.capacity + tol)
        for stock in (r.inventory, r.unsold, r.stockpile):
            assert np.all(stock >= -tol)
        K = len(g.stages)
        prev_unsold = np.concatenate([np.zeros_like(r.unsold[:, :1]), r.unsold[:, :-1]], 1)
        init_inv = lv.inv_months[net.groups.index(g)] * g.need0
        prev_inv = np.concatenate([np.broadcast_to(init_inv, r.inventory[:, :1].shape), r.inventory[:, :-1]], 1)
        init_sp = np.zeros_like(r.stockpile[:, 0])
        for sp in lv.stockpiles:
            if net.groups[sp.group] is g:
                init_sp[:, sp.material, sp.stage, sp.holder] += sp.tonnes
        prev_sp = np.concatenate([init_sp[:, None], r.stockpile[:, :-1]], 1)
        released = (prev_sp - r.stockpile).sum(-1)  # (B, T, M, K)
        # sellers: output + old unsold = sold (= received by buyers) + new unsold
        sold = (r.production + prev_unsold - r.unsold).sum(-1)
        assert np.allclose(sold, r.received.sum(-1), atol=tol)
        # buyers: received + old stock + stockpile release = used + new stock
        used = (r.received + prev_inv - r.inventory).sum(-1) + released
        for k in range(K - 1):
            assert np.allclose(
                used[..., k] * g.yield_[None, None, :, k + 1], r.production[:, :, :, k + 1].sum(-1), atol=tol
            )
        assert np.allclose(used[..., K - 1], r.delivered.sum((-1, -2)), atol=tol)


def _total_short(chain, text: str, **changes) -> float:
    s = parse_scenario(text)
    if changes:
        s = s.with_changes(**changes)
    return float(run_scenario(s, chain).dataset["shortfall_t"].sum())


EMBARGO = """
name = "embargo"
start = "2026-01"
months = 24
[[disruption]]
exporter = "CHN"
materials = ["Nd", "Pr", "Dy", "Tb"]
stages = ["separation", "metal", "magnet"]
targets = ["framework", "EU"]
severity = {severity}
start = "2026-01"
months = {months}
[[stockpile]]
holder = "USA"
material = "Dy"
stage = "magnet"
tonnes = {tonnes}
max_release_t_per_month = 50
"""


def test_higher_severity_never_lowers_shortfall(chain):
    shorts = [_total_short(chain, EMBARGO.format(severity=s, months=9, tonnes=0)) for s in (0.0, 0.3, 0.6, 0.9, 1.0)]
    assert shorts[0] == pytest.approx(0.0, abs=1e-6)
    assert all(b >= a - 1e-6 for a, b in itertools.pairwise(shorts)), shorts
    assert shorts[-1] > shorts[2] > 0  # a mild restriction can be absorbed entirely by diversion


def test_longer_disruption_never_lowers_shortfall(chain):
    shorts = [_total_short(chain, EMBARGO.format(severity=0.8, months=m, tonnes=0)) for m in (1, 3, 6, 12, 18)]
    assert all(b >= a - 1e-6 for a, b in itertools.pairwise(shorts)), shorts
    assert shorts[-1] > shorts[0]


def test_larger_stockpile_never_raises_shortfall(chain):
    shorts = [_total_short(chain, EMBARGO.format(severity=1.0, months=12, tonnes=t)) for t in (0, 10, 50, 200, 1000)]
    assert all(b <= a + 1e-6 for a, b in itertools.pairwise(shorts)), shorts
    # Dy alone makes no magnets when Nd, Pr and Tb are cut too: the run says why it does not help
    res = run_scenario(parse_scenario(EMBARGO.format(severity=1.0, months=12, tonnes=200)), chain)
    assert any(n.startswith("stockpile[0] (USA Dy magnet)") and "Tb" in n for n in res.notes), res.notes


def _pw(res, regions: list[str]) -> float:
    ds = res.dataset.sel(region=regions)
    w = np.array([1.0 / res.scenario.sector_priority(s) for s in ds.sector.values])
    return float((ds["shortfall_t"] * w).sum())


@pytest.mark.parametrize("name", builtin_names())
def test_coordinated_never_short_more_priority_weighted(chain, name):
    # shortfall, not deliveries: demand answers each region's price, so deliveries can fall with it
    s = load_scenario(name)
    market = run_scenario(s, chain, mode="market")
    coord = run_scenario(s, chain, mode="coordinated")
    assert _pw(coord, PARTNERS) <= _pw(market, PARTNERS) * (1 + 1e-9) + 1e-9
    # defence in the partners is served first: never shorter than in market mode
    d_m = float(market.dataset["shortfall_t"].sel(region=PARTNERS, sector="defence").sum())
    d_c = float(coord.dataset["shortfall_t"].sel(region=PARTNERS, sector="defence").sum())
    assert d_c <= d_m + 1e-9


def test_embargo_bites_partners_not_china(chain):
    res = run_scenario(load_scenario("china-embargo-framework-12m"), chain)
    summ = res.summary()
    short = summ[summ.shortfall_t > 0]
    assert set(short.region) <= set(PARTNERS)
    assert {"USA", "JPN"} <= set(short.region)
    assert float(res.dataset["price_index"].max()) > 1.0
    # the restricted exporter ships nothing of any restricted stage to the partners while it lasts
    during = res.dataset["exporter_flow_t"].sel(month=[f"2026-{m:02d}" for m in range(1, 13)], region=PARTNERS)
    assert float(during.sel(material=["Nd", "Pr", "Dy", "Tb"]).sum()) == pytest.approx(0.0, abs=1e-9)


def test_apr2025_calibration_target_in_range(chain):
    """China's magnet flow to the US in May 2025: observed 46 t (the scenario's calibration target)."""
    res = run_scenario(load_scenario("apr2025-heavy-ree"), chain)
    nd = float(res.dataset["exporter_flow_t"].sel(month="2025-05", material="Nd", stage="magnet", region="USA"))
    content = 0.2475  # Nd wt% of NdFeB (assumptions.csv magnet_content)
    ndfeb = nd / content
    assert 20 < ndfeb < 100, ndfeb
    before = float(res.dataset["exporter_flow_t"].sel(month="2025-08", material="Nd", stage="magnet", region="USA"))
    assert before / content > 400  # back above 400 t a month once the freeze ends


def test_outage_of_lynas_cuts_malaysian_separation(chain):
    res = run_scenario(load_scenario("lynas-malaysia-outage-6m"), chain)
    prod = res.dataset["production_t"].sel(material="Nd", stage="separation", region="MYS")
    assert float(prod.isel(month=slice(0, 6)).max()) == 0.0
    assert float(prod.isel(month=8)) > 0


def test_results_are_deterministic(chain):
    s = load_scenario("oct2025-expansion")
    a, b = run_scenario(s, chain), run_scenario(s, chain)
    assert a.dataset.equals(b.dataset)


def test_unknown_engine_and_two_exporters(chain):
    s = load_scenario("ga-ge-ban-us")
    with pytest.raises(UserError, match="unknown engine"):
        run_scenario(s, chain, engine="gpu")
    extra = '[[disruption]]\nexporter = "MMR"\nmaterials = ["Dy"]\nstages = ["{stage}"]\ntargets = ["CHN"]\n'
    extra += 'severity = 1.0\nstart = "2026-01"\nmonths = 3\n'
    base = EMBARGO.format(severity=1.0, months=3, tonnes=0)
    # two exporters on one material and stage: refused, naming both
    clash = parse_scenario(base + extra.format(stage="separation"))
    with pytest.raises(UserError, match=r"disruption\[1\] \(MMR\) and disruption\[0\] \(CHN\) both restrict Dy"):
        run_scenario(clash, chain)
    # on different stages (China's controls and Myanmar's feed to Chinese separation) both act
    both = run_scenario(parse_scenario(base + extra.format(stage="mine")), chain)
    china_only = run_scenario(parse_scenario(base), chain)
    mine = both.dataset["received_t"].sel(material="Dy", stage="mine", region="CHN").isel(month=slice(0, 3))
    alone = china_only.dataset["received_t"].sel(material="Dy", stage="mine", region="CHN").isel(month=slice(0, 3))
    assert float(mine.sum()) < float(alone.sum())


# -- random small networks: both engines, both modes -----------------------------------------

STAGES = ["mine", "separation", "metal", "magnet"]
COUNTRIES = ["CHN", "USA", "JPN", "AUS", "MYS", "DEU", "BRA"]
SECTORS = ["automotive", "defence", "wind"]


def random_chain(seed: int) -> tuple[SupplyChain, str]:
    rng = np.random.default_rng(seed)
    k = int(rng.integers(1, 5))
    stages = STAGES[4 - k :]
    # Dy, and in half the networks Nd too (magnets then couple the two at end use)
    materials = ["Dy", "Nd"] if rng.uniform() < 0.5 else ["Dy"]
    rows = []
    for mat in materials:
        for st_ in stages:
            for c in rng.choice(COUNTRIES, size=int(rng.integers(1, 5)), replace=False):
                rows.append((mat, st_, str(c), 2024, float(rng.uniform(1, 100)), "t", "metal"))
    prod = pd.DataFrame(rows, columns=["material", "stage", "country_iso3", "year", "quantity", "unit", "basis"])
    regions = ["CHN", "USA", "JPN", "EU", "ROW"]
    dem_rows = []
    for mat in materials:
        total = prod[(prod.stage == stages[-1]) & (prod.material == mat)].quantity.sum()
        w = rng.uniform(0.1, 1, (len(regions), len(SECTORS)))
        w /= w.sum()
        dem_rows += [
            (mat, r, s, 2024, float(total * w[i, j]), "metal")
            for i, r in enumerate(regions)
            for j, s in enumerate(SECTORS)
        ]
    dem = pd.DataFrame(dem_rows, columns=["material", "region", "sector", "year", "demand_t_per_yr", "basis"])
    inv = pd.DataFrame(
        [("*", "*", st_, float(rng.uniform(0, 2))) for st_ in [*stages[1:], "end_use"]],
        columns=["material", "region", "stage", "months_of_use"],
    )
    chain = SupplyChain.from_frames(prod, demand=dem, inventory=inv)
    targets = rng.choice(["framework", "USA", "all", "EU"])
    licensing = (
        f'kind = "licensing"\nprocessing_months = {float(rng.uniform(0, 3)):.2f}\n'
        f"approval_share = {float(rng.uniform(0, 1)):.3f}\napproval_share_final = {float(rng.uniform(0, 1)):.3f}\n"
        f"approval_ramp_months = {float(rng.uniform(0.5, 4)):.2f}"
        if rng.uniform() < 0.5
        else ""
    )
    text = f"""
name = "random"
start = "2026-01"
months = {int(rng.integers(3, 10))}
[[disruption]]
exporter = "CHN"
materials = ["Dy"]
stages = {list(map(str, rng.choice(stages, size=int(rng.integers(1, k + 1)), replace=False)))}
targets = ["{targets}"]
severity = {float(rng.uniform(0, 1)):.3f}
covered_share = {float(rng.uniform(0.3, 1)):.3f}
foreign_content = {"true" if rng.uniform() < 0.5 else "false"}
compliance = {float(rng.uniform(0, 1)):.3f}
start = "2026-0{int(rng.integers(1, 4))}"
months = {int(rng.integers(1, 6))}
{licensing}
[market]
contract_share = {{ {stages[-1]} = {float(rng.uniform(0, 1)):.3f} }}
qualification_months = {{ {stages[-1]} = {float(rng.uniform(1, 8)):.2f} }}
heavy_grade_share = {float(rng.uniform(0, 1)):.3f}
heavy_thrift_max = {float(rng.uniform(0, 0.6)):.3f}
heavy_thrift_months = {float(rng.uniform(1, 12)):.2f}
[[outage]]
region = "{rng.choice(COUNTRIES)}"
stage = "{rng.choice(stages)}"
capacity_lost = {float(rng.uniform(0, 1)):.3f}
start = "2026-02"
months = 2
[[stockpile]]
holder = "{rng.choice(["USA", "JPN"])}"
material = "Dy"
stage = "{stages[-1]}"
tonnes = {float(rng.uniform(0, 20)):.2f}
max_release_t_per_month = {float(rng.uniform(0, 5)):.2f}
[demand]
elasticity = {{ automotive = -{float(rng.uniform(0, 0.5)):.3f} }}
"""
    return chain, text.replace("'", '"')


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**31 - 1), st.sampled_from(["market", "coordinated"]))
def test_random_networks_lp_and_fast_agree(seed, mode):
    chain, text = random_chain(seed)
    s = parse_scenario(text)
    fast = run_scenario(s, chain, "fast", mode)
    lp = run_scenario(s, chain, "lp", mode)
    _agree(fast, lp)
    ds = fast.dataset
    assert float((ds["delivered_t"] - ds["demand_t"]).max()) <= 1e-9 * float(ds["demand_t"].sum())


PROJECT = """
name = "magnets at home"
start = "2026-01"
months = 24
[[disruption]]
exporter = "CHN"
materials = ["Nd", "Pr", "Dy", "Tb"]
stages = ["magnet"]
targets = ["framework"]
severity = 1.0
start = "2026-01"
months = 12
"""


def test_project_from_facility_pipeline_relieves_shortfall(chain):
    base = run_scenario(parse_scenario(PROJECT), chain)
    text = PROJECT + '[[project]]\nfacility = "10x-magnet-campus"\nstart = "2026-01"\nramp_months = 6\n'
    res = run_scenario(parse_scenario(text), chain)
    assert any("10x-magnet-campus" in n and "magnet_content" in n for n in res.notes)
    short = float(res.dataset["shortfall_t"].sel(region="USA").sum())
    assert short < float(base.dataset["shortfall_t"].sel(region="USA").sum())
    # 10,000 t/yr of NdFeB at 24.75 wt% Nd, reached after 6 months
    cap = res.dataset["capacity_t"].sel(material="Nd", stage="magnet", region="USA")
    assert float(cap.isel(month=6)) == pytest.approx(10_000 * 0.2475 / 12)


def test_user_defined_project_per_material_table(chain):
    project = [
        "[[project]]",
        'region = "USA"',
        'stage = "magnet"',
        "capacity_t_per_yr = { Nd = 1200, Dy = 40 }",
        'start = "2026-03"',
        "ramp_months = 0",
    ]
    text = PROJECT + "\n".join(project) + "\n"
    res = run_scenario(parse_scenario(text), chain)
    cap = res.dataset["capacity_t"].sel(stage="magnet", region="USA")
    assert float(cap.sel(material="Nd").isel(month=1)) == 0.0
    assert float(cap.sel(material="Nd").isel(month=2)) == pytest.approx(100.0)
    assert float(cap.sel(material="Dy").isel(month=2)) == pytest.approx(40 / 12)
    assert float(cap.sel(material="Pr").isel(month=2)) == 0.0


def test_project_errors_are_user_errors(chain):
    bad = PROJECT + '[[project]]\nfacility = "mountain-pass-mine-and-mill"\nstart = "2026-01"\n'
    with pytest.raises(UserError, match="cannot turn into element content"):
        run_scenario(parse_scenario(bad), chain)
    with pytest.raises(UserError, match="did you mean 'lynas-malaysia-lamp-light-re-separation'"):
        run_scenario(parse_scenario(PROJECT + '[[project]]\nfacility = "lynas-malaysia-lamp"\n'), chain)
    with pytest.raises(UserError, match="has no start year"):
        run_scenario(parse_scenario(PROJECT + '[[project]]\nfacility = "mountain-pass-mine-and-mill"\n'), chain)
    with pytest.raises(UserError, match="needs region, stage"):
        parse_scenario(PROJECT + '[[project]]\nname = "x"\n')


def test_runs_record_the_fingerprint_of_the_data_and_blocs_they_used(chain, built_store):
    """Issue 10, bug 7: a run from the library records the chain's fingerprint (it was '')."""
    import dataclasses

    from critmin.names import Blocs, default_blocs

    res = run_scenario(load_scenario("ga-ge-ban-us"), chain)
    assert len(res.data_sha256) == 64 and res.data_sha256 == chain.fingerprint
    assert res.metadata()["data_sha256"] == chain.fingerprint
    blocs = Blocs({**{b: default_blocs().members(b) for b in default_blocs().names}, "quad": ("AUS", "IND")})
    assert dataclasses.replace(chain, blocs=blocs).fingerprint != chain.fingerprint  # the blocs count
    fewer = SupplyChain.from_frames(chain.production.iloc[:-1], demand=chain.demand, capacity=chain.capacity)
    assert fewer.fingerprint != chain.fingerprint  # and so do the data
    assert SupplyChain.from_store(built_store).fingerprint == chain.fingerprint  # and nothing else
