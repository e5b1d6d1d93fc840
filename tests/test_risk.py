"""Monte Carlo ensembles: reproducibility, deterministic scenarios, closed-form checks, the labelled
result and its memory, kept monthly series, storage (atomic, run ids), Dask, bad input."""

from __future__ import annotations

import math
import os
import pickle
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from critmin.chain import SupplyChain
from critmin.engine import build_network, compile_scenario, run_scenario
from critmin.errors import UserError
from critmin.risk import (
    Ensemble,
    _network,
    convergence,
    convergence_table,
    dask_client,
    mc_run_id,
    metrics_table,
    risk_metrics,
    run_ensemble,
    save_ensemble,
)
from critmin.sampling import apply_draws, sample
from critmin.scenario import load_scenario, parse_scenario
from critmin.store import Store

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

PER_DRAW = ("demand_t", "shortfall_t", "defence_demand_t", "defence_shortfall_t", "first_short_month")


@pytest.fixture(scope="module")
def chain(built_store) -> SupplyChain:
    return SupplyChain.from_store(built_store)


@pytest.fixture(scope="module")
def client():
    """A local Dask cluster of two one-thread workers, started as the CLI starts it."""
    pytest.importorskip("dask.distributed")
    c = dask_client(2)
    yield c
    c.close()


def with_uncertain(text: str, *entries: str) -> str:
    return text + "".join("[[uncertain]]\n" + e + "\n" for e in entries)


def ga_uncertain(entry: str = 'field = "disruption[0].severity"\ndist = "uniform"\nlow = 0.2\nhigh = 1.0'):
    return parse_scenario(with_uncertain(GA, entry))


def same_draws(a: Ensemble, b: Ensemble) -> bool:
    names = [*PER_DRAW, "peak_price_index", *(["monthly_shortfall_t"] if "monthly_shortfall_t" in a else [])]
    return a.draws == b.draws and all(np.array_equal(a[v].values, b[v].values) for v in names)


# -- reproducibility ------------------------------------------------------------------------------


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
    assert same_draws(e1, e2)
    e3 = run_ensemble(s, chain, 30, seed=6, chunk=30)
    assert not np.array_equal(e1["shortfall_t"].values, e3["shortfall_t"].values)


def test_threads_do_not_change_a_draw(chain):
    s = load_scenario("china-embargo-framework-12m").with_changes(
        uncertain=[
            {"field": "disruption[0].severity", "dist": "uniform", "low": 0.5, "high": 1.0},
            {"field": "disruption[0].months", "dist": "triangular", "low": 3, "mode": 9, "high": 18},
            {"field": "disruption[0].happens", "dist": "bernoulli", "p": 0.6},
        ]
    )
    one = run_ensemble(s, chain, 40, seed=4, chunk=40, threads=1, keep_monthly=[("Nd", "JPN")])
    many = run_ensemble(s, chain, 40, seed=4, chunk=6, threads=3, keep_monthly=[("Nd", "JPN")])
    assert float(one["shortfall_t"].sum()) > 0
    assert same_draws(one, many)
    lp_one = run_ensemble(s, chain, 2, seed=4, chunk=1, engine="lp", threads=2)
    fast = one.shortfall[:2]
    scale = one.demand[:2].astype(float).sum(-1, keepdims=True)
    assert np.all(np.abs(lp_one.shortfall - fast) <= 1e-5 * np.abs(fast) + 1e-7 * scale)


@pytest.mark.parametrize("mode", ["market", "coordinated"])
def test_monthly_defence_shortfall_adds_up_to_the_horizon_total(chain, mode):
    s = load_scenario("apr2025-heavy-ree").with_changes(
        uncertain=[{"field": "disruption[0].severity", "dist": "uniform", "low": 0.3, "high": 1.0}]
    )
    kept = [("Dy", "JPN"), ("Nd", "USA")]
    ens = run_ensemble(s, chain, 30, seed=3, chunk=15, mode=mode, keep_monthly=kept, monthly_sector="defence")
    assert ens.attrs["monthly_sector"] == "defence"
    for m, r in kept:
        monthly = ens.monthly_shortfall().sel(material=m, region=r).sum("month").values
        total = ens.sel(material=m, region=r)["defence_shortfall_t"].values
        assert float(total.sum()) > 0 or mode == "coordinated"  # the coalition serves defence first
        np.testing.assert_allclose(monthly, total, rtol=1e-4, atol=1e-6)
    with pytest.raises(UserError, match="did you mean 'defence'"):
        run_ensemble(s, chain, 2, seed=3, keep_monthly=kept, monthly_sector="defense")


