"""The 2025 hindcast: the shipped observations and the model-to-observation mapping."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import one
from critmin import hindcast
from critmin.errors import DataValidationError, UserError


@pytest.fixture(scope="module")
def obs() -> pd.DataFrame:
    return hindcast.observations()


def trade_frame(rows: list[tuple[str, str, str, str, str, float, float]]) -> pd.DataFrame:
    """Trade frame from (month, material, stage, exporter, importer, t, product_t) tuples."""
    return pd.DataFrame(rows, columns=list(hindcast.TRADE_COLUMNS))


def price_frame(rows: list[tuple[str, str, str, str, float, float, float]]) -> pd.DataFrame:
    """Price frame from (month, material, stage, region, spot_index, paid_index, usd_per_kg) tuples."""
    return pd.DataFrame(rows, columns=list(hindcast.PRICE_COLUMNS))


NO_PRICES = price_frame([])
NO_TRADE = trade_frame([])


# --------------------------------------------------------------------------- the shipped file


def test_shipped_file_is_in_the_package_data() -> None:
    path = hindcast.data_path()
    assert path.name == "hindcast_2025.csv" and path.is_file()


def test_every_row_has_source_confidence_and_a_finite_value(obs: pd.DataFrame) -> None:
    raw = pd.read_csv(hindcast.data_path(), dtype=str, keep_default_na=False)
    assert len(obs) == len(raw) > 50
    assert list(obs.columns) == list(hindcast.COLUMNS)
    assert obs.source.str.strip().str.len().gt(0).all()
    assert set(obs.confidence) <= set(hindcast.CONFIDENCES)
    assert np.isfinite(obs.value.to_numpy()).all()
    assert not obs.duplicated(hindcast.KEY).any()
    # every derived row says how (a formula or the conversion) in its notes
    derived = obs[obs.confidence == "derived"]
    assert derived.notes.str.contains("formula|midpoint").all()


def test_may_2025_magnet_collapse_is_observed_with_its_source(obs: pd.DataFrame) -> None:
    world = one(obs, indicator="magnet_exports_t", month="2025-05", region="WLD")
    assert world.value == 1238.0 and world.unit == "t/month" and world.material == "NdFeB"
    assert world.source.startswith("http") and world.confidence == "read-secondary"
    assert one(obs, indicator="magnet_exports_t", month="2025-05", region="USA").value == 46.0
    assert one(obs, indicator="magnet_exports_t", month="2025-07", region="WLD").value == 5577.0


def test_baselines_are_the_2024_monthly_means(obs: pd.DataFrame) -> None:
    world = one(obs, indicator="magnet_exports_t", month="2024", region="WLD")
    usa = one(obs, indicator="magnet_exports_t", month="2024", region="USA")
    assert world.value == round(58152 / 12) and usa.value == round(7444 / 12)
    assert world.confidence == usa.confidence == "derived"
    # the EU price baseline is the model's own base price (USGS 2024 annual averages)
    assert one(obs, indicator="price_usd_per_kg", month="2024", region="EU", material="Dy").value == 260.0
    assert one(obs, indicator="price_usd_per_kg", month="2024", region="EU", material="Tb").value == 810.0


def test_2025_monthly_world_magnet_exports_add_up_to_the_reported_year(obs: pd.DataFrame) -> None:
    months = obs[(obs.indicator == "magnet_exports_t") & (obs.region == "WLD") & obs.month.str.startswith("2025-")]
    assert len(months) == 12
    assert months.value.sum() == pytest.approx(57392, abs=5)  # Reuters full year 2025
    usa = obs[(obs.indicator == "magnet_exports_t") & (obs.region == "USA") & obs.month.str.startswith("2025-")]
    assert len(usa) == 12 and usa.value.sum() == pytest.approx(5933, abs=10)


def test_observations_respect_the_vocabulary(obs: pd.DataFrame) -> None:
    assert set(obs.indicator) == set(hindcast.INDICATORS)
    assert (obs.unit == obs.indicator.map(hindcast.UNITS)).all()
    mags = obs[obs.indicator == "magnet_exports_t"]
    assert set(mags.region) == {"WLD", "USA"} and set(mags.stage) == {"magnet"}
    rest = obs[obs.indicator != "magnet_exports_t"]
    assert set(rest.material) == {"Dy", "Tb"} and set(rest.stage) == {"separation"}
    assert set(obs[obs.indicator == "price_usd_per_kg"].region) == {"CHN", "EU"}
    # Europe paid a multiple of China's price once licensing bit (May 2025)
    eu = one(obs, indicator="price_usd_per_kg", month="2025-05", region="EU", material="Dy").value
    chn = one(obs, indicator="price_usd_per_kg", month="2025-05", region="CHN", material="Dy").value
    assert 3 < eu / chn < 4.5


def test_china_prices_are_converted_at_the_stated_rate(obs: pd.DataFrame) -> None:
    row = one(obs, indicator="price_usd_per_kg", month="2025-04", region="CHN", material="Dy")
    # SMM 10 Apr 2025: 1,680,000-1,700,000 CNY/t -> midpoint 1,690,000 / 1000 / 7.18
    assert row.value == pytest.approx(1_690_000 / 1000 / 7.18, abs=0.01)
    assert "7.18 CNY/USD" in row.notes


# --------------------------------------------------------------------------- validation


HEADER = ",".join(hindcast.COLUMNS)
GOOD = "magnet_exports_t,2025-05,1238,t/month,WLD,magnet,NdFeB,https://x,read-secondary,"


def write(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "obs.csv"
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    return path


def test_a_good_file_reads(tmp_path: Path) -> None:
    df = hindcast.observations(write(tmp_path, GOOD))
    assert df.value.tolist() == [1238.0] and df.notes.tolist() == [""]


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ("magnet_exports_t,2025-05,1238,t/month,WLD,magnet,NdFeB,,read-secondary,", "source"),
        ("magnet_exports_t,2025-05,1238,t/month,WLD,magnet,NdFeB,https://x,,", "confidence"),
        ("magnet_exports_t,2025-05,1238,t/month,WLD,magnet,NdFeB,https://x,assumption,", "confidence"),
        ("magnet_exports_t,2025-05,,t/month,WLD,magnet,NdFeB,https://x,read,", "value"),
        ("magnet_exports_t,2025-05,inf,t/month,WLD,magnet,NdFeB,https://x,read,", "value"),
        ("magnet_exports_t,2025-05,many,t/month,WLD,magnet,NdFeB,https://x,read,", "value"),
        ("magnet_exports_t,2025-13,1238,t/month,WLD,magnet,NdFeB,https://x,read,", "month"),
        ("magnet_exports_t,May 2025,1238,t/month,WLD,magnet,NdFeB,https://x,read,", "month"),
        ("magnets,2025-05,1238,t/month,WLD,magnet,NdFeB,https://x,read,", "indicator"),
        ("magnet_exports_t,2025-05,1238,kg,WLD,magnet,NdFeB,https://x,read,", "unit"),
        (GOOD, "month"),  # a second row with the same key
    ],
)
def test_bad_rows_are_refused_with_their_line(tmp_path: Path, line: str, field: str) -> None:
    with pytest.raises(DataValidationError) as err:
        hindcast.observations(write(tmp_path, GOOD, line))
    problem = err.value.problems[0]
    assert (problem.row, problem.column) == (3, field)


def test_a_missing_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "obs.csv"
    path.write_text("indicator,month,value\nmagnet_exports_t,2025-05,1\n", encoding="utf-8")
    with pytest.raises(DataValidationError, match="missing column"):
        hindcast.observations(path)


# --------------------------------------------------------------------------- compare


def test_magnet_exports_count_each_pair_once_and_leave_china_out() -> None:
    trade = trade_frame(
        [
            # USA: one pair, product_t repeated on its Nd, Pr, Dy rows -> 40 t, not 120 t
            ("2025-05", "Nd", "magnet", "CHN", "USA", 9.0, 40.0),
            ("2025-05", "Pr", "magnet", "CHN", "USA", 3.0, 40.0),
            ("2025-05", "Dy", "magnet", "CHN", "USA", 0.5, 40.0),
            # DEU: 100 t; JPN: 60 t
            ("2025-05", "Nd", "magnet", "CHN", "DEU", 22.0, 100.0),
            ("2025-05", "Nd", "magnet", "CHN", "JPN", 13.0, 60.0),
            # not China's exports: China's own use, another exporter, another stage
            ("2025-05", "Nd", "magnet", "CHN", "CHN", 500.0, 2000.0),
            ("2025-05", "Nd", "magnet", "JPN", "USA", 4.0, 15.0),
            ("2025-05", "Nd", "separation", "CHN", "USA", 70.0, np.nan),
        ]
    )
    out = hindcast.compare(trade, NO_PRICES)
    world = one(out, indicator="magnet_exports_t", month="2025-05", region="WLD")
    usa = one(out, indicator="magnet_exports_t", month="2025-05", region="USA")
    assert world.model == 200.0 and usa.model == 40.0
    assert world.observed == 1238.0 and usa.observed == 46.0
    assert world.ratio == pytest.approx(200 / 1238) and usa.ratio == pytest.approx(40 / 46)
    assert world.unit == "t/month" and world.source.startswith("http")
    assert math.isnan(world.model_paid)


def test_pair_product_is_taken_once_even_when_material_rows_disagree() -> None:
    trade = trade_frame(
        [
            ("2025-06", "Nd", "magnet", "CHN", "USA", 9.0, 40.0),
            ("2025-06", "Dy", "magnet", "CHN", "USA", 0.5, np.nan),  # NaN on one row: the max skips it
            ("2025-06", "Tb", "magnet", "CHN", "USA", 0.1, 39.0),
        ]
    )
    usa = one(hindcast.compare(trade, NO_PRICES), indicator="magnet_exports_t", month="2025-06", region="USA")
    assert usa.model == 40.0


def test_months_and_regions_without_a_model_value_stay_as_nan(obs: pd.DataFrame) -> None:
    trade = trade_frame([("2025-05", "Nd", "magnet", "CHN", "DEU", 22.0, 100.0)])
    out = hindcast.compare(trade, NO_PRICES)
    assert len(out) == len(obs)  # nothing dropped
    assert list(out.columns) == hindcast.COMPARE_COLUMNS
    # May: world from DEU, but no US pair in the model -> NaN, not 0
    assert one(out, indicator="magnet_exports_t", month="2025-05", region="WLD").model == 100.0
    usa = one(out, indicator="magnet_exports_t", month="2025-05", region="USA")
    assert math.isnan(usa.model) and math.isnan(usa.ratio)
    # months the model does not cover, and the 2024 baselines, are NaN
    for month in ("2025-04", "2025-12", "2024"):
        assert math.isnan(one(out, indicator="magnet_exports_t", month=month, region="WLD").model)
    assert out[out.indicator == "price_usd_per_kg"].model.isna().all()


def test_material_exports_sum_over_importers_at_the_observed_stage() -> None:
    trade = trade_frame(
        [
            ("2025-09", "Dy", "separation", "CHN", "KOR", 17.0, np.nan),
            ("2025-09", "Dy", "separation", "CHN", "JPN", 1.0, np.nan),
            ("2025-09", "Dy", "metal", "CHN", "JPN", 5.0, np.nan),  # another stage
            ("2025-09", "Dy", "separation", "MYS", "JPN", 2.0, np.nan),  # another exporter
            ("2025-09", "Tb", "separation", "CHN", "JPN", 4.0, np.nan),
        ]
    )
    out = hindcast.compare(trade, NO_PRICES)
    dy = one(out, indicator="exports_t", month="2025-09", material="Dy")
    assert dy.model == 18.0 and dy.observed == pytest.approx(18.043)
    assert one(out, indicator="exports_t", month="2025-09", material="Tb").model == 4.0


def test_a_zero_observation_gives_no_ratio() -> None:
    trade = trade_frame([("2025-05", "Dy", "separation", "CHN", "KOR", 0.3, np.nan)])
    dy = one(hindcast.compare(trade, NO_PRICES), indicator="exports_t", month="2025-05", material="Dy")
    assert dy.observed == 0.0 and dy.model == pytest.approx(0.3) and math.isnan(dy.ratio)


def test_prices_map_spot_and_paid_by_region() -> None:
    prices = price_frame(
        [
            ("2025-05", "Dy", "separation", "EU", 3.0, 1.5, 780.0),
            ("2025-05", "Dy", "separation", "CHN", 1.0, 1.0, 260.0),
            ("2025-05", "Tb", "separation", "EU", 2.0, 0.0, 1620.0),
            ("2025-05", "Dy", "metal", "EU", 9.0, 9.0, 9999.0),  # another stage
            ("2025-05", "Dy", "separation", "USA", 5.0, 5.0, 1300.0),  # not observed
        ]
    )
    out = hindcast.compare(NO_TRADE, prices)
    eu = one(out, indicator="price_usd_per_kg", month="2025-05", region="EU", material="Dy")
    assert (eu.model, eu.model_paid, eu.observed) == (780.0, 390.0, 850.0)
    assert eu.ratio == pytest.approx(780 / 850) and eu.unit == "USD/kg"
    chn = one(out, indicator="price_usd_per_kg", month="2025-05", region="CHN", material="Dy")
    assert (chn.model, chn.model_paid) == (260.0, 260.0)
    assert one(out, indicator="price_usd_per_kg", month="2025-05", region="EU", material="Tb").model_paid == 0.0
    assert "USA" not in set(out.region[out.indicator == "price_usd_per_kg"])


def test_year_rows_compare_with_the_mean_of_a_full_model_year() -> None:
    full = [(f"2024-{m:02d}", "Dy", "separation", "EU", 1.0, 1.0, 200.0 + 10 * m) for m in range(1, 13)]
    part = [(f"2024-{m:02d}", "Tb", "separation", "EU", 1.0, 1.0, 800.0) for m in range(1, 12)]
    out = hindcast.compare(NO_TRADE, price_frame(full + part))
    dy = one(out, indicator="price_usd_per_kg", month="2024", region="EU", material="Dy")
    assert dy.model == pytest.approx(200 + 10 * 6.5) and dy.observed == 260.0
    tb = one(out, indicator="price_usd_per_kg", month="2024", region="EU", material="Tb")
    assert math.isnan(tb.model)  # eleven months only


def test_missing_model_columns_are_a_user_error() -> None:
    with pytest.raises(UserError, match="trade table lacks column"):
        hindcast.compare(NO_TRADE.drop(columns="product_t"), NO_PRICES)
    with pytest.raises(UserError, match="prices table lacks column"):
        hindcast.compare(NO_TRADE, NO_PRICES.drop(columns="paid_index"))
