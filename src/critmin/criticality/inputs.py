"""Criticality inputs: one long table of parameters, defaults plus user files.

Every row has ``parameter, perspective, material, stage, sector, country, value, unit, source,
confidence, notes``; the key columns a parameter uses are listed in :data:`PARAMETERS` (``*``
matches anything, a blank key column is "not applicable"). The defaults are the store table
``criticality_inputs`` of a chain (built from ``src/critmin/data/criticality.csv``, with the
user's overrides and imports), or that shipped file where no chain is given; a user file in the
same layout (``--inputs``) overrides a default row with the same key, and a more specific row (a
named material) wins over a wildcard. A bad user file is refused whole, every problem listed with
its line and column. The table and its per-parameter rules are declared in :mod:`critmin.schema`.

Example
-------
>>> inp = Inputs.defaults()
>>> inp.value("agreement_factor")
0.8
>>> inp.value("si_sr", material="Dy")  # the EU 2023 assessment's
0.99
>>> inp.value("si_sr", material="rare_earths")  # the wildcard default
1.0
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from critmin.errors import DataValidationError, RowProblem, UserError, suggest
from critmin.schema import CRITICALITY_ITEM, CRITICALITY_KEYS, CRITICALITY_PARAMETERS
from critmin.validate import canonical_criticality_rows, criticality_row_problems

if TYPE_CHECKING:
    from critmin.chain import SupplyChain

COLUMNS = ("parameter", "perspective", "material", "stage", "sector", "country", "value", "unit", "source",
           "confidence", "notes")  # fmt: skip
KEYS = CRITICALITY_KEYS


class MissingInput(UserError):
    """An input a method needs is missing for a material (named in the message)."""


#: for parameters that list items (several rows per key), the column naming the item: it may not
#: be ``*``
ITEM: dict[str, str] = CRITICALITY_ITEM

#: parameter -> (key columns it uses, allowed value range)
PARAMETERS: dict[str, tuple[tuple[str, ...], tuple[float, float]]] = CRITICALITY_PARAMETERS


@dataclass(frozen=True)
class Inputs:
    """The parameter table in force (defaults, then user rows); ``origin`` says which file."""

    table: pd.DataFrame

    @classmethod
    def defaults(cls, chain: SupplyChain | None = None) -> Inputs:
        """The defaults: the ``criticality_inputs`` table of ``chain`` (the store's, with the
        user's overrides and imports; rows of the ``shipped`` layer have origin ``default``, the
        others their layer's name), else the shipped rows alone (``src/critmin/data/criticality.csv``
        and the rows :mod:`critmin.eu_crm` derives from the EU 2023 assessment)."""
        if chain is None:
            from critmin.dataset import shipped_table

            return cls.from_table(shipped_table("criticality_inputs"))
        return cls.from_table(chain.criticality_inputs)

    @classmethod
    def from_table(cls, frame: pd.DataFrame) -> Inputs:
        """Inputs from rows of the store table ``criticality_inputs`` (validated, canonical);
        shipped rows come first, then overrides, then imports, so that later layers win ties."""
        t = frame.copy()
        if "layer" not in t.columns:
            t["layer"] = "shipped"
        rank = {"shipped": 0, "overrides": 1, "import": 2}
        t = t.assign(_rank=t["layer"].map(rank).fillna(3)).sort_values("_rank", kind="stable")
        out = pd.DataFrame({c: t[c].to_numpy() for c in COLUMNS})
        for c in COLUMNS:
            if c != "value":
                out[c] = out[c].astype(object).where(out[c].notna(), "").astype(str)
        out["value"] = out["value"].astype(float)
        out["origin"] = ["default" if x == "shipped" else str(x) for x in t["layer"]]
        out["line"] = range(2, len(out) + 2)
        return cls(out)

    @classmethod
    def load(
        cls, files: list[Path] | None = None, use_defaults: bool = True, chain: SupplyChain | None = None
    ) -> Inputs:
        """Defaults (of ``chain``, see :meth:`defaults`; unless ``use_defaults`` is False)
        overridden by each file in turn."""
        empty = pd.DataFrame(columns=[*COLUMNS, "origin", "line"])
        table = cls.defaults(chain).table if use_defaults else empty
        blocs = chain.blocs.names if chain is not None else ()
        for f in files or []:
            user = _read(Path(f), origin=str(f))
            _check_perspectives(user, Path(f), blocs)
            key = ["parameter", *KEYS]
            keep = ~table.set_index(key).index.isin(user.set_index(key).index)
            table = pd.concat([table[keep], user], ignore_index=True)
        table = table.reset_index(drop=True)
        table["order"] = range(len(table))  # later files win ties
        return cls(table)

    def rows(self, parameter: str, **keys: str) -> pd.DataFrame:
        """Rows of ``parameter`` matching ``keys`` (exact or ``*``): the user's rows (a file, an
        override or an import: origin other than ``default``) before the shipped ones, each most
        specific first, then the latest loaded; column ``score`` counts the exact matches, ``given``
        is 1 for the user's rows. A user's wildcard thus beats a shipped row for a named material
        or stage (the shipped data name many since the EU and USGS inputs)."""
        t = self.table[self.table["parameter"] == parameter]
        score = pd.Series(0, index=t.index)
        for k, v in keys.items():
            col = t[k]
            ok = (col == v) | (col == "*")
            t, score = t[ok], score[ok] + (t.loc[ok, k] == v).astype(int)
        order = t["order"] if "order" in t.columns else pd.Series(range(len(t)), index=t.index)
        given = (t["origin"] != "default").astype(int) if "origin" in t.columns else pd.Series(1, index=t.index)
        t = t.assign(score=score, order=order, given=given)
        return t.sort_values(["given", "score", "order"], ascending=[False, False, False], kind="stable")

    def items(self, parameter: str, **keys: str) -> dict[str, dict[str, Any]]:
        """A list-valued parameter (e.g. a sourcing mix): the rows at the most specific level
        that has any, one per item (the latest where an item repeats). A list is replaced whole:
        where the user gives rows at any level, the shipped rows are dropped, so a user's sector
        split or sourcing mix is never merged into the shipped one."""
        t = self.rows(parameter, **keys)
        if t.empty:
            return {}
        t = t[t["given"] == t["given"].max()]
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


def _check_perspectives(rows: pd.DataFrame, path: Path, blocs: tuple[str, ...]) -> None:
    """Refuse a user file whose ``perspective`` names no perspective (a row for ``Japan`` or a typo
    would otherwise match nothing and be ignored without a word): each bad cell is a problem
    with its line and a "did you mean"."""
    from critmin import names

    known_blocs = {b.lower() for b in (*blocs, *names.default_blocs().names)}
    codes = names.countries()
    problems: list[RowProblem] = []
    for v, line in zip(rows["perspective"], rows["line"], strict=True):
        if v in ("", "*") or v.lower() in known_blocs or v.upper() in codes:
            continue
        try:
            hint = [names.country(v)]  # a country's name: say its code
        except UserError:
            hint = suggest(v, ["EU", *sorted(known_blocs - {"eu"}), *codes])
        problems.append(RowProblem(int(line), "perspective", v, "unknown perspective (an ISO3 code, EU or a bloc)",
                                   f"did you mean {hint[0]!r}?" if hint else ""))  # fmt: skip
    if problems:
        raise DataValidationError(str(path), problems)


def _read(path: Path, origin: str) -> pd.DataFrame:
    """Read and validate one parameter file; every problem is reported, nothing is half-loaded."""
    from critmin.store import read_csv_strict

    if not path.exists():
        raise UserError(f"{path}: no such file")
    raw = read_csv_strict(path)
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
        problems.extend(criticality_row_problems(r._asdict(), line))
        if r.source == "" or r.confidence == "":
            problems.append(RowProblem(line, "source" if r.source == "" else "confidence", "", "empty"))
    if problems:
        raise DataValidationError(str(path), problems)
    raw = canonical_criticality_rows(raw)
    raw["value"] = raw["value"].astype(float)
    raw["origin"] = origin
    raw["line"] = range(2, len(raw) + 2)
    return raw
