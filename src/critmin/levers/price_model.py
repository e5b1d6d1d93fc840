"""Benchmark price series and the mean-reverting price model of the price-floor lever.

The log price follows a discrete-time Ornstein-Uhlenbeck process (an AR(1) on the log price) on a
monthly step::

    x_t = m + phi_d (x_(t-d) - m) + e_t,   phi_d = exp(-kappa d),
    e_t ~ N(0, sigma^2 (1 - phi_d^2) / (2 kappa))

with ``x = ln(price in USD/kg)``, ``d`` months between two observations, long-run level
``exp(m)`` (the median of the long-run price distribution), half-life ``ln 2 / kappa`` months and
monthly volatility ``sigma`` (the standard deviation of a one-month log change while the price is
far from nothing). :func:`fit_price_model` fits it by maximum likelihood, conditional on the first
observation (the exact transition over each gap, so irregular dates need no filling), with standard
errors from the observed information; :func:`read_price_model` reads a user's model from a TOML
file. :func:`price_paths` draws monthly price paths, reproducibly from a seed, one chunk of paths at
a time, with the model parameters drawn per path from their estimated sampling distribution.

The shipped series is ``critmin/data/price_series.csv`` (its rows and sources are described in
``critmin/data/README.md``): NdPr oxide, China, in USD/kg.

Example
-------
>>> s = load_price_series("PrNd oxide")
>>> s.material, s.latest_date, s.latest_usd_per_kg
('NdPr', '2026-02-19', 123.0)
>>> m = fit_price_model(s)
>>> m.n_obs, m.first_month, m.last_month
(16, '2020-07', '2026-02')
>>> round(m.half_life_months, 1), round(m.long_run_usd_per_kg), round(m.volatility_per_month, 3)
(6.6, 92, 0.137)
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from critmin.errors import UserError, suggest
from critmin.names import parse_toml, read_text_file
from critmin.schema import CONFIDENCE_LEVELS

#: the shipped series, under ``critmin/data``
SERIES_FILE = "price_series.csv"
SERIES_COLUMNS: tuple[str, ...] = (
    "kind", "series", "date", "value", "value_low", "value_high", "unit", "frequency", "benchmark",
    "pack_file", "source", "confidence", "notes",
)  # fmt: skip
#: materials with a price series, and the names they are known by (compared without case, spaces,
#: hyphens or underscores)
MATERIAL_ALIASES: Mapping[str, tuple[str, ...]] = {
    "NdPr": ("ndpr", "ndpr oxide", "prnd", "prnd oxide", "nd pr", "pr nd", "nd pr oxide", "pr nd oxide",
             "didymium", "didymium oxide", "neodymium praseodymium", "praseodymium neodymium"),
}  # fmt: skip
#: bounds of the reversion speed (per month) in the fit and in parameter draws: a half-life from
#: about 4 days to about 580 years
KAPPA_MIN = 1e-4
KAPPA_MAX = 5.0
#: monthly observations a fit needs at least
MIN_FIT_MONTHS = 4
#: the largest standard error of the log long-run level for which the fit counts as mean-reverting
#: (1.0: the long-run level known to within a factor e at one standard error); beyond it, or with
#: the reversion speed at its lower bound, the fit is a random walk
MAX_LOG_LONG_RUN_SE = 1.0
#: paths simulated at once; fixed, so that a seed gives the same paths whatever the number of draws
CHUNK_PATHS = 4096
_LOG2 = math.log(2.0)
_Z95 = 1.959963984540054


def _key(name: str) -> str:
    return re.sub(r"[\s_\-/]+", " ", str(name).strip().lower()).strip()


def series_material(name: str) -> str:
    """The canonical id of a material that has a price series, or a :class:`UserError` with a
    "did you mean" and the materials that have one.

    >>> series_material("PrNd oxide")
    'NdPr'
    >>> series_material("Nd")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    critmin.errors.UserError: no price series for material 'Nd' (did you mean 'NdPr'?); materials with a ...: NdPr
    """
    key = _key(name)
    names: dict[str, str] = {}
    for mid, aliases in MATERIAL_ALIASES.items():
        for alias in (mid, *aliases):
            names[_key(alias)] = mid
    if key in names:
        return names[key]
    hint = suggest(key, names)
    msg = f"no price series for material {name!r}"
    if hint:
        msg += f" (did you mean {names[hint[0]]!r}?)"
    raise UserError(f"{msg}; materials with a price series: {', '.join(MATERIAL_ALIASES)}")


def read_price_table() -> pd.DataFrame:
    """The shipped ``price_series.csv`` as text columns (``value`` numeric), one row per quote or
    exchange rate, each with its ``source`` and ``confidence``."""
    path = resources.files("critmin") / "data" / SERIES_FILE
    with path.open(encoding="utf-8") as fh:
        df = pd.read_csv(fh, dtype=str, keep_default_na=False)
    missing = [c for c in SERIES_COLUMNS if c not in df.columns]
    if missing:  # a broken install, not a user mistake
        raise RuntimeError(f"{SERIES_FILE}: missing columns {missing}")
    bad = df[(df["source"].str.strip() == "") | ~df["confidence"].isin(CONFIDENCE_LEVELS)]
    if len(bad):
        raise RuntimeError(f"{SERIES_FILE}: rows without a source or a known confidence: {list(bad.index)}")
    df["value"] = pd.to_numeric(df["value"])
    return df


def _fx_rate(dates: pd.Series, fx: pd.DataFrame) -> NDArray[np.float64]:
    """CNY per USD on each date: linear in time between the cited rates, held beyond them."""
    t_fx = pd.to_datetime(fx["date"]).to_numpy(dtype="datetime64[D]").astype(np.int64)
    order = np.argsort(t_fx)
    t = pd.to_datetime(dates).to_numpy(dtype="datetime64[D]").astype(np.int64)
    return np.interp(t, t_fx[order], fx["value"].to_numpy(dtype=float)[order])


@dataclass(frozen=True, eq=False)
class PriceSeries:
    """Dated benchmark prices of one material in USD/kg.

    ``table`` has one row per quote: ``date`` (``YYYY-MM-DD``), ``usd_per_kg``, ``frequency``
    (``point`` or ``annual_average``) and, for the shipped series, the quote as given (``value``,
    ``unit``), the exchange rate used (``fx_cny_per_usd``, CNY quotes only), ``benchmark``,
    ``source`` and ``confidence``. ``origin`` says where the series comes from.
    """

    material: str
    table: pd.DataFrame
    origin: str = "user"

    @classmethod
    def from_prices(cls, dates: Any, usd_per_kg: Any, material: str = "NdPr", origin: str = "user") -> PriceSeries:
        """A series from dates (anything :func:`pandas.to_datetime` reads) and prices in USD/kg.

        >>> PriceSeries.from_prices(["2025-01-15", "2025-02-15"], [60.0, 66.0]).latest_usd_per_kg
        66.0
        """
        d = pd.to_datetime(pd.Series(list(dates)), errors="coerce")
        p = np.asarray(usd_per_kg, dtype=float)
        if len(d) != len(p) or len(p) == 0:
            raise UserError(f"a price series needs one price per date (got {len(d)} dates, {len(p)} prices)")
        if d.isna().any():
            raise UserError("a price series has a date that is not a date")
        if not np.all(np.isfinite(p)) or np.any(p <= 0):
            raise UserError("a price series holds a price that is not a positive finite number")
        table = pd.DataFrame({"date": d.dt.strftime("%Y-%m-%d"), "usd_per_kg": p, "frequency": "point"})
        return cls(material, table.sort_values("date", kind="stable").reset_index(drop=True), origin)

    @property
    def latest_date(self) -> str:
        """The date of the latest quote (``YYYY-MM-DD``)."""
        return str(self.table["date"].max())

    @property
    def latest_usd_per_kg(self) -> float:
        """The latest price (the geometric mean of the quotes of the latest date, if several)."""
        last = self.table[self.table["date"] == self.latest_date]["usd_per_kg"].to_numpy(dtype=float)
        return float(last[0]) if len(last) == 1 else float(np.exp(np.log(last).mean()))

    def monthly(self) -> pd.DataFrame:
        """One observation per calendar month with quotes: ``month`` (``YYYY-MM``), ``month_index``
        (months since year 0), ``log_usd_per_kg`` (the mean of the month's log prices) and
        ``quotes`` (how many were averaged)."""
        d = pd.to_datetime(self.table["date"])
        frame = pd.DataFrame(
            {
                "month_index": (d.dt.year * 12 + d.dt.month - 1).to_numpy(),
                "log_usd_per_kg": np.log(self.table["usd_per_kg"].to_numpy(dtype=float)),
            }
        )
        out = frame.groupby("month_index", sort=True).agg(
            log_usd_per_kg=("log_usd_per_kg", "mean"), quotes=("log_usd_per_kg", "size")
        )
        out = out.reset_index()
        out.insert(0, "month", [f"{i // 12:04d}-{i % 12 + 1:02d}" for i in out["month_index"]])
        return out


def load_price_series(material: str = "NdPr") -> PriceSeries:
    """The shipped price series of ``material`` in USD/kg: quotes in CNY/t converted at the cited
    CNY/USD central parity rates of the same file (linear in time between them), USD quotes as
    given.

    >>> t = load_price_series().table
    >>> t.loc[t["date"] == "2025-07-09", ["unit", "usd_per_kg"]].round(2).values.tolist()
    [['CNY/t', 63.5], ['USD/kg', 63.0]]
    """
    mid = series_material(material)
    raw = read_price_table()
    fx = raw[(raw["kind"] == "fx") & (raw["unit"] == "CNY/USD")]
    rows = raw[(raw["kind"] == "price") & (raw["series"] == mid)].copy()
    if rows.empty:
        raise UserError(f"no price series for material {mid!r} in {SERIES_FILE}")
    cny = (rows["unit"] == "CNY/t").to_numpy()
    usd = (rows["unit"] == "USD/kg").to_numpy()
    if not np.all(cny | usd):
        raise RuntimeError(f"{SERIES_FILE}: price units other than CNY/t and USD/kg")
    rate = np.full(len(rows), np.nan)
    if cny.any():
        rate[cny] = _fx_rate(rows.loc[cny, "date"], fx)
    value = rows["value"].to_numpy(dtype=float)
    rows["fx_cny_per_usd"] = rate
    rows["usd_per_kg"] = np.where(cny, value / 1000.0 / np.where(cny, rate, 1.0), value)
    keep = ["date", "usd_per_kg", "frequency", "value", "unit", "fx_cny_per_usd", "benchmark", "source", "confidence"]
    table = rows[keep].sort_values(["date", "unit"], kind="stable").reset_index(drop=True)
    return PriceSeries(mid, table, f"critmin/data/{SERIES_FILE}")


@dataclass(frozen=True)
class PriceModel:
    """A mean-reverting lognormal price model on a monthly step (see the module docstring).

    ``cov`` is the covariance of the estimates of (``log_long_run``, ``ln kappa``, ``ln sigma``);
    ``None`` means the parameters are taken as known. ``kappa_per_month == 0`` is a random walk of
    the log price (no long-run level).
    """

    log_long_run: float
    kappa_per_month: float
    volatility_per_month: float
    cov: tuple[tuple[float, ...], ...] | None = None
    kind: str = "user"
    source: str = "user"
    n_obs: int | None = None
    n_quotes: int | None = None
    first_month: str | None = None
    last_month: str | None = None
    log_likelihood: float | None = None

    @classmethod
    def from_values(
        cls,
        long_run_usd_per_kg: float,
        half_life_months: float,
        volatility_per_month: float,
        *,
        long_run_stderr_usd_per_kg: float = 0.0,
        half_life_stderr_months: float = 0.0,
        volatility_stderr_per_month: float = 0.0,
        source: str = "user",
    ) -> PriceModel:
        """A model from its three parameters and, optionally, their standard errors (taken as
        independent; each parameter is drawn lognormal with that relative spread).

        >>> m = PriceModel.from_values(90.0, 12.0, 0.1)
        >>> round(m.long_run_usd_per_kg, 6), round(m.half_life_months, 6), m.has_parameter_uncertainty
        (90.0, 12.0, False)
        """
        values = {
            "long_run_usd_per_kg": long_run_usd_per_kg,
            "half_life_months": half_life_months,
            "volatility_per_month": volatility_per_month,
        }
        for name, v in values.items():
            if not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
                raise UserError(f"price model: {name} must be a positive finite number (got {v!r})")
        errs = (long_run_stderr_usd_per_kg, half_life_stderr_months, volatility_stderr_per_month)
        if not all(isinstance(v, int | float) and math.isfinite(v) and v >= 0 for v in errs):
            raise UserError(f"price model: standard errors must be finite numbers >= 0 (got {errs})")
        rel = (
            long_run_stderr_usd_per_kg / long_run_usd_per_kg,
            half_life_stderr_months / half_life_months,
            volatility_stderr_per_month / volatility_per_month,
        )
        cov = tuple(tuple(rel[i] ** 2 if i == j else 0.0 for j in range(3)) for i in range(3)) if any(rel) else None
        return cls(
            math.log(long_run_usd_per_kg), _LOG2 / half_life_months, float(volatility_per_month), cov, "user", source
        )

    @property
    def mean_reverting(self) -> bool:
        """False for a random walk (``kappa_per_month == 0``)."""
        return self.kappa_per_month > 0

    @property
    def long_run_usd_per_kg(self) -> float | None:
        """The long-run level ``exp(m)``, USD/kg (the median of the long-run price distribution;
        its mean is ``exp(m + sigma^2 / (4 kappa))``); ``None`` for a random walk."""
        return math.exp(self.log_long_run) if self.mean_reverting else None

    @property
    def half_life_months(self) -> float | None:
        """Months for half of a gap to the long-run level to close in expectation (in logs)."""
        return _LOG2 / self.kappa_per_month if self.mean_reverting else None

    def _se(self, i: int) -> float | None:
        return None if self.cov is None else math.sqrt(max(self.cov[i][i], 0.0))

    @property
    def has_parameter_uncertainty(self) -> bool:
        """Whether the parameters have a sampling distribution to draw from."""
        return self.cov is not None and any(self.cov[i][i] > 0 for i in range(3))

    def stderrs(self) -> dict[str, float | None]:
        """Standard errors of the long-run level, the half-life and the volatility (delta method
        from the log-parameter covariance); ``None`` where not known."""
        se_m, se_k, se_s = self._se(0), self._se(1), self._se(2)
        lr, hl = self.long_run_usd_per_kg, self.half_life_months
        return {
            "long_run_stderr_usd_per_kg": None if se_m is None or lr is None else lr * se_m,
            "half_life_stderr_months": None if se_k is None or hl is None else hl * se_k,
            "volatility_stderr_per_month": None if se_s is None else self.volatility_per_month * se_s,
        }

    def _ci95(self, i: int, value: float | None, sign: float = 1.0) -> list[float] | None:
        se = self._se(i)
        if se is None or value is None:
            return None
        lo, hi = value * math.exp(-sign * _Z95 * se), value * math.exp(sign * _Z95 * se)
        return [min(lo, hi), max(lo, hi)]

    def document(self) -> dict[str, Any]:
        """The model as plain JSON values: parameters, standard errors, 95 % intervals (from the
        lognormal sampling distribution of each parameter), the data it was fitted to."""
        return {
            "kind": self.kind,
            "process": (
                "log price AR(1) (Ornstein-Uhlenbeck), monthly step" if self.mean_reverting else "log price random walk"
            ),
            "source": self.source,
            "long_run_usd_per_kg": self.long_run_usd_per_kg,
            "half_life_months": self.half_life_months,
            "volatility_per_month": self.volatility_per_month,
            **self.stderrs(),
            "long_run_ci95_usd_per_kg": self._ci95(0, self.long_run_usd_per_kg),
            "half_life_ci95_months": self._ci95(1, self.half_life_months, -1.0),
            "volatility_ci95_per_month": self._ci95(2, self.volatility_per_month),
            "mean_reverting": self.mean_reverting,
            "n_obs": self.n_obs,
            "n_quotes": self.n_quotes,
            "first_month": self.first_month,
            "last_month": self.last_month,
            "log_likelihood": self.log_likelihood,
        }

    def table(self) -> pd.DataFrame:
        """The parameters with their standard errors and 95 % intervals, one row each.

        >>> PriceModel.from_values(90.0, 12.0, 0.1, half_life_stderr_months=3.0).table()["stderr"].tolist()
        [0.0, 3.0, 0.0]
        """
        doc = self.document()
        rows = []
        for label, key, unit, err, interval in (
            ("long-run level", "long_run_usd_per_kg", "USD/kg", "long_run_stderr_usd_per_kg",
             "long_run_ci95_usd_per_kg"),
            ("half-life of reversion", "half_life_months", "months", "half_life_stderr_months",
             "half_life_ci95_months"),
            ("volatility", "volatility_per_month", "per month (log)", "volatility_stderr_per_month",
             "volatility_ci95_per_month"),
        ):  # fmt: skip
            ci = doc[interval]
            rows.append(
                {
                    "parameter": label,
                    "estimate": doc[key],
                    "stderr": doc[err],
                    "ci95_low": None if ci is None else ci[0],
                    "ci95_high": None if ci is None else ci[1],
                    "unit": unit,
                }
            )
        return pd.DataFrame(rows)

    def expected_price(self, start_usd_per_kg: float, months: Any) -> NDArray[np.float64]:
        """E[price] ``months`` months after a start price, parameters fixed at their estimates:
        ``exp(m + phi^t (x0 - m) + s^2 (1 - phi^(2t)) / 2)`` with ``s^2 = sigma^2 / (2 kappa)``
        (``exp(x0 + sigma^2 t / 2)`` for a random walk).

        >>> PriceModel.from_values(100.0, 6.0, 0.0001).expected_price(100.0, [1, 12]).round(3).tolist()
        [100.0, 100.0]
        """
        t = np.asarray(months, dtype=float)
        x0, s2 = math.log(start_usd_per_kg), self.volatility_per_month**2
        if not self.mean_reverting:
            return np.asarray(np.exp(x0 + 0.5 * s2 * t), dtype=float)
        k = self.kappa_per_month
        phi = np.exp(-k * t)
        var = s2 * -np.expm1(-2.0 * k * t) / (2.0 * k)
        return np.asarray(np.exp(self.log_long_run + phi * (x0 - self.log_long_run) + 0.5 * var), dtype=float)

    def draw_parameters(
        self, rng: np.random.Generator, n: int, parameter_uncertainty: bool = True
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """``n`` draws of (m, kappa, sigma): multivariate normal in (m, ln kappa, ln sigma) around
        the estimates, ln kappa clipped to [ln :data:`KAPPA_MIN`, ln :data:`KAPPA_MAX`] (a random
        walk stays one); the estimates themselves when ``parameter_uncertainty`` is off or there is
        no covariance. Always consumes ``3 n`` normal draws from ``rng`` when uncertain."""
        m = np.full(n, self.log_long_run)
        k = np.full(n, self.kappa_per_month)
        s = np.full(n, self.volatility_per_month)
        if not (parameter_uncertainty and self.has_parameter_uncertainty and self.cov is not None):
            return m, k, s
        cov = np.asarray(self.cov, dtype=float)
        vals, vecs = np.linalg.eigh(cov)
        root = vecs * np.sqrt(np.clip(vals, 0.0, None))
        z = rng.standard_normal((n, 3)) @ root.T
        m = m + z[:, 0]
        if self.mean_reverting:
            k = np.exp(np.clip(math.log(self.kappa_per_month) + z[:, 1], math.log(KAPPA_MIN), math.log(KAPPA_MAX)))
        s = s * np.exp(z[:, 2])
        return m, k, s


def _loglik(
    theta: NDArray[np.float64], gaps: NDArray[np.float64], x0: NDArray[np.float64], x1: NDArray[np.float64]
) -> float:
    """Conditional Gaussian log-likelihood of the exact OU transitions, theta = (m, ln kappa, ln sigma)."""
    m, kappa, sigma = theta[0], math.exp(theta[1]), math.exp(theta[2])
    phi = np.exp(-kappa * gaps)
    var = sigma**2 * -np.expm1(-2.0 * kappa * gaps) / (2.0 * kappa)
    r = x1 - m - phi * (x0 - m)
    return float(-0.5 * np.sum(np.log(2.0 * np.pi * var) + r * r / var))


def _profile(
    kappa: float, gaps: NDArray[np.float64], x0: NDArray[np.float64], x1: NDArray[np.float64]
) -> tuple[float, float, float]:
    """Log-likelihood maximised over m and sigma at a given kappa: (loglik, m, sigma)."""
    phi = np.exp(-kappa * gaps)
    q = -np.expm1(-2.0 * kappa * gaps)  # 1 - phi^2
    a = -np.expm1(-kappa * gaps)  # 1 - phi
    y = x1 - phi * x0
    m = float(np.sum(a * y / q) / np.sum(a * a / q))
    r = y - m * a
    s2 = float(np.sum(r * r / q) / len(r))  # stationary variance sigma^2 / (2 kappa)
    ll = float(-0.5 * np.sum(np.log(2.0 * np.pi * s2 * q)) - 0.5 * len(r))
    return ll, m, math.sqrt(2.0 * kappa * s2)


def _hessian(f: Any, theta: NDArray[np.float64], h: float = 1e-3) -> NDArray[np.float64]:
    n = len(theta)
    out = np.zeros((n, n))
    for i in range(n):
        for j in range(i, n):
            ei, ej = np.eye(n)[i] * h, np.eye(n)[j] * h
            val = (f(theta + ei + ej) - f(theta + ei - ej) - f(theta - ei + ej) + f(theta - ei - ej)) / (4 * h * h)
            out[i, j] = out[j, i] = val
    return out


def fit_price_model(series: PriceSeries) -> PriceModel:
    """Fit the mean-reverting model to a price series by maximum likelihood.

    Quotes are first averaged (in logs) within each calendar month; months without a quote are
    gaps, bridged by the exact transition over ``d`` months (``phi_d = exp(-kappa d)``), so the
    fit needs no interpolation. The likelihood is conditional on the first month. ``kappa`` is
    found by a search over [:data:`KAPPA_MIN`, :data:`KAPPA_MAX`] with ``m`` and ``sigma`` in
    closed form at each ``kappa``; standard errors come from the inverse of the numerical Hessian of
    the log-likelihood in (m, ln kappa, ln sigma). When the likelihood is largest at the smallest
    ``kappa``, or the long-run level is not pinned down (standard error of its log above
    :data:`MAX_LOG_LONG_RUN_SE`, or no positive-definite information matrix), the series shows no
    usable mean reversion: the model returned is then a random walk of the log price with the
    fitted volatility (``mean_reverting`` false).

    >>> rng = np.random.default_rng(0)
    >>> x = [np.log(80.0)]
    >>> for _ in range(399):
    ...     x.append(np.log(80.0) + np.exp(-0.1) * (x[-1] - np.log(80.0)) + 0.1 * rng.standard_normal())
    >>> s = PriceSeries.from_prices(pd.date_range("1990-01-15", periods=400, freq="MS"), np.exp(x))
    >>> m = fit_price_model(s)
    >>> bool(abs(m.half_life_months - np.log(2) / 0.1) < 3 * m.stderrs()["half_life_stderr_months"])
    True
    """
    monthly = series.monthly()
    if len(monthly) < MIN_FIT_MONTHS:
        raise UserError(
            f"the {series.material} price series has quotes in {len(monthly)} month(s); a fit needs at least "
            f"{MIN_FIT_MONTHS} (give a price model file instead)"
        )
    idx = monthly["month_index"].to_numpy(dtype=float)
    x = monthly["log_usd_per_kg"].to_numpy(dtype=float)
    if np.ptp(x) < 1e-9:
        raise UserError(f"the {series.material} price series does not move; a fit needs changing prices")
    gaps, x0, x1 = np.diff(idx), x[:-1], x[1:]
    grid = np.exp(np.linspace(math.log(KAPPA_MIN), math.log(KAPPA_MAX), 241))
    lls = np.array([_profile(k, gaps, x0, x1)[0] for k in grid])
    best = int(np.argmax(lls))
    lo, hi = math.log(grid[max(best - 1, 0)]), math.log(grid[min(best + 1, len(grid) - 1)])
    for _ in range(80):  # golden-section search for the maximum in ln kappa
        a = hi - (hi - lo) / 1.618033988749895
        b = lo + (hi - lo) / 1.618033988749895
        if _profile(math.exp(a), gaps, x0, x1)[0] >= _profile(math.exp(b), gaps, x0, x1)[0]:
            hi = b
        else:
            lo = a
    kappa = math.exp(0.5 * (lo + hi))
    ll, m, sigma = _profile(kappa, gaps, x0, x1)
    common: dict[str, Any] = {
        "kind": "fitted",
        "source": f"fitted to {series.origin} ({series.material})",
        "n_obs": len(monthly),
        "n_quotes": len(series.table),
        "first_month": str(monthly["month"].iloc[0]),
        "last_month": str(monthly["month"].iloc[-1]),
    }
    cov = np.full((3, 3), np.nan)
    if kappa > KAPPA_MIN * 1.0001:
        theta = np.array([m, math.log(kappa), math.log(sigma)])
        info = -_hessian(lambda t: _loglik(t, gaps, x0, x1), theta)
        if np.all(np.isfinite(info)):
            try:
                inv = np.linalg.inv(info)
                cov = 0.5 * (inv + inv.T)
            except np.linalg.LinAlgError:
                pass  # singular: not identified
    identified = bool(
        np.all(np.isfinite(cov)) and np.all(np.linalg.eigvalsh(np.nan_to_num(cov)) > 0)
        and math.sqrt(cov[0, 0]) <= MAX_LOG_LONG_RUN_SE
    )  # fmt: skip
    if identified:
        cov_t = tuple(tuple(float(v) for v in row) for row in cov)
        return PriceModel(float(m), float(kappa), float(sigma), cov_t, log_likelihood=ll, **common)
    # no usable mean reversion: a random walk of the log price with the fitted volatility
    steps = (x1 - x0) / np.sqrt(gaps)
    sigma_rw = float(np.sqrt(np.mean(steps**2)))
    ll_rw = float(-0.5 * np.sum(np.log(2 * np.pi * sigma_rw**2 * gaps) + (x1 - x0) ** 2 / (sigma_rw**2 * gaps)))
    var_ls = 1.0 / (2.0 * len(steps))  # the variance of ln sigma-hat in a normal sample
    cov_rw = ((0.0, 0.0, 0.0), (0.0, 0.0, 0.0), (0.0, 0.0, var_ls))
    return PriceModel(float(x[-1]), 0.0, sigma_rw, cov_rw, log_likelihood=ll_rw, **common)


class _ModelFile(BaseModel):
    """A user's price model file (TOML)."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    long_run_usd_per_kg: float = Field(gt=0, description="long-run level (median), USD/kg")
    half_life_months: float = Field(gt=0, le=1200, description="half-life of reversion, months")
    volatility_per_month: float = Field(gt=0, le=2, description="monthly volatility of the log price")
    start_usd_per_kg: float | None = Field(default=None, gt=0, description="start price, USD/kg")
    long_run_stderr_usd_per_kg: float = Field(default=0.0, ge=0)
    half_life_stderr_months: float = Field(default=0.0, ge=0)
    volatility_stderr_per_month: float = Field(default=0.0, ge=0)
    source: str | None = Field(default=None, description="where the numbers come from")


def _line_of(text: str, key: str) -> int | None:
    pat = re.compile(rf"^\s*{re.escape(key)}\s*=")
    for n, line in enumerate(text.splitlines(), start=1):
        if pat.match(line):
            return n
    return None


def read_price_model(path: str | Path) -> tuple[PriceModel, float | None]:
    """A user's price model from a TOML file, and the start price it gives (or ``None``).

    Keys: ``long_run_usd_per_kg``, ``half_life_months``, ``volatility_per_month`` (required);
    ``start_usd_per_kg``; ``long_run_stderr_usd_per_kg``, ``half_life_stderr_months``,
    ``volatility_stderr_per_month`` (standard errors: with any of them, parameters are drawn per
    path); ``source`` (text). Any problem is a one-line :class:`UserError` naming the file, the line
    and the key, with a "did you mean" for a misspelt key.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = Path(d) / "m.toml"
    ...     _ = p.write_text("long_run_usd_per_kg = 90\\nhalf_life_months = 12\\nvolatility_per_mont = 0.1\\n")
    ...     read_price_model(p)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    critmin.errors.UserError: ...m.toml:3: unknown key 'volatility_per_mont' (did you mean 'volatility_per_month'?) ...
    """
    p = Path(path)
    text = read_text_file(p, "price model file")
    doc = parse_toml(text, str(p))
    try:
        spec = _ModelFile.model_validate(doc)
    except ValidationError as exc:
        rank = {"extra_forbidden": 0, "missing": 2}  # a misspelt key is both: name the misspelling
        err = sorted(exc.errors(), key=lambda e: rank.get(e["type"], 1))[0]
        key = str(err["loc"][0]) if err["loc"] else ""
        line = _line_of(text, key) if key else None
        where = f"{p}:{line}" if line else str(p)
        more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        if err["type"] == "extra_forbidden":
            hint = suggest(key, _ModelFile.model_fields)
            raise UserError(
                f"{where}: unknown key {key!r}" + (f" (did you mean {hint[0]!r}?)" if hint else "") + more
            ) from None
        if err["type"] == "missing":
            raise UserError(
                f"{where}: missing key {key!r} ({_ModelFile.model_fields[key].description}){more}"
            ) from None
        got = doc.get(key) if isinstance(doc, dict) else None
        raise UserError(f"{where}: {key}: {err['msg'].lower()} (got {got!r}){more}") from None
    model = PriceModel.from_values(
        spec.long_run_usd_per_kg,
        spec.half_life_months,
        spec.volatility_per_month,
        long_run_stderr_usd_per_kg=spec.long_run_stderr_usd_per_kg,
        half_life_stderr_months=spec.half_life_stderr_months,
        volatility_stderr_per_month=spec.volatility_stderr_per_month,
        source=f"price model file {p}" + (f" ({spec.source})" if spec.source else ""),
    )
    return model, spec.start_usd_per_kg


def price_paths(
    model: PriceModel,
    start_usd_per_kg: float,
    months: int,
    draws: int,
    seed: int,
    *,
    parameter_uncertainty: bool = True,
) -> Iterator[tuple[int, NDArray[np.float64]]]:
    """Monthly price paths in chunks of at most :data:`CHUNK_PATHS`: yields ``(first path, prices)``
    with ``prices`` of shape (paths, months), USD/kg, month 1 one month after the start.

    Chunk ``k`` draws from ``np.random.Generator(np.random.Philox(seed).jumped(k))``: per path the
    parameters (when uncertain), then the monthly shocks. The same seed gives the same paths,
    and the first paths of a larger run are those of a smaller one.

    >>> m = PriceModel.from_values(100.0, 6.0, 0.1)
    >>> [(i, p.shape) for i, p in price_paths(m, 120.0, 24, 5000, seed=1)]
    [(0, (4096, 24)), (4096, (904, 24))]
    """
    x_start = math.log(start_usd_per_kg)
    root = np.random.Philox(seed)
    for k, first in enumerate(range(0, draws, CHUNK_PATHS)):
        n = min(CHUNK_PATHS, draws - first)
        rng = np.random.Generator(root.jumped(k))
        # a whole chunk's draws every time, so a path's numbers do not depend on the number of paths
        m, kappa, sigma = (v[:n] for v in model.draw_parameters(rng, CHUNK_PATHS, parameter_uncertainty))
        phi = np.exp(-kappa)
        sd = np.where(kappa > 0, sigma * np.sqrt(-np.expm1(-2.0 * kappa) / (2.0 * np.maximum(kappa, 1e-300))), sigma)
        shocks = rng.standard_normal((months, CHUNK_PATHS))[:, :n]
        x = np.full(n, x_start)
        out = np.empty((n, months))
        for t in range(months):
            x = m + phi * (x - m) + sd * shocks[t]
            out[:, t] = x
        yield first, np.exp(out, out=out)
