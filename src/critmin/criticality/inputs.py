"""Criticality inputs: one long table of parameters, shipped defaults plus user files.

Every row has ``parameter, perspective, material, stage, sector, country, value, unit, source,
confidence, notes``; the key columns a parameter uses are listed in :data:`PARAMETERS` (``*``
matches anything, a blank key column is "not applicable"). The defaults live in
``src/critmin/data/criticality.csv``; a user file in the same layout overrides a default row with
the same key, and a more specific row (a named material) wins over a wildcard. A bad user file is
refused whole, every problem listed with its line and column.

Example
-------
>>> inp = Inputs.defaults()
>>> inp.value("agreement_factor")
0.8
>>> inp.value("si_sr", material="Dy")  # the wildcard default
1.0
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from critmin import names
from critmin.errors import DataValidationError, RowProblem, UserError, suggest

COLUMNS = ("parameter", "perspective", "material", "stage", "sector", "country", "value", "unit", "source",
           "confidence", "notes")  # fmt: skip
KEYS = ("perspective", "material", "stage", "sector", "country")


class MissingInput(UserError):
    """An input a method needs is missing for a material (named in the message)."""


#: for parameters that list items (several rows per key), the column naming the item: it may not
#: be ``*``
ITEM: dict[str, str] = {
    "sourcing_share": "country",
    "sector_share": "sector",
    "trade_factor": "country",
    "agreement_partner": "country",
    "wgi_scaled": "country",
}

#: parameter -> (key columns it uses, allowed value range)
PARAMETERS: dict[str, tuple[tuple[str, ...], tuple[float, float]]] = {
    "eol_rir": (("material",), (0.0, 1.0)),
    "si_sr": (("material",), (0.0, 1.0)),
    "si_ei": (("material",), (0.0, 1.0)),
    "value_added": (("sector",), (0.0, float("inf"))),
    "sector_share": (("material", "sector"), (0.0, 1.0)),
    "import_reliance": (("perspective", "material", "stage"), (-float("inf"), 1.0)),
    "sourcing_share": (("perspective", "material", "stage", "country"), (0.0, 1.0)),
    "wgi_scaled": (("country",), (0.0, 10.0)),
    "trade_factor": (("perspective", "material", "country"), (0.0, 10.0)),
    "agreement_partner": (("perspective", "country"), (0.0, 1.0)),
    "agreement_factor": ((), (0.0, 10.0)),
    "restriction_factor": ((), (0.0, 10.0)),
    "ban_factor": ((), (0.0, 10.0)),
    "cost_share": (("material",), (0.0, 1.0)),
    "margin": (("material",), (1e-9, 1.0)),
    "sr_threshold": ((), (0.0, float("inf"))),
    "ei_threshold": ((), (0.0, float("inf"))),
    "usgs_threshold": ((), (0.0, float("inf"))),
    "ensemble_threshold": ((), (0.0, 1.0)),
}


@dataclass(frozen=True)
class Inputs:
    """The parameter table in force (defaults, then user rows); ``origin`` says which file."""

    table: pd.DataFrame

    @classmethod
    def defaults(cls) -> Inputs:
        """The shipped defaults (``src/critmin/data/criticality.csv``)."""
        path = resources.files("critmin") / "data" / "criticality.csv"
        with resources.as_file(path) as p:
            return cls(_read(Path(p), origin="default"))

    @classmethod
    def load(cls, files: list[Path] | None = None, use_defaults: bool = True) -> Inputs:
        """Defaults (unless ``use_defaults`` is False) overridden by each file in turn."""
        empty = pd.DataFrame(columns=[*COLUMNS, "origin", "line"])
        table = cls.defaults().table if use_defaults else empty
        for f in files or []:
            user = _read(Path(f), origin=str(f))
            key = ["parameter", *KEYS]
            keep = ~table.set_index(key).index.isin(user.set_index(key).index)
            table = pd.concat([table[keep], user], ignore_index=True)
        table = table.reset_index(drop=True)
        table["order"] = range(len(table))  # later files win ties
        return cls(table)

    def rows(self, parameter: str, **keys: str) -> pd.DataFrame:
        """Rows of ``parameter`` matching ``keys`` (exact or ``*``), most specific first (then the
        latest loaded); column ``score`` counts the exact matches."""
        t = self.table[self.table["parameter"] == parameter]
        score = pd.Series(0, index=t.index)
        for k, v in keys.items():
            col = t[k]
            ok = (col == v) | (col == "*")
            t, score = t[ok], score[ok] + (t.loc[ok, k] == v).astype(int)
        order = t["order"] if "order" in t.columns else pd.Series(range(len(t)), index=t.index)
        t = t.assign(score=score, order=order)
        return t.sort_values(["score", "order"], ascending=[False, False], kind="stable")

    def items(self, parameter: str, **keys: str) -> dict[str, dict[str, Any]]:
        """A list-valued parameter (e.g. a sourcing mix): the rows at the most specific level
        that has any, one per item (the latest where an item repeats)."""
        t = self.rows(parameter, **keys)
        if t.empty:
            return {}
        t = t[t["score"] == t["score"].max()]
        col = ITEM[parameter]
        return _first_per(t, col)

    def per_item(self, parameter: str, **keys: str) -> dict[str, dict[str, Any]]:
        """One row per item, each the most specific (then latest) for that item."""
        return _first_per(self.rows(parameter, **keys), ITEM[parameter])

    def row(self, parameter: str, **keys: str) -> dict[str, Any] | None:
        """The most specific row of ``parameter`` for ``keys``, or None."""
        t = self.rows(parameter, **keys)
        return None if t.empty else dict(t.iloc[0])

    def value(self, parameter: str, **keys: str) -> float | None:
        r = self.row(parameter, **keys)
        return None if r is None else float(r["value"])

    def require(self, parameter: str, needed_by: str, why: str = "", **keys: str) -> dict[str, Any]:
        """The row :meth:`row` finds, or :class:`MissingInput` naming the parameter and the
        material that needed it (``why`` is appended to the message)."""
        r = self.row(parameter, **keys)
        if r is None:
            raise MissingInput(f"{needed_by}: {parameter} missing{why}")
        return r


def _first_per(t: pd.DataFrame, col: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for _, r in t.iterrows():
        out.setdefault(str(r[col]), dict(r))
    return out


def cite(row: dict[str, Any] | None) -> dict[str, Any] | None:
    """The part of a row a result shows for one input: value, source, confidence, origin."""
    if row is None:
        return None
    return {"value": float(row["value"]), "source": row["source"], "confidence": row["confidence"],
            "origin": row["origin"]}  # fmt: skip


def _read(path: Path, origin: str) -> pd.DataFrame:
    """Read and validate one parameter file; every problem is reported, nothing is half-loaded."""
    if not path.exists():
        raise UserError(f"{path}: no such file")
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not a readable CSV file ({exc})") from exc
    problems: list[RowProblem] = []
    missing = [c for c in ("parameter", "value") if c not in raw.columns]
    if missing:
        raise UserError(f"{path}: missing column(s) {', '.join(missing)} (columns: {', '.join(COLUMNS)})")
    unknown = [c for c in raw.columns if c not in COLUMNS]
    for c in unknown:
        hint = suggest(c, COLUMNS)
        problems.append(RowProblem(1, c, c, "unknown column", f"did you mean {hint[0]!r}?" if hint else ""))
    for c in COLUMNS:
        if c not in raw.columns:
            raw[c] = ""
    raw = raw[list(COLUMNS)].copy()
    for c in COLUMNS:
        raw[c] = raw[c].astype(str).str.strip()
    if origin != "default":
        raw["source"] = raw["source"].where(raw["source"] != "", f"user file {path.name}")
        raw["confidence"] = raw["confidence"].where(raw["confidence"] != "", "user")
    for i, r in enumerate(raw.itertuples(index=False)):
        line = i + 2
        problems.extend(_check_row(r._asdict(), line))
        if r.source == "" or r.confidence == "":
            problems.append(RowProblem(line, "source" if r.source == "" else "confidence", "", "empty"))
    if problems:
        raise DataValidationError(str(path), problems)
    for col in ("material", "stage", "country", "perspective"):
        raw[col] = [_canon(col, v) for v in raw[col]]
    for i, p in enumerate(raw["parameter"]):
        for k in KEYS:
            if k not in PARAMETERS[p][0]:
                raw.loc[raw.index[i], k] = ""  # not used by this parameter: one key per row
    raw["value"] = raw["value"].astype(float)
    raw["origin"] = origin
    raw["line"] = range(2, len(raw) + 2)
    return raw


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


def _check_row(r: dict[str, str], line: int) -> list[RowProblem]:
    out: list[RowProblem] = []
    p = r["parameter"].strip()
    if p not in PARAMETERS:
        hint = suggest(p, PARAMETERS)
        return [RowProblem(line, "parameter", p, "unknown parameter", f"did you mean {hint[0]!r}?" if hint else "")]
    keys, (lo, hi) = PARAMETERS[p]
    for k in keys:
        if r[k].strip() == "":
            out.append(RowProblem(line, k, "", f"{p} needs a {k} ('*' for any)"))
    for k in KEYS:
        if k not in keys and r[k].strip() not in ("", "*"):
            out.append(RowProblem(line, k, r[k], f"{p} does not use {k}", "leave it blank"))
    item = ITEM.get(p)
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
