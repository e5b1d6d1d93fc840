"""The price-floor and offtake lever: the shipped price series, the mean-reverting price model (fit,
user files, paths) and the cost of a floor or an offtake guarantee to the guarantor."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from critmin.errors import UserError
from critmin.levers import price_floor as pf
from critmin.levers.price_floor import offtake_guarantee, price_floor
from critmin.levers.price_model import (
    CHUNK_PATHS,
    PriceModel,
    PriceSeries,
    fit_price_model,
    load_price_series,
    price_paths,
    read_price_model,
    read_price_table,
)

#: a model with known, fixed parameters (no parameter uncertainty)
KNOWN = PriceModel.from_values(100.0, 6.0, 0.1)


def _synthetic(seed: int, months: int = 600, mu: float = 80.0, kappa: float = 0.1, sigma: float = 0.1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    m = math.log(mu)
    x = np.empty(months)
    x[0] = m
    for t in range(1, months):
        x[t] = m + math.exp(-kappa) * (x[t - 1] - m) + sigma * rng.standard_normal()
    return x


# --- the shipped series -------------------------------------------------------------------------


def test_shipped_series_loads_and_every_row_is_sourced():
    raw = read_price_table()
    assert set(raw["kind"]) == {"price", "fx"}
    assert (raw["source"].str.strip() != "").all()
    assert raw["confidence"].isin(["read", "read-secondary", "derived", "assumption"]).all()
    assert raw["value"].notna().all() and (raw["value"] > 0).all()
    assert set(raw.loc[raw["kind"] == "price", "unit"]) <= {"CNY/t", "USD/kg"}
    fx = raw[raw["kind"] == "fx"]
    assert (fx["unit"] == "CNY/USD").all() and fx["value"].between(6.5, 7.5).all()
    s = load_price_series("NdPr")
    assert s.material == "NdPr" and s.origin == "critmin/data/price_series.csv"
    t = s.table
    assert np.isfinite(t["usd_per_kg"]).all() and (t["usd_per_kg"] > 0).all()
    cny = t[t["unit"] == "CNY/t"]
    assert cny["fx_cny_per_usd"].between(6.9, 7.3).all()
    # USD = CNY/t / 1000 / (CNY per USD)
    assert np.allclose(cny["usd_per_kg"], cny["value"] / 1000 / cny["fx_cny_per_usd"])
    # the two anchors of the issue: ~$63 at the floor's announcement, $123 in February 2026
    assert set(t.loc[t["date"] == "2025-07-09", "usd_per_kg"].round(1)) == {63.0, 63.5}
    assert (s.latest_date, s.latest_usd_per_kg) == ("2026-02-19", 123.0)


@pytest.mark.parametrize("name", ["NdPr", "ndpr oxide", "PrNd", "Pr-Nd oxide", " NDPR "])
def test_material_aliases(name):
    assert load_price_series(name).material == "NdPr"


def test_unknown_material_says_did_you_mean_and_lists_the_materials():
    with pytest.raises(UserError, match=r"no price series for material 'NdP' \(did you mean 'NdPr'\?\); .*: NdPr"):
        price_floor("NdP", 110, 1000, 10, draws=10)
    with pytest.raises(UserError, match=r"no price series for material 'gallium'; materials with a price series: NdPr"):
        price_floor("gallium", 110, 1000, 10, draws=10)


# --- the fit ------------------------------------------------------------------------------------


def test_fit_on_the_shipped_series_shows_its_uncertainty():
    m = fit_price_model(load_price_series())
    doc = m.document()
    json.dumps(doc, allow_nan=False)
    assert m.mean_reverting and m.kind == "fitted" and m.has_parameter_uncertainty
    assert (doc["n_obs"], doc["first_month"], doc["last_month"]) == (16, "2020-07", "2026-02")
    for key in ("long_run", "half_life", "volatility"):
        value = next(v for k, v in doc.items() if k.startswith(key) and "stderr" not in k and "ci95" not in k)
        se = next(v for k, v in doc.items() if k.startswith(f"{key}_stderr"))
        lo, hi = next(v for k, v in doc.items() if k.startswith(f"{key}_ci95"))
        assert 0 < se < value and lo < value < hi
    assert 50 < doc["long_run_usd_per_kg"] < 150 and 1 < doc["half_life_months"] < 60
    assert list(m.table()["parameter"]) == ["long-run level", "half-life of reversion", "volatility"]


@pytest.mark.parametrize("irregular", [False, True])
def test_fit_recovers_known_parameters_within_three_standard_errors(irregular):
    x = _synthetic(seed=3)
    dates = pd.date_range("1960-01-15", periods=len(x), freq="MS") + pd.Timedelta(days=14)
    keep = np.ones(len(x), dtype=bool)
    if irregular:  # drop a third of the months at random: gaps of several months
        keep = np.random.default_rng(9).random(len(x)) > 1 / 3
        keep[0] = True
    m = fit_price_model(PriceSeries.from_prices(dates[keep], np.exp(x[keep])))
    se = m.stderrs()
    assert m.n_obs == keep.sum()
    assert m.long_run_usd_per_kg is not None and m.half_life_months is not None
    assert abs(m.long_run_usd_per_kg - 80.0) < 3 * se["long_run_stderr_usd_per_kg"]
    assert abs(m.half_life_months - math.log(2) / 0.1) < 3 * se["half_life_stderr_months"]
    assert abs(m.volatility_per_month - 0.1) < 3 * se["volatility_stderr_per_month"]


def test_several_quotes_in_a_month_are_one_observation():
    s = PriceSeries.from_prices(["2025-01-03", "2025-01-20", "2025-02-10"], [50.0, 72.0, 70.0])
    monthly = s.monthly()
    assert list(monthly["month"]) == ["2025-01", "2025-02"] and list(monthly["quotes"]) == [2, 1]
    assert monthly["log_usd_per_kg"].iloc[0] == pytest.approx(math.log(60.0))


def test_a_trending_series_fits_as_a_random_walk():
    rng = np.random.default_rng(1)
    x = 4 + 0.03 * np.arange(60) + 0.02 * rng.standard_normal(60)
    series = PriceSeries.from_prices(pd.date_range("2000-01-15", periods=60, freq="MS"), np.exp(x))
    m = fit_price_model(series)
    assert not m.mean_reverting and m.long_run_usd_per_kg is None and m.half_life_months is None
    r = price_floor("NdPr", 50, 100, 2, draws=500, series=series)
    assert any("random walk" in n for n in r.notes)
    json.dumps(r.document(), allow_nan=False)


def test_a_series_too_short_or_flat_cannot_be_fitted():
    with pytest.raises(UserError, match="a fit needs at least 4"):
        fit_price_model(PriceSeries.from_prices(["2025-01-01", "2025-02-01"], [60.0, 61.0]))
    with pytest.raises(UserError, match="does not move"):
        fit_price_model(PriceSeries.from_prices(pd.date_range("2025-01-01", periods=6, freq="MS"), [60.0] * 6))
    with pytest.raises(UserError, match="positive finite"):
        PriceSeries.from_prices(["2025-01-01"], [float("nan")])


# --- paths --------------------------------------------------------------------------------------


def test_paths_are_reproducible_and_a_larger_run_extends_a_smaller_one():
    m = fit_price_model(load_price_series())
    small = np.vstack([p for _, p in price_paths(m, 123.0, 24, 100, seed=5)])
    again = np.vstack([p for _, p in price_paths(m, 123.0, 24, 100, seed=5)])
    large = np.vstack([p for _, p in price_paths(m, 123.0, 24, CHUNK_PATHS + 50, seed=5)])
    other = np.vstack([p for _, p in price_paths(m, 123.0, 24, 100, seed=6)])
    assert np.array_equal(small, again) and np.array_equal(small, large[:100])
    assert not np.array_equal(small, other)
    assert large.shape == (CHUNK_PATHS + 50, 24) and np.all(large > 0)


# --- the floor ----------------------------------------------------------------------------------


def test_a_floor_far_below_all_sampled_prices_costs_nothing():
    m = fit_price_model(load_price_series())
    lowest = min(float(p.min()) for _, p in price_paths(m, 123.0, 120, 5000, seed=2))
    r = price_floor("NdPr", lowest / 2, 1300, 10, draws=5000, seed=2, upside_share=0.0)
    assert r.expected_cost_usd == 0.0 and r.p_any_payment == 0.0
    assert r.p50_cost_usd == 0.0 and r.p95_cost_usd == 0.0 and r.expected_payment_usd == 0.0
    assert all(y.expected_cost_usd == 0.0 and y.p95_cost_usd == 0.0 for y in r.cost_by_year)


def test_a_floor_far_above_costs_the_gap_to_the_analytic_mean_price():
    volume, years, floor = 12.0, 5, 1e4  # 12 t/yr = 1,000 kg a month
    r = price_floor("NdPr", floor, volume, years, start_price_usd_per_kg=130.0, price_model=KNOWN, draws=20_000)
    months = np.arange(1, 12 * years + 1)
    expected = float(np.sum((floor - KNOWN.expected_price(130.0, months)) * 1000.0))
    assert r.p_any_payment == 1.0 and not r.parameter_uncertainty
    assert abs(r.expected_cost_usd - expected) < 4 * r.expected_cost_stderr_usd
    # the mean price itself, not only the floor, is checked: the error is small against the price part
    price_part = float(np.sum(KNOWN.expected_price(130.0, months) * 1000.0))
    assert abs(r.expected_cost_usd - expected) < 0.01 * price_part
    # and year by year
    by_year = [float(np.sum((floor - KNOWN.expected_price(130.0, m)) * 1000.0)) for m in months.reshape(years, 12)]
    assert [y.expected_cost_usd for y in r.cost_by_year] == pytest.approx(by_year, rel=1e-3)


def test_discounting_lowers_the_cost_as_the_analytic_mean_says():
    rate, floor = 0.08, 1e4
    kw = {"start_price_usd_per_kg": 100.0, "price_model": KNOWN, "draws": 5000, "discount_rate": rate}
    r = price_floor("NdPr", floor, 12.0, 3, **kw)
    months = np.arange(1, 37)
    expected = float(np.sum((floor - KNOWN.expected_price(100.0, months)) * 1000.0 * (1 + rate) ** (-months / 12)))
    assert abs(r.expected_cost_usd - expected) < 4 * r.expected_cost_stderr_usd


def test_same_seed_identical_different_seed_different():
    a = price_floor("NdPr", 110, 1300, 10, upside_share=0.3, draws=2000, seed=11)
    b = price_floor("NdPr", 110, 1300, 10, upside_share=0.3, draws=2000, seed=11)
    c = price_floor("NdPr", 110, 1300, 10, upside_share=0.3, draws=2000, seed=12)
    assert a.document() == b.document()
    assert a.expected_cost_usd != c.expected_cost_usd


def test_upside_share_lowers_the_cost_by_exactly_the_expected_upside():
    kw = {"draws": 3000, "seed": 4}
    none = price_floor("NdPr", 110, 1300, 10, upside_share=0.0, **kw)
    some = price_floor("NdPr", 110, 1300, 10, upside_share=0.3, **kw)
    full = price_floor("NdPr", 110, 1300, 10, upside_share=1.0, **kw)
    assert none.expected_upside_received_usd == 0.0 and some.expected_upside_received_usd > 0
    assert some.expected_payment_usd == none.expected_payment_usd
    assert none.expected_cost_usd - some.expected_cost_usd == pytest.approx(some.expected_upside_received_usd, rel=1e-9)
    assert some.expected_upside_received_usd == pytest.approx(0.3 * full.expected_upside_received_usd, rel=1e-9)
    assert some.p_any_payment == none.p_any_payment
    assert any("can be negative" in n for n in some.notes)


def test_the_dod_mp_deal_from_the_latest_price():
    r = price_floor("NdPr", 110, 1300, 10, upside_share=0.3, draws=4000, seed=0)
    doc = r.document()
    json.dumps(doc, allow_nan=False)
    required = {"material", "floor_usd_per_kg", "volume_t_per_yr", "years", "start_price_usd_per_kg",
                "expected_cost_usd", "p50_cost_usd", "p95_cost_usd", "p_any_payment", "cost_by_year", "model",
                "draws", "seed"}  # fmt: skip
    assert required <= set(doc)
    assert doc["start_price_usd_per_kg"] == 123.0 and doc["start_price_date"] == "2026-02-19"
    assert doc["model"]["parameter_uncertainty"] is True and doc["model"]["kind"] == "fitted"
    assert [y["year"] for y in doc["cost_by_year"]] == list(range(1, 11))
    assert sum(y["expected_cost_usd"] for y in doc["cost_by_year"]) == pytest.approx(doc["expected_cost_usd"])
    assert 0 < doc["p50_cost_usd"] < doc["p95_cost_usd"] and 0 < doc["p_any_payment"] <= 1
    # starting above the floor, the first year costs less than later ones
    assert doc["cost_by_year"][0]["expected_cost_usd"] < doc["cost_by_year"][-1]["expected_cost_usd"]
    table = r.table()
    assert list(table.columns) == ["year", "expected_cost_usd", "p95_cost_usd"] and table["year"].iloc[-1] == "total"


def test_parameter_uncertainty_can_be_switched_off():
    on = price_floor("NdPr", 110, 1300, 10, draws=2000)
    off = price_floor("NdPr", 110, 1300, 10, draws=2000, parameter_uncertainty=False)
    assert on.parameter_uncertainty and not off.parameter_uncertainty
    assert on.p95_cost_usd != off.p95_cost_usd


def test_yearly_percentiles_respect_the_memory_bound(monkeypatch):
    monkeypatch.setattr(pf, "MAX_YEARLY_BYTES", 8 * 10 * 1000)  # room for 1,000 paths of 10 years
    r = price_floor("NdPr", 110, 1300, 10, draws=3000)
    assert r.cost_by_year_p95_draws == 1000 and any("first 1,000 paths" in n for n in r.notes)
    assert sum(y.expected_cost_usd for y in r.cost_by_year) == pytest.approx(r.expected_cost_usd)


# --- offtake ------------------------------------------------------------------------------------


def test_offtake_equals_the_floor_when_the_whole_volume_is_put():
    kw = {"draws": 2000, "seed": 8}
    floor = price_floor("NdPr", 110, 1300, 10, **kw)
    offtake = offtake_guarantee("NdPr", 110, 1300, 10, take_share=1.0, **kw)
    a, b = floor.document(), offtake.document()
    assert a.pop("contract") == "floor" and b.pop("contract") == "offtake"
    assert a == b
    half = offtake_guarantee("NdPr", 110, 1300, 10, take_share=0.5, **kw)
    assert half.expected_cost_usd == pytest.approx(0.5 * floor.expected_cost_usd, rel=1e-12)
    assert half.p_any_payment == floor.p_any_payment and half.take_share == 0.5
    none = offtake_guarantee("NdPr", 110, 1300, 10, take_share=0.0, **kw)
    assert none.expected_cost_usd == 0.0 and none.p_any_payment == 0.0


# --- user mistakes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"volume_t_per_yr": -5}, r"--volume-t-per-yr must be a positive number of tonnes a year up to 1e9 \(got -5\)"),
        ({"volume_t_per_yr": 1e308}, r"--volume-t-per-yr must be .* up to 1e9"),
        ({"floor_usd_per_kg": 1e300}, r"--floor must be .* up to 1e6"),
        ({"volume_t_per_yr": 0}, "--volume-t-per-yr must be a positive"),
        ({"floor_usd_per_kg": float("nan")}, r"--floor must be a positive number of USD/kg up to 1e6 \(got nan\)"),
        ({"floor_usd_per_kg": float("inf")}, "--floor must be a positive"),
        ({"floor_usd_per_kg": "110"}, "--floor must be a positive"),
        ({"years": 0}, "--years must be a whole number from 1 to 40"),
        ({"years": 41}, "--years must be a whole number from 1 to 40"),
        ({"years": 2.5}, "--years must be a whole number"),
        ({"draws": 0}, "--draws must be a whole number from 1 to 10,000,000"),
        ({"draws": 10_000_001}, "--draws must be a whole number from 1 to 10,000,000"),
        ({"seed": -1}, "--seed must be a whole number"),
        ({"upside_share": 1.5}, r"--upside-share must be a share from 0 to 1 \(got 1.5\)"),
        ({"upside_share": float("nan")}, "--upside-share must be a share"),
        ({"discount_rate": -0.1}, "--discount-rate must be"),
        ({"start_price_usd_per_kg": float("nan")}, "--start-price must be a positive"),
        ({"start_price_usd_per_kg": 0}, "--start-price must be a positive"),
    ],
)
def test_bad_inputs_are_user_errors(kwargs, message):
    args = {"material": "NdPr", "floor_usd_per_kg": 110, "volume_t_per_yr": 1000, "years": 10, "draws": 10}
    with pytest.raises(UserError, match=message):
        price_floor(**{**args, **kwargs})


def test_bad_take_share_is_a_user_error():
    with pytest.raises(UserError, match="--take-share must be a share from 0 to 1"):
        offtake_guarantee("NdPr", 110, 1000, 10, take_share=2.0, draws=10)
    with pytest.raises(UserError, match="--price must be a positive"):
        offtake_guarantee("NdPr", -1, 1000, 10, draws=10)


def _toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "model.toml"
    path.write_text(text, encoding="utf-8")
    return path


GOOD = "long_run_usd_per_kg = 90\nhalf_life_months = 12\nvolatility_per_month = 0.1\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            GOOD + "half_life_month = 3\n",
            r"model.toml:4: unknown key 'half_life_month' \(did you mean 'half_life_months'",
        ),
        ("long_run_usd_per_kg = 90\nhalf_life_months = 12\n", r"model.toml: missing key 'volatility_per_month'"),
        (GOOD.replace("0.1", "-0.1"), r"model.toml:3: volatility_per_month: input should be greater than 0 \(got -0"),
        (GOOD.replace("0.1", "nan"), r"model.toml:3: volatility_per_month: input should be a finite number"),
        (GOOD.replace("90", '"90"'), r"model.toml:1: long_run_usd_per_kg: input should be a valid number"),
        (GOOD + "start_usd_per_kg = 0\n", r"model.toml:4: start_usd_per_kg: input should be greater than 0"),
        ("long_run_usd_per_kg = = 90\n", r"model.toml: not valid TOML"),
        (GOOD + "half_life_stderr_months = -1\n", r"half_life_stderr_months: input should be greater than or equal"),
    ],
)
def test_bad_price_model_files_are_user_errors_naming_file_line_and_key(tmp_path, text, message):
    path = _toml(tmp_path, text)
    with pytest.raises(UserError, match=message):
        price_floor("NdPr", 110, 1000, 10, price_model=path, draws=10)


def test_missing_price_model_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="price model file not found"):
        price_floor("NdPr", 110, 1000, 10, price_model=tmp_path / "nope.toml", draws=10)


def test_a_price_model_file_is_used_with_its_start_price(tmp_path):
    path = _toml(tmp_path, GOOD + 'start_usd_per_kg = 100\nsource = "desk view, March 2026"\n')
    model, start = read_price_model(path)
    assert start == 100.0 and not model.has_parameter_uncertainty and "desk view" in model.source
    r = price_floor("NdPr", 110, 1000, 10, price_model=path, draws=500)
    assert r.start_price_usd_per_kg == 100.0 and r.start_price_from == "price model file"
    assert not r.parameter_uncertainty and r.model.kind == "user"
    assert r.document()["model"]["half_life_months"] == pytest.approx(12.0)
    given = price_floor("NdPr", 110, 1000, 10, price_model=path, start_price_usd_per_kg=90, draws=500)
    assert given.start_price_usd_per_kg == 90.0 and given.start_price_from == "--start-price"
    uncertain = _toml(tmp_path, GOOD + "half_life_stderr_months = 4\nvolatility_stderr_per_month = 0.02\n")
    r2 = price_floor("NdPr", 110, 1000, 10, price_model=uncertain, draws=500)
    assert r2.parameter_uncertainty
    assert r2.model.stderrs()["half_life_stderr_months"] == pytest.approx(4.0)
