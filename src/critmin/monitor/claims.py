"""Claims from news and briefings, checked against the data.

A claims file (TOML) lists ``[[claim]]`` tables. Each says what was claimed (``text``, ``source``)
and how to test it, with one of three tests; it states what to measure and the claimed value,
never the verdict::

    [[claim]]
    id = "C2"
    text = "China controls over 80% of rare earths"
    source = "news report of the October 2025 Tokyo summit"
    [claim.metric]                 # a concentration metric of the chain
    material = "rare_earths"
    stage = "all"                  # a stage, a list of stages, or "all" (every stage with data)
    year = 2024                    # default: the data's base year
    measure = "china_share"        # see MEASURES; "share" needs country = ISO3 or a bloc
    comparison = ">"               # >, >=, <, <=, == (with tolerance), between (value = [low, high])
    value = 0.8                    # shares are fractions: 80 % is 0.8

    [[claim]]
    id = "C5"
    text = "a 2% GDP aim by March 2024"
    source = "..."
    [claim.lookup]                 # a value in a stored table
    table = "framework_commitments"
    where = { commitment_id = "JP-DEF-2PCT" }   # column = value or [values]: the rows compared
    field = "due"                  # dates compare at the claim's precision ("2024-03" is all of March)
    comparison = "=="
    value = "2024-03"
    # numeric fields may be converted: unit = "USD bn", fx = "<item of the exchange-rate row>"

    [[claim]]
    id = "C6"
    text = "a deal among the U.S., Japan, Australia and Malaysia"
    source = "..."
    [claim.parties]                # one instrument in framework_commitments has all these parties
    parties = ["USA", "JPN", "AUS", "MYS"]
    signed_from = "2025-10-20"     # optional window on the instruments' signing dates
    signed_to = "2025-10-28"

A claim without a test is ``not checkable``. :func:`evaluate_claims` gives each claim a verdict
from the data alone, with the numbers found and the sources (``source`` and ``confidence``) of the
rows they come from:

* ``supported`` / ``contradicted``: the comparison holds, or fails, for every value checked;
* ``depends on stage``: a metric evaluated at several stages holds at some and fails at others;
* ``depends on definition``: the rows a lookup matches disagree, or no single instrument has all the
  parties while several instruments together do;
* ``not checkable``: no test, or no data for it (a year or stage without data, a blank value).

Mistakes in the file (TOML syntax, unknown keys, measures, tables, fields, commitment ids or
names, malformed dates, shares above 1) are one-line :class:`~critmin.errors.UserError` s naming the
file, the line, the claim and the field, with "did you mean" where a close name exists.

>>> claims = parse_claims('[[claim]]\\nid = "A"\\ntext = "t"\\nsource = "s"\\n', "c.toml")
>>> claims[0].id, claims[0].test is None
('A', True)
>>> parse_claims('[[claim]]\\nid = "A"\\ntext = "t"\\nsource = "s"\\n[claim.metric]\\nmaterial = "Dy"\\n'
...              'measure = "hh"\\ncomparison = ">"\\nvalue = 0.5\\n', "c.toml")
Traceback (most recent call last):
...
critmin.errors.UserError: c.toml:7: claim 'A': metric.measure: unknown measure 'hh' (did you mean 'hhi'?)
"""

from __future__ import annotations

import calendar
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, NoReturn

import pandas as pd

from critmin import metrics, names
from critmin.chain import SupplyChain
from critmin.errors import UnknownNameError, UserError, suggest
from critmin.names import PRODUCING_STAGES
from critmin.scenario.loading import _line_of
from critmin.schema import IMPORTABLE, TABLES

VERDICTS: tuple[str, ...] = ("supported", "contradicted", "depends on stage", "depends on definition", "not checkable")
#: metric measures a claim may test, with what they are
MEASURES: dict[str, str] = {
    "china_share": "China's share of world output (fraction)",
    "top1_share": "the largest producer's share of world output (fraction)",
    "top3_share": "the three largest producers' combined share (fraction)",
    "share": "a country's or a bloc's share (fraction; give country)",
    "n1_coverage": "share of world output left without the largest producer (fraction)",
    "hhi": "Herfindahl-Hirschman index (0-10,000)",
    "hhi_wgi": "governance-weighted HHI (0-10)",
}
SHARE_MEASURES = frozenset({"china_share", "top1_share", "top3_share", "share", "n1_coverage"})
COMPARISONS: tuple[str, ...] = (">", ">=", "<", "<=", "==", "between")
_CLAIM_KEYS = ("id", "text", "source", "note", "metric", "lookup", "parties")
_TESTS = ("metric", "lookup", "parties")
_METRIC_KEYS = ("material", "stage", "year", "measure", "country", "comparison", "value", "tolerance")
_LOOKUP_KEYS = ("table", "where", "field", "comparison", "value", "tolerance", "unit", "fx")
_PARTIES_KEYS = ("parties", "signed_from", "signed_to")
_DATE_RE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
_MONEY_RE = re.compile(r"^([A-Z]{3})\s*(tn|bn|m|k)?$")
_SCALE = {"": 1.0, "k": 1e3, "m": 1e6, "bn": 1e9, "tn": 1e12}


