"""Validate tidy rows against a table definition, collecting the problems.

Validation works column by column on the distinct values of each column (a million-row file with
a few distinct units or countries checks each of them once), so that a file of any length is
checked in seconds. At most :data:`MAX_PROBLEMS` problems are kept, in file order (row, then the
schema's column order), together with the total count (:attr:`Problems.total`); "did you mean"
hints are computed only for the problems kept.

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
>>> bad = raw.assign(indicator=["XX"])
>>> _, problems = validate_frame(bad, TABLES["governance"])
>>> problems[0].reason, problems.total
('must be one of VA, PV, GE, RQ, RL, CC', 1)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from critmin import names
from critmin.errors import MAX_PROBLEMS, DataValidationError, RowProblem, UnknownNameError, UserError, suggest
from critmin.schema import CRITICALITY_ITEM, CRITICALITY_KEYS, CRITICALITY_PARAMETERS, Column, Table

_MISSING = {"", "na", "n/a", "nan", "none", "null"}

#: a hint, or a function computing it (only called for the problems that are reported)
Hint = str | Callable[[], str]


class Problems(list[RowProblem]):
    """The problems kept (at most :data:`MAX_PROBLEMS`, in file order) and ``total``, the count of
    every problem found."""

    def __init__(self, items: Iterable[RowProblem] = (), total: int | None = None) -> None:
        super().__init__(items)
        self.total = len(self) if total is None else total


def problems_error(path: str, problems: Sequence[RowProblem]) -> DataValidationError:
    """The error to raise for ``problems`` found in ``path`` (keeps their total count)."""
    return DataValidationError(path, problems, getattr(problems, "total", None))


class _Refused(Exception):
    """A value that names something real but is not allowed here."""

    def __init__(self, reason: str, hint: str) -> None:
        super().__init__(reason)
        self.reason, self.hint = reason, hint


def _material_index() -> dict[str, str]:
    idx: dict[str, str] = {}
    for m in names.MATERIALS:
        for key in (m.id, m.name, *m.aliases):
            idx[key.lower()] = m.id
    return idx


def _checker(kind: str) -> Callable[[str], str] | None:
    """The registry lookup of a column: returns the canonical value, raises UnknownNameError (with
    the valid names) or _Refused. Valid names are looked up in dicts, so that a file full of bad
    names does not pay for a "did you mean" per row (hints are made only for reported problems)."""
    countries = names.countries()
    regions = {**countries, **names.REGION_EXTRAS}
    materials = _material_index()

    def in_set(valid: Mapping[str, str], what: str, extra: tuple[str, ...] = ()) -> Callable[[str], str]:
        def f(v: str) -> str:
            if v in extra:
                return v
            if v.upper() in valid:
                return v.upper()
            raise _Unknown(what, v, (*valid, *extra))

        return f

    def material(v: str) -> str:
        mid = materials.get(v.strip().lower())
        if mid is None:
            raise _Unknown("material", v, names.MATERIAL_IDS)
        return mid

    def stage(v: str) -> str:
        key = v.strip().lower()
        if key in names.STAGES:
            return key
        try:
            return names.stage(key)
        except UnknownNameError:
            raise _Unknown("stage", v, names.STAGES) from None

    def producing_stage(v: str) -> str:
        try:
            st = stage(v)
        except _Unknown:
            raise _Unknown("stage", v, names.PRODUCING_STAGES) from None
        if st not in names.PRODUCING_STAGES:
            raise _Refused(
                f"{st} is not a producing stage",
                f"use a producing stage: {', '.join(names.PRODUCING_STAGES)}; end-use demand belongs in "
                "the demand table",
            )
        return st

    def star(f: Callable[[str], str]) -> Callable[[str], str]:
        return lambda v: "*" if v == "*" else f(v)

    return {
        "material": material,
        "stage": stage,
        "producing_stage": producing_stage,
        "country": in_set(countries, "country", ("WLD",)),
        "region": in_set(regions, "region"),
        "region_or_world": in_set(regions, "region", ("WLD",)),
        "material_or_star": star(material),
        "stage_or_star": star(stage),
    }.get(kind)


class _Unknown(Exception):
    """An unknown name (cheap to raise: the hint is computed later, if reported)."""

    def __init__(self, kind: str, name: str, valid: Iterable[str]) -> None:
        super().__init__(name)
        self.kind, self.name, self.valid = kind, name, tuple(valid)


def _did_you_mean(text: str, valid: Iterable[str]) -> Callable[[], str]:
    def hint() -> str:
        h = suggest(text, valid)
        return f"did you mean {h[0]!r}?" if h else ""

    return hint


def _parse(col: Column, raw: str) -> tuple[object, str, Hint]:
    """Return (value, reason, hint); reason is '' when fine."""
    if col.dtype == "str":
        if col.choices and raw not in col.choices:
            return None, f"must be one of {', '.join(col.choices)}", _did_you_mean(raw, col.choices)
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


def _cell(col: Column, text: str, fn: Callable[[str], str] | None) -> tuple[object, str, Hint]:
    """Check one distinct (stripped) cell text of ``col``: (value, reason, hint)."""
    if text.lower() in _MISSING:
        if col.blank:
            return "", "", ""
        if col.required:
            why = "NaN/blank is not allowed" if text else "required value is blank"
            return None, why, "absence is not zero: leave the row out"
        return None, "", ""
    value, reason, hint = _parse(col, text)
    if not reason and fn is not None:
        try:
            value = fn(str(value))
        except _Unknown as exc:
            return value, f"unknown {exc.kind}", _did_you_mean(text, exc.valid)
        except UnknownNameError as exc:
            return value, f"unknown {exc.kind}", _did_you_mean(text, exc.valid)
        except _Refused as exc:
            return value, exc.reason, exc.hint
    return value, reason, hint


def _stripped(series: pd.Series) -> pd.Series:
    """A column's cells as stripped text ('' where absent), vectorised (numbers as ``str()``
    gives them)."""
    if pd.api.types.is_object_dtype(series) or not pd.api.types.is_string_dtype(series):
        series = series.astype("str")
    return series.fillna("").str.strip()


def _is_na(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _objects(values: Sequence[object]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out


class _Checked:
    """One column checked: ``bad`` marks the rows with a problem; :meth:`values` gives the typed
    values (computed only when the whole frame is valid)."""

    def __init__(self, col: Column, raw: pd.Series | None, n: int) -> None:
        self.col, self.raw, self.n = col, raw, n
        self.fn = _checker(col.check) if col.check else None
        self._values: Any = None
        if raw is None:  # an optional column not in the file
            self.bad = np.zeros(n, dtype=bool)
            self._values = np.full(n, "" if col.blank else None, dtype=object)
            return
        if (
            col.dtype == "float"
            and not col.check
            and pd.api.types.is_numeric_dtype(raw)
            and not pd.api.types.is_bool_dtype(raw)
        ):  # numbers already (a built table): no text round trip
            num = raw.to_numpy(dtype=float, na_value=np.nan, copy=True)
            self._numbers(num, np.isnan(num))
            return
        text = _stripped(raw)
        missing = text.str.lower().isin(_MISSING).to_numpy(dtype=bool)
        if col.dtype == "str" and not col.check:
            self._str(text, missing)
        elif col.dtype == "float" and not col.check:
            self._float(text, missing)
        else:
            self._generic(text)

    def _missing_bad(self, missing: np.ndarray) -> np.ndarray:
        if self.col.blank or not self.col.required:
            return np.zeros(self.n, dtype=bool)
        return missing

    def _str(self, text: pd.Series, missing: np.ndarray) -> None:
        col = self.col
        bad = self._missing_bad(missing)
        if col.choices:
            bad = bad | (~missing & ~text.isin(col.choices).to_numpy(dtype=bool))
        self.bad = bad
        fill = "" if col.blank else None
        self._values = lambda: np.where(missing, fill, text.to_numpy(dtype=object))

    def _float(self, text: pd.Series, missing: np.ndarray) -> None:
        num = pd.to_numeric(text.str.replace(",", "", regex=False), errors="coerce").to_numpy(dtype=float, copy=True)
        unparsed = ~missing & np.isnan(num)
        if unparsed.any():  # what the vectorised parse refused, float() may still read ("1_000")
            codes, uniques = pd.factorize(text[unparsed])
            got = np.array([_float_or_nan(u) for u in uniques.tolist()], dtype=float)
            num[unparsed] = got[codes]
        self._numbers(num, missing)

    def _numbers(self, num: np.ndarray, missing: np.ndarray) -> None:
        col = self.col
        ok = np.isfinite(num)
        with np.errstate(invalid="ignore"):
            if col.min is not None:
                ok &= num >= col.min
            if col.max is not None:
                ok &= num <= col.max
        self.bad = self._missing_bad(missing) | (~missing & ~ok)
        self._values = np.where(missing, np.nan, num)

    def _generic(self, text: pd.Series) -> None:
        codes, uniques = pd.factorize(text)
        results = [_cell(self.col, u, self.fn) for u in uniques.tolist()]
        bad_unique = np.array([bool(r[1]) for r in results], dtype=bool)
        self.bad = bad_unique[codes] if len(codes) else np.zeros(0, dtype=bool)
        self._values = lambda: _typed(self.col, [r[0] for r in results], codes)

    def values(self) -> Any:
        v = self._values
        return v() if callable(v) else v

    def problem(self, row: int, line: int) -> RowProblem | None:
        """The problem of one bad row, with its hint."""
        cell = None if self.raw is None else self.raw.iat[row]
        text = "" if _is_na(cell) else str(cell).strip()
        _value, reason, hint = _cell(self.col, text, self.fn)
        if not reason:
            return None
        return RowProblem(line, self.col.name, text, reason, hint() if callable(hint) else hint)


def _float_or_nan(text: str) -> float:
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return float("nan")


def _typed(col: Column, values: list[object], codes: np.ndarray) -> Any:
    """The column's typed values (None where absent) from per-distinct-value ``values``."""
    if col.dtype == "float":
        arr = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        return arr[codes]
    if col.dtype == "int":
        mask = np.array([v is None for v in values], dtype=bool)
        filled = np.array([0 if v is None else v for v in values], dtype=np.int64)
        if not mask.any():
            return filled[codes]
        return pd.arrays.IntegerArray(filled[codes], mask[codes])
    return _objects(values)[codes]


