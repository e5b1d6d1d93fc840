"""Read USGS Mineral Commodity Summaries data releases into ``production`` rows.

Two layouts are recognised from the header:

* the MCS 2025 *World Data* layout (``SOURCE, COMMODITY, COUNTRY, TYPE, UNIT_MEAS,
  PROD_2023, PROD_EST_ 2024, PROD_NOTES, ...``), one row per country and commodity;
* the MCS 2026 *Commodities Data* long layout (``MCS chapter, Section, Commodity,
  Country, Statistics, Statistics_detail, Unit, Year, Value, Notes, ...``).

Commodities critmin does not model are skipped (and counted); withheld (``W``),
``NA`` and blank values are absent, never zero. Anything else that does not parse
is a problem reported with its line and field, and nothing is written.

Example
-------
>>> import io
>>> text = ("SOURCE,COMMODITY,COUNTRY,TYPE,UNIT_MEAS,PROD_2023,PROD_EST_ 2024,PROD_NOTES\\n"
...         "MCS2025,Rare earths,Burma,\\"Mine production, rare-earth-oxide equivalent\\","
...         "metric tons,43000,31000,\\n")
>>> rows, skipped = parse_usgs_mcs(io.StringIO(text), "x.csv")
>>> rows[["country_iso3", "year", "quantity"]].values.tolist()
[['MMR', '2023', '43000.0'], ['MMR', '2024', '31000.0']]
"""

from __future__ import annotations

import io
import re
from collections import Counter
from pathlib import Path
from typing import IO

import pandas as pd

from critmin import names
from critmin.errors import DataValidationError, RowProblem, UnknownNameError, UserError, suggest
from critmin.validate import problems_error

USGS_COUNTRY_ALIASES = {
    "burma": "MMR",
    "united states": "USA",
    "russia": "RUS",
    "turkey": "TUR",
    "czechia": "CZE",
    "congo (kinshasa)": "COD",
    "congo (brazzaville)": "COG",
    "korea, republic of": "KOR",
    "korea, north": "PRK",
    "côte d’ivoire": "CIV",
    "côte d'ivoire": "CIV",
    "cote d'ivoire": "CIV",
    "laos": "LAO",
    "vietnam": "VNM",
    "iran": "IRN",
    "venezuela": "VEN",
    "egypt": "EGY",
    "kyrgyzstan": "KGZ",
    "slovakia": "SVK",
    "taiwan": "TWN",
    "united kingdom": "GBR",
}
USGS_COMMODITY_ALIASES = {
    "gemanium": "Ge",
    "rare earths": "rare_earths",
    "graphite (natural)": "graphite",
}
_WITHHELD = {"", "w", "na", "xx", "—", "-", "–", "nan"}
_UNITS = {
    "metric tons": 1.0,
    "thousand metric tons": 1000.0,
    "kilograms": 0.001,
    "million metric tons": 1e6,
}


def _material(commodity: str) -> str | None:
    key = commodity.strip().lower()
    if key in USGS_COMMODITY_ALIASES:
        return USGS_COMMODITY_ALIASES[key]
    try:
        return names.material(key)
    except UnknownNameError:
        return None


def _country(name: str) -> str:
    raw = re.sub(r"\s+\d+$", "", name.strip())  # footnote digits: "World total (rounded) 10"
    low = raw.lower()
    if low.startswith("world total"):
        return "WLD"
    if low.startswith("other countries"):
        return "OTH"
    if low in USGS_COUNTRY_ALIASES:
        return USGS_COUNTRY_ALIASES[low]
    return names.country(raw)


def _country_or_problem(name: str, line: int, column: str, problems: list[RowProblem]) -> str | None:
    """ISO3 for a USGS country name, or None after recording a problem with a suggestion."""
    try:
        return _country(name)
    except UnknownNameError as exc:
        h = suggest(name, exc.valid)
        problems.append(RowProblem(line, column, name, "unknown country", f"did you mean {h[0]!r}?" if h else ""))
        return None


def _stage(kind: str) -> str:
    low = kind.lower()
    return "mine" if "mine" in low else "separation"


def _basis(kind: str, material: str) -> str:
    """What is counted: REO for rare earths, gross weight for graphite, else contained metal."""
    if "oxide" in kind.lower():
        return "REO"
    return "gross" if material == "graphite" else "content"


def _number(text: str) -> float | None:
    t = text.strip().lstrip(">").replace(",", "")
    if t.lower() in _WITHHELD:
        return None
    return float(t)


def read_usgs_mcs(path: str | Path) -> tuple[pd.DataFrame, Counter[str]]:
    """Read a USGS MCS CSV file (UTF-8, with or without a byte-order mark, or Windows-1252) into
    ``production`` rows (:func:`parse_usgs_mcs`). A missing file, a folder, an unreadable, binary or
    undecodable file is a one-line :class:`UserError` naming it; rows for none of critmin's
    materials too.

    >>> import tempfile, os
    >>> read_usgs_mcs(tempfile.mkdtemp())  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    critmin.errors.UserError: ...: is a folder, not a CSV file
    """
    p = Path(path)
    if not p.exists():
        raise UserError(f"{p}: file not found")
    if p.is_dir():
        raise UserError(f"{p}: is a folder, not a CSV file")
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise UserError(f"{p}: cannot read the file: {exc.strerror or exc}") from None
    if b"\x00" in data[:65536]:
        raise UserError(f"{p}: a binary file, not a CSV (text) file")
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        rows, skipped = parse_usgs_mcs(io.StringIO(text), str(p))
        if rows.empty:
            raise UserError(f"{p}: no rows for critmin's materials (skipped {sum(skipped.values())} rows)")
        return rows, skipped
    raise UserError(f"{p}: not UTF-8 or Windows-1252 text (a binary file?); save the CSV as UTF-8")


