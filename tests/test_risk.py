"""Monte Carlo ensembles: reproducibility, closed-form checks, convergence, Dask, bad input."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from critmin.chain import SupplyChain
from critmin.cli import main
from critmin.engine import run_scenario
from critmin.errors import UserError
from critmin.risk import risk_metrics, run_ensemble
from critmin.sampling import sample
from critmin.scenario import load_scenario, parse_scenario

GA = """
name = "ga-uncertain"
start = "2024-12"
months = 12
[[disruption]]
exporter = "CHN"
materials = ["Ga"]
stages = ["separation"]
targets = ["USA"]
severity = 1.0
start = "2024-12"
months = 9
"""


@pytest.fixture(scope="module")
def chain(built_store) -> SupplyChain:
    return SupplyChain.from_store(built_store)


def with_uncertain(text: str, *entries: str) -> str:
    return text + "".join("[[uncertain]]\n" + e + "\n" for e in entries)


def test_draw_k_is_the_same_whatever_the_chunk(chain):
    s = parse_scenario(
        with_uncertain(
            GA,
            'field = "disruption[0].severity"\ndist = "uniform"\nlow = 0.2\nhigh = 1.0',
            'field = "disruption[0].months"\ndist = "choice"\nvalues = [3, 6, 9]',
        )
    )
    a = sample(s, 0, 10, seed=5)
    b = sample(s, 4, 6, seed=5)
    assert np.array_equal(a["disruption[0].severity"][4:], b["disruption[0].severity"])
    e1 = run_ensemble(s, chain, 30, seed=5, chunk=30)
    e2 = run_ensemble(s, chain, 30, seed=5, chunk=7)
    assert np.array_equal(e1.shortfall, e2.shortfall) and np.array_equal(e1.first_short, e2.first_short)
    e3 = run_ensemble(s, chain, 30, seed=6, chunk=30)
    assert not np.array_equal(e1.shortfall, e3.shortfall)


def test_threads_do_not_change_a_draw(chain):
    s = load_scenario("china-embargo-framework-12m").with_changes(
        uncertain=[
            {"field": "disruption[0].severity", "dist": "uniform", "low": 0.5, "high": 1.0},
            {"field": "disruption[0].months", "dist": "triangular", "low": 3, "mode": 9, "high": 18},
        ]
    )
    s = s.with_changes(uncertain=[*s.uncertain, {"field": "disruption[0].happens", "dist": "bernoulli", "p": 0.6}])
    one = run_ensemble(s, chain, 40, seed=4, chunk=40, threads=1)
    many = run_ensemble(s, chain, 40, seed=4, chunk=6, threads=3)
    assert one.shortfall.sum() > 0
    for name in ("demand", "shortfall", "defence_shortfall", "first_short", "peak_price"):
        assert np.array_equal(getattr(one, name), getattr(many, name)), name
    lp_one = run_ensemble(s, chain, 2, seed=4, chunk=1, engine="lp", threads=2)
    scale = one.demand[:2].astype(float).sum(-1, keepdims=True)
    assert np.all(np.abs(lp_one.shortfall - one.shortfall[:2]) <= 1e-5 * np.abs(one.shortfall[:2]) + 1e-7 * scale)


def test_early_stop_falls_on_the_same_chunk_whatever_the_threads(chain):
    s = parse_scenario(with_uncertain(GA, 'field = "disruption[0].severity"\ndist = "uniform"\nlow = 0.2\nhigh = 1.0'))
    one = run_ensemble(s, chain, 400, seed=2, chunk=20, target_stderr=0.2, threads=1)
    two = run_ensemble(s, chain, 400, seed=2, chunk=20, target_stderr=0.2, threads=2)
    assert 0 < one.draws < 400 and one.draws % 20 == 0
    assert two.draws == one.draws and np.array_equal(one.shortfall, two.shortfall)


def test_bernoulli_gives_p_times_the_certain_shortfall(chain):
    certain = run_scenario(parse_scenario(GA), chain)
    s_certain = float(certain.dataset["shortfall_t"].sel(material="Ga", region="USA").sum())
    assert s_certain > 0
    s = parse_scenario(with_uncertain(GA, 'field = "disruption[0].happens"\ndist = "bernoulli"\np = 0.3'))
    n = 400
    ens = run_ensemble(s, chain, n, seed=11, chunk=200)
    happened = sample(s, 0, n, seed=11)["disruption[0].happens"]
    m = risk_metrics(ens)
    row = m[(m.material == "Ga") & (m.region == "USA")].iloc[0]
    # exactly: the share of draws where it happened times the certain shortfall
    assert row.expected_shortfall_t == pytest.approx(happened.mean() * s_certain, rel=1e-5)
    # and the closed form p x S within four standard errors
    assert abs(row.expected_shortfall_t - 0.3 * s_certain) < 4 * row.stderr_expected_shortfall_t
    assert row.p_shortfall == pytest.approx(happened.mean())
    # CVaR95 of a two-point distribution with p > 5 % is the certain shortfall
    assert row.cvar95_t == pytest.approx(s_certain, rel=1e-5)


def test_standard_error_falls_as_one_over_root_n(chain):
    s = parse_scenario(with_uncertain(GA, 'field = "disruption[0].severity"\ndist = "uniform"\nlow = 0.0\nhigh = 1.0'))
    small = risk_metrics(run_ensemble(s, chain, 100, seed=3, chunk=100))
    big = risk_metrics(run_ensemble(s, chain, 400, seed=3, chunk=400))
    pick = lambda m: m[(m.material == "Ga") & (m.region == "USA")].iloc[0].stderr_expected_shortfall_t  # noqa: E731
    ratio = pick(small) / pick(big)
    assert 1.5 < ratio < 2.7, ratio  # sqrt(400 / 100) = 2


def test_dask_cluster_gives_identical_results(chain):
    distributed = pytest.importorskip("dask.distributed")
    s = parse_scenario(with_uncertain(GA, 'field = "disruption[0].severity"\ndist = "beta"\na = 2\nb = 5'))
    local = run_ensemble(s, chain, 24, seed=9, chunk=8)
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    with cluster, distributed.Client(cluster) as client:
        remote = run_ensemble(s, chain, 24, seed=9, chunk=5, client=client)
    assert np.array_equal(local.shortfall, remote.shortfall)
    assert np.array_equal(local.peak_price, remote.peak_price)


@pytest.mark.parametrize(
    ("entry", "needle"),
    [
        ('field = "disruption[0].severity"\ndist = "uniform"\nlow = 1.0\nhigh = 0.5', "low (1.0) is above high (0.5)"),
        ('field = "disruption[0].happens"\ndist = "bernoulli"\np = 1.2', "p must be between 0 and 1"),
        ('field = "disruption[0].months"\ndist = "normal"\nmean = 6\nsd = -1', "sd must be positive"),
        ('field = "disruption[1].months"\ndist = "fixed"\nvalue = 3', "has 1 [[disruption]] entries"),
        ('field = "disruption[0].sevrity"\ndist = "fixed"\nvalue = 3', "did you mean 'severity'"),
        ('field = "disruption[0].severity"\ndist = "uniform"\nlow = 0.1', "uniform needs high"),
    ],
)
def test_impossible_distributions_rejected_with_path(entry, needle):
    with pytest.raises(UserError) as exc:
        parse_scenario(with_uncertain(GA, entry), "u.toml")
    assert needle in str(exc.value) and "uncertain" in str(exc.value)


def test_mc_cli_json_and_errors(capsys, built_store, tmp_path: Path):
    db = tmp_path / "mc.duckdb"
    shutil.copy(built_store.path, db)
    f = tmp_path / "u.toml"
    f.write_text(
        with_uncertain(GA, 'field = "disruption[0].severity"\ndist = "triangular"\nlow = 0\nmode = 0.8\nhigh = 1')
    )
    code = main(["--db", str(db), "mc", str(f), "--draws", "40", "--seed", "2", "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0
    assert doc["draws"] == 40 and doc["seed"] == 2 and doc["run_id"]
    keys = {"material", "region", "expected_shortfall_t", "p_shortfall", "cvar95_t", "stderr_expected_shortfall_t"}
    assert all(keys <= set(r) for r in doc["metrics"])
    assert Path(doc["per_draw_parquet"]).exists()
    ga = next(r for r in doc["metrics"] if r["material"] == "Ga" and r["region"] == "USA")
    assert 0 < ga["p_shortfall"] <= 1 and ga["cvar95_t"] >= ga["expected_shortfall_t"]
    for args, needle in ((["--draws", "0"], "at least 1"), (["--seed", "x"], "")):
        code = main(["--db", str(db), "mc", str(f), *args])
        assert code == 2
        err = capsys.readouterr().err
        assert needle in err


def test_builtin_without_uncertainty_repeats_one_run(chain):
    s = load_scenario("ga-ge-ban-us")
    ens = run_ensemble(s, chain, 5, chunk=5)
    assert np.all(ens.shortfall == ens.shortfall[0])
    run = run_scenario(s, chain)
    ga = float(run.dataset["shortfall_t"].sel(material="Ga", region="USA").sum())
    assert math.isclose(float(ens.shortfall[0, ens.pair("Ga", "USA")]), ga, rel_tol=1e-5)
