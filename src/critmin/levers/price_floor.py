"""The price-floor and offtake lever: what a guarantee on a benchmark price costs the guarantor.

A **price floor** at ``F`` USD/kg on a volume ``V`` (t/yr) pays, each month ``t`` of the term, the
gap between the floor and the benchmark price ``P_t`` on that month's volume, and (optionally) takes
back a share ``u`` of the upside above the floor::

    cost_t = max(0, F - P_t) * V * 1000 / 12  -  u * max(0, P_t - F) * V * 1000 / 12   (USD)

The net cost over the term can be negative (the guarantor's share of the upside exceeds what it
paid), as under the US DoD-MP Materials deal (floor $110/kg NdPr for ten years, 30 % of the upside
to DoD). An **offtake guarantee** makes the guarantor the buyer of last resort for a share
``take_share`` of the volume at a guaranteed price ``G``: when the market is below ``G`` the
producer puts that volume to the guarantor, who pays ``G`` and resells at the market (or holds the
material at its market value), so ``cost_t = take_share * max(0, G - P_t) * V * 1000 / 12``. With
``take_share = 1`` the offtake costs exactly what a floor at ``G`` without upside sharing costs, path
by path; both return the same :class:`PriceFloorResult`.

Prices come from the mean-reverting lognormal model of :mod:`critmin.levers.price_model`, fitted to
the shipped series (or given in a TOML file), starting from the latest price in the series, with
the model parameters drawn per path from their estimated sampling distribution (parameter
uncertainty included by default). Costs are undiscounted unless a yearly ``discount_rate`` is given
(month ``t`` is discounted by ``(1 + r)^(-t/12)``). See ``docs/levers.md``.

Example
-------
>>> r = price_floor("NdPr", floor_usd_per_kg=110, volume_t_per_yr=1000, years=10, upside_share=0.3, draws=2000)
>>> r.start_price_usd_per_kg, r.start_price_date
(123.0, '2026-02-19')
>>> sorted(r.document())[:5]
['contract', 'cost_by_year', 'cost_by_year_p95_draws', 'discount_rate', 'draws']
>>> price_floor("NdPr", floor_usd_per_kg=1, volume_t_per_yr=1000, years=2, draws=1000).expected_cost_usd
0.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from critmin.errors import UserError
from critmin.levers.price_model import (
    PriceModel,
    PriceSeries,
    fit_price_model,
    load_price_series,
    price_paths,
    read_price_model,
    series_material,
)

__all__ = ["PriceFloorResult", "YearCost", "offtake_guarantee", "price_floor"]

MAX_YEARS = 40
MAX_DRAWS = 10_000_000
#: the per-path, per-year costs kept for the yearly 95th percentiles (bytes); beyond it the yearly
#: percentiles use the first paths only (``cost_by_year_p95_draws`` says how many)
MAX_YEARLY_BYTES = 256 * 2**20


@dataclass(frozen=True)
class YearCost:
    """One contract year (1 = the first twelve months after the start)."""

    year: int
    expected_cost_usd: float
    p95_cost_usd: float


@dataclass(frozen=True)
class PriceFloorResult:
    """What a price floor or an offtake guarantee costs the guarantor over its term (USD, net of any
    upside received; discounted only when ``discount_rate`` > 0).

    ``p50_cost_usd`` and ``p95_cost_usd`` are percentiles of the total over the term across paths
    (the 95th is the bad case for the guarantor); ``p_any_payment`` is the share of paths on which
    the guarantor pays in at least one month; ``expected_payment_usd`` and
    ``expected_upside_received_usd`` are the two sides of the expected cost.
    """

    contract: str
    material: str
    floor_usd_per_kg: float
    volume_t_per_yr: float
    years: int
    start_price_usd_per_kg: float
    start_price_from: str
    start_price_date: str | None
    upside_share: float
    take_share: float
    discount_rate: float
    draws: int
    seed: int
    parameter_uncertainty: bool
    model: PriceModel
    expected_cost_usd: float
    expected_cost_stderr_usd: float
    p50_cost_usd: float
    p95_cost_usd: float
    p_any_payment: float
    expected_payment_usd: float
    expected_upside_received_usd: float
    cost_by_year: tuple[YearCost, ...]
    cost_by_year_p95_draws: int
    notes: tuple[str, ...] = ()

    def document(self) -> dict[str, Any]:
        """The result as plain JSON values (the ``--format json`` document)."""
        model = self.model.document()
        model["parameter_uncertainty"] = self.parameter_uncertainty
        return {
            "contract": self.contract,
            "material": self.material,
            "floor_usd_per_kg": self.floor_usd_per_kg,
            "volume_t_per_yr": self.volume_t_per_yr,
            "years": self.years,
            "start_price_usd_per_kg": self.start_price_usd_per_kg,
            "start_price_from": self.start_price_from,
            "start_price_date": self.start_price_date,
            "upside_share": self.upside_share,
            "take_share": self.take_share,
            "discount_rate": self.discount_rate,
            "expected_cost_usd": self.expected_cost_usd,
            "expected_cost_stderr_usd": self.expected_cost_stderr_usd,
            "p50_cost_usd": self.p50_cost_usd,
            "p95_cost_usd": self.p95_cost_usd,
            "p_any_payment": self.p_any_payment,
            "expected_payment_usd": self.expected_payment_usd,
            "expected_upside_received_usd": self.expected_upside_received_usd,
            "cost_by_year": [
                {"year": y.year, "expected_cost_usd": y.expected_cost_usd, "p95_cost_usd": y.p95_cost_usd}
                for y in self.cost_by_year
            ],
            "cost_by_year_p95_draws": self.cost_by_year_p95_draws,
            "model": model,
            "draws": self.draws,
            "seed": self.seed,
            "notes": list(self.notes),
        }

    def table(self) -> pd.DataFrame:
        """The cost by contract year and over the whole term (last row, ``year = "total"``).

        >>> price_floor("NdPr", 1, 100, 2, draws=100).table()["year"].tolist()
        [1, 2, 'total']
        """
        rows: list[dict[str, Any]] = [
            {"year": y.year, "expected_cost_usd": y.expected_cost_usd, "p95_cost_usd": y.p95_cost_usd}
            for y in self.cost_by_year
        ]
        rows.append({"year": "total", "expected_cost_usd": self.expected_cost_usd, "p95_cost_usd": self.p95_cost_usd})
        return pd.DataFrame(rows, columns=["year", "expected_cost_usd", "p95_cost_usd"])


def _number(
    value: object, flag: str, what: str, *, low: float, high: float = math.inf, low_open: bool = False
) -> float:
    ok = isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)
    v = float(value) if ok else math.nan  # type: ignore[arg-type]
    inside = math.isfinite(v) and (v > low if low_open else v >= low) and v <= high
    if not inside:
        raise UserError(f"{flag} must be {what} (got {value!r})")
    return v


def _integer(value: object, flag: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or not low <= int(value) <= high:
        raise UserError(f"{flag} must be a whole number from {low:,} to {high:,} (got {value!r})")
    return int(value)


def _resolve_model(price_model: PriceModel | str | Path | None, series: PriceSeries) -> tuple[PriceModel, float | None]:
    if price_model is None:
        return fit_price_model(series), None
    if isinstance(price_model, PriceModel):
        return price_model, None
    if isinstance(price_model, str | Path):
        return read_price_model(price_model)
    raise UserError(f"--price-model must be a TOML file (got {type(price_model).__name__})")


def _guarantee(
    contract: str,
    material: str,
    price_usd_per_kg: object,
    volume_t_per_yr: object,
    years: object,
    *,
    start_price_usd_per_kg: object,
    price_model: PriceModel | str | Path | None,
    draws: object,
    seed: object,
    upside_share: object,
    take_share: object,
    discount_rate: object,
    series: PriceSeries | None,
    parameter_uncertainty: bool,
) -> PriceFloorResult:
    price_flag = "--floor" if contract == "floor" else "--price"
    floor = _number(price_usd_per_kg, price_flag, "a positive number of USD/kg up to 1e6", low=0.0, high=1e6,
                    low_open=True)  # fmt: skip
    volume = _number(volume_t_per_yr, "--volume-t-per-yr", "a positive number of tonnes a year up to 1e9", low=0.0,
                     high=1e9, low_open=True)  # fmt: skip
    n_years = _integer(years, "--years", 1, MAX_YEARS)
    n_draws = _integer(draws, "--draws", 1, MAX_DRAWS)
    seed_i = _integer(seed, "--seed", 0, 2**63 - 1)
    share_up = _number(upside_share, "--upside-share", "a share from 0 to 1", low=0.0, high=1.0)
    share_take = _number(take_share, "--take-share", "a share from 0 to 1", low=0.0, high=1.0)
    rate = _number(discount_rate, "--discount-rate", "a yearly rate from 0 to 1", low=0.0, high=1.0)
    if series is None:
        series = load_price_series(material)
        mat = series.material
    else:
        mat = series.material
        if str(material).strip().lower() != mat.lower():
            try:
                known = series_material(material)
            except UserError:
                known = str(material)
            if known.lower() != mat.lower():
                raise UserError(f"the price series given is of {mat}, not {material}")
    model, file_start = _resolve_model(price_model, series)
    notes: list[str] = []
    if start_price_usd_per_kg is not None:
        start = _number(start_price_usd_per_kg, "--start-price", "a positive number of USD/kg", low=0.0, low_open=True)
        start_from, start_date = "--start-price", None
    elif file_start is not None:
        start, start_from, start_date = float(file_start), "price model file", None
    else:
        start, start_from, start_date = series.latest_usd_per_kg, f"latest in {series.origin}", series.latest_date
        notes.append(f"start price: {start:,.2f} USD/kg, the latest {mat} price in the series ({start_date})")
    uncertain = bool(parameter_uncertainty) and model.has_parameter_uncertainty
    notes.append(
        "parameter uncertainty included: model parameters drawn per path from their sampling distribution"
        if uncertain
        else "parameters fixed at their values (no parameter uncertainty)"
    )
    if not model.mean_reverting:
        notes.append("the price series shows no mean reversion: prices follow a random walk of the log price")
    if contract == "floor" and share_up > 0:
        notes.append("net cost can be negative: the guarantor keeps a share of the upside above the floor")
    if series.origin.startswith("critmin/"):
        notes.append(f"benchmark: {mat} oxide, China domestic price as quoted (SMM quotes likely include 13 % VAT)")

    months = 12 * n_years
    kg_per_month = volume * 1000.0 / 12.0 * (share_take if contract == "offtake" else 1.0)
    upside = share_up if contract == "floor" else 0.0
    disc = (1.0 + rate) ** (-np.arange(1, months + 1) / 12.0)
    totals = np.empty(n_draws)
    keep = min(n_draws, max(1, MAX_YEARLY_BYTES // (8 * n_years)))
    yearly_kept = np.empty((keep, n_years))
    year_sum = np.zeros(n_years)
    paid = received = 0.0
    any_paid = 0
    for first, prices in price_paths(model, start, months, n_draws, seed_i, parameter_uncertainty=uncertain):
        n = prices.shape[0]
        gap = floor - prices
        pay = np.maximum(gap, 0.0) * (kg_per_month * disc)
        get = np.maximum(-gap, 0.0) * (upside * kg_per_month * disc)
        yearly = (pay - get).reshape(n, n_years, 12).sum(axis=2)
        totals[first : first + n] = yearly.sum(axis=1)
        year_sum += yearly.sum(axis=0)
        paid += float(pay.sum())
        received += float(get.sum())
        if kg_per_month > 0:
            any_paid += int(np.count_nonzero((gap > 0).any(axis=1)))
        if first < keep:
            yearly_kept[first : min(first + n, keep)] = yearly[: keep - first]
    p50, p95 = (float(v) for v in np.quantile(totals, [0.5, 0.95]))
    p95_year = np.quantile(yearly_kept, 0.95, axis=0)
    stderr = float(totals.std(ddof=1) / math.sqrt(n_draws)) if n_draws > 1 else 0.0
    by_year = tuple(YearCost(i + 1, float(year_sum[i] / n_draws), float(p95_year[i])) for i in range(n_years))
    if keep < n_draws:
        notes.append(f"yearly 95th percentiles from the first {keep:,} paths (memory bound)")
    return PriceFloorResult(
        contract=contract,
        material=mat,
        floor_usd_per_kg=floor,
        volume_t_per_yr=volume,
        years=n_years,
        start_price_usd_per_kg=float(start),
        start_price_from=start_from,
        start_price_date=start_date,
        upside_share=upside,
        take_share=share_take if contract == "offtake" else 1.0,
        discount_rate=rate,
        draws=n_draws,
        seed=seed_i,
        parameter_uncertainty=uncertain,
        model=model,
        expected_cost_usd=float(totals.mean()),
        expected_cost_stderr_usd=stderr,
        p50_cost_usd=p50,
        p95_cost_usd=p95,
        p_any_payment=any_paid / n_draws,
        expected_payment_usd=paid / n_draws,
        expected_upside_received_usd=received / n_draws,
        cost_by_year=by_year,
        cost_by_year_p95_draws=keep,
        notes=tuple(notes),
    )


def price_floor(
    material: str,
    floor_usd_per_kg: float,
    volume_t_per_yr: float,
    years: int,
    start_price_usd_per_kg: float | None = None,
    price_model: PriceModel | str | Path | None = None,
    draws: int = 10_000,
    seed: int = 0,
    upside_share: float = 0.0,
    discount_rate: float = 0.0,
    series: PriceSeries | None = None,
    parameter_uncertainty: bool = True,
) -> PriceFloorResult:
    """Expected cost and percentiles of a price floor to the guarantor.

    Parameters
    ----------
    material
        A material with a price series (``"NdPr"``, ``"NdPr oxide"``, ``"PrNd"``...).
    floor_usd_per_kg
        The floor, USD/kg of the benchmark.
    volume_t_per_yr
        The volume covered, tonnes a year (spread evenly over the months).
    years
        The term, 1 to 40 years.
    start_price_usd_per_kg
        The price at the start; default the start price of the price model file, else the latest
        price in the series (its date is in ``start_price_date``).
    price_model
        ``None`` (fit the model to the series), a TOML file (see
        :func:`~critmin.levers.price_model.read_price_model`) or a
        :class:`~critmin.levers.price_model.PriceModel`.
    draws, seed
        Monte Carlo paths (1 to 10,000,000) and the seed: the same seed gives identical results.
    upside_share
        The share of the upside above the floor the guarantor keeps (0 to 1).
    discount_rate
        Yearly discount rate (0 = undiscounted).
    series
        A price series to use instead of the shipped one.
    parameter_uncertainty
        Draw the model parameters per path from their sampling distribution (when the model has one).

    Returns
    -------
    PriceFloorResult
        Expected cost, its Monte Carlo standard error, p50, p95, the probability of any payment,
        the cost by contract year and the price model with its uncertainty.

    Examples
    --------
    >>> from critmin.levers.price_model import PriceModel
    >>> known = PriceModel.from_values(100.0, 6.0, 0.1)
    >>> r = price_floor("NdPr", 500, 12, 1, start_price_usd_per_kg=100, price_model=known, draws=4000)
    >>> expected = sum((500 - known.expected_price(100, range(1, 13))) * 1000)
    >>> bool(abs(r.expected_cost_usd - expected) < 4 * r.expected_cost_stderr_usd), r.p_any_payment
    (True, 1.0)
    """
    return _guarantee(
        "floor",
        material,
        floor_usd_per_kg,
        volume_t_per_yr,
        years,
        start_price_usd_per_kg=start_price_usd_per_kg,
        price_model=price_model,
        draws=draws,
        seed=seed,
        upside_share=upside_share,
        take_share=1.0,
        discount_rate=discount_rate,
        series=series,
        parameter_uncertainty=parameter_uncertainty,
    )


def offtake_guarantee(
    material: str,
    price_usd_per_kg: float,
    volume_t_per_yr: float,
    years: int,
    start_price_usd_per_kg: float | None = None,
    price_model: PriceModel | str | Path | None = None,
    draws: int = 10_000,
    seed: int = 0,
    take_share: float = 1.0,
    discount_rate: float = 0.0,
    series: PriceSeries | None = None,
    parameter_uncertainty: bool = True,
) -> PriceFloorResult:
    """Expected cost and percentiles of an offtake guarantee (buyer of last resort) to the guarantor.

    Each month the market price is below ``price_usd_per_kg``, the producer puts ``take_share`` of
    the month's volume to the guarantor at that price; the guarantor resells it at the market (or
    holds it at market value), so it loses the gap on that volume. Parameters and result as for
    :func:`price_floor` (``floor_usd_per_kg`` of the result is the guaranteed price).

    Examples
    --------
    >>> a = offtake_guarantee("NdPr", 110, 1000, 3, draws=500, seed=7)
    >>> b = price_floor("NdPr", 110, 1000, 3, draws=500, seed=7)
    >>> a.expected_cost_usd == b.expected_cost_usd, a.contract
    (True, 'offtake')
    """
    return _guarantee(
        "offtake",
        material,
        price_usd_per_kg,
        volume_t_per_yr,
        years,
        start_price_usd_per_kg=start_price_usd_per_kg,
        price_model=price_model,
        draws=draws,
        seed=seed,
        upside_share=0.0,
        take_share=take_share,
        discount_rate=discount_rate,
        series=series,
        parameter_uncertainty=parameter_uncertainty,
    )