# -- what a claim says -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Comparison:
    """``op`` and the claimed ``value``: a number, ``(low, high)`` for ``between``, a date span
    ``(first day, last day)`` (or two for ``between``) for date fields, or text (``==`` only)."""

    op: str
    value: Any
    tolerance: float = 0.0
    kind: str = "number"  # number | share (a number shown as a percentage) | date | text

    def text(self) -> str:
        if self.op == "between":
            lo, hi = self.value
            return f"between {_show(lo, self.kind)} and {_show(hi, self.kind)}"
        return f"{self.op} {_show(self.value, self.kind)}" + (f" (± {self.tolerance:g})" if self.tolerance else "")


@dataclass(frozen=True)
class MetricTest:
    """A concentration metric of the chain at one or more stages (``stages`` None: every stage
    with data) in ``year`` (None: the base year)."""

    material: str
    stages: tuple[str, ...] | None
    year: int | None
    measure: str
    country: str | None
    cmp: Comparison


@dataclass(frozen=True)
class LookupTest:
    """A field of the rows of a stored table that match ``where`` (column, accepted values)."""

    table: str
    where: tuple[tuple[str, tuple[str, ...]], ...]
    field: str
    cmp: Comparison
    unit: str | None = None
    fx: str | None = None


@dataclass(frozen=True)
class PartiesTest:
    """One instrument of ``framework_commitments`` signed in the window has all ``parties``."""

    parties: tuple[str, ...]
    signed_from: date | None = None
    signed_to: date | None = None


@dataclass(frozen=True)
class Claim:
    """One claim of a claims file: what was claimed, its source, and its test (None: no test)."""

    id: str
    text: str
    source: str
    test: MetricTest | LookupTest | PartiesTest | None
    note: str = ""
    origin: str = ""
    line: int | None = None

    @property
    def where(self) -> str:
        """``file:line: claim 'ID'`` for messages."""
        at = f"{self.origin}:{self.line}" if self.line else self.origin
        return f"{at}: claim {self.id!r}" if at else f"claim {self.id!r}"


def _show(value: Any, kind: str) -> str:
    if kind == "date":
        first, last = value
        if first == last:
            return first.isoformat()
        if first.day == 1 and first.month == last.month and first.year == last.year:
            return first.strftime("%Y-%m")
        return str(first.year)
    if kind == "text":
        return repr(value)
    if kind == "share":
        return f"{value * 100:g}%"
    return f"{value:g}"