def test_early_stop_falls_on_the_same_chunk_whatever_the_threads(chain):
    s = ga_uncertain()
    one = run_ensemble(s, chain, 400, seed=2, chunk=20, target_stderr=0.2, threads=1)
    two = run_ensemble(s, chain, 400, seed=2, chunk=20, target_stderr=0.2, threads=2)
    assert 0 < one.draws < 400 and one.draws % 20 == 0
    assert one.attrs["stopped_early"] == 1 and one.attrs["draws"] == one.draws
    assert same_draws(one, two)


# -- issue 10, bug 1: a scenario without [[uncertain]] entries ------------------------------------


def single_run_figures(s, chain, mode=None):
    """Per (material, region): demand, shortfall, first month short (index), and the material's
    price peak, all sectors and defence, from the single deterministic run."""
    run = run_scenario(s, chain, mode=mode)
    ds = run.dataset
    flows = ds[["demand_t", "shortfall_t"]]
    total = flows.sum(("month", "sector"))
    defence = flows.sel(sector="defence").sum("month")
    monthly = flows.sum("sector")
    short_m = (monthly["shortfall_t"] > 1e-9 * monthly["demand_t"]).values  # (month, material, region)
    first = np.where(short_m.any(0), short_m.argmax(0), -1)
    peak = ds["price_index"].max("month")
    return total, defence, first, peak


def assert_metrics_equal_the_single_run(ens, s, chain, mode=None):
    total, defence, first, peak = single_run_figures(s, chain, mode)
    mats = [str(m) for m in total.material.values]
    regs = [str(r) for r in total.region.values]
    m_all = risk_metrics(ens, quantiles=(0.5, 0.95))
    m_def = risk_metrics(ens, sector="defence")
    assert m_all.attrs["draws"] == ens.draws
    checked = short = 0
    for mat, reg in ens.pairs:
        d = float(total["demand_t"].sel(material=mat, region=reg))
        x = float(total["shortfall_t"].sel(material=mat, region=reg))
        row = m_all.sel(material=mat, region=reg)
        assert float(row["expected_demand_t"]) == pytest.approx(d, rel=1e-6)
        assert float(row["expected_shortfall_t"]) == pytest.approx(x, rel=1e-6, abs=1e-6 * d)
        assert float(row["p_shortfall"]) == (1.0 if x > 1e-9 * d else 0.0)
        assert float(row["stderr_expected_shortfall_t"]) == 0.0 and float(row["stderr_p_shortfall"]) == 0.0
        assert np.allclose(row["var_t"].values, x, rtol=1e-6, atol=1e-6 * d)
        assert np.allclose(row["cvar_t"].values, x, rtol=1e-6, atol=1e-6 * d)
        f = int(first[mats.index(mat), regs.index(reg)])
        p50 = float(row["first_short_month_p50"])
        assert (math.isnan(p50) and f < 0) or p50 == f
        assert float(row["expected_peak_price_index"]) == pytest.approx(float(peak.sel(material=mat)), rel=1e-6)
        dd = float(defence["demand_t"].sel(material=mat, region=reg))
        if dd > 0:
            dx = float(defence["shortfall_t"].sel(material=mat, region=reg))
            assert float(m_def["expected_shortfall_t"].sel(material=mat, region=reg)) == pytest.approx(
                dx, rel=1e-6, abs=1e-6 * dd
            )
        checked += 1
        short += x > 1e-9 * d
    assert checked == len(ens.pairs) >= 20 and short >= 4  # pairs that run short in every draw were covered


@pytest.mark.parametrize(("chunk", "threads"), [(7, 1), (10, 2), (4, 2), (25, 1)])
def test_deterministic_scenario_gives_the_single_run_whatever_chunks_and_threads(chain, chunk, threads):
    s = load_scenario("china-embargo-framework-12m")
    assert not s.uncertain
    ens = run_ensemble(s, chain, 25, chunk=chunk, threads=threads)
    assert ens.draws == 25 and ens.attrs["draws"] == 25
    assert_metrics_equal_the_single_run(ens, s, chain)


