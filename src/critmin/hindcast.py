"""The 2025 hindcast: what was observed in 2025, next to what the model says.

China's April 2025 licensing of seven medium/heavy rare earths and of the magnets containing them
(scenario ``apr2025-heavy-ree``) is the one disruption with a full year of published aftermath. The
shipped file ``critmin/data/hindcast_2025.csv`` holds the observed side, month by month, every row
with its ``source`` (a URL) and ``confidence`` (``read``, ``read-secondary`` or ``derived``, the
formula in ``notes``):

* ``magnet_exports_t``: China's exports of rare-earth permanent magnets (customs line 85051110,
  nearly all NdFeB), tonnes a month, to the world (``region = WLD``) and to the US (``USA``);
* ``exports_t``: China's exports of Dy and Tb products (customs lines as reported, product weight),
  tonnes a month, to the world;
* ``price_usd_per_kg``: Dy and Tb oxide prices, China domestic (``CHN``, SMM quotes converted from
  CNY at a stated rate) and Europe (``EU``, Argus and Benchmark assessments).

``month`` is ``YYYY-MM``, or a bare year (``2024``) for that year's monthly mean: the pre-control
baselines (4,846 t a month of magnets to the world in 2024, 620 t to the US).

:func:`compare` puts the model's monthly trade and prices next to these rows; the mapping is in its
docstring.

Example
-------
>>> obs = observations()
>>> may = obs[(obs.indicator == "magnet_exports_t") & (obs.month == "2025-05")]
>>> may.set_index("region").value.to_dict()
{'USA': 46.0, 'WLD': 1238.0}
"""

from __future__ import annotations

import math
import re
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from critmin.errors import DataValidationError, RowProblem, UserError
from critmin.months import month_index

FILE = "hindcast_2025.csv"
#: the observed indicators and the unit each is stored in
UNITS: dict[str, str] = {
    "magnet_exports_t": "t/month",
    "exports_t": "t/month",
    "price_usd_per_kg": "USD/kg",
}
INDICATORS: tuple[str, ...] = tuple(UNITS)
#: the confidence levels an observation may have (no assumptions: an unobserved month is left out)
CONFIDENCES: tuple[str, ...] = ("read", "read-secondary", "derived")
COLUMNS: tuple[str, ...] = (
    "indicator", "month", "value", "unit", "region", "stage", "material", "source", "confidence", "notes",
)  # fmt: skip
#: one observation per key
KEY: list[str] = ["indicator", "month", "region", "material"]
#: the columns :func:`compare` returns
COMPARE_COLUMNS: list[str] = [*KEY, "observed", "model", "model_paid", "unit", "ratio", "source"]
#: the exporter whose exports are observed, and the material label of the magnet rows
CHINA = "CHN"
MAGNET = "NdFeB"
WORLD = "WLD"

TRADE_COLUMNS = ("month", "material", "stage", "exporter", "importer", "t", "product_t")
PRICE_COLUMNS = ("month", "material", "stage", "region", "spot_index", "paid_index", "usd_per_kg")

_YEAR = re.compile(r"^\d{4}$")


def data_path() -> Path:
    """Path of the shipped observations file (``critmin/data/hindcast_2025.csv``)."""
    return Path(str(resources.files("critmin") / "data" / FILE))


def _month_ok(month: str) -> bool:
    if _YEAR.match(month):
        return True
    try:
        month_index(month)
    except ValueError:
        return False
    return True