def validate_frame(
    raw: pd.DataFrame, table: Table, first_line: int = 2, max_problems: int = MAX_PROBLEMS
) -> tuple[pd.DataFrame, Problems]:
    """Validate ``raw`` (cells as strings, or values whose text is checked) against ``table``.

    Returns the typed, canonicalised frame (the store-managed ``layer`` column left out: the
    store sets it) and the problems (empty when valid): at most ``max_problems`` of them in file
    order, with ``.total`` the count of all. Line numbers count the header as line 1.
    """
    problems = Problems()
    managed = {m.name for m in table.all_columns if m.managed}
    cols = [c for c in raw.columns if c not in managed]
    known = table.column_names
    for c in cols:
        if c not in known:
            close = suggest(str(c), known)
            hint = f"did you mean {close[0]!r}?" if close else ""
            problems.append(RowProblem(1, str(c), str(c), "unknown column", hint))
    checked = [c for c in table.all_columns if not c.managed]
    for c in checked:
        if c.name not in cols and c.required:
            problems.append(RowProblem(1, c.name, "", "required column missing", f"add a {c.name!r} column"))
    if problems:
        problems.total = len(problems)
        return pd.DataFrame(columns=[c.name for c in checked]), problems

    n = len(raw)
    results = [_Checked(col, raw[col.name] if col.name in cols else None, n) for col in checked]
    total = int(sum(int(r.bad.sum()) for r in results))
    if total:
        firsts = sorted((int(i), j) for j, r in enumerate(results) for i in np.flatnonzero(r.bad)[:max_problems])
        for i, j in firsts[:max_problems]:
            p = results[j].problem(i, first_line + i)
            if p is not None:
                problems.append(p)
    if table.row_check == "criticality":
        extra = _criticality_problems(raw, cols, first_line)
        total += len(extra)
        problems.extend(extra)
        problems.sort(key=lambda p: p.row)
        del problems[max_problems:]
    if total:
        problems.total = total
        return pd.DataFrame(columns=[c.name for c in checked]), problems
    frame = pd.DataFrame({r.col.name: r.values() for r in results}, index=pd.RangeIndex(n))
    if table.row_check == "criticality":
        frame = canonical_criticality_rows(frame)
    if n:
        rows = np.flatnonzero(frame.duplicated(list(table.key), keep=False).to_numpy())
        total = len(rows)
        for i in rows[:max_problems]:
            key = ", ".join(f"{k}={frame.at[int(i), k]}" for k in table.key)
            problems.append(
                RowProblem(first_line + int(i), ",".join(table.key), key, "duplicate key", "keep one row per key")
            )
    problems.total = total
    return frame, problems


