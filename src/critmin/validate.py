"""Validate tidy rows against a table definition, collecting every problem.

Example
-------
>>> import pandas as pd
>>> from critmin.schema import TABLES
>>> raw = pd.DataFrame({"country_iso3": ["CHN"], "year": ["2022"], "indicator": ["VA"],
...                     "estimate": ["-1.5"], "source": ["x"], "confidence": ["read"],
...                     "notes": [""]})
>>> clean, problems = validate_frame(raw, TABLES["governance"])
>>> problems
[]
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pandas as pd

from critmin import names
from critmin.errors import RowProblem, UnknownNameError, suggest
from critmin.schema import Column, Table

_MISSING = {"", "na", "n/a", "nan", "none", "null"}


def _checker(kind: str) -> Callable[[str], str] | None:
    countries = names.countries()
    regions = {**countries, **names.REGION_EXTRAS}

    def in_set(valid: dict[str, str], what: str, extra: tuple[str, ...] = ()) -> Callable[[str], str]:
        def f(v: str) -> str:
            if v in extra:
                return v
            if v.upper() in valid:
                return v.upper()
            raise UnknownNameError(what, v, [*valid, *extra])

        return f

    def star(f: Callable[[str], str]) -> Callable[[str], str]:
        return lambda v: "*" if v == "*" else f(v)

    return {
        "material": names.material,
        "stage": names.stage,
        "country": in_set(countries, "country", ("WLD",)),
        "region": in_set(regions, "region"),
        "region_or_world": in_set(regions, "region", ("WLD",)),
        "material_or_star": star(names.material),
        "stage_or_star": star(names.stage),
    }.get(kind)


def _parse(col: Column, raw: str) -> tuple[object, str, str]:
    """Return (value, reason, hint); reason is '' when fine."""
    if col.dtype == "str":
        if col.choices and raw not in col.choices:
            hint = suggest(raw, col.choices)
            return (
                None,
                f"must be one of {', '.join(col.choices)}",
                (f"did you mean {hint[0]!r}?" if hint else ""),
            )
        return raw, "", ""
    if col.dtype == "bool":
        low = raw.lower()
        if low in ("true", "1", "yes"):
            return True, "", ""
        if low in ("false", "0", "no"):
            return False, "", ""
        return None, "not a boolean", "use true or false"
    try:
        num = float(raw.replace(",", "")) if col.dtype == "float" else int(raw)
    except ValueError:
        want = "a number" if col.dtype == "float" else "an integer"
        return None, f"not {want}", "remove units and text from the cell"
    if isinstance(num, float) and not math.isfinite(num):
        return None, "NaN/inf is not a value", "leave the row out if the value is unknown"
    if col.min is not None and num < col.min:
        return None, f"below the minimum {col.min:g}", f"unit: {col.unit}" if col.unit else ""
    if col.max is not None and num > col.max:
        return None, f"above the maximum {col.max:g}", f"unit: {col.unit}" if col.unit else ""
    return num, "", ""


def validate_frame(raw: pd.DataFrame, table: Table, first_line: int = 2) -> tuple[pd.DataFrame, list[RowProblem]]:
    """Validate ``raw`` (all cells as strings) against ``table``.

    Returns the typed, canonicalised frame and the list of problems (empty when
    valid). Line numbers count the header as line 1.
    """
    problems: list[RowProblem] = []
    cols = list(raw.columns)
    known = table.column_names
    for c in cols:
        if c not in known:
            close = suggest(c, known)
            problems.append(RowProblem(1, c, c, "unknown column", f"did you mean {close[0]!r}?" if close else ""))
    for c in table.all_columns:
        if c.name not in cols and c.required:
            problems.append(RowProblem(1, c.name, "", "required column missing", f"add a {c.name!r} column"))
    if problems:
        return pd.DataFrame(columns=list(known)), problems

    out: dict[str, list[object]] = {c.name: [] for c in table.all_columns}
    checkers = {c.name: _checker(c.check) for c in table.all_columns if c.check}
    for i, rec in enumerate(raw.to_dict("records")):
        line = first_line + i
        for col in table.all_columns:
            cell = rec.get(col.name, "")
            text = "" if cell is None or (isinstance(cell, float) and math.isnan(cell)) else str(cell).strip()
            if text.lower() in _MISSING:
                if col.required:
                    why = "NaN/blank is not allowed" if text else "required value is blank"
                    problems.append(RowProblem(line, col.name, text, why, "absence is not zero: leave the row out"))
                out[col.name].append(None)
                continue
            value, reason, hint = _parse(col, text)
            if not reason and col.name in checkers:
                fn = checkers[col.name]
                assert fn is not None
                try:
                    value = fn(str(value))
                except UnknownNameError as exc:
                    reason = f"unknown {exc.kind}"
                    h = suggest(text, exc.valid)
                    hint = f"did you mean {h[0]!r}?" if h else ""
            if reason:
                problems.append(RowProblem(line, col.name, text, reason, hint))
            out[col.name].append(value)
    frame = pd.DataFrame(out)
    if not problems and len(frame):
        dup = frame.duplicated(list(table.key), keep=False)
        for i in frame.index[dup]:
            key = ", ".join(f"{k}={frame.at[i, k]}" for k in table.key)
            problems.append(
                RowProblem(
                    first_line + int(i),
                    ",".join(table.key),
                    key,
                    "duplicate key",
                    "keep one row per key",
                )
            )
    return frame, problems