def parse_usgs_mcs(src: str | IO[str], origin: str) -> tuple[pd.DataFrame, Counter[str]]:
    """Parse a USGS MCS CSV into ``production`` rows (all cells as text).

    Returns the rows and a counter of skipped (unmodelled) commodities. Raises
    :class:`DataValidationError` with every problem found.
    """
    try:
        df = pd.read_csv(src, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        raise UserError(f"{origin}: not a readable CSV: {str(exc).strip().splitlines()[0]}") from exc
    df.columns = [re.sub(r"\s+", "", c.replace("\ufeff", "")) for c in df.columns]
    if {"COMMODITY", "COUNTRY", "TYPE", "UNIT_MEAS"} <= set(df.columns):
        return _parse_world(df, origin)
    if {"Commodity", "Country", "Statistics", "Unit", "Year", "Value"} <= set(df.columns):
        return _parse_long(df, origin)
    expected = "SOURCE,COMMODITY,COUNTRY,TYPE,UNIT_MEAS,PROD_<year>,... (MCS world data)"
    raise DataValidationError(
        origin,
        [
            RowProblem(
                1,
                "header",
                ",".join(df.columns)[:80],
                "not a USGS MCS layout",
                f"expected {expected}",
            )
        ],
    )


def _emit(
    rows: list[dict[str, str]],
    problems: list[RowProblem],
    line: int,
    material: str,
    country: str,
    kind: str,
    unit: str,
    year: int,
    value: str,
    value_col: str,
    source: str,
    notes: str,
) -> None:
    factor = _UNITS.get(unit.strip().lower())
    if factor is None:
        hint = suggest(unit.strip(), _UNITS)
        problems.append(
            RowProblem(
                line,
                "unit",
                unit,
                "unit not understood",
                f"did you mean {hint[0]!r}?" if hint else "use metric tons",
            )
        )
        return
    try:
        num = _number(value)
    except ValueError:
        problems.append(RowProblem(line, value_col, value, "not a number", "USGS uses blank, W or NA for no value"))
        return
    if num is None:
        return
    rows.append(
        dict(
            material=material,
            stage=_stage(kind),
            country_iso3=country,
            year=str(year),
            quantity=str(num * factor),
            unit="t",
            basis=_basis(kind, material),
            source=source,
            confidence="read",
            notes=notes.strip(),
        )
    )


def _parse_world(df: pd.DataFrame, origin: str) -> tuple[pd.DataFrame, Counter[str]]:
    prod_cols = [(c, int(m.group(1))) for c in df.columns if (m := re.fullmatch(r"PROD(?:_EST)?_(\d{4})", c))]
    rows: list[dict[str, str]] = []
    problems: list[RowProblem] = []
    skipped: Counter[str] = Counter()
    for i, rec in enumerate(df.to_dict("records")):
        line = i + 2
        material = _material(rec["COMMODITY"])
        if material is None:
            skipped[rec["COMMODITY"].strip()] += 1
            continue
        country = _country_or_problem(rec["COUNTRY"], line, "COUNTRY", problems)
        if country is None:
            continue
        src = f"USGS MCS {rec.get('SOURCE', '').strip()} world data ({origin})"
        for col, year in prod_cols:
            _emit(rows, problems, line, material, country, rec["TYPE"], rec["UNIT_MEAS"], year,
                  rec[col], col, src, rec.get("PROD_NOTES", ""))  # fmt: skip
    if problems:
        raise problems_error(origin, problems)
    return pd.DataFrame(rows), skipped


def _parse_long(df: pd.DataFrame, origin: str) -> tuple[pd.DataFrame, Counter[str]]:
    rows: list[dict[str, str]] = []
    problems: list[RowProblem] = []
    skipped: Counter[str] = Counter()
    for i, rec in enumerate(df.to_dict("records")):
        line = i + 2
        if rec["Statistics"].strip() != "Production":
            continue
        material = _material(rec["Commodity"])
        if material is None:
            skipped[rec["Commodity"].strip()] += 1
            continue
        country = _country_or_problem(rec["Country"], line, "Country", problems)
        if country is None:
            continue
        year_txt = rec["Year"].strip()
        if not year_txt.isdigit():
            problems.append(RowProblem(line, "Year", year_txt, "not a year", "expected e.g. 2024"))
            continue
        src = f"USGS MCS commodities data ({origin})"
        _emit(rows, problems, line, material, country, rec.get("Statistics_detail", "mine"), rec["Unit"],
              int(year_txt), rec["Value"], "Value", src, rec.get("Notes", ""))  # fmt: skip
    if problems:
        raise problems_error(origin, problems)
    return pd.DataFrame(rows), skipped
