"""The stockpile lever: small models whose optimum is known by hand, complementary never dearer
than independent, the cost curve, targets and their errors, and the full run with its out-of-sample
check on the engine."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest

from critmin.chain import SupplyChain
from critmin.errors import UserError
from critmin.levers.holdings import Holdings, Item
from critmin.levers.stockpile import StockpileOptions, optimize_stockpile
from critmin.levers.stockpile_model import Problem, TargetUnreachable, solve, toy_holdings
from critmin.levers.targets import cvar, measure, parse_target
from critmin.scenario import load_scenario


@pytest.fixture(scope="module")
def chain(built_store):
    return SupplyChain.from_store(built_store)


def one_month(*shortfalls: float) -> np.ndarray:
    """(holder 1, material 1, draw, month 1) shortfalls."""
    return np.array(shortfalls, dtype=float).reshape(1, 1, -1, 1)


def demand(n: int, holders: int = 1, materials: int = 1) -> np.ndarray:
    return np.full((holders, materials, n), 100.0)


def test_expected_shortfall_target_by_hand():
    # draws short by 10 and 30 t: E[max(0, S - X)] <= 5 needs X = 20 (residuals 0 and 10)
    sol = solve(Problem(toy_holdings(price_usd_per_t=2500.0), one_month(10, 30), demand(2),
                        (parse_target("expected_shortfall_t<=5"),)))  # fmt: skip
    assert sol.tonnes[0, 0] == pytest.approx(20.0, abs=1e-6)
    assert sol.total_cost_usd == pytest.approx(50_000.0, rel=1e-9)
    assert sol.release_t_per_month[0, 0] == pytest.approx(20.0, abs=1e-6)


def test_chance_constraint_where_the_binary_matters():
    # four draws short by 10, 20, 30, 40 t; at most one in four may stay short: cover 30 t
    # (a relaxation with fractional z would stop near 25 t: (40-25)/40 + (30-25)/30 < 1)
    s = one_month(10, 20, 30, 40)
    sol = solve(Problem(toy_holdings(), s, demand(4), (parse_target("p_shortfall<=0.25"),), tolerance=0.0))
    assert sol.tonnes[0, 0] == pytest.approx(30.0, abs=1e-6)
    assert sol.stats["binaries"] == 4
    # the tolerance lets a draw count as covered when within tolerance x demand (0.01 x 100 t = 1 t)
    sol = solve(Problem(toy_holdings(), s, demand(4), (parse_target("p_shortfall<=0.25"),), tolerance=0.01))
    assert sol.tonnes[0, 0] == pytest.approx(29.0, abs=1e-6)


def test_cvar_target_by_hand():
    # 20 draws short by 1..20 t: CVaR95 over 20 draws is the worst draw; <= 10 needs X = 10
    sol = solve(Problem(toy_holdings(), one_month(*range(1, 21)), demand(20), (parse_target("cvar95_t<=10"),)))
    assert sol.tonnes[0, 0] == pytest.approx(10.0, abs=1e-6)
    assert cvar(np.arange(1.0, 21.0) - 10, 0.95)[0] == pytest.approx(10.0)


def test_release_limit_is_the_largest_monthly_release_needed():
    s = np.array([10.0, 4.0, 10.0]).reshape(1, 1, 1, 3)  # one draw, three months
    sol = solve(Problem(toy_holdings(), s, demand(1), (parse_target("expected_shortfall_t<=0"),)))
    assert sol.tonnes[0, 0] == pytest.approx(24.0, abs=1e-6)
    assert sol.release_t_per_month[0, 0] == pytest.approx(10.0, abs=1e-6)


def test_days_of_cover_target():
    # consumption 365 t/yr = 1 t a day
    sol = solve(Problem(toy_holdings(), one_month(0.0), demand(1), (parse_target("days_of_cover>=60"),)))
    assert sol.tonnes[0, 0] == pytest.approx(60.0, abs=1e-6)


def test_complementary_shares_one_stock_between_partners():
    book = toy_holdings(holders=("USA", "JPN"))
    s = np.zeros((2, 1, 2, 1))
    s[0, 0, 0, 0] = 10.0  # the US is short in draw 0, Japan in draw 1
    s[1, 0, 1, 0] = 10.0
    t = (parse_target("expected_shortfall_t<=0"),)
    ind = solve(Problem(book, s, demand(2, 2), t, regime="independent"))
    comp = solve(Problem(book, s, demand(2, 2), t, regime="complementary"))
    assert ind.total_cost_usd == pytest.approx(20_000.0)
    assert comp.total_cost_usd == pytest.approx(10_000.0)


@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize("target", ["expected_shortfall_t<=1", "p_shortfall<=0.2", "cvar90_t<=2"])
def test_complementary_never_costs_more_than_independent(seed, target):
    rng = np.random.default_rng(seed)
    book = dataclasses.replace(
        toy_holdings(holders=("USA", "JPN")), materials=("Dy", "Tb"),
        items=(Item("Dy", "magnet"), Item("Tb", "magnet")), cover=np.eye(2), usable=np.ones((2, 2), bool),
        consumption_t_per_yr=np.full((2, 2), 365.0), price_usd_per_t=np.array([1000.0, 3000.0]),
        world_t_per_month=np.array([50.0, 10.0]), elasticity=np.array([-0.5, -0.5]),
    )  # fmt: skip
    s = np.maximum(rng.normal(0.0, 3.0, (2, 2, 10, 3)), 0.0)
    ind = solve(Problem(book, s, demand(10, 2, 2), (parse_target(target),), regime="independent"))
    comp = solve(Problem(book, s, demand(10, 2, 2), (parse_target(target),), regime="complementary"))
    assert comp.total_cost_usd <= ind.total_cost_usd * (1 + 1e-6) + 1e-6


def test_budget_too_small_names_the_best_reachable_and_its_cost():
    s = one_month(10, 20, 30, 40)
    with pytest.raises(TargetUnreachable, match=r"best reachable is p_shortfall 0\.75 .* costing \$9,900"):
        solve(Problem(toy_holdings(), s, demand(4), (parse_target("p_shortfall<=0.25"),), budget_usd=15_000))


def test_buying_cost_rises_with_the_market_response():
    book = dataclasses.replace(toy_holdings(), world_t_per_month=np.array([10.0]), elasticity=np.array([-0.1]))
    item = book.items[0]
    small, large = book.buying_cost_usd(item, 1.0, 12), book.buying_cost_usd(item, 60.0, 12)
    assert small == pytest.approx(1000.0, rel=0.05)  # a tonne hardly moves a 120 t market
    assert large > 60 * small * 1.5  # half a year's output bought in a year: dearer per tonne
    flat = toy_holdings()
    assert flat.buying_cost_usd(flat.items[0], 60.0, 12) == pytest.approx(60_000.0)


def test_measure_matches_the_definitions():
    s = np.array([[0.0, 0.0], [5.0, 0.0], [0.0, 0.2], [10.0, 1.0]])
    d = np.full((4, 2), 100.0)
    assert measure(parse_target("p_shortfall<=0.1"), s, d, 1e-3)[0] == 0.75
    assert measure(parse_target("p_shortfall<=0.1"), s, d, 5e-3)[0] == 0.5  # 0.2 t is within 0.5 %
    assert measure(parse_target("expected_shortfall_t<=1"), s, d, 1e-3)[0] == pytest.approx(3.75)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("defence_p_shortfal<=0.05", "did you mean 'defence_p_shortfall'"),
        ("p_shortfall>=0.05", "takes a bound <="),
        ("p_shortfall<=1.5", "below 1"),
        ("expected_shortfall_t<=nan", "finite"),
        ("days_of_cover<=60", "takes a bound >="),
        ("defence_days_of_cover>=60", "whole consumption"),
        ("cover 60 days", "METRIC<=VALUE"),
    ],
)
def test_bad_targets(text, message):
    with pytest.raises(UserError, match=message):
        parse_target(text)


def test_nan_shortfalls_are_refused():
    with pytest.raises(UserError, match="NaN"):
        solve(Problem(toy_holdings(), one_month(np.nan, 1.0), demand(2), (parse_target("expected_shortfall_t<=1"),)))


def test_holdings_on_the_data(chain):
    book = Holdings.build(chain, ("USA", "JPN"), ("Dy", "Tb", "NdFeB"))
    labels = [i.label for i in book.items]
    assert "NdFeB magnet" in labels and "Dy separation" in labels
    # the US has no metal or magnet making for Dy in the base year: it cannot use Dy oxide
    assert not book.usable[0, labels.index("Dy separation")]
    assert book.usable[1, labels.index("Dy separation")]
    assert book.coverage(Item("NdFeB", "magnet"), "Dy") == pytest.approx(0.009)
    assert (book.price_usd_per_t > 0).all() and all(book.price_source)
    assert 0 < book.carrying_share_per_yr < 1
    with pytest.raises(UserError, match="did you mean 'JPN'"):
        Holdings.build(chain, ("JPNN",), ("Dy",))
    with pytest.raises(UserError, match="did you mean 'Dy'"):
        Holdings.build(chain, ("JPN",), ("Dyy",))
    with pytest.raises(UserError, match="end_use"):
        Holdings.build(chain, ("JPN",), ("Dy",), ("end_use",))
    # Australia has no NdFeB demand in the data: nothing for a stockpile there to cover
    with pytest.raises(UserError, match=r"no end-use demand in the data for AUS \(NdFeB\)"):
        Holdings.build(chain, ("AUS", "JPN"), ("NdFeB",))


def apr2025():
    return load_scenario("apr2025-heavy-ree").with_changes(
        uncertain=[{"field": "disruption[0].approval_share", "dist": "uniform", "low": 0.1, "high": 0.6}]
    )


def test_out_of_sample_rounds_converge_on_a_case_built_for_it(chain):
    # Japan's Dy and Tb shortfall (t over the horizon) with oxides and magnets to hold: the first
    # round's first-order view misses (magnet releases are shared with the coupled elements), the
    # next rounds, solved on draws re-run with the stockpile in place, close the gap
    opts = StockpileOptions(("JPN",), ("Dy", "Tb", "NdFeB"), ("expected_shortfall_t<=3",),
                            draws=40, verify_draws=200, max_rounds=6)  # fmt: skip
    out = optimize_stockpile(apr2025(), chain, opts)
    res = out.result("independent")
    assert res.met and res.stopped == "met" and res.rounds >= 2
    gaps = [r["verified_gap"] for r in res.solver]
    assert gaps[-1] == 0 and all(a > b for a, b in itertools.pairwise(gaps))
    oos = out.out_of_sample()
    assert (oos["value"] <= 3 + 1e-9).all() and (oos["stderr"] >= 0).all()
    doc = out.document()
    for key in ("recommendation", "total_cost_usd", "target", "regime", "savings_vs_independent_usd",
                "out_of_sample", "benchmark"):  # fmt: skip
        assert key in doc
    rec = out.recommendation()
    assert set(rec["material"]) <= {"Dy", "Tb", "NdFeB"} and (rec["tonnes"] > 0).all()
    assert rec["cost_usd"].sum() == pytest.approx(res.total_cost_usd)
    again = optimize_stockpile(apr2025(), chain, opts)
    assert np.array_equal(again.result("independent").tonnes, res.tonnes)
    # the 60-day benchmark: every material for 60 days of Japan's consumption, and the risk left
    held = out.benchmark[out.benchmark["kind"] == "holding"]
    assert sorted(held["material"]) == ["Dy", "NdFeB", "Tb"] and (held["days_of_cover"] == 60).all()
    assert (out.benchmark[out.benchmark["kind"] == "risk"]["value"] >= 0).all()


def test_rounds_stop_when_the_engine_cannot_use_what_is_added(chain):
    # oxides alone: Japan's shortfall is of imported magnets, and its own plants turn little of a
    # released oxide into magnets; the rounds stop instead of buying more of what does not work
    opts = StockpileOptions(("JPN",), ("Dy", "Tb"), ("expected_shortfall_t<=2",), stages=("separation",),
                            draws=40, verify_draws=200, max_rounds=6)  # fmt: skip
    res = optimize_stockpile(apr2025(), chain, opts).result("independent")
    assert not res.met and res.stopped == "no_progress" and res.rounds < 6


def test_a_coupled_element_nobody_holds_makes_the_target_unreachable(chain):
    # Dy alone cannot end Japan's Dy shortfall when Tb is short too: no stockpile of Dy does
    opts = StockpileOptions(("JPN",), ("Dy",), ("expected_shortfall_t<=2",), stages=("separation",), draws=20)
    with pytest.raises(TargetUnreachable, match="also need Tb"):
        optimize_stockpile(apr2025(), chain, opts)


def test_complementary_needs_holders_in_the_coalition(chain):
    opts = StockpileOptions(("JPN", "EU"), ("Dy",), ("expected_shortfall_t<=1",), regime="both", draws=5)
    with pytest.raises(UserError, match="EU not in the scenario's coalition"):
        optimize_stockpile(apr2025(), chain, opts)
