"""The project-financing portfolio (critmin.levers.portfolio): the selection model against hand
checks and brute force, the ranking and its reasons, the out-of-sample check, the draws the model
and the engine share, the shipped candidate pipeline and the candidates file's errors."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest

import critmin
from critmin.chain import SupplyChain
from critmin.engine.network import build_network
from critmin.errors import UserError
from critmin.levers import portfolio as pf
from critmin.levers.candidates import (
    Candidate,
    Resolved,
    delivered_t,
    parse_candidates,
    pipeline_candidates,
    pipeline_table,
    read_candidates,
    resolve,
)
from critmin.levers.portfolio import BudgetTooSmall, PortfolioOptions, optimize_portfolio
from critmin.levers.portfolio_model import Objective, Problem, evaluate, solve
from critmin.risk import run_ensemble
from critmin.sampling import sample
from critmin.schema import CONFIDENCE_LEVELS


@pytest.fixture(scope="module")
def chain(built_store: critmin.Store) -> SupplyChain:
    return SupplyChain.from_store(built_store)


@pytest.fixture(scope="module")
def scenario() -> critmin.Scenario:
    """Three years of a China embargo on the framework partners of uncertain length and depth."""
    return critmin.load_scenario("china-embargo-framework-12m").with_changes(
        months=36,
        uncertain=[
            {"field": "disruption[0].months", "dist": "uniform", "low": 6, "high": 30},
            {"field": "disruption[0].severity", "dist": "uniform", "low": 0.6, "high": 1.0},
        ],
    )


def _sep(name: str, capex: float, start: str, ndpr: float = 2000.0, **kw: object) -> Candidate:
    """A US NdPr separation plant (what the embargo scenario's US chain can use)."""
    return Candidate(
        name=name, region="USA", stage="separation", capacity_t_per_yr={"NdPr": ndpr}, capex_usd=capex,
        start=start, ramp_months=6, **kw,
    )  # fmt: skip


def _problem(S: np.ndarray, E: np.ndarray, capex: list[float], budget: float, objective: str) -> Problem:
    D = np.full(S.shape[:2], 1000.0)
    return Problem(S, E, D, np.array(capex), np.ones(len(capex), bool), budget, Objective.parse(objective))


# --- the selection model --------------------------------------------------------------------------


def test_two_candidates_budget_for_one_picks_the_larger_reduction() -> None:
    # two draws short by 10 t and 30 t in one month; A removes 10 t in both, B 25 t in the second
    S = np.array([[[10.0], [30.0]]])
    E = np.array([[[[10.0], [10.0]]], [[[0.0], [25.0]]]])
    one = solve(_problem(S, E, [4.0, 6.0], 8.0, "expected_shortfall"))
    assert one.chosen.tolist() == [False, True] and one.value == pytest.approx(7.5)  # (10 + 5) / 2
    both = solve(_problem(S, E, [4.0, 6.0], 10.0, "expected_shortfall"))
    assert both.chosen.tolist() == [True, True] and both.value == pytest.approx(0.0)
    cheap = solve(_problem(S, E, [4.0, 6.0], 5.0, "expected_shortfall"))
    assert cheap.chosen.tolist() == [True, False] and cheap.value == pytest.approx(10.0)
    # CVaR95 of two draws is the worse one: A leaves 20, B leaves 10 -> B; p: only A clears a draw
    assert solve(_problem(S, E, [4.0, 6.0], 8.0, "cvar95")).chosen.tolist() == [False, True]
    assert solve(_problem(S, E, [4.0, 6.0], 8.0, "p")).chosen.tolist() == [True, False]


@pytest.mark.parametrize("objective", ["expected_shortfall", "cvar90", "p"])
def test_the_milp_finds_the_brute_force_optimum_within_the_budget(objective: str) -> None:
    rng = np.random.default_rng(7)
    for _ in range(4):
        S = rng.gamma(1.0, 5.0, size=(2, 30, 4)) * (rng.random((2, 30, 4)) < 0.6)
        E = rng.gamma(1.0, 2.0, size=(5, 2, 30, 4)) * (rng.random((5, 2, 30, 4)) < 0.5)
        capex = rng.uniform(1.0, 5.0, size=5).round(2).tolist()
        budget = 0.45 * sum(capex)
        pb = _problem(S, E, capex, budget, objective)
        sol = solve(pb)
        assert float(np.dot(sol.chosen, capex)) <= budget + 1e-9  # the budget binds
        best = min(
            evaluate(pb, np.array(c, bool))
            for c in itertools.product([False, True], repeat=5)
            if float(np.dot(c, capex)) <= budget
        )
        assert sol.value == pytest.approx(best, rel=1e-4, abs=1e-9)


def test_a_larger_budget_never_does_worse_and_nothing_useless_is_bought() -> None:
    S = np.array([[[10.0, 5.0], [30.0, 0.0]]])
    E = np.zeros((3, 1, 2, 2))
    E[0, 0, :, 0] = 10.0
    E[1, 0, 1, 0] = 25.0  # the third candidate removes nothing
    values = [solve(_problem(S, E, [4.0, 6.0, 1.0], b, "expected_shortfall")).value for b in (3.0, 5.0, 8.0, 20.0)]
    assert values == sorted(values, reverse=True)
    assert not solve(_problem(S, E, [4.0, 6.0, 1.0], 20.0, "expected_shortfall")).chosen[2]


def test_objectives_parse_with_did_you_mean() -> None:
    assert Objective.parse("DEFENCE_CVAR95").alpha == 0.95
    with pytest.raises(UserError, match="did you mean 'defence_p'"):
        Objective.parse("defense_p")


# --- candidates -------------------------------------------------------------------------------


def test_the_shipped_pipeline_is_sourced_and_every_candidate_resolves(chain: SupplyChain, scenario) -> None:
    table = pipeline_table()
    assert (table["source"].str.strip() != "").all()
    assert table["confidence"].isin(CONFIDENCE_LEVELS).all()
    assert not table.duplicated(["candidate", "field"]).any()
    capex = table[table["field"] == "capex_usd"]
    given = capex[capex["value"].str.strip() != ""]
    assert (given["value"].astype(float) > 0).all() and (given["unit"] == "USD").all()
    assert (capex.loc[capex["value"].str.strip() == "", "notes"].str.len() > 0).all()  # why there is none
    # probability and delay are assumptions by status, and say so
    assumed = table[table["field"].isin(["p_delivery", "delay_months"])]
    assert (assumed["confidence"] == "assumption").all() and (assumed["notes"].str.len() > 0).all()
    cands = pipeline_candidates()
    assert len({c.name for c in cands}) == len(cands) == table["candidate"].nunique()
    resolved = {c.name: resolve(c, "pipeline", chain, scenario) for c in cands}
    assert resolved["lynas-u-s-rare-earths-processing-facility-seadrift"].excluded  # no capex, no capacity
    assert "cannot be turned into element tonnes" in resolved["eneabba-rare-earths-refinery"].excluded
    usable = [r for r in resolved.values() if not r.excluded]
    assert len(usable) >= 5
    for r in usable:
        assert r.candidate.capex_usd and r.capacity_t_per_yr and r.candidate.delay_months is not None
    narva = resolved["narva-magnet-plant-phase-2"]
    assert narva.region == "EU" and narva.capacity_t_per_yr["Nd"] == pytest.approx(3000 * 0.2475)
    assert resolved["nolans-project"].stages == ("mine", "separation")


def test_delivery_follows_the_engines_ramp_and_start_rules(scenario) -> None:
    c = Candidate(name="x", region="USA", stage="metal", capacity_t_per_yr={"Nd": 120.0}, capex_usd=1.0,
                  start="2025-06", ramp_months=3)  # fmt: skip
    res = Resolved(c, "given", "USA", "USA", ("metal",), {"Nd": 120.0}, "2025-06")
    out = delivered_t(res, scenario, np.array([1.0, 1.0, 0.0]), np.array([0.0, 2.4, 0.0]), 6)["Nd"]
    # starts before the scenario: from its first month; a delay of 2.4 rounds to 2 months
    np.testing.assert_allclose(out[0], [10 / 3, 20 / 3, 10, 10, 10, 10])
    np.testing.assert_allclose(out[1], [0, 0, 10 / 3, 20 / 3, 10, 10])
    np.testing.assert_allclose(out[2], 0)


def test_the_model_and_the_engine_share_each_candidates_draws(chain: SupplyChain, scenario) -> None:
    """A candidate's delivery draw switches its engine run off exactly where the model's draw does,
    whatever the other candidates (two entries each, in a fixed order)."""
    net = build_network(chain, scenario.regions)
    items = [resolve(_sep(n, 1e8, "2026-03", p_delivery=0.5), "given", chain, scenario, net) for n in ("a", "b")]
    n = 60
    drawn = sample(pf._with_candidates(scenario, items, {0, 1}), 0, n, 3)
    first = len(scenario.project)
    on_b = drawn[f"project[{first + 1}].happens"] > 0.5
    assert 10 < on_b.sum() < 50 and not np.array_equal(on_b, drawn[f"project[{first}].happens"] > 0.5)
    pairs = [("Nd", "USA"), ("Nd", "JPN")]
    base = run_ensemble(scenario, chain, n, seed=3, keep_monthly=pairs)
    alone_b = run_ensemble(pf._with_candidates(scenario, items, {1}), chain, n, seed=3, keep_monthly=pairs)
    S0 = pf._pooled_monthly(base, ["Nd"], pairs, "all")[0]
    Sb = pf._pooled_monthly(alone_b, ["Nd"], pairs, "all")[0]
    effect = (S0 - Sb).sum(axis=(0, 2))
    assert np.all(np.abs(effect[~on_b]) < 1e-6)  # not delivered: exactly the scenario's own run
    assert (effect[on_b] > 1e-3).mean() > 0.9  # delivered: it removes some shortfall


def test_bad_candidate_files_name_the_file_the_line_and_the_field(tmp_path: Path) -> None:
    good = 'name = "a"\nregion = "USA"\nstage = "separation"\ncapacity_t_per_yr = { Dy = 10 }\nstart = "2027-01"\n'

    def err(body: str) -> str:
        path = tmp_path / "c.toml"
        path.write_text("[[candidate]]\n" + body, encoding="utf-8")
        with pytest.raises(UserError) as exc:
            read_candidates(path)
        return str(exc.value)

    msg = err(good + "capex_usd = 1e8\ndelay_month = 3\n")
    assert msg.startswith(f"{tmp_path / 'c.toml'}:8: candidate[0].delay_month: unknown key 'delay_month'")
    assert "did you mean 'delay_months'" in msg
    assert "candidate[0].capex_usd: Input should be greater than 0" in err(good + "capex_usd = -5\n")
    assert ":7: candidate[0].capex_usd: Input should be a finite number" in err(good + "capex_usd = nan\n")
    assert "p_delivery" in err(good + "capex_usd = 1e8\np_delivery = inf\n")
    assert "capex_usd: give the candidate's capital cost" in err(good)
    msg = err(good + 'capex_usd = 1e8\ndelay_months = { dist = "triangular", low = 0, mode = 40, high = 24 }\n')
    assert "candidate[0].delay_months" in msg and "mode (40.0) must lie between" in msg
    assert "did you mean 'high'" in err(
        good + 'capex_usd = 1e8\ndelay_months = { dist = "uniform", low = 0, hihg = 3 }\n'
    )
    assert "needs stage" in err(
        'name = "a"\nregion = "USA"\ncapacity_t_per_yr = { Dy = 10 }\ncapex_usd = 1\nstart = "2027-01"\n'
    )
    msg = err('name = "a"\nfacility = "vulcan-elements-magnet-facilty"\ncapex_usd = 1e9\n')
    assert "candidate[0].facility: unknown facility" in msg and "did you mean 'vulcan-elements-magnet-facility'" in msg
    assert "given twice" in err(good + "capex_usd = 1\n[[candidate]]\n" + good + "capex_usd = 2\n")
    assert "did you mean 'candidate'" in err(good + "capex_usd = 1\n[[candidates]]\nname = 'b'\n")
    with pytest.raises(UserError, match="unknown material 'Dyy'"):
        parse_candidates("[[candidate]]\n" + good.replace("Dy =", "Dyy =") + "capex_usd = 1\n", "x.toml")


# --- the whole lever ----------------------------------------------------------------------------


def test_ranking_reasons_and_a_candidate_after_the_horizon(chain: SupplyChain, scenario) -> None:
    cands = (
        _sep("early", 3e8, "2026-01"),
        _sep("big", 9e8, "2026-04", ndpr=6000.0),
        _sep("late", 1e8, "2029-06"),  # the horizon ends 2028-12
        Candidate(name="nothing-here", facility="eneabba-rare-earths-refinery", capex_usd=1e8),
    )
    opts = PortfolioOptions(
        budget_usd=1e9, candidates=cands, pipeline=False, effect="first_order", draws=60, verify_draws=100
    )
    out = optimize_portfolio(scenario, chain, opts)
    r = out.ranking.set_index("candidate")
    assert out.chosen == ("big",) and out.total_capex_usd == 9e8  # early + big do not fit
    per = out.ranking["per_musd_alone"].to_numpy()
    considered = per[~np.isnan(per)]
    assert np.all(np.diff(considered) <= 1e-12)  # ranked by reduction per $ alone
    assert r.loc["early", "per_musd_alone"] > r.loc["big", "per_musd_alone"]
    assert r.loc["early", "why"].startswith("does not fit with the chosen set")
    assert r.loc["late", "why"].startswith("delivers nothing in the horizon")
    assert r.loc["late", "reduction_alone"] == 0 and r.loc["late", "earliest_output"] == "after 2028-12"
    assert r.loc["nothing-here", "why"].startswith("not considered") and r.loc["nothing-here", "rank"] == len(r)
    assert r.loc["big", "why"].startswith("chosen")
    model = out.value("model, in sample")
    assert model["after"] < model["before"] and model["reduction"] == pytest.approx(r.loc["big", "reduction_alone"])
    doc = json.loads(json.dumps(out.document(), allow_nan=False))  # plain JSON, NaN as null
    assert doc["chosen"] == ["big"] and doc["total_capex_usd"] == 9e8 and len(doc["candidates"]) == 4
    assert {t.split(" ")[0] for t in out.tables()} >= {"portfolio", "candidates,"}


def test_engine_effects_agree_with_the_engine_and_the_check_is_reproducible(chain: SupplyChain, scenario) -> None:
    cands = (_sep("a", 3e8, "2026-02", p_delivery=0.8, delay_months={"dist": "uniform", "low": 0, "high": 6}),)
    opts = PortfolioOptions(budget_usd=5e8, candidates=cands, pipeline=False, draws=60, verify_draws=150, seed=5)
    out = optimize_portfolio(scenario, chain, opts)
    assert out.chosen == ("a",)
    model, engine = out.value("model, in sample"), out.value("engine, in sample")
    # one candidate: its effect is the engine's, so the model's value is the engine's on the same draws
    assert model["after"] == pytest.approx(engine["after"], rel=1e-9)
    oos = out.value("engine, out of sample")
    assert oos["reduction"] > 3 * oos["reduction_stderr"] > 0 and oos["seed"] == 5 + pf.VERIFY_SEED_OFFSET
    after = out.scenario_after
    assert after.project[-1].region == "USA" and after.project[-1].stage == "separation"
    assert [u.dist for u in after.uncertain[-2:]] == ["bernoulli", "uniform"]
    again = optimize_portfolio(scenario, chain, opts)
    assert again.values.equals(out.values) and again.ranking.equals(out.ranking)
    other = optimize_portfolio(scenario, chain, PortfolioOptions(**{**opts.__dict__, "verify_seed": 99}))
    assert other.value("engine, out of sample")["after"] != oos["after"]
    assert other.value("model, in sample")["after"] == model["after"]  # the in-sample draws are the same
    subs = out.substitutes
    assert set(subs["project"]) == {"a", "(chosen set, engine)"} and (subs["year"] >= 2026).all()
    assert subs.loc[subs["project"] == "a", "relief_t"].sum() == pytest.approx(model["reduction"], rel=1e-6)


def test_a_budget_below_every_capex_is_a_one_line_error_with_the_best_reachable(chain, scenario) -> None:
    opts = PortfolioOptions(
        budget_usd=1e6, candidates=(_sep("a", 3e8, "2026-02"),), pipeline=False, effect="first_order", draws=20
    )
    best = r"the best reachable within it is no project: expected_shortfall [0-9.e+]+ t in sample"
    with pytest.raises(
        BudgetTooSmall, match=r"buys none of the 1 candidates .*\(cheapest: a at \$300,000,000\); " + best
    ):
        optimize_portfolio(scenario, chain, opts)
    with pytest.raises(UserError, match="--budget must be a positive"):
        optimize_portfolio(scenario, chain, PortfolioOptions(budget_usd=math.nan))
    with pytest.raises(UserError, match="region, country or bloc"):
        optimize_portfolio(scenario, chain, PortfolioOptions(budget_usd=1e9, regions=("ATLANTIS",)))


def test_the_joint_stockpile_run_without_and_with_the_projects(chain: SupplyChain, scenario) -> None:
    opts = PortfolioOptions(
        budget_usd=5e8, candidates=(_sep("a", 3e8, "2026-02"),), pipeline=False, effect="first_order", draws=40,
        verify_draws=60, stockpile_targets=("days_of_cover>=20",),
    )  # fmt: skip
    out = optimize_portfolio(scenario, chain, opts)
    st = out.stockpile
    assert st is not None and set(st["case"]) == {"without projects", "with projects", "made unnecessary"}
    assert set(st["material"]) == {"NdFeB", "all"}  # Nd and Pr are held as magnets
    # days of cover do not depend on the draws: the projects make none of that buffer unnecessary
    saved = st[(st["case"] == "made unnecessary") & (st["holder"] == "all")]
    assert saved["cost_usd"].iloc[0] == pytest.approx(0.0, abs=1e-6)
    assert out.document()["stockpile"][-1]["case"] == "made unnecessary"
