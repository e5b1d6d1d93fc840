"""What a shortfall costs, and the unit prices the levers use.

Three things, all library functions (the levers and their jobs call them):

* **Shortfalls in units and dollars** (:func:`shortfall_value`), with and without an *extra buy*
  (an emergency purchase at the start of the crisis that reduces the shortfall by the quantity
  bought), at fixed unit prices, as the US stockpile requirements reports value them. The 2013
  report's Table 10-1 is shipped (:func:`table_10_1`) and its arithmetic is checked
  (:func:`check_table_10_1`).
* **The unit prices the levers use** (:func:`lever_unit_price_usd_per_t`): what a Western stockpile
  pays for a material at a stage, from the ``lever_price_usd_per_kg`` rows of the parameters
  table, each with its source and confidence.
* **The economic loss of a shortfall** (:func:`economic_loss`): per Monte Carlo draw, the value of
  the output a shortfall stops, sector by sector (``value_at_risk_usd_per_t_<sector>``), so that a
  lever is reported as its cost against the expected loss it avoids (:func:`cost_benefit`), the way
  the USGS 2025 critical-minerals assessment reports GDP effects. The value stopped is gross output,
  not value added: an upper bound on the GDP effect of a delay.

Units are explicit: quantities carry a unit (``kg``, ``t``, ``short_ton`` = 907.18474 kg, ``lb`` =
0.45359237 kg; :data:`KG_PER_UNIT`), prices are USD per that unit, model quantities are tonnes.
The sources and the arithmetic of every shipped number are in ``docs/levers.md`` ("What a shortfall costs").

Example
-------
Gallium in Table 10-1: 17,686 kg short is worth $10.48M; at that unit price, an extra buy of
3,936 kg leaves 13,750 kg short, worth $8.15M:

>>> price = 10.48e6 / 17_686  # USD per kg
>>> v = shortfall_value({"Ga": 17_686}, {"Ga": price}, unit="kg", extra_buy={"Ga": 3_936})
>>> round(v.value_usd / 1e6, 2), round(v.value_with_extra_buy_usd / 1e6, 2)
(10.48, 8.15)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pandas as pd
import xarray as xr
from numpy.typing import NDArray

from critmin import names
from critmin.chain import SupplyChain
from critmin.dataset import Params, data_dir
from critmin.engine.network import region_of
from critmin.errors import UnknownNameError, UserError, suggest

if TYPE_CHECKING:
    from critmin.risk import Ensemble

#: kilograms per unit of mass (the international avoirdupois pound and the US short ton of 2,000 lb)
KG_PER_UNIT: dict[str, float] = {"kg": 1.0, "t": 1000.0, "short_ton": 907.18474, "lb": 0.45359237}
_UNIT_ALIASES: dict[str, str] = {
    "kilogram": "kg", "kilograms": "kg", "kgs": "kg",
    "tonne": "t", "tonnes": "t", "metric ton": "t", "metric tons": "t", "mt": "t",
    "short ton": "short_ton", "short tons": "short_ton", "short_tons": "short_ton", "st": "short_ton",
    "pound": "lb", "pounds": "lb", "lbs": "lb",
}  # fmt: skip

#: the parameter holding the unit prices of the levers (USD per kg of the stage's basis)
LEVER_PRICE = "lever_price_usd_per_kg"
#: the parameter holding the yearly cost of holding a stockpile (share of its value)
CARRYING_COST = "carrying_cost_share_per_yr"
#: prefix of the value of output stopped per tonne short, one parameter per sector
VALUE_AT_RISK = "value_at_risk_usd_per_t_"
#: elements whose demand is NdFeB magnets: their value at risk is the magnet's divided by their
#: ``magnet_content`` (wt% of NdFeB), and one stopped magnet shows up in all four shortfalls
NDFEB_ELEMENTS: tuple[str, ...] = ("Nd", "Pr", "Dy", "Tb")
#: names accepted for NdFeB magnets: material ``rare_earths`` at stage ``magnet`` (t of magnet)
NDFEB_ALIASES: frozenset[str] = frozenset({"ndfeb", "ndfeb magnet", "ndfeb magnets"})

#: the shipped Table 10-1 and the number of material rows of the published table
TABLE_10_1_FILE = "nds_2013_table_10_1.csv"
TABLE_10_1_MATERIAL_ROWS = 18
#: the table's values are rounded to $0.01M and its quantities to whole units
_USD_M_ROUNDING = 0.005
_UNIT_ROUNDING = 0.5

_CONFIDENCE_RANK = {"read": 0, "read-secondary": 1, "derived": 2, "user": 3, "assumption": 4}


# --- units ---------------------------------------------------------------------------------------


def unit_name(unit: str) -> str:
    """The canonical mass unit (``kg``, ``t``, ``short_ton``, ``lb``) for ``unit`` or an alias.

    >>> unit_name("short tons"), unit_name("Pounds"), unit_name("MT")
    ('short_ton', 'lb', 't')
    """
    key = str(unit).strip().lower()
    if key in KG_PER_UNIT:
        return key
    if key in _UNIT_ALIASES:
        return _UNIT_ALIASES[key]
    raise UnknownNameError("mass unit", str(unit), KG_PER_UNIT)


def convert(quantity: float, from_unit: str, to_unit: str) -> float:
    """``quantity`` in ``from_unit`` expressed in ``to_unit`` (mass units, :data:`KG_PER_UNIT`).

    >>> convert(1, "short_ton", "kg"), convert(2000, "lb", "short_ton"), round(convert(1, "t", "lb"), 4)
    (907.18474, 1.0, 2204.6226)
    """
    return float(quantity) * KG_PER_UNIT[unit_name(from_unit)] / KG_PER_UNIT[unit_name(to_unit)]


# --- shortfalls in units and dollars ---------------------------------------------------------------


@dataclass(frozen=True)
class ShortfallValues:
    """Shortfalls valued at fixed unit prices: the tidy ``table`` (one row per material: material,
    unit, shortfall, unit_price_usd (per ``unit``), value_usd, extra_buy, shortfall_with_extra_buy,
    value_with_extra_buy_usd) and its totals."""

    table: pd.DataFrame
    value_usd: float
    value_with_extra_buy_usd: float

    @property
    def reduction_usd(self) -> float:
        """Value of the shortfall the extra buy removes (USD)."""
        return self.value_usd - self.value_with_extra_buy_usd


def _per_material(arg: str | Mapping[str, str] | None, materials: Sequence[str], default: str) -> dict[str, str]:
    if arg is None:
        return dict.fromkeys(materials, default)
    if isinstance(arg, str):
        return dict.fromkeys(materials, arg)
    missing = [m for m in materials if m not in arg]
    if missing:
        raise UserError(f"no unit given for {', '.join(missing)}")
    return {m: str(arg[m]) for m in materials}


def _numbers(arg: Mapping[str, float] | pd.Series, what: str) -> dict[str, float]:
    out = {str(k): float(v) for k, v in arg.items()}
    bad = [k for k, v in out.items() if not math.isfinite(v) or v < 0]
    if bad:
        raise UserError(f"{what} must be finite and not negative (check {', '.join(bad)})")
    return out


def shortfall_value(
    shortfall: Mapping[str, float] | pd.Series,
    unit_price_usd: Mapping[str, float] | pd.Series,
    *,
    unit: str | Mapping[str, str] = "t",
    price_unit: str | Mapping[str, str] | None = None,
    extra_buy: Mapping[str, float] | pd.Series | None = None,
) -> ShortfallValues:
    """Value shortfalls in units and dollars per material at fixed unit prices, with and without an
    extra buy.

    Parameters
    ----------
    shortfall
        Quantity short per material, in ``unit``.
    unit_price_usd
        USD per ``price_unit`` per material (every material short needs one).
    unit
        Mass unit of the shortfalls and of the extra buy (one for all, or one per material):
        ``kg``, ``t``, ``short_ton``, ``lb`` or an alias (:func:`unit_name`).
    price_unit
        Mass unit the prices are quoted per (default: ``unit``); converted explicitly.
    extra_buy
        Quantity bought at the start of the crisis per material, in ``unit``: it reduces the
        shortfall by that quantity (not below zero; an extra buy beyond the shortfall is not valued).

    Returns
    -------
    ShortfallValues
        The table (unit_price_usd per ``unit``) and the totals in USD.

    Examples
    --------
    Tungsten in Table 10-1 (pounds) with a price quoted per kg:

    >>> usd_per_kg = 84.26e6 / convert(11_288_268, "lb", "kg")
    >>> v = shortfall_value({"W": 11_288_268}, {"W": usd_per_kg}, unit="lb", price_unit="kg",
    ...                     extra_buy={"W": 6_976_348})
    >>> row = v.table.iloc[0]
    >>> row.material, row.unit, float(row.shortfall_with_extra_buy)
    ('W', 'lb', 4311920.0)
    >>> round(v.value_with_extra_buy_usd / 1e6, 2), round(v.reduction_usd / 1e6, 2)
    (32.19, 52.07)
    """
    short = _numbers(shortfall, "shortfalls")
    prices = _numbers(unit_price_usd, "unit prices")
    buys = _numbers(extra_buy, "extra buys") if extra_buy is not None else {}
    materials = list(short)
    missing = [m for m in materials if m not in prices]
    if missing:
        hint = suggest(missing[0], prices)
        raise UserError(f"no unit price for {', '.join(missing)}" + (f" (did you mean {hint[0]!r}?)" if hint else ""))
    stray = [m for m in buys if m not in short]
    if stray:
        hint = suggest(stray[0], materials)
        raise UserError(
            f"extra buy for {', '.join(stray)}, which has no shortfall"
            + (f" (did you mean {hint[0]!r}?)" if hint else "")
        )
    units = {m: unit_name(u) for m, u in _per_material(unit, materials, "t").items()}
    p_units = {m: unit_name(u) for m, u in _per_material(price_unit, materials, "").items()} if price_unit else units
    rows = []
    for m in materials:
        per_unit = prices[m] * KG_PER_UNIT[units[m]] / KG_PER_UNIT[p_units[m]]
        buy = buys.get(m, 0.0)
        left = max(short[m] - buy, 0.0)
        rows.append(
            {
                "material": m,
                "unit": units[m],
                "shortfall": short[m],
                "unit_price_usd": per_unit,
                "value_usd": short[m] * per_unit,
                "extra_buy": buy,
                "shortfall_with_extra_buy": left,
                "value_with_extra_buy_usd": left * per_unit,
            }
        )
    cols = [
        "material", "unit", "shortfall", "unit_price_usd", "value_usd", "extra_buy",
        "shortfall_with_extra_buy", "value_with_extra_buy_usd",
    ]  # fmt: skip
    table = pd.DataFrame(rows, columns=cols)
    return ShortfallValues(table, float(table["value_usd"].sum()), float(table["value_with_extra_buy_usd"].sum()))


# --- the 2013 stockpile report's Table 10-1 ----------------------------------------------------------


def _table_10_1_file() -> pd.DataFrame:
    return pd.read_csv(data_dir() / TABLE_10_1_FILE, keep_default_na=False, na_values=[""])


def table_10_1() -> pd.DataFrame:
    """The material rows of Table 10-1 ('Effect of Extra Buy on Base Case Material Shortfalls') of the
    *Strategic and Critical Materials 2013 Report on Stockpile Requirements* (US DoD, January 2013),
    as shipped in ``critmin/data/nds_2013_table_10_1.csv``: material, material_id (critmin's id
    where there is one), unit (``kg``, ``t``, ``short_ton``, ``lb``), basis, shortfall, value_usd_m,
    shortfall_with_extra_buy, value_with_extra_buy_usd_m, shortfall_reduction, reduction_usd_m,
    source, confidence, notes. The table's total row is :func:`table_10_1_totals`.

    >>> t = table_10_1()
    >>> ga = t.set_index("material").loc["Gallium"]
    >>> len(t), ga.unit, float(ga.shortfall), float(ga.value_usd_m)
    (18, 'kg', 17686.0, 10.48)
    """
    df = _table_10_1_file()
    df = df[df["material"] != "Total"].reset_index(drop=True)
    for col in ("shortfall", "value_usd_m", "shortfall_with_extra_buy", "value_with_extra_buy_usd_m",
                "shortfall_reduction", "reduction_usd_m"):  # fmt: skip
        df[col] = df[col].astype(float)
    df["material_id"] = df["material_id"].fillna("").astype(str)
    df["notes"] = df["notes"].fillna("").astype(str)
    return df


def table_10_1_totals() -> dict[str, float]:
    """The totals row of Table 10-1, cited as given ($M).

    >>> table_10_1_totals()
    {'value_usd_m': 1221.41, 'value_with_extra_buy_usd_m': 578.75, 'reduction_usd_m': 642.66}
    """
    row = _table_10_1_file().set_index("material").loc["Total"]
    return {k: float(row[k]) for k in ("value_usd_m", "value_with_extra_buy_usd_m", "reduction_usd_m")}


@dataclass(frozen=True)
class TableCheck:
    """The result of :func:`check_table_10_1`: per-row checks (``rows``), the totals check
    (``totals``, None when the table's other rows are not all there), and a ``note``."""

    rows: pd.DataFrame
    totals: pd.DataFrame | None
    complete: bool
    note: str

    @property
    def ok(self) -> bool:
        """Every row (and the totals, when checked) within its rounding tolerance."""
        rows_ok = bool(self.rows["ok"].all())
        return rows_ok and (self.totals is None or bool(self.totals["ok"].all()))


def check_table_10_1(table: pd.DataFrame | None = None, totals: Mapping[str, float] | None = None) -> TableCheck:
    """Check Table 10-1's arithmetic: each row is valued at one fixed unit price.

    For each row the unit price implied by the base columns (value / shortfall) values the
    shortfall left after the extra buy (:func:`shortfall_value`); that value must equal the table's
    within the rounding of the table: the values are rounded to $0.01M (±$0.005M) and the
    quantities to whole units (±0.5), so the tolerance is
    ``0.005 + 0.005 · S_eb / S + V_eb · (0.5 / S + 0.5 / S_eb)`` ($M; S, S_eb: shortfall without
    and with the extra buy, V_eb: the value predicted): $0.0094M for gallium, more where one unit
    is worth much (antimony, $8,064 per short ton: $0.015M; yttrium oxide: $0.053M); the rows the
    issue quotes (gallium, germanium, antimony, tungsten) are all within $0.005M. The reduction
    columns must equal the differences (±1 unit, ±$0.015M: three roundings). The sums of the rows
    are compared with the table's totals (±$0.005M per row) only when all
    :data:`TABLE_10_1_MATERIAL_ROWS` material rows are there; otherwise the note says the table's
    other rows are not shipped.

    Parameters
    ----------
    table
        Rows in the layout of :func:`table_10_1` (default: the shipped table).
    totals
        The table's totals (default: :func:`table_10_1_totals`).

    Examples
    --------
    >>> c = check_table_10_1()
    >>> c.ok, c.complete
    (True, True)
    >>> r = c.rows.set_index("material").loc["Germanium"]
    >>> round(float(r.implied_unit_price_usd), 2), round(float(r.predicted_value_with_extra_buy_usd_m), 2)
    (1234.42, 26.67)
    >>> tot = c.totals.set_index("column").loc["value_usd_m"]
    >>> float(tot.sum_of_rows_usd_m), float(tot.table_total_usd_m), float(tot.tolerance_usd_m)
    (1221.4, 1221.41, 0.09)
    >>> check_table_10_1(table_10_1().head(4)).note
    'the table has 18 material rows; only 4 are given, so the totals (the other rows are not shipped) are not checked'
    """
    t = table_10_1() if table is None else table
    tot = table_10_1_totals() if totals is None else dict(totals)
    rows = []
    for r in t.itertuples(index=False):
        s, v = float(r.shortfall), float(r.value_usd_m)
        s_eb, v_eb = float(r.shortfall_with_extra_buy), float(r.value_with_extra_buy_usd_m)
        price = v * 1e6 / s  # USD per table unit
        val = shortfall_value({r.material: s}, {r.material: price}, unit=r.unit, extra_buy={r.material: s - s_eb})
        base = val.value_usd / 1e6
        pred = val.value_with_extra_buy_usd / 1e6
        tol = (
            _USD_M_ROUNDING
            + _USD_M_ROUNDING * s_eb / s
            + pred * (_UNIT_ROUNDING / s + (_UNIT_ROUNDING / s_eb if s_eb > 0 else 0.0))
        )
        red_units_ok = abs(s - s_eb - float(r.shortfall_reduction)) <= 2 * _UNIT_ROUNDING
        red_usd_ok = abs(v - v_eb - float(r.reduction_usd_m)) <= 3 * _USD_M_ROUNDING + 1e-9
        rows.append(
            {
                "material": r.material,
                "unit": r.unit,
                "shortfall": s,
                "value_usd_m": v,
                "implied_unit_price_usd": price,
                "value_at_implied_price_usd_m": base,
                "shortfall_with_extra_buy": s_eb,
                "value_with_extra_buy_usd_m": v_eb,
                "predicted_value_with_extra_buy_usd_m": pred,
                "difference_usd_m": pred - v_eb,
                "tolerance_usd_m": tol,
                "reduction_ok": red_units_ok and red_usd_ok,
                "ok": abs(pred - v_eb) <= tol + 1e-9 and abs(base - v) <= 1e-9 and red_units_ok and red_usd_ok,
            }
        )
    out = pd.DataFrame(rows)
    n = len(t)
    complete = n == TABLE_10_1_MATERIAL_ROWS
    if not complete:
        note = (
            f"the table has {TABLE_10_1_MATERIAL_ROWS} material rows; only {n} are given, so the totals "
            "(the other rows are not shipped) are not checked"
        )
        return TableCheck(out, None, False, note)
    checks = []
    for col in ("value_usd_m", "value_with_extra_buy_usd_m", "reduction_usd_m"):
        total = float(t[col].sum())
        tol = n * _USD_M_ROUNDING
        checks.append(
            {
                "column": col,
                "sum_of_rows_usd_m": round(total, 6),
                "table_total_usd_m": tot[col],
                "difference_usd_m": total - tot[col],
                "tolerance_usd_m": tol,
                "ok": abs(total - tot[col]) <= tol,
            }
        )
    note = f"all {n} material rows given; their sums are checked against the table's totals (±$0.005M per row)"
    return TableCheck(out, pd.DataFrame(checks), True, note)


# --- parameters: lever prices and values at risk --------------------------------------------------------


class UnitPrice(NamedTuple):
    """A price or value per tonne (USD per t of the stage's basis) with its provenance."""

    usd_per_t: float
    source: str
    confidence: str


def _frame(chain_or_params: SupplyChain | Params | pd.DataFrame) -> pd.DataFrame:
    if isinstance(chain_or_params, SupplyChain):
        return chain_or_params.parameters
    if isinstance(chain_or_params, Params):
        return chain_or_params.frame
    if isinstance(chain_or_params, pd.DataFrame):
        return chain_or_params
    raise TypeError("expected a SupplyChain, a critmin.dataset.Params or a parameters DataFrame")


def _rows(frame: pd.DataFrame, parameter: str) -> pd.DataFrame:
    hit = frame[frame["parameter"] == parameter]
    for col in ("source", "confidence"):
        if col not in hit.columns:
            hit = hit.assign(**{col: ""})
    return hit


def _pick(rows: pd.DataFrame, region: str) -> pd.Series | None:
    """The row for ``region`` (exact beats ``*``), or None."""
    for reg in (region, "*"):
        hit = rows[rows["region"] == reg]
        if len(hit):
            return hit.iloc[0]
    return None


def _material_stage(material: str, stage: str | None) -> tuple[str, str | None]:
    key = str(material).strip().lower()
    if key in NDFEB_ALIASES:
        if stage is not None and names.stage(stage) != "magnet":
            raise UserError(f"{material} is a magnet: its stage is 'magnet' (got {stage!r})")
        return "rare_earths", "magnet"
    return names.material(material), (names.stage(stage) if stage is not None else None)


def lever_unit_price_usd_per_t(
    chain_or_params: SupplyChain | Params | pd.DataFrame,
    material: str,
    stage: str | None = None,
    region: str = "*",
) -> UnitPrice:
    """The price a lever pays for a material at a stage, USD per tonne of the stage's basis (t of
    oxide at ``separation`` for rare earths, t of metal at ``metal``, t of NdFeB at ``magnet``, t of
    content for gallium), from the ``lever_price_usd_per_kg`` rows of the parameters (region
    ``region``, else ``*``), with the row's source and confidence.

    Parameters
    ----------
    chain_or_params
        A :class:`~critmin.chain.SupplyChain` (its parameters in force), a
        :class:`~critmin.dataset.Params` or a parameters table.
    material
        A material id, name or alias; ``"NdFeB"`` means ``rare_earths`` at stage ``magnet``.
    stage
        The stage (or an alias such as ``refinery``); needed except for NdFeB.
    region
        A region with its own price row, if any.

    Raises
    ------
    UserError
        Unknown material or stage, no stage given, or no price for that material and stage
        (with a "did you mean" among those that have one).

    Examples
    --------
    >>> from critmin.dataset import shipped_table
    >>> prm = shipped_table("parameters")
    >>> lever_unit_price_usd_per_t(prm, "Dy", "separation").usd_per_t
    800000.0
    >>> p = lever_unit_price_usd_per_t(prm, "NdFeB")
    >>> p.usd_per_t, p.confidence
    (112600.0, 'derived')
    >>> lever_unit_price_usd_per_t(prm, "Dy", "magnet")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    critmin.errors.UserError: no lever price ... for Dy at stage 'magnet' (did you mean 'Dy/metal'?); Dy has one at: ...
    """
    mat, stg = _material_stage(material, stage)
    frame = _frame(chain_or_params)
    rows = _rows(frame, LEVER_PRICE)
    have = sorted({f"{m}/{s}" for m, s in zip(rows["material"], rows["stage"], strict=True)})
    own = sorted({s for m, s in zip(rows["material"], rows["stage"], strict=True) if m == mat})
    if stg is None:
        raise UserError(
            f"give the stage of {mat} to price"
            + (f" (stages with a lever price: {', '.join(own)})" if own else f" ({mat} has no lever price)")
        )
    row = _pick(rows[(rows["material"] == mat) & (rows["stage"] == stg)], region)
    if row is None:
        hint = suggest(f"{mat}/{stg}", have)
        msg = f"no lever price (parameter {LEVER_PRICE}) for {mat} at stage {stg!r}"
        if hint:
            msg += f" (did you mean {hint[0]!r}?)"
        if own:
            msg += f"; {mat} has one at: {', '.join(own)}"
        raise UserError(msg + "; add one with critmin data import csv parameters FILE")
    return UnitPrice(float(row["value"]) * 1000.0, str(row["source"]), str(row["confidence"]))


def carrying_cost_share_per_yr(
    chain_or_params: SupplyChain | Params | pd.DataFrame, material: str = "*", stage: str = "*"
) -> float:
    """The yearly cost of holding a stockpile as a share of its value (``carrying_cost_share_per_yr``,
    wildcard fall-back).

    >>> from critmin.dataset import shipped_table
    >>> carrying_cost_share_per_yr(shipped_table("parameters"), "Dy", "separation")
    0.05
    """
    return Params(_frame(chain_or_params)).get(CARRYING_COST, material, stage)


def _weaker(*confidences: str) -> str:
    return max(confidences, key=lambda c: _CONFIDENCE_RANK.get(c, len(_CONFIDENCE_RANK)))


def _value_at_risk(frame: pd.DataFrame, material: str, sector: str, region: str) -> UnitPrice | None:
    rows = _rows(frame, VALUE_AT_RISK + sector)
    own = rows[rows["material"] == material]
    if material == "rare_earths":
        own = own[own["stage"].isin(["magnet", "*"])]
    row = _pick(own, region)
    if row is not None:
        return UnitPrice(float(row["value"]), str(row["source"]), str(row["confidence"]))
    if material in NDFEB_ELEMENTS:
        base = _pick(rows[(rows["material"] == "rare_earths") & rows["stage"].isin(["magnet", "*"])], region)
        contents = _rows(frame, "magnet_content")
        content = _pick(contents[(contents["material"] == material) & contents["stage"].isin(["magnet", "*"])], region)
        if base is not None and content is not None and float(content["value"]) > 0:
            pct = float(content["value"])
            return UnitPrice(
                float(base["value"]) / (pct / 100.0),
                f"{base['source']}; per t of {material}: divided by magnet_content {pct:g} wt% ({content['source']})",
                _weaker(str(base["confidence"]), str(content["confidence"])),
            )
    row = _pick(rows[rows["material"] == "*"], region)
    if row is not None:
        return UnitPrice(float(row["value"]), str(row["source"]), str(row["confidence"]))
    return None


def value_at_risk_usd_per_t(
    chain_or_params: SupplyChain | Params | pd.DataFrame, material: str, sector: str, region: str = "*"
) -> UnitPrice:
    """The value of output a tonne of ``material`` short stops in ``sector`` (USD per t).

    Looked up in the ``value_at_risk_usd_per_t_<sector>`` rows: the material's own row; else, for
    the NdFeB elements (Nd, Pr, Dy, Tb), the NdFeB row (material ``rare_earths``, stage ``magnet``,
    USD per t of magnet) divided by the element's ``magnet_content`` (wt% of NdFeB), so that one
    stopped magnet is worth the same whichever element runs short; else a ``*`` row.

    Examples
    --------
    >>> from critmin.dataset import shipped_table
    >>> prm = shipped_table("parameters")
    >>> round(value_at_risk_usd_per_t(prm, "NdFeB", "wind").usd_per_t)
    2000000
    >>> round(value_at_risk_usd_per_t(prm, "Nd", "wind").usd_per_t)  # 2.0e6 / 24.75 %
    8080808
    >>> value_at_risk_usd_per_t(prm, "Dy", "wnd")
    Traceback (most recent call last):
    ...
    critmin.errors.UnknownNameError: unknown sector 'wnd' (did you mean 'wind'?)
    """
    if sector not in names.SECTORS:
        raise UnknownNameError("sector", str(sector), names.SECTORS)
    mat, _ = _material_stage(material, None)
    hit = _value_at_risk(_frame(chain_or_params), mat, sector, region)
    if hit is None:
        raise UserError(
            f"no value at risk for {mat} in sector {sector} (parameter {VALUE_AT_RISK}{sector}); add one with "
            "critmin data import csv parameters FILE"
        )
    return hit


# --- economic loss of an ensemble's shortfalls -------------------------------------------------------


def sector_shares_from_demand(
    demand: pd.DataFrame, regions: Sequence[str] | None = None, year: int | None = None
) -> pd.DataFrame:
    """Each non-defence sector's share of a (material, region)'s non-defence demand, from a demand
    table (material, region, sector, demand_t_per_yr, and year).

    Demand regions are mapped onto ``regions`` (a simulation region set; countries outside it go to
    ``ROW``, EU members to ``EU``) when given. ``year`` picks the rows of one year (default: the
    latest). Rows with region ``*`` hold each material's shares over all regions (the fall-back for
    a pair without non-defence demand of its own).

    >>> dem = pd.DataFrame({"material": ["Nd"] * 4, "region": ["JPN", "JPN", "JPN", "DEU"],
    ...                     "sector": ["defence", "automotive", "wind", "wind"],
    ...                     "demand_t_per_yr": [5.0, 60.0, 20.0, 20.0], "year": [2024] * 4})
    >>> sector_shares_from_demand(dem, regions=("JPN", "EU", "ROW"))
      material region      sector  share
    0       Nd     EU        wind   1.00
    1       Nd    JPN  automotive   0.75
    2       Nd    JPN        wind   0.25
    3       Nd      *  automotive   0.60
    4       Nd      *        wind   0.40
    """
    need = {"material", "region", "sector", "demand_t_per_yr"}
    if not need <= set(demand.columns):
        raise UserError(f"demand table lacks column(s): {', '.join(sorted(need - set(demand.columns)))}")
    dem = demand
    if "year" in dem.columns and len(dem):
        y = int(dem["year"].max()) if year is None else int(year)
        dem = dem[dem["year"].astype(int) == y]
    dem = dem[dem["sector"] != "defence"]
    dem = dem.assign(demand_t_per_yr=dem["demand_t_per_yr"].astype(float))
    if regions is not None:
        regs = tuple(regions)
        dem = dem.assign(region=[region_of(str(r), regs) for r in dem["region"]])
    cols = ["material", "region", "sector", "share"]

    def shares(keys: list[str]) -> pd.DataFrame:
        g = dem.groupby([*keys, "sector"], as_index=False)["demand_t_per_yr"].sum()
        tot = g.groupby(keys)["demand_t_per_yr"].transform("sum")
        g = g[tot > 0].assign(share=g["demand_t_per_yr"] / tot)
        return g[g["share"] > 0]

    by_region = shares(["material", "region"])
    world = shares(["material"]).assign(region="*")
    out = pd.concat([by_region[cols], world[cols]], ignore_index=True)
    return out.reset_index(drop=True)


@dataclass(frozen=True)
class EconomicLoss:
    """The value of output stopped by an ensemble's shortfalls.

    ``per_draw``: ``loss_usd`` and ``defence_loss_usd`` (draw, pair; NaN for pairs whose material
    has no value at risk) and ``total_loss_usd`` (draw): the sum over pairs, where the NdFeB
    elements of a region count once (their largest loss: one stopped magnet is short of all four).
    ``summary``: per pair, material, region, valued, expected_shortfall_t, expected_loss_usd,
    stderr_loss_usd, expected_defence_loss_usd, usd_per_t_defence, usd_per_t_other (the
    demand-weighted value of the other sectors). ``value_at_risk``: the values used (material,
    sector, usd_per_t, source, confidence). ``unvalued``: materials left out.
    """

    per_draw: xr.Dataset
    summary: pd.DataFrame
    expected_total_usd: float
    stderr_total_usd: float
    value_at_risk: pd.DataFrame
    unvalued: tuple[str, ...]


def _shares_table(sector_shares: pd.DataFrame) -> dict[tuple[str, str], dict[str, float]]:
    need = {"material", "region", "sector", "share"}
    if not need <= set(sector_shares.columns):
        raise UserError(f"sector_shares lacks column(s): {', '.join(sorted(need - set(sector_shares.columns)))}")
    out: dict[tuple[str, str], dict[str, float]] = {}
    for m, r, s, v in zip(
        sector_shares["material"], sector_shares["region"], sector_shares["sector"], sector_shares["share"], strict=True
    ):
        if s not in names.SECTORS:
            raise UnknownNameError("sector", str(s), names.SECTORS)
        if s == "defence" or not float(v) > 0:
            continue
        out.setdefault((str(m), str(r)), {})[str(s)] = float(v)
    for key, d in out.items():
        total = sum(d.values())
        out[key] = {s: v / total for s, v in d.items()}
    return out


def economic_loss(
    ens: Ensemble,
    params: SupplyChain | Params | pd.DataFrame,
    sector_shares: pd.DataFrame | None = None,
    *,
    materials: Sequence[str] | None = None,
    joint: Sequence[str] = NDFEB_ELEMENTS,
) -> EconomicLoss:
    """The value of output an ensemble's shortfalls stop, per draw and (material, region) pair.

    Per draw and pair: defence shortfall × the defence value at risk + (shortfall − defence
    shortfall) × the other sectors' values at risk weighted by their shares of the pair's
    non-defence demand (:func:`value_at_risk_usd_per_t`, USD per t). The draw's total counts the
    NdFeB elements (``joint``) of a region once, by their largest loss.

    Parameters
    ----------
    ens
        A :class:`critmin.risk.Ensemble` (``shortfall_t``, ``defence_shortfall_t`` per draw and pair).
    params
        A :class:`~critmin.chain.SupplyChain` (parameters and demand), a
        :class:`~critmin.dataset.Params` or a parameters table.
    sector_shares
        Shares of non-defence demand per material, region and sector (columns material, region,
        sector, share; region ``*`` is a material's fall-back; defence rows are ignored and the
        others renormalised). Default: :func:`sector_shares_from_demand` of the chain's demand in
        its base year (``params`` must then be a SupplyChain).
    materials
        The materials to value (each must have values at risk); default: every material of the
        ensemble that has them (the others are listed in ``unvalued``).
    joint
        Materials that are parts of one product, counted once per region in the total.

    Examples
    --------
    Two draws, Nd and Dy in Japan; NdFeB worth 1 million USD per t in defence, 0.1 million in
    automotive and 0.2 million in wind; Nd 25 wt% and Dy 1 wt% of the magnet:

    >>> import numpy as np
    >>> from critmin.risk import Ensemble
    >>> ens = Ensemble.from_arrays(
    ...     pairs=[("Nd", "JPN"), ("Dy", "JPN")], price_materials=["Nd", "Dy"],
    ...     demand_t=np.full((2, 2), 100.0), shortfall_t=np.array([[10.0, 0.25], [0.0, 0.0]]),
    ...     defence_demand_t=np.full((2, 2), 5.0), defence_shortfall_t=np.array([[2.0, 0.0], [0.0, 0.0]]),
    ...     first_short_month=np.zeros((2, 2)), peak_price_index=np.ones((2, 2)))
    >>> prm = pd.DataFrame({
    ...     "parameter": ["value_at_risk_usd_per_t_defence", "value_at_risk_usd_per_t_automotive",
    ...                   "value_at_risk_usd_per_t_wind", "magnet_content", "magnet_content"],
    ...     "material": ["rare_earths", "rare_earths", "rare_earths", "Nd", "Dy"],
    ...     "stage": ["magnet"] * 5, "region": ["*"] * 5, "value": [1e6, 1e5, 2e5, 25.0, 1.0]})
    >>> shares = pd.DataFrame({"material": ["Nd", "Nd", "Dy"], "region": ["JPN", "JPN", "JPN"],
    ...                        "sector": ["automotive", "wind", "automotive"], "share": [0.75, 0.25, 1.0]})
    >>> loss = economic_loss(ens, prm, shares)
    >>> loss.per_draw["loss_usd"].sel(draw=0).values.tolist()  # Nd: 2 t x 4e6 + 8 t x 5e5; Dy: 0.25 t x 1e7
    [12000000.0, 2500000.0]
    >>> loss.expected_total_usd  # Nd and Dy are parts of one magnet: the draw counts the larger, 12e6
    6000000.0
    """
    if ens.draws == 0:
        raise UserError("the ensemble has no draws")
    frame = _frame(params)
    pairs = ens.pairs
    regions = tuple(dict.fromkeys(r for _, r in pairs))
    if sector_shares is None:
        if not isinstance(params, SupplyChain):
            raise UserError("give sector_shares, or a SupplyChain whose demand table gives them")
        sector_shares = sector_shares_from_demand(params.demand, regions, params.base_year)
    shares = _shares_table(sector_shares)
    present = list(dict.fromkeys(m for m, _ in pairs))
    wanted = present if materials is None else [names.material(m) for m in materials]
    absent = [m for m in wanted if m not in present]
    if absent:
        raise UserError(f"no pair of the ensemble has material {', '.join(absent)} (materials: {', '.join(present)})")

    var: dict[str, dict[str, UnitPrice]] = {}
    unvalued: list[str] = []
    for m in wanted:
        needed = {"defence"} | {s for (mm, _), d in shares.items() if mm == m for s in d}
        found = {s: _value_at_risk(frame, m, s, "*") for s in sorted(needed)}
        missing = [s for s, v in found.items() if v is None]
        if missing:
            if materials is not None:
                raise UserError(
                    f"no value at risk for {m} in sector(s) {', '.join(missing)} (parameters "
                    f"{VALUE_AT_RISK}<sector>); add them with critmin data import csv parameters FILE"
                )
            unvalued.append(m)
            continue
        var[m] = {s: v for s, v in found.items() if v is not None}
    unvalued += [m for m in present if m not in wanted]

    short = np.asarray(ens["shortfall_t"].values, dtype=np.float64)
    dshort = np.asarray(ens["defence_shortfall_t"].values, dtype=np.float64)
    n, p = short.shape
    loss = np.full((n, p), np.nan)
    dloss = np.full((n, p), np.nan)
    per_t_def = np.full(p, np.nan)
    per_t_other = np.full(p, np.nan)
    for pi, (m, r) in enumerate(pairs):
        if m not in var:
            continue
        other = np.clip(short[:, pi] - dshort[:, pi], 0.0, None)
        sh = shares.get((m, r)) or shares.get((m, "*"))
        if sh is None:
            if other.max(initial=0.0) > 0:
                raise UserError(
                    f"{m} in {r} runs short outside defence but sector_shares gives no sector split for it "
                    f"(nor a '*' row for {m})"
                )
            sh = {}
        per_t_def[pi] = var[m]["defence"].usd_per_t
        per_t_other[pi] = sum(v * var[m][s].usd_per_t for s, v in sh.items())
        dloss[:, pi] = dshort[:, pi] * per_t_def[pi]
        loss[:, pi] = dloss[:, pi] + other * per_t_other[pi]

    joint_set = {names.material(j) for j in joint}
    total = np.zeros(n)
    for r in regions:
        idx = [i for i, (m, rr) in enumerate(pairs) if rr == r and m in var]
        jidx = [i for i in idx if pairs[i][0] in joint_set]
        rest = [i for i in idx if pairs[i][0] not in joint_set]
        if jidx:
            total += loss[:, jidx].max(axis=1)
        if rest:
            total += loss[:, rest].sum(axis=1)

    template = ens["shortfall_t"]
    per_draw = xr.Dataset(
        {
            "loss_usd": (template.dims, loss),
            "defence_loss_usd": (template.dims, dloss),
            "total_loss_usd": (("draw",), total),
        },
        coords=template.coords,
    )
    for name, what in (
        ("loss_usd", "value of output stopped by the pair's shortfall over the horizon"),
        ("defence_loss_usd", "the part stopped in defence"),
        ("total_loss_usd", "all pairs, the NdFeB elements of a region counted once (largest)"),
    ):
        per_draw[name].attrs.update(units="USD", period="horizon", description=what)

    root_n = math.sqrt(n)

    def stderr(x: NDArray[np.float64]) -> float:
        return float(np.std(x, ddof=1)) / root_n if n > 1 else 0.0

    summary = pd.DataFrame(
        {
            "material": [m for m, _ in pairs],
            "region": [r for _, r in pairs],
            "valued": [m in var for m, _ in pairs],
            "expected_shortfall_t": short.mean(axis=0),
            "expected_loss_usd": loss.mean(axis=0),
            "stderr_loss_usd": [stderr(loss[:, i]) if pairs[i][0] in var else math.nan for i in range(p)],
            "expected_defence_loss_usd": dloss.mean(axis=0),
            "usd_per_t_defence": per_t_def,
            "usd_per_t_other": per_t_other,
        }
    )
    var_rows = [
        {"material": m, "sector": s, "usd_per_t": v.usd_per_t, "source": v.source, "confidence": v.confidence}
        for m, d in var.items()
        for s, v in d.items()
    ]
    var_table = pd.DataFrame(var_rows, columns=["material", "sector", "usd_per_t", "source", "confidence"])
    return EconomicLoss(
        per_draw, summary, float(total.mean()), stderr(total), var_table, tuple(dict.fromkeys(unvalued))
    )


def regions_loss(ens: Ensemble, chain: SupplyChain, regions: Sequence[str]) -> EconomicLoss:
    """:func:`economic_loss` of the (material, region) pairs of ``regions`` alone (the holders of
    a stockpile, the regions a portfolio counts), with the sector shares of ``chain``'s demand."""
    idx = [i for i, (_, r) in enumerate(ens.pairs) if r in regions]
    return economic_loss(ens.isel(pair=idx), chain)


def cost_benefit(cost_usd: float, expected_loss_before_usd: float, expected_loss_after_usd: float) -> dict[str, float]:
    """A lever's cost against the expected loss it avoids.

    Returns cost_usd, expected_loss_before_usd, expected_loss_after_usd, loss_avoided_usd (before −
    after), net_benefit_usd (avoided − cost), benefit_cost_ratio (avoided / cost; ``inf`` for a
    free lever that avoids a loss, NaN when both are zero) and cost_per_usd_avoided (cost /
    avoided; ``inf`` when nothing is avoided).

    >>> cb = cost_benefit(2e6, 10e6, 4e6)
    >>> cb["loss_avoided_usd"], cb["benefit_cost_ratio"], cb["cost_per_usd_avoided"]
    (6000000.0, 3.0, 0.3333333333333333)
    """
    vals = {"cost_usd": cost_usd, "expected_loss_before_usd": expected_loss_before_usd,
            "expected_loss_after_usd": expected_loss_after_usd}  # fmt: skip
    bad = [k for k, v in vals.items() if not math.isfinite(float(v)) or float(v) < 0]
    if bad:
        raise UserError(f"{', '.join(bad)} must be finite and not negative")
    cost = float(cost_usd)
    avoided = float(expected_loss_before_usd) - float(expected_loss_after_usd)
    free = math.inf if avoided > 0 else (math.nan if avoided == 0 else -math.inf)
    ratio = avoided / cost if cost > 0 else free
    per = cost / avoided if avoided > 0 else math.inf
    return {
        "cost_usd": cost,
        "expected_loss_before_usd": float(expected_loss_before_usd),
        "expected_loss_after_usd": float(expected_loss_after_usd),
        "loss_avoided_usd": avoided,
        "net_benefit_usd": avoided - cost,
        "benefit_cost_ratio": ratio,
        "cost_per_usd_avoided": per,
    }


__all__ = [
    "CARRYING_COST",
    "KG_PER_UNIT",
    "LEVER_PRICE",
    "NDFEB_ELEMENTS",
    "TABLE_10_1_MATERIAL_ROWS",
    "VALUE_AT_RISK",
    "EconomicLoss",
    "ShortfallValues",
    "TableCheck",
    "UnitPrice",
    "carrying_cost_share_per_yr",
    "check_table_10_1",
    "convert",
    "cost_benefit",
    "economic_loss",
    "lever_unit_price_usd_per_t",
    "sector_shares_from_demand",
    "shortfall_value",
    "table_10_1",
    "table_10_1_totals",
    "unit_name",
    "value_at_risk_usd_per_t",
]