# --------------------------------------------------------------------------- criticality inputs


def criticality_row_problems(r: Mapping[str, str], line: int) -> list[RowProblem]:
    """The per-parameter rules of one criticality input row (cells as stripped text): known
    parameter, the key columns it uses given ('*' for any) and the others blank, a named item,
    known country, material and stage, and a value in the parameter's range."""
    out: list[RowProblem] = []
    p = r["parameter"].strip()
    if p not in CRITICALITY_PARAMETERS:
        hint = suggest(p, CRITICALITY_PARAMETERS)
        return [RowProblem(line, "parameter", p, "unknown parameter", f"did you mean {hint[0]!r}?" if hint else "")]
    keys, (lo, hi) = CRITICALITY_PARAMETERS[p]
    for k in keys:
        if r[k].strip() == "":
            out.append(RowProblem(line, k, "", f"{p} needs a {k} ('*' for any)"))
    for k in CRITICALITY_KEYS:
        if k not in keys and r[k].strip() not in ("", "*"):
            out.append(RowProblem(line, k, r[k], f"{p} does not use {k}", "leave it blank"))
    item = CRITICALITY_ITEM.get(p)
    if item is not None and r[item].strip() == "*":
        out.append(RowProblem(line, item, "*", f"{p} lists one {item} per row: name it"))
    country = r["country"].strip().upper()
    if country not in ("", "*") and country not in names.countries():
        hint = suggest(country, names.countries())
        out.append(RowProblem(line, "country", r["country"], "unknown country code (ISO3)",
                              f"did you mean {hint[0]!r}?" if hint else ""))  # fmt: skip
    try:
        if r["material"] not in ("", "*"):
            names.material(r["material"])
        if r["stage"] not in ("", "*"):
            names.stage(r["stage"])
    except UserError as exc:
        col = "material" if "material" in str(exc) else "stage"
        out.append(RowProblem(line, col, r[col], str(exc)))
    try:
        v = float(r["value"])
    except ValueError:
        return [*out, RowProblem(line, "value", r["value"], "not a number")]
    if not lo <= v <= hi or v != v:
        out.append(RowProblem(line, "value", r["value"], f"{p} must lie in [{lo:g}, {hi:g}]"))
    return out