def observations(path: str | Path | None = None) -> pd.DataFrame:
    """The observed 2025 monthly figures, validated.

    Parameters
    ----------
    path : str or Path, optional
        A file with the same columns; the shipped ``critmin/data/hindcast_2025.csv`` by default.

    Returns
    -------
    pandas.DataFrame
        Columns ``indicator, month, value, unit, region, stage, material, source, confidence,
        notes``, one row per (indicator, month, region, material), sorted by them; ``value`` is a
        float, ``notes`` an empty string where the file has none.

    Raises
    ------
    DataValidationError
        When a column is missing, or a row has an unknown indicator, a bad month, a value that is
        not a finite number, an empty source, a confidence outside ``read``, ``read-secondary``,
        ``derived``, a unit that is not its indicator's, or repeats another row's key; the error
        lists the problems with their line numbers.

    Examples
    --------
    >>> obs = observations()
    >>> bool(obs.source.str.len().gt(0).all()), sorted(obs.confidence.unique())
    (True, ['derived', 'read', 'read-secondary'])
    >>> float(obs.query("indicator == 'magnet_exports_t' and month == '2024' and region == 'USA'").value.iloc[0])
    620.0
    """
    file = Path(path) if path is not None else data_path()
    raw = pd.read_csv(file, dtype=str, keep_default_na=False)
    missing = [c for c in COLUMNS if c not in raw.columns]
    if missing:
        raise DataValidationError(
            str(file),
            [RowProblem(1, c, "", "missing column", f"expected columns: {', '.join(COLUMNS)}") for c in missing],
        )
    df = raw[list(COLUMNS)].apply(lambda s: s.str.strip())
    problems: list[RowProblem] = []
    seen: dict[tuple[str, ...], int] = {}
    for i, r in enumerate(df.to_dict("records")):
        line = i + 2  # the header is line 1
        if r["indicator"] not in UNITS:
            problems.append(RowProblem(line, "indicator", r["indicator"], "unknown indicator", ", ".join(INDICATORS)))
        elif r["unit"] != UNITS[r["indicator"]]:
            problems.append(
                RowProblem(line, "unit", r["unit"], f"{r['indicator']} is stored in {UNITS[r['indicator']]}")
            )
        if not _month_ok(r["month"]):
            problems.append(RowProblem(line, "month", r["month"], "not a month YYYY-MM (or a year YYYY)"))
        try:
            value = float(r["value"])
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            problems.append(RowProblem(line, "value", r["value"], "not a finite number"))
        for col in ("region", "stage", "material", "source"):
            if not r[col]:
                problems.append(RowProblem(line, col, "", "empty"))
        if r["confidence"] not in CONFIDENCES:
            problems.append(
                RowProblem(line, "confidence", r["confidence"], "unknown confidence", ", ".join(CONFIDENCES))
            )
        key = tuple(r[k] for k in KEY)
        if key in seen:
            problems.append(RowProblem(line, "month", r["month"], f"repeats the observation on line {seen[key]}"))
        seen.setdefault(key, line)
    if problems:
        raise DataValidationError(str(file), problems)
    df["value"] = df["value"].astype(float)
    return df.sort_values(KEY, kind="stable").reset_index(drop=True)