# -- parsing ----------------------------------------------------------------------------------------
class _Reader:
    """Reads one claims document, failing with file, line, claim and field."""

    def __init__(self, text: str, source: str, chain: SupplyChain | None, tables: Mapping[str, pd.DataFrame] | None):
        self.text, self.source, self.chain, self.tables = text, source, chain, tables

    def line(self, i: int, loc: Sequence[str]) -> int | None:
        """The line of a field, else of the nearest enclosing key found, else of the claim's header."""
        for k in range(len(loc), 0, -1):
            line = _line_of(self.text, ("claim", i, *loc[:k]))
            if line:
                return line
        headers = [n for n, s in enumerate(self.text.splitlines()) if re.match(r"^\s*\[\[\s*claim\s*\]\]", s)]
        return headers[i] + 1 if i < len(headers) else None

    def fail(self, i: int, cid: str, loc: Sequence[str], msg: str) -> NoReturn:
        line = self.line(i, loc)
        who = f"claim {cid!r}" if cid else f"claim[{i}]"
        field = ".".join(loc)
        raise UserError(f"{self.source}{f':{line}' if line else ''}: {who}{f': {field}' if field else ''}: {msg}")

    def keys(self, i: int, cid: str, loc: Sequence[str], table: Mapping[str, Any], valid: Sequence[str]) -> None:
        for k in table:
            if k not in valid:
                hint = suggest(str(k), valid)
                msg = f"unknown key {k!r}" + (
                    f" (did you mean {hint[0]!r}?)" if hint else f" (valid: {', '.join(valid)})"
                )
                self.fail(i, cid, [*loc, str(k)], msg)

    def string(self, i: int, cid: str, loc: Sequence[str], table: Mapping[str, Any], key: str,
               required: bool = True) -> str | None:  # fmt: skip
        if key not in table:
            if required:
                self.fail(i, cid, loc, f"{key} is required")
            return None
        value = table[key]
        if not isinstance(value, str) or not value.strip():
            self.fail(i, cid, [*loc, key], f"must be non-empty text (got {value!r})")
        return value.strip()

    def choice(self, i: int, cid: str, loc: Sequence[str], table: Mapping[str, Any], key: str,
               valid: Sequence[str], kind: str) -> str:  # fmt: skip
        value = self.string(i, cid, loc, table, key)
        assert value is not None
        if value not in valid:
            hint = suggest(value, valid)
            self.fail(i, cid, [*loc, key], f"unknown {kind} {value!r}"
                      + (f" (did you mean {hint[0]!r}?)" if hint else f" (valid: {', '.join(valid)})"))  # fmt: skip
        return value

    def number(self, i: int, cid: str, loc: Sequence[str], value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
            self.fail(i, cid, loc, f"must be a finite number (got {value!r})")
        return float(value)

    def date_span(self, i: int, cid: str, loc: Sequence[str], value: Any) -> tuple[date, date]:
        """``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD`` as (first day, last day)."""
        m = _DATE_RE.match(value.strip()) if isinstance(value, str) else None
        if m is None:
            self.fail(i, cid, loc, f"{value!r} is not a date (YYYY-MM-DD, YYYY-MM or YYYY)")
        y, mo, d = int(m.group(1)), m.group(2), m.group(3)
        try:
            if mo is None:
                return date(y, 1, 1), date(y, 12, 31)
            if d is None:
                month = int(mo)
                return date(y, month, 1), date(y, month, calendar.monthrange(y, month)[1])
            day = date(y, int(mo), int(d))
        except (ValueError, calendar.IllegalMonthError) as exc:
            self.fail(i, cid, loc, f"{value!r} is not a date: {exc}")
        return day, day

    def comparison(self, i: int, cid: str, loc: Sequence[str], table: Mapping[str, Any], kind: str,
                   share: bool = False) -> Comparison:  # fmt: skip
        op = self.choice(i, cid, loc, table, "comparison", COMPARISONS, "comparison")
        if "value" not in table:
            self.fail(i, cid, loc, "value is required")
        raw = table["value"]
        vloc = [*loc, "value"]
        if kind == "text" and op != "==":
            self.fail(i, cid, [*loc, "comparison"], f"a text field is compared with == only (got {op!r})")
        if op == "between":
            if not isinstance(raw, list) or len(raw) != 2:
                self.fail(i, cid, vloc, f"between takes value = [low, high] (got {raw!r})")
            parts = [self._one(i, cid, vloc, v, kind, share) for v in raw]
            low = parts[0][0] if kind == "date" else parts[0]
            high = parts[1][1] if kind == "date" else parts[1]
            if low > high:
                self.fail(i, cid, vloc, f"low {raw[0]!r} is above high {raw[1]!r}")
            value: Any = (parts[0], parts[1])
        else:
            value = self._one(i, cid, vloc, raw, kind, share)
        tol = 0.0
        if "tolerance" in table:
            if op != "==":
                self.fail(i, cid, [*loc, "tolerance"], "tolerance goes with comparison = '==' only")
            if kind not in ("number", "share"):
                self.fail(i, cid, [*loc, "tolerance"], "tolerance applies to numbers only")
            tol = self.number(i, cid, [*loc, "tolerance"], table["tolerance"])
            if tol < 0:
                self.fail(i, cid, [*loc, "tolerance"], f"must be 0 or more (got {tol:g})")
        return Comparison(op, value, tol, kind)

    def _one(self, i: int, cid: str, loc: Sequence[str], raw: Any, kind: str, share: bool) -> Any:
        if kind == "date":
            return self.date_span(i, cid, loc, raw)
        if kind == "text":
            if not isinstance(raw, str):
                self.fail(i, cid, loc, f"must be text (got {raw!r})")
            return raw
        x = self.number(i, cid, loc, raw)
        if share and not 0.0 <= x <= 1.0:
            self.fail(i, cid, loc, f"{x:g} is not a share: shares are fractions from 0 to 1 (80 % is 0.8)")
        return x

    # -- the three tests ----------------------------------------------------------------------------
    def metric(self, i: int, cid: str, t: Mapping[str, Any]) -> MetricTest:
        loc = ["metric"]
        self.keys(i, cid, loc, t, _METRIC_KEYS)
        mat = self.string(i, cid, loc, t, "material")
        assert mat is not None
        try:
            material = names.material(mat)
        except UnknownNameError as exc:
            self.fail(i, cid, [*loc, "material"], str(exc))
        stages: tuple[str, ...] | None = None
        raw_stage = t.get("stage", "all")
        items = raw_stage if isinstance(raw_stage, list) else [raw_stage]
        if not items or not all(isinstance(s, str) for s in items):
            self.fail(i, cid, [*loc, "stage"], f"a stage, a list of stages or 'all' (got {raw_stage!r})")
        if items != ["all"]:
            found = []
            for s in items:
                try:
                    st = names.stage(s)
                except UnknownNameError as exc:
                    self.fail(i, cid, [*loc, "stage"], str(exc))
                if st not in PRODUCING_STAGES:
                    self.fail(i, cid, [*loc, "stage"], f"{st} is not a producing stage ({', '.join(PRODUCING_STAGES)})")
                found.append(st)
            stages = tuple(dict.fromkeys(found))
        year = None
        if "year" in t:
            y = t["year"]
            if isinstance(y, bool) or not isinstance(y, int) or not 1900 <= y <= 2100:
                self.fail(i, cid, [*loc, "year"], f"must be a year such as 2024 (got {y!r})")
            year = int(y)
        measure = self.choice(i, cid, loc, t, "measure", list(MEASURES), "measure")
        country = self.string(i, cid, loc, t, "country", required=False)
        if measure == "share" and country is None:
            self.fail(i, cid, loc, "measure = 'share' needs country = an ISO3 code or a bloc")
        if country is not None and measure != "share":
            self.fail(i, cid, [*loc, "country"], f"country goes with measure = 'share' only (measure is {measure!r})")
        if country is not None:
            try:
                if self.chain is not None:
                    self.chain.members(country)
                elif country.lower() not in names.default_blocs():
                    names.country(country)
            except UnknownNameError as exc:
                self.fail(i, cid, [*loc, "country"], str(exc))
        cmp = self.comparison(i, cid, loc, t, "share" if measure in SHARE_MEASURES else "number",
                              share=measure in SHARE_MEASURES)  # fmt: skip
        return MetricTest(material, stages, year, measure, country, cmp)

    def lookup(self, i: int, cid: str, t: Mapping[str, Any]) -> LookupTest:
        loc = ["lookup"]
        self.keys(i, cid, loc, t, _LOOKUP_KEYS)
        table = self.choice(i, cid, loc, t, "table", IMPORTABLE, "table")
        schema = TABLES[table]
        columns = [c.name for c in schema.all_columns if not c.managed]
        data = self.tables.get(table) if self.tables is not None else None
        where = t.get("where")
        if not isinstance(where, dict) or not where:
            self.fail(i, cid, loc, "where is required: a table of column = value (or [values]) naming the rows")
        conds = []
        for col, raw in where.items():
            wloc = [*loc, "where", str(col)]
            if col not in columns:
                hint = suggest(str(col), columns)
                self.fail(i, cid, wloc, f"unknown column {col!r} of {table}"
                          + (f" (did you mean {hint[0]!r}?)" if hint else ""))  # fmt: skip
            values = raw if isinstance(raw, list) else [raw]
            if not values or not all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in values):
                self.fail(i, cid, wloc, f"a value or a list of values (got {raw!r})")
            texts = tuple(_cell(v) for v in values)
            if data is not None:
                present = {_cell(v) for v in data[col]} if col in data.columns else set()
                for v in texts:
                    if v not in present:
                        hint = suggest(v, sorted(present))
                        kind = "commitment" if col == "commitment_id" else f"{col} in {table}"
                        self.fail(
                            i, cid, wloc, f"unknown {kind} {v!r}" + (f" (did you mean {hint[0]!r}?)" if hint else "")
                        )
            conds.append((str(col), texts))
        field = self.choice(i, cid, loc, t, "field", columns, f"field of {table}")
        col = schema.column(field)
        kind = "number" if col.dtype in ("float", "int") else ("date" if col.unit.startswith("YYYY-MM") else "text")
        cmp = self.comparison(i, cid, loc, t, kind)
        unit = self.string(i, cid, loc, t, "unit", required=False)
        fx = self.string(i, cid, loc, t, "fx", required=False)
        if unit is not None and (kind != "number" or "unit" not in columns):
            self.fail(i, cid, [*loc, "unit"], f"{table}.{field} has no unit column to convert from")
        if fx is not None and unit is None:
            self.fail(i, cid, [*loc, "fx"], "fx goes with unit (the unit the claim states)")
        if fx is not None and data is not None and "item" in data.columns and fx not in set(data["item"].astype(str)):
            hint = suggest(fx, sorted(set(data["item"].astype(str))))
            self.fail(
                i,
                cid,
                [*loc, "fx"],
                f"no row of {table} has item {fx!r}" + (f" (did you mean {hint[0]!r}?)" if hint else ""),
            )
        return LookupTest(table, tuple(conds), field, cmp, unit, fx)

    def parties(self, i: int, cid: str, t: Mapping[str, Any]) -> PartiesTest:
        loc = ["parties"]
        self.keys(i, cid, loc, t, _PARTIES_KEYS)
        raw = t.get("parties")
        if not isinstance(raw, list) or len(raw) < 2 or not all(isinstance(p, str) for p in raw):
            self.fail(i, cid, [*loc, "parties"], f"a list of two or more ISO3 codes (got {raw!r})")
        codes = []
        for p in raw:
            try:
                codes.append(names.country(p))
            except UnknownNameError as exc:
                self.fail(i, cid, [*loc, "parties"], str(exc))
        bounds: list[date | None] = []
        for key in ("signed_from", "signed_to"):
            if key in t:
                first, last = self.date_span(i, cid, [*loc, key], t[key])
                bounds.append(first if key == "signed_from" else last)
            else:
                bounds.append(None)
        return PartiesTest(tuple(dict.fromkeys(codes)), bounds[0], bounds[1])