def test_deterministic_scenario_on_dask_gives_the_single_run(chain, client):
    s = load_scenario("china-embargo-framework-12m")
    ens = run_ensemble(s, chain, 23, chunk=5, client=client)
    assert ens.draws == 23
    assert_metrics_equal_the_single_run(ens, s, chain)


def test_fixed_draws_give_the_single_run_in_a_batch(chain):
    # a "fixed" entry goes through sampling and the batched engine (one batch member per draw)
    s = load_scenario("china-embargo-framework-12m")
    fixed = s.with_changes(uncertain=[{"field": "disruption[0].severity", "dist": "fixed", "value": 1.0}])
    ens = run_ensemble(fixed, chain, 12, chunk=5, threads=2)
    assert_metrics_equal_the_single_run(ens, s, chain)


def test_apply_draws_batch_is_the_count_even_with_nothing_drawn(chain):
    s = load_scenario("ga-ge-ban-us")
    net = build_network(chain, s.regions)
    base = compile_scenario(s, net, chain.blocs, chain)
    drawn = sample(s, 0, 5)
    assert drawn == {}
    assert apply_draws(base, s, drawn, 5).batch == 5
    with pytest.raises(ValueError, match="3 draws for a batch of 5"):
        apply_draws(base, s, {"disruption[0].severity": np.ones(3)}, 5)


# -- closed forms, convergence, labelled metrics --------------------------------------------------


def test_bernoulli_gives_p_times_the_certain_shortfall(chain):
    certain = run_scenario(parse_scenario(GA), chain)
    s_certain = float(certain.dataset["shortfall_t"].sel(material="Ga", region="USA").sum())
    assert s_certain > 0
    s = ga_uncertain('field = "disruption[0].happens"\ndist = "bernoulli"\np = 0.3')
    n = 400
    ens = run_ensemble(s, chain, n, seed=11, chunk=200)
    happened = sample(s, 0, n, seed=11)["disruption[0].happens"]
    row = risk_metrics(ens).sel(material="Ga", region="USA")
    expected = float(row["expected_shortfall_t"])
    # exactly: the share of draws where it happened times the certain shortfall
    assert expected == pytest.approx(happened.mean() * s_certain, rel=1e-5)
    # and the closed form p x S within four standard errors
    assert abs(expected - 0.3 * s_certain) < 4 * float(row["stderr_expected_shortfall_t"])
    assert float(row["p_shortfall"]) == pytest.approx(happened.mean())
    # CVaR95 of a two-point distribution with p > 5 % is the certain shortfall
    assert float(row["cvar_t"].sel(quantile=0.95)) == pytest.approx(s_certain, rel=1e-5)


def test_standard_error_falls_as_one_over_root_n(chain):
    s = ga_uncertain('field = "disruption[0].severity"\ndist = "uniform"\nlow = 0.0\nhigh = 1.0')
    small = risk_metrics(run_ensemble(s, chain, 100, seed=3, chunk=100))
    big = risk_metrics(run_ensemble(s, chain, 400, seed=3, chunk=400))

    def pick(m):
        return float(m["stderr_expected_shortfall_t"].sel(material="Ga", region="USA"))

    assert 1.5 < pick(small) / pick(big) < 2.7  # sqrt(400 / 100) = 2
    conv = convergence(run_ensemble(s, chain, 400, seed=3, chunk=400))
    assert conv["stderr_t"].dims == ("draws",) and list(conv["draws"].values) == [12, 25, 50, 100, 200, 400]
    ratio = float(conv["stderr_t"].sel(draws=100) / conv["stderr_t"].sel(draws=400))
    assert 1.5 < ratio < 2.7
    assert list(convergence_table(conv).columns) == ["draws", "expected_world_shortfall_t", "stderr_t"]