def _criticality_problems(raw: pd.DataFrame, cols: list[str], first_line: int) -> list[RowProblem]:
    fields = ("parameter", *CRITICALITY_KEYS, "value")
    text = {f: (raw[f].astype(object).where(raw[f].notna(), "") if f in cols else pd.Series([""] * len(raw)))
            for f in fields}  # fmt: skip
    out: list[RowProblem] = []
    for i, vals in enumerate(zip(*(text[f] for f in fields), strict=True)):
        row = {f: str(v).strip() for f, v in zip(fields, vals, strict=True)}
        row["value"] = row["value"].replace(",", "")
        try:
            float(row["value"])
        except ValueError:
            continue  # a blank or non-numeric value is reported by the column checks
        if row["parameter"].lower() in _MISSING:
            continue
        out.extend(criticality_row_problems(row, first_line + i))
    return out


def _canon(col: str, v: str) -> str:
    if v in ("", "*"):
        return v
    if col == "material":
        return names.material(v)
    if col == "stage":
        return names.stage(v)
    v = v.strip()
    if col == "perspective" and v.upper() != "EU" and len(v) > 3:
        return v.lower()  # a bloc name (framework, allies, ...)
    return v.upper()  # a country code, or EU


def canonical_criticality_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Criticality input rows (valid by :func:`criticality_row_problems`) with canonical names and
    the key columns their parameter does not use blanked (one key per row)."""
    out = frame.copy()
    out["parameter"] = [str(p).strip() for p in out["parameter"]]
    for col in ("material", "stage", "country", "perspective"):
        out[col] = [_canon(col, str(v)) for v in out[col]]
    for k in CRITICALITY_KEYS:
        used = np.array([k in CRITICALITY_PARAMETERS[p][0] for p in out["parameter"]], dtype=bool)
        out[k] = np.where(used, out[k].astype(object), "")
    return out