def _cell(value: Any) -> str:
    """A cell or a claimed value as text for matching (numbers without a trailing .0)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def parse_claims(
    text: str,
    source: str = "<claims>",
    *,
    chain: SupplyChain | None = None,
    tables: Mapping[str, pd.DataFrame] | None = None,
) -> tuple[Claim, ...]:
    """Validate a claims document; a one-line :class:`UserError` naming the file, the line, the
    claim and the field otherwise. With ``chain``, countries and blocs are checked against it; with
    ``tables`` (the store's tables by name), lookups' ``where`` values must name existing rows."""
    doc = names.parse_toml(text, source)
    extra = [k for k in doc if k != "claim"]
    if extra:
        hint = suggest(extra[0], ["claim"])
        raise UserError(f"{source}: unknown key {extra[0]!r}" + (" (did you mean 'claim'?)" if hint else "")
                        + ": a claims file holds [[claim]] tables")  # fmt: skip
    items = doc.get("claim")
    if not isinstance(items, list) or not items or not all(isinstance(x, dict) for x in items):
        raise UserError(f"{source}: no [[claim]] tables (see docs/monitor.md for the format)")
    r = _Reader(text, source, chain, tables)
    out: list[Claim] = []
    for i, item in enumerate(items):
        raw_id = item.get("id")
        cid = raw_id.strip() if isinstance(raw_id, str) else ""
        r.keys(i, cid, [], item, _CLAIM_KEYS)
        cid = r.string(i, cid, [], item, "id") or ""
        if any(c.id == cid for c in out):
            r.fail(i, cid, ["id"], f"{cid!r} is given twice; claim ids must be unique")
        claim_text = r.string(i, cid, [], item, "text") or ""
        claim_source = r.string(i, cid, [], item, "source") or ""
        note = r.string(i, cid, [], item, "note", required=False) or ""
        given = [k for k in _TESTS if k in item]
        if len(given) > 1:
            r.fail(i, cid, [given[1]], f"a claim has one test; this one has {' and '.join(given)}")
        test: MetricTest | LookupTest | PartiesTest | None = None
        if given:
            body = item[given[0]]
            if not isinstance(body, dict):
                r.fail(i, cid, [given[0]], f"must be a table ([claim.{given[0]}]), not {body!r}")
            readers: dict[str, Callable[[int, str, Mapping[str, Any]], Any]] = {
                "metric": r.metric, "lookup": r.lookup, "parties": r.parties,
            }  # fmt: skip
            test = readers[given[0]](i, cid, body)
        line = _line_of(text, ("claim", i, "id"))
        out.append(Claim(cid, claim_text, claim_source, test, note, source, line))
    return tuple(out)


def read_claims(
    path: str | Path, *, chain: SupplyChain | None = None, tables: Mapping[str, pd.DataFrame] | None = None
) -> tuple[Claim, ...]:
    """The claims of a TOML file (see :func:`parse_claims`); a missing, unreadable or binary file is
    a one-line :class:`UserError` naming it."""
    text = names.read_text_file(path, "claims file")
    return parse_claims(text, str(path), chain=chain, tables=tables)


# -- evaluating -------------------------------------------------------------------------------------
def _holds(cmp: Comparison, x: Any) -> bool:
    """Whether the found value ``x`` (a number, a date or text) satisfies the claim's comparison."""
    if cmp.kind == "date":
        if cmp.op == "between":
            (lo, _), (_, hi) = cmp.value
            return bool(lo <= x <= hi)
        first, last = cmp.value
        return {"==": first <= x <= last, "<": x < first, "<=": x <= last, ">": x > last, ">=": x >= first}[cmp.op]
    if cmp.kind == "text":
        return str(x).strip().casefold() == str(cmp.value).strip().casefold()
    if cmp.op == "between":
        lo, hi = cmp.value
        return bool(lo <= x <= hi)
    v = cmp.value
    return {"==": abs(x - v) <= cmp.tolerance, "<": x < v, "<=": x <= v, ">": x > v, ">=": x >= v}[cmp.op]


def _fmt(x: float, measure: str) -> str:
    if measure in SHARE_MEASURES:
        return f"{x:.1%}"
    if measure == "hhi":
        return f"{x:,.0f}"
    return f"{x:.3g}"


def _sources(frame: pd.DataFrame) -> list[dict[str, str]]:
    out: dict[tuple[str, str], None] = {}
    blank = [""] * len(frame)
    sources = frame["source"].tolist() if "source" in frame.columns else blank
    levels = frame["confidence"].tolist() if "confidence" in frame.columns else blank
    for s, c in zip(sources, levels, strict=True):
        out[(_cell(s), _cell(c))] = None
    return [{"source": s, "confidence": c} for s, c in out if s or c]


def _verdict(holds: list[bool | None], split: str) -> str:
    checked = [h for h in holds if h is not None]
    if not checked:
        return "not checkable"
    if all(checked):
        return "supported"
    if not any(checked):
        return "contradicted"
    return split


def _metric_value(chain: SupplyChain, t: MetricTest, mid: str, stage: str, year: int) -> tuple[float, list[str]]:
    """The measure at one stage and year, and the countries whose rows it rests on."""
    m = t.measure
    if m == "share":
        assert t.country is not None
        members = list(chain.members(t.country))
        df = metrics.group_share(chain, members, mid, stage, year, column="share")
        return float(df["share"].iloc[0]), members
    if m == "china_share":
        return float(metrics.china_share(chain, mid, stage, year)["china_share"].iloc[0]), ["CHN"]
    if m in ("top1_share", "top3_share", "n1_coverage"):
        shares = metrics.production_shares(chain, mid, stage, year)
        named = shares[shares["country_iso3"] != metrics.RESIDUAL].sort_values("share", ascending=False)
        k = 3 if m == "top3_share" else 1
        top = named.head(k)
        value = float(top["share"].sum())
        return (1.0 - value if m == "n1_coverage" else value), [str(c) for c in top["country_iso3"]]
    if m == "hhi":
        return float(metrics.hhi(chain, mid, stage, year)["hhi"].iloc[0]), []
    return float(metrics.hhi_wgi(chain, mid, stage, year)["hhi_wgi"].iloc[0]), []


def _eval_metric(t: MetricTest, chain: SupplyChain) -> tuple[str, str, list[dict[str, Any]]]:
    prod = chain.production
    rows = prod[prod["material"] == t.material]
    if rows.empty:
        return "not checkable", f"no production data for {t.material}", []
    year = t.year if t.year is not None else chain.base_year
    years = sorted(int(y) for y in rows["year"].unique())
    if year not in years:
        return "not checkable", f"no production data for {t.material} in {year} (years with data: {years})", []
    in_year = rows[rows["year"] == year]
    have = [s for s in PRODUCING_STAGES if (in_year["stage"] == s).any()]
    wanted = list(t.stages) if t.stages is not None else have
    items: list[dict[str, Any]] = []
    for stage in wanted:
        label = f"{t.material} {stage} {year}: {t.measure}" + (f" ({t.country})" if t.country else "")
        if stage not in have:
            items.append({"item": label, "stage": stage, "value": None, "display": "no data", "holds": None,
                          "basis": "", "sources": []})  # fmt: skip
            continue
        value, countries = _metric_value(chain, t, t.material, stage, year)
        group = in_year[in_year["stage"] == stage]
        used = group if not countries else group[group["country_iso3"].isin(countries)]
        world = chain.world_totals
        if not world.empty:
            w = world[(world["material"] == t.material) & (world["stage"] == stage) & (world["year"] == year)]
            used = pd.concat([used, w], ignore_index=True)
        basis = str(group["basis"].iloc[0]) if "basis" in group.columns and len(group) else ""
        ok = None if math.isnan(value) else _holds(t.cmp, value)
        items.append({"item": label, "stage": stage, "value": value,
                      "display": "no value" if ok is None else _fmt(value, t.measure), "holds": ok, "basis": basis,
                      "sources": _sources(used)})  # fmt: skip
    verdict = _verdict([it["holds"] for it in items], "depends on stage")
    yes = [it["stage"] for it in items if it["holds"] is True]
    no = [it["stage"] for it in items if it["holds"] is False]
    claim = f"{t.measure} {t.cmp.text()}"
    if verdict == "not checkable":
        reason = f"no data for {t.material} in {year} at {', '.join(wanted) or 'any stage'}"
    elif verdict == "depends on stage":
        reason = f"{claim} holds at {', '.join(yes)} but not at {', '.join(no)} ({year})"
    elif verdict == "supported":
        reason = f"{claim} holds at {', '.join(yes)} ({year})"
    else:
        reason = f"{claim} holds at none of {', '.join(no)} ({year})"
    missing = [it["stage"] for it in items if it["holds"] is None]
    if missing and verdict != "not checkable":
        reason += f"; no data at {', '.join(missing)}"
    return verdict, reason, items


def _rate(claim: Claim, t: LookupTest, data: pd.DataFrame, have: str, want: str) -> tuple[float, str, pd.DataFrame]:
    """The exchange rate converting currency ``have`` to ``want``: (factor, label, its row)."""
    units = {f"{have}/{want}", f"{want}/{have}"}
    rows = data[data["unit"].astype(str).isin(units)] if "unit" in data.columns else data.iloc[:0]
    if t.fx is not None:
        rows = rows[rows["item"].astype(str) == t.fx] if "item" in rows.columns else rows.iloc[:0]
    if len(rows) != 1:
        what = "no row" if rows.empty else f"{len(rows)} rows"
        raise UserError(
            f"{claim.where}: lookup.unit: {what} of {t.table} with unit {' or '.join(sorted(units))}"
            + (f" and item {t.fx!r}" if t.fx else "") + f" to convert {have} to {want}"
            + ("" if rows.empty else ": name one with fx = '<item>'")
        )  # fmt: skip
    row = rows.iloc[[0]]
    rate = float(row["value"].iloc[0])
    unit = str(row["unit"].iloc[0])
    factor = 1.0 / rate if unit == f"{have}/{want}" else rate
    label = f"{rate:g} {unit}" + (f" ({row['item'].iloc[0]})" if "item" in row.columns else "")
    return factor, label, row


def _convert(claim: Claim, t: LookupTest, data: pd.DataFrame, x: float, unit: str) -> tuple[float, str, pd.DataFrame]:
    """``x`` in ``unit`` converted to the claim's unit: (value, how, the exchange-rate row used)."""
    assert t.unit is not None
    if unit == t.unit:
        return x, "", data.iloc[:0]
    have, want = _MONEY_RE.match(unit), _MONEY_RE.match(t.unit)
    if have is None or want is None:
        raise UserError(f"{claim.where}: lookup.unit: cannot convert {unit!r} to {t.unit!r} (currency amounts "
                        "such as 'JPY tn' or 'USD bn' only)")  # fmt: skip
    scaled = x * _SCALE[have.group(2) or ""]
    if have.group(1) == want.group(1):
        return scaled / _SCALE[want.group(2) or ""], "", data.iloc[:0]
    factor, label, row = _rate(claim, t, data, have.group(1), want.group(1))
    return scaled * factor / _SCALE[want.group(2) or ""], f" at {label}", row


def _eval_lookup(
    claim: Claim, t: LookupTest, tables: Mapping[str, pd.DataFrame]
) -> tuple[str, str, list[dict[str, Any]]]:
    data = tables.get(t.table)
    if data is None:
        raise UserError(f"{claim.where}: lookup.table: table {t.table!r} was not read")
    sel = data
    for col, values in t.where:
        sel = sel[sel[col].map(_cell).isin(values)]
    where = ", ".join(f"{c} = {v[0] if len(v) == 1 else list(v)}" for c, v in t.where)
    if sel.empty:
        return "not checkable", f"no row of {t.table} has {where}", []
    key = list(TABLES[t.table].key)
    items: list[dict[str, Any]] = []
    for _, row in sel.iterrows():
        label = f"{t.table} " + ", ".join(f"{k}={_cell(row[k])}" for k in key) + f": {t.field}"
        raw = row[t.field]
        used = sel.loc[[row.name]]
        if _cell(raw) == "":
            items.append({"item": label, "value": None, "display": "blank", "holds": None, "sources": _sources(used)})
            continue
        found: Any
        if t.cmp.kind == "number":
            x = float(raw)
            unit = _cell(row["unit"]) if "unit" in sel.columns else ""
            display = f"{x:g} {unit}".strip()
            if t.unit is not None:
                x, how, rate_row = _convert(claim, t, data, x, unit)
                display += f" = {x:.3g} {t.unit}{how}"
                used = pd.concat([used, rate_row], ignore_index=True)
            found = x
        elif t.cmp.kind == "date":
            try:
                found = date.fromisoformat(_cell(raw))
            except ValueError:
                raise UserError(f"{claim.where}: lookup: {label} holds {raw!r}, not a YYYY-MM-DD date") from None
            display = found.isoformat()
        else:
            found = _cell(raw)
            display = repr(found)
        ok = _holds(t.cmp, found)
        items.append({"item": label, "value": found.isoformat() if isinstance(found, date) else found,
                      "display": display, "holds": ok, "sources": _sources(used)})  # fmt: skip
    verdict = _verdict([it["holds"] for it in items], "depends on definition")
    claim_text = f"{t.field} {t.cmp.text()}" + (f" {t.unit}" if t.unit else "")
    found_text = "; ".join(f"{it['item']} = {it['display']}" for it in items)
    reason = {
        "supported": f"{claim_text} holds for every row matched: {found_text}",
        "contradicted": f"{claim_text} fails for every row matched: {found_text}",
        "depends on definition": f"{claim_text} holds for some rows matched and not others: {found_text}",
        "not checkable": f"no value to compare: {found_text}",
    }[verdict]
    return verdict, reason, items


def _instruments(commitments: pd.DataFrame) -> list[dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for row in commitments.to_dict("records"):
        name = _cell(row.get("instrument"))
        inst = out.setdefault(name, {"instrument": name, "signed": "", "parties": set(), "rows": []})
        inst["parties"].update(p.strip() for p in _cell(row.get("parties")).split(";") if p.strip())
        if not inst["signed"]:
            inst["signed"] = _cell(row.get("signed"))
        inst["rows"].append(row)
    return list(out.values())


def _eval_parties(t: PartiesTest, tables: Mapping[str, pd.DataFrame]) -> tuple[str, str, list[dict[str, Any]]]:
    commitments = tables.get("framework_commitments")
    if commitments is None or commitments.empty:
        return "not checkable", "no framework commitments in the data", []
    wanted = set(t.parties)
    agreements = []
    for inst in _instruments(commitments):
        if len(inst["parties"]) < 2:
            continue  # a unilateral measure, not an agreement among parties
        if t.signed_from is not None or t.signed_to is not None:
            try:
                signed = date.fromisoformat(inst["signed"])
            except ValueError:
                continue
            if (t.signed_from and signed < t.signed_from) or (t.signed_to and signed > t.signed_to):
                continue
        agreements.append(inst)
    relevant = [a for a in agreements if a["parties"] & wanted]
    items = [
        {"item": a["instrument"], "value": ";".join(sorted(a["parties"])), "signed": a["signed"],
         "display": f"{';'.join(sorted(a['parties']))} (signed {a['signed'] or '?'})", "holds": wanted <= a["parties"],
         "sources": _sources(pd.DataFrame(a["rows"]))}
        for a in relevant
    ]  # fmt: skip
    claimed = ", ".join(t.parties)
    window = ""
    if t.signed_from or t.signed_to:
        window = f" signed {t.signed_from or '...'} to {t.signed_to or '...'}"
    if not relevant:
        return (
            "contradicted",
            f"no instrument{window} in the data has any of {claimed} among two or more parties",
            items,
        )
    full = [it for it in items if it["holds"]]
    if full:
        return "supported", f"{full[0]['item']} has all of {claimed} as parties", items
    covered = set().union(*(a["parties"] for a in relevant))
    listing = "; ".join(f"{it['item']} ({it['display']})" for it in items)
    if wanted <= covered:
        return ("depends on definition",
                f"no single instrument{window} has all of {claimed} as parties, but {len(items)} instruments among "
                f"them together do: one deal among all of them, no; a set of separate deals, yes: {listing}",
                items)  # fmt: skip
    return ("contradicted",
            f"the instruments{window} leave out {', '.join(sorted(wanted - covered))}: {listing}", items)  # fmt: skip


def _test_text(claim: Claim, chain: SupplyChain) -> str:
    t = claim.test
    if isinstance(t, MetricTest):
        who = f" ({t.country})" if t.country else ""
        stages = ", ".join(t.stages) if t.stages else "every stage with data"
        return f"{t.measure}{who} {t.cmp.text()}: {t.material}, {t.year or chain.base_year}, {stages}"
    if isinstance(t, LookupTest):
        where = ", ".join(f"{c}={v[0] if len(v) == 1 else '|'.join(v)}" for c, v in t.where)
        return f"{t.table}[{where}].{t.field} {t.cmp.text()}" + (f" {t.unit}" if t.unit else "")
    if isinstance(t, PartiesTest):
        return f"one instrument with parties {', '.join(t.parties)}"
    return "(no test)"


def evaluate_claims(claims: Sequence[Claim], chain: SupplyChain, tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Each claim's verdict (one of :data:`VERDICTS`) from the data, with the numbers found and
    their sources.

    ``tables`` are the store's tables by name (lookups and parties read them; metrics read
    ``chain``). Returns one row per claim: claim_id, text, claim_source, test (what was compared),
    verdict, reason, found (the values, one per stage or row), note, evidence (a list: item, value,
    display, holds, sources = [{source, confidence}], and for metrics stage and basis).

    >>> import pandas as pd
    >>> from critmin.chain import SupplyChain
    >>> prod = pd.DataFrame({"material": "Dy", "stage": ["mine", "mine", "separation", "separation"],
    ...                      "year": 2024, "unit": "t", "country_iso3": ["CHN", "MMR", "CHN", "MYS"],
    ...                      "quantity": [50.0, 50.0, 90.0, 10.0]})
    >>> chain = SupplyChain.from_frames(prod)
    >>> text = ('[[claim]]\\nid = "X"\\ntext = "China has over 80%"\\nsource = "s"\\n[claim.metric]\\n'
    ...         'material = "Dy"\\nmeasure = "china_share"\\ncomparison = ">"\\nvalue = 0.8\\n')
    >>> evaluate_claims(parse_claims(text), chain, {})[["verdict", "found"]].values.tolist()
    [['depends on stage', 'mine 50.0% (no); separation 90.0% (yes)']]
    """
    rows = []
    for c in claims:
        t = c.test
        evidence: list[dict[str, Any]]
        if t is None:
            verdict, reason, evidence = "not checkable", "the claim names nothing to measure" + (
                f" ({c.note})" if c.note else ""), []  # fmt: skip
        elif isinstance(t, MetricTest):
            verdict, reason, evidence = _eval_metric(t, chain)
        elif isinstance(t, LookupTest):
            verdict, reason, evidence = _eval_lookup(c, t, tables)
        else:
            verdict, reason, evidence = _eval_parties(t, tables)

        def short(it: Mapping[str, Any]) -> str:
            mark = "" if it["holds"] is None else (" (yes)" if it["holds"] else " (no)")
            head = it.get("stage") or it["item"]
            return f"{head} {it['display']}{mark}"

        rows.append({"claim_id": c.id, "text": c.text, "claim_source": c.source, "test": _test_text(c, chain),
                     "verdict": verdict, "reason": reason, "found": "; ".join(short(it) for it in evidence),
                     "note": c.note, "evidence": evidence})  # fmt: skip
    cols = ["claim_id", "text", "claim_source", "test", "verdict", "reason", "found", "note", "evidence"]
    return pd.DataFrame(rows, columns=cols)