def test_metrics_are_labelled_by_pair_and_quantile(chain):
    s = ga_uncertain()
    ens = run_ensemble(s, chain, 60, seed=1, chunk=60)
    m = risk_metrics(ens, quantiles=(0.5, 0.9, 0.95))
    assert m["var_t"].dims == ("pair", "quantile") and list(m["quantile"].values) == [0.5, 0.9, 0.95]
    ga = m.sel(material="Ga", region="USA")
    x = np.sort(ens["shortfall_t"].sel(material="Ga", region="USA").values.astype(float))
    for q in (0.5, 0.9, 0.95):
        var = float(ga["var_t"].sel(quantile=q))
        assert var == float(np.quantile(x, q, method="higher"))
        assert float(ga["cvar_t"].sel(quantile=q)) == pytest.approx(x[x >= var].mean())
    assert all("units" in m[v].attrs for v in m.data_vars)
    assert m.attrs["run_id"] == ens.attrs["run_id"] and m.attrs["sector"] == "all"
    table = metrics_table(m)
    assert len(table) == 3 * m.sizes["pair"]
    assert {"material", "region", "quantile", "var_t", "cvar_t", "stderr_cvar_t", "draws"} <= set(table.columns)
    assert table["expected_shortfall_t"].is_monotonic_decreasing
    with pytest.raises(UserError, match="between 0 and 1"):
        risk_metrics(ens, quantiles=(1.5,))


def test_result_is_labelled_with_its_provenance_and_memory_bound(chain):
    s = ga_uncertain()
    ens = run_ensemble(s, chain, 50, seed=7, chunk=20)
    assert isinstance(ens, Ensemble) and ens.sizes["draw"] == 50
    for key in ("scenario", "scenario_sha256", "data_sha256", "seed", "engine", "mode", "draws",
                "critmin_version", "created_utc", "run_id"):  # fmt: skip
        assert key in ens.attrs, key
    assert ens.attrs["data_sha256"] == chain.fingerprint and ens.attrs["seed"] == 7
    assert ens.attrs["scenario_sha256"] == s.with_changes(seed=7).digest()
    assert all("units" in ens[v].attrs and ens[v].attrs["period"] == "horizon" for v in ens.data_vars)
    one = ens.sel(material="Ga", region="USA")
    assert one["shortfall_t"].dims == ("draw",)
    grid = ens.unstack("pair")
    assert grid["shortfall_t"].dims == ("draw", "material", "region")
    # memory: 4 float32 and an int16 per draw and pair, a float32 per draw and material
    p, m = ens.sizes["pair"], ens.sizes["price_material"]
    per_draw = sum(ens[v].nbytes for v in ens.data_vars) / ens.draws
    assert per_draw == 18 * p + 4 * m
    kept = run_ensemble(s, chain, 50, seed=7, chunk=20, keep_monthly=[("Ga", "USA"), ("Nd", "JPN")])
    extra = sum(kept[v].nbytes for v in kept.data_vars) / kept.draws - per_draw
    assert extra == 4 * 2 * s.months  # float32 per kept pair and month, nothing else
    assert "monthly_shortfall_t" not in ens


# -- kept monthly series --------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["market", "coordinated"])
def test_kept_monthly_shortfall_equals_the_single_run_by_month(chain, mode):
    s = load_scenario("china-embargo-framework-12m")
    keep = [("Ga", "USA"), ("Nd", "JPN"), ("Dy", "USA")]  # across material groups, not in network order
    ens = run_ensemble(s, chain, 6, chunk=4, mode=mode, keep_monthly=keep)
    monthly = ens.monthly_shortfall()
    assert monthly.dims == ("draw", "pair", "month") and monthly.dtype == np.float32
    assert monthly.attrs["units"] == "t per month" and monthly.attrs["period"] == "month"
    assert [tuple(p) for p in monthly.indexes["pair"]] == keep
    assert list(monthly["month"].values) == list(s.month_labels)
    by_month = run_scenario(s, chain, mode=mode).by_month().set_index(["material", "region", "month"]).sort_index()
    for mat, reg in keep:
        series = monthly.sel(material=mat, region=reg).values.astype(float)  # (draw, month)
        single = by_month.xs((mat, reg)).reindex(list(s.month_labels))
        tol = 1e-6 * float(single["demand_t"].max())
        assert np.all(np.abs(series - single["shortfall_t"].values[None]) <= tol)
        horizon = ens["shortfall_t"].sel(material=mat, region=reg).values.astype(float)
        assert np.allclose(series.sum(-1), horizon, rtol=1e-5, atol=tol)
    assert float(monthly.sel(material="Nd", region="JPN").sum()) > 0