def _require(frame: pd.DataFrame, columns: tuple[str, ...], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise UserError(f"the {name} table lacks column(s) {', '.join(missing)} (expected {', '.join(columns)})")


def _model_trade(trade: pd.DataFrame) -> pd.DataFrame:
    """China's exports in the model: magnet tonnes to the world and the US, material tonnes to the world."""
    out = trade[(trade["exporter"] == CHINA) & (trade["importer"] != CHINA)].assign(
        month=lambda d: d["month"].astype(str)
    )
    # magnets: product_t repeats on every material row of a pair, so take it once per pair
    mag = out[out["stage"] == "magnet"]
    pairs = mag.groupby(["month", "importer"], as_index=False)["product_t"].max()
    world = pairs.groupby("month")["product_t"].sum(min_count=1).rename("model").reset_index().assign(region=WORLD)
    usa = pairs[pairs["importer"] == "USA"].rename(columns={"product_t": "model"}).drop(columns="importer")
    magnets = pd.concat([world, usa.assign(region="USA")], ignore_index=True).assign(
        indicator="magnet_exports_t", material=MAGNET, stage="magnet"
    )
    # materials (Dy, Tb, ...) by stage: the tonnes China ships out
    mats = (
        out[out["stage"] != "magnet"]
        .groupby(["month", "material", "stage"], as_index=False)["t"]
        .sum(min_count=1)
        .rename(columns={"t": "model"})
        .assign(indicator="exports_t", region=WORLD)
    )
    return pd.concat([magnets, mats], ignore_index=True).assign(model_paid=np.nan)


def _model_prices(prices: pd.DataFrame) -> pd.DataFrame:
    """The model's spot price in USD/kg, and the paid price (``usd_per_kg x paid_index / spot_index``)."""
    px = prices.assign(month=lambda d: d["month"].astype(str))
    spot = px["spot_index"].astype(float)
    paid = px["usd_per_kg"].astype(float) * px["paid_index"].astype(float) / spot.where(spot != 0)
    px = px.assign(model=px["usd_per_kg"].astype(float), model_paid=paid)
    return (
        px.groupby(["month", "material", "stage", "region"], as_index=False)[["model", "model_paid"]]
        .mean()
        .assign(indicator="price_usd_per_kg")
    )


def _year_means(model: pd.DataFrame) -> pd.DataFrame:
    """Mean of the monthly model values per calendar year, for years the model covers in full."""
    m = model.assign(year=model["month"].str.slice(0, 4))
    keys = ["indicator", "region", "material", "stage", "year"]
    g = m.groupby(keys, as_index=False).agg(
        model=("model", "mean"), model_paid=("model_paid", "mean"), n=("month", "nunique")
    )
    return g[g["n"] == 12].drop(columns="n").rename(columns={"year": "month"})


def compare(trade: pd.DataFrame, prices: pd.DataFrame) -> pd.DataFrame:
    """The model's monthly figures next to the observed ones, one row per observation.

    Parameters
    ----------
    trade : pandas.DataFrame
        The model's trade: ``month`` (``YYYY-MM``), ``material``, ``stage``, ``exporter``,
        ``importer``, ``t`` and ``product_t`` (tonnes of magnet on ``magnet`` rows, one row per
        material of the magnet with the same ``product_t``; NaN elsewhere), tonnes a month.
    prices : pandas.DataFrame
        The model's prices: ``month``, ``material``, ``stage``, ``region``, ``spot_index``,
        ``paid_index`` and ``usd_per_kg`` (the spot price in USD/kg). Repeated keys are averaged.

    Returns
    -------
    pandas.DataFrame
        Columns ``indicator, month, region, material, observed, model, model_paid, unit, ratio,
        source`` in the order of :func:`observations`. ``ratio`` is ``model / observed`` (NaN where
        either is missing or the observation is 0). Observations the model does not cover get NaN,
        never dropped.

    Notes
    -----
    The mapping, all for exports from China (``exporter == 'CHN'``) to anyone but China:

    * ``magnet_exports_t`` ``WLD``: the sum over importers of ``product_t`` on ``magnet`` rows,
      taken once per (month, importer) pair as the largest over its material rows; ``USA``: the
      same for ``importer == 'USA'``;
    * ``exports_t`` (Dy, Tb): the sum of ``t`` over importers for the material at the
      observation's stage (``separation``);
    * ``price_usd_per_kg`` (``CHN``, ``EU``): ``usd_per_kg`` at the observation's region, material
      and stage; ``model_paid`` is ``usd_per_kg x paid_index / spot_index``, the price paid;
    * a year (``2024``) is that year's monthly mean: the model's mean over the year when the model
      has all twelve of its months, else NaN.

    Examples
    --------
    >>> trade = pd.DataFrame({
    ...     "month": ["2025-05"] * 4, "material": ["Nd", "Dy", "Nd", "Dy"],
    ...     "stage": ["magnet", "magnet", "magnet", "separation"],
    ...     "exporter": "CHN", "importer": ["USA", "USA", "DEU", "JPN"],
    ...     "t": [9.0, 1.0, 30.0, 0.5], "product_t": [40.0, 40.0, 100.0, np.nan]})
    >>> prices = pd.DataFrame({"month": "2025-05", "material": "Dy", "stage": "separation",
    ...     "region": ["EU", "CHN"], "spot_index": [3.0, 1.0], "paid_index": [1.5, 1.0],
    ...     "usd_per_kg": [780.0, 260.0]})
    >>> cmp = compare(trade, prices).set_index(["indicator", "month", "region", "material"])
    >>> cmp.loc[("magnet_exports_t", "2025-05", "WLD", "NdFeB"), ["observed", "model"]].tolist()
    [1238.0, 140.0]
    >>> cmp.loc[("price_usd_per_kg", "2025-05", "EU", "Dy"), ["model", "model_paid"]].tolist()
    [780.0, 390.0]
    >>> float(cmp.loc[("magnet_exports_t", "2025-07", "WLD", "NdFeB"), "model"])  # no model month
    nan
    """
    _require(trade, TRADE_COLUMNS, "trade")
    _require(prices, PRICE_COLUMNS, "prices")
    obs = observations()
    monthly = pd.concat([_model_trade(trade), _model_prices(prices)], ignore_index=True)
    model = pd.concat([monthly, _year_means(monthly)], ignore_index=True)
    merged = obs.merge(
        model[["indicator", "month", "region", "material", "stage", "model", "model_paid"]],
        on=["indicator", "month", "region", "material", "stage"],
        how="left",
        validate="one_to_one",
    )
    observed = merged["value"].astype(float)
    modelled = merged["model"].astype(float)
    merged["ratio"] = modelled / observed.where(observed != 0)
    out = merged.rename(columns={"value": "observed"}).assign(
        model=modelled, model_paid=merged["model_paid"].astype(float)
    )
    return out[COMPARE_COLUMNS].reset_index(drop=True)