def test_kept_monthly_sums_to_the_horizon_shortfall_in_every_draw(chain):
    s = ga_uncertain('field = "disruption[0].months"\ndist = "choice"\nvalues = [2, 5, 9]')
    ens = run_ensemble(s, chain, 30, seed=3, chunk=8, keep_monthly=[("Ga", "USA")])
    series = ens.monthly_shortfall().sel(material="Ga", region="USA").values.astype(float)
    horizon = ens["shortfall_t"].sel(material="Ga", region="USA").values.astype(float)
    assert horizon.max() > 0 and len(set(np.round(horizon, 3))) > 1
    assert np.allclose(series.sum(-1), horizon, rtol=1e-5, atol=1e-6)
    first = ens["first_short_month"].sel(material="Ga", region="USA").values
    for k in range(ens.draws):  # nothing before the first month short, something in it
        assert (first[k] < 0 and series[k].max() <= 1e-6) or (
            series[k, : first[k]].max(initial=0.0) <= 1e-6 < series[k, first[k]]
        )


def test_keep_monthly_rejects_a_pair_without_demand(chain):
    with pytest.raises(UserError, match="Nd/XXX has no demand"):
        run_ensemble(ga_uncertain(), chain, 5, keep_monthly=[("Nd", "XXX")])
    with pytest.raises(UserError, match="keep_monthly"):
        run_ensemble(ga_uncertain(), chain, 5, keep_monthly=["Nd"])  # type: ignore[list-item]


# -- issue 10, bug 6: storing is atomic ------------------------------------------------------------


def test_a_failed_write_leaves_no_file_and_no_row(chain, store_copy, monkeypatch, tmp_path):
    import critmin.risk as risk

    ens = run_ensemble(ga_uncertain(), chain, 20, seed=1)
    folder = tmp_path / "mc"

    def half_then_fail(ens, path, rows_per_piece=0):
        Path(path).write_bytes(b"PAR1 half a file")
        raise OSError("No space left on device")

    with pytest.raises(UserError, match="no database"):  # checked before anything is written
        save_ensemble(Store(tmp_path / "none.duckdb"), ens, folder)
    assert not folder.exists()
    monkeypatch.setattr(risk, "write_per_draw", half_then_fail)
    with pytest.raises(UserError, match="No space"):
        save_ensemble(store_copy, ens, folder)
    assert list(folder.iterdir()) == []  # neither the final name nor the temporary one
    assert ens.attrs["run_id"] not in set(store_copy.read_runs("mc_runs")["run_id"])
    monkeypatch.undo()

    def no_row(run_id, frames):
        raise RuntimeError("database is locked")

    monkeypatch.setattr(store_copy, "write_run", no_row)
    with pytest.raises(RuntimeError, match="locked"):
        save_ensemble(store_copy, ens, folder)
    assert list(folder.iterdir()) == []


def test_save_stores_the_table_and_the_row(chain, store_copy):
    ens = run_ensemble(ga_uncertain(), chain, 20, seed=1, chunk=8)
    path = save_ensemble(store_copy, ens)
    assert path.name == f"{ens.attrs['run_id']}.parquet" and path.parent == store_copy.path.parent / "mc"
    table = pq.read_table(path)
    assert b"critmin" in table.schema.metadata
    df = table.to_pandas()
    assert len(df) == ens.draws * ens.sizes["pair"]
    ga = df[(df.material == "Ga") & (df.region == "USA")].sort_values("draw")
    assert np.array_equal(ga["shortfall_t"].values, ens["shortfall_t"].sel(material="Ga", region="USA").values)
    row = store_copy.read_runs("mc_runs").set_index("run_id").loc[ens.attrs["run_id"]]
    assert row["draws"] == 20 and row["seed"] == 1 and row["data_sha256"] == chain.fingerprint
    assert row["per_draw_parquet"] == str(path) and row["mode"] == "market"
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left


KILLED_WRITER = """
import sys, time
import numpy as np
import pyarrow.parquet as pq
from critmin.risk import Ensemble, save_ensemble
from critmin.store import Store

write = pq.ParquetWriter.write_table
def slow(self, table, *args, **kwargs):  # a large write: pieces keep coming
    write(self, table, *args, **kwargs)
    time.sleep(0.2)
pq.ParquetWriter.write_table = slow
n, p = 400_000, 30
z = np.zeros((n, p), np.float32)
ens = Ensemble.from_arrays([("Nd", f"R{i}") for i in range(p)], ["Nd"], z, z, z, z, np.full((n, p), -1, np.int16),
                           np.ones((n, 1), np.float32), attrs={"run_id": "mc-killed-0123456789ab"})
print("writing", flush=True)
save_ensemble(Store(sys.argv[1]), ens, sys.argv[2])
"""


def test_a_killed_save_leaves_no_file_under_the_final_name(chain, store_copy, tmp_path):
    folder = tmp_path / "mc"
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(KILLED_WRITER), str(store_copy.path), str(folder)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            partial = list(folder.glob(".*.partial-*")) if folder.exists() else []
            if partial and partial[0].stat().st_size > 0:
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()[1]
        assert partial, "the writer never started"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)  # reaps it and closes the pipes
    assert proc.returncode == -signal.SIGKILL
    assert not (folder / "mc-killed-0123456789ab.parquet").exists()
    assert [p.name for p in folder.iterdir() if not p.name.startswith(".")] == []
    # the next save into the folder removes the killed writer's temporary
    saved = save_ensemble(store_copy, run_ensemble(ga_uncertain(), chain, 2, seed=1), folder=folder)
    assert sorted(p.name for p in folder.iterdir()) == [saved.name]


def test_a_scenario_without_uncertainty_is_simulated_once(chain, monkeypatch):
    import critmin.risk as risk

    calls = []
    real = risk.simulate
    monkeypatch.setattr(risk, "simulate", lambda *a, **k: calls.append(1) or real(*a, **k))
    ens = run_ensemble(load_scenario("ga-ge-ban-us"), chain, 50, chunk=3, threads=2)
    assert ens.sizes["draw"] == 50 and len(calls) == 1
    assert "Ge not simulated" in ens.attrs["notes"]


# -- issue 10, bug 7: run ids -----------------------------------------------------------------------


def test_run_ids_differ_by_mode_and_both_runs_are_stored(chain, store_copy):
    s = ga_uncertain()
    market = run_ensemble(s, chain, 20, seed=1, mode="market")
    coord = run_ensemble(s, chain, 20, seed=1, mode="coordinated")
    assert market.attrs["run_id"] != coord.attrs["run_id"]
    paths = [save_ensemble(store_copy, market), save_ensemble(store_copy, coord)]
    stored = store_copy.read_runs("mc_runs").set_index("run_id")
    assert stored.loc[market.attrs["run_id"], "mode"] == "market"
    assert stored.loc[coord.attrs["run_id"], "mode"] == "coordinated"
    assert all(p.exists() for p in paths) and paths[0] != paths[1]
    # the same inputs give the same id (the rerun replaces an identical result) ...
    again = run_ensemble(s, chain, 20, seed=1, chunk=7, threads=1)
    assert again.attrs["run_id"] == market.attrs["run_id"]
    save_ensemble(store_copy, again)
    assert list(store_copy.read_runs("mc_runs")["run_id"]).count(market.attrs["run_id"]) == 1
    # ... and everything that changes the result changes it
    base = market.attrs["run_id"]
    fp = chain.fingerprint
    assert mc_run_id(s, fp, 20, 1, "compiled", "market") == base
    others = {
        mc_run_id(s, fp, 20, 2, "compiled", "market"),
        mc_run_id(s, fp, 21, 1, "compiled", "market"),
        mc_run_id(s, fp, 20, 1, "lp", "market"),
        mc_run_id(s, fp, 20, 1, "fast", "market"),
        mc_run_id(s, "other data or blocs", 20, 1, "compiled", "market"),
        mc_run_id(s, fp, 20, 1, "compiled", "market", target_stderr=0.1),
        mc_run_id(s.with_changes(months=11), fp, 20, 1, "compiled", "market"),
    }
    assert base not in others and len(others) == 7


# -- Dask -----------------------------------------------------------------------------------------


def test_dask_gives_identical_results_and_the_same_early_stop(chain, client):
    s = ga_uncertain('field = "disruption[0].severity"\ndist = "beta"\na = 2\nb = 5')
    local = run_ensemble(s, chain, 24, seed=9, chunk=8, keep_monthly=[("Ga", "USA")])
    done = []
    remote = run_ensemble(s, chain, 24, seed=9, chunk=5, client=client, keep_monthly=[("Ga", "USA")],
                          progress=done.append)  # fmt: skip
    assert same_draws(local, remote) and sum(done) == 24
    assert remote.attrs["run_id"] == local.attrs["run_id"]
    s = ga_uncertain()
    stop_local = run_ensemble(s, chain, 400, seed=2, chunk=20, target_stderr=0.2, threads=2)
    stop_dask = run_ensemble(s, chain, 400, seed=2, chunk=20, target_stderr=0.2, client=client)
    assert 0 < stop_local.draws < 400 and same_draws(stop_local, stop_dask)


def test_a_cluster_reached_by_its_scheduler_address_gives_the_in_process_result(chain):
    # the recipe for a real cluster (docs/risk.md): workers started elsewhere, critmin connects to
    # the scheduler's address; here the cluster is a LocalCluster started apart from critmin
    distributed = pytest.importorskip("dask.distributed")
    s = load_scenario("china-embargo-framework-12m").with_changes(
        uncertain=[{"field": "disruption[0].severity", "dist": "uniform", "low": 0.5, "high": 1.0}]
    )
    here = run_ensemble(s, chain, 24, seed=5, chunk=8)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0") as cl:
        client = dask_client(scheduler=cl.scheduler_address)
        try:
            there = run_ensemble(s, chain, 24, seed=5, chunk=8, client=client)
        finally:
            client.close()
    assert here.attrs["engine"] == there.attrs["engine"] == "compiled"
    assert same_draws(here, there)


def test_local_workers_allocate_like_the_in_process_run(client):
    # Dask's default MALLOC_TRIM_THRESHOLD_=65536 made every multi-MB temporary an mmap
    env = client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
    assert len(env) == 2 and set(env.values()) == {None}


def test_network_is_cached_by_the_chains_fingerprint(chain):
    regions = load_scenario("ga-ge-ban-us").regions
    net = _network(chain, regions)
    copy = pickle.loads(pickle.dumps(chain))  # what each Dask task used to unpickle
    assert copy is not chain and copy.fingerprint == chain.fingerprint
    assert _network(copy, regions) is net


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_bad_dask_addresses_are_user_errors(monkeypatch):
    pytest.importorskip("dask.distributed")
    for bad in ("notaurl", "tcp://", "http://host:8786", "host:port", ""):
        with pytest.raises(UserError) as exc:
            dask_client(scheduler=bad)
        assert "\n" not in str(exc.value)
    t = time.monotonic()
    with pytest.raises(UserError, match="cannot reach the Dask scheduler") as exc:
        dask_client(scheduler=f"tcp://127.0.0.1:{_closed_port()}", timeout_s=1)
    assert "\n" not in str(exc.value) and time.monotonic() - t < 30
    with pytest.raises(UserError, match="not both"):
        dask_client(2, "tcp://127.0.0.1:8786")
    with pytest.raises(UserError, match="at least 1"):
        dask_client(-1)
    assert dask_client(0, None) is None


# -- bad input ------------------------------------------------------------------------------------


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


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"draws": 0}, "--draws must be at least 1"),
        ({"chunk": 0}, "--chunk must be at least 1"),
        ({"threads": 0}, "--threads must be at least 1"),
        ({"engine": "lpp"}, "unknown engine 'lpp'"),
        ({"mode": "both"}, "unknown mode 'both'"),
        ({"target_stderr": 0.0}, "--target-stderr must be positive"),
        ({"seed": -1}, "--seed must be an integer from 0"),
    ],
)
def test_bad_run_options_are_user_errors(chain, kwargs, needle):
    args = {"draws": 5, **kwargs}
    with pytest.raises(UserError, match=needle):
        run_ensemble(ga_uncertain(), chain, **args)
