"""The frameworks' dated commitments, their status as of a date, and the model's indicators against
the goals the frameworks state.

Commitments come from the store's ``framework_commitments`` (each with its ``due`` date where the
text sets one), evidence from ``framework_evidence`` (dated events, each with an ``effect``: ``met``,
``progress``, ``missed`` or ``related``) and from a user's evidence file, validated like an import
(:func:`read_evidence`). :func:`commitment_status` dates each commitment as of a day:

* ``met``: an evidence row with effect ``met`` dated on or before the day;
* ``unknown``: no due date (and not met);
* ``overdue``: past its due date, or an evidence row with effect ``missed`` dated on or before the day;
* ``due``: within :data:`DUE_WINDOW_DAYS` days of its due date (the due date included);
* ``upcoming``: earlier than that.

A due date of kind ``term_end`` (``due_kind``: it ends a term, such as a suspension, rather than
a deliverable) gives ``unknown`` once past: nothing fell due, and what followed is not in the data
(for an export control's suspension, ``critmin monitor controls`` says whether the data hold a
later event).

Evidence dated after the day is not known yet, so it is left out. :func:`framework_indicators` reads
the facility pipeline (facilities with a start year after the base year, their capacity in the
stage's basis) into the allied (a bloc's) and the largest supplier's share of world capacity by
year, against the goals in ``framework_goals``; :func:`indicators_figure` draws it.

Example
-------
>>> import pandas as pd
>>> from datetime import date
>>> c = pd.DataFrame({"commitment_id": ["A", "B"], "due": ["2026-04-28", ""],
...                   "instrument": "x", "commitment": "y", "parties": "USA;JPN"})
>>> e = pd.DataFrame({"evidence_id": ["e1"], "commitment_id": ["A"], "date": ["2026-03-01"],
...                   "effect": ["met"], "text": ["done"], "source": ["s"], "confidence": ["read"]})
>>> commitment_status(c, e.iloc[:0], date(2026, 4, 1))["status"].tolist()
['due', 'unknown']
>>> commitment_status(c, e, date(2026, 5, 1))["status"].tolist()
['met', 'unknown']
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from critmin.chain import SupplyChain
from critmin.errors import DataValidationError, RowProblem, UserError, suggest
from critmin.names import PRODUCING_STAGES
from critmin.schema import TABLES
from critmin.store import read_csv_strict
from critmin.validate import Problems, problems_error, validate_frame

#: statuses a commitment can have, in the order a report lists them
STATUSES: tuple[str, ...] = ("overdue", "due", "upcoming", "met", "unknown")
#: what an evidence row says about its commitment
EFFECTS: tuple[str, ...] = TABLES["framework_evidence"].column("effect").choices
#: a commitment is ``due`` from this many days before its due date to the date itself
DUE_WINDOW_DAYS = 30
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


# -- dates ------------------------------------------------------------------------------------------
def parse_date(text: object, what: str) -> date:
    """A ``YYYY-MM-DD`` date, or a one-line :class:`UserError` naming ``what``.

    >>> parse_date("2026-04-28", "--as-of")
    datetime.date(2026, 4, 28)
    >>> parse_date("2026-02-30", "--as-of")
    Traceback (most recent call last):
    ...
    critmin.errors.UserError: --as-of: '2026-02-30' is not a date (YYYY-MM-DD): day is out of range for month
    """
    s = str(text).strip()
    if not _DATE.match(s):
        raise UserError(f"{what}: {s!r} is not a date (YYYY-MM-DD)")
    try:
        return date.fromisoformat(s)
    except ValueError as exc:
        raise UserError(f"{what}: {s!r} is not a date (YYYY-MM-DD): {exc}") from None


def _blank(value: object) -> bool:
    """No value: None, NaN, pd.NA or blank text."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return str(value).strip() == ""


def _date_problem(value: object) -> str:
    """Why ``value`` is not a ``YYYY-MM-DD`` date ('' when it is one)."""
    try:
        parse_date(value, "date")
    except UserError as exc:
        return str(exc).split(": ", 1)[1]
    return ""


# -- commitments and evidence --------------------------------------------------------------------
def check_commitments(commitments: pd.DataFrame, origin: str = "table framework_commitments") -> None:
    """Raise a one-line :class:`UserError` naming the commitment and the field where a ``signed``
    or ``due`` date is not a ``YYYY-MM-DD`` date (imported rows are checked only for their
    columns, so a bad date is caught here)."""
    for row in commitments.itertuples(index=False):
        for col in ("signed", "due"):
            value = getattr(row, col, "")
            if not _blank(value):
                why = _date_problem(value)
                if why:
                    raise UserError(f"{origin}: commitment {row.commitment_id!r}: {col}: {why}")


def evidence_problems(evidence: pd.DataFrame, commitments: pd.DataFrame, first_line: int = 2) -> Problems:
    """The problems of validated evidence rows that the table's columns alone do not catch: an
    unknown ``commitment_id`` (with "did you mean"), a ``date`` that is not ``YYYY-MM-DD``, a
    ``missed`` row dated before its commitment's due date. Line numbers count the header as 1.

    >>> c = pd.DataFrame({"commitment_id": ["USJP-FIN-6M"], "due": ["2026-04-28"]})
    >>> e = pd.DataFrame({"evidence_id": ["x"], "commitment_id": ["USJP-FIN6M"], "date": ["2026-01-01"],
    ...                   "effect": ["progress"]})
    >>> p = evidence_problems(e, c)[0]
    >>> p.row, p.column, p.reason, p.hint
    (2, 'commitment_id', 'unknown commitment', "did you mean 'USJP-FIN-6M'?")
    """
    known = [str(c) for c in commitments["commitment_id"]]
    due = dict(zip(known, commitments["due"], strict=True)) if "due" in commitments else {}
    out = Problems()
    for i, row in enumerate(evidence.itertuples(index=False)):
        line = first_line + i
        cid = str(row.commitment_id)
        if cid not in due and cid not in known:
            hint = suggest(cid, known)
            why = f"did you mean {hint[0]!r}?" if hint else "ids: critmin monitor framework"
            out.append(RowProblem(line, "commitment_id", cid, "unknown commitment", why))
        why = _date_problem(row.date)
        if why:
            out.append(RowProblem(line, "date", str(row.date), why))
        elif (
            row.effect == "missed"
            and cid in due
            and not _blank(due[cid])
            and not _date_problem(due[cid])
            and parse_date(row.date, "date") < parse_date(due[cid], "due")
        ):
            why = f"a 'missed' row dated before the due date {due[cid]}"
            out.append(
                RowProblem(line, "date", str(row.date), why, "date it on or after the due date, or use 'related'")
            )
    return out


def read_evidence(path: str | Path, commitments: pd.DataFrame) -> pd.DataFrame:
    """A user's evidence file (the ``framework_evidence`` columns), validated all or nothing like an
    import: the table's columns, then the commitment ids and dates (:func:`evidence_problems`). A
    problem raises :class:`~critmin.errors.DataValidationError` naming the file, the line and the
    field, with "did you mean". Rows without ``source`` or ``confidence`` are refused like any import.
    """
    raw = read_csv_strict(path)
    typed, problems = validate_frame(raw, TABLES["framework_evidence"])
    if problems:
        raise problems_error(str(path), problems)
    extra = evidence_problems(typed, commitments)
    if extra:
        raise DataValidationError(str(path), extra)
    return typed.assign(layer="file")


def check_stored_evidence(evidence: pd.DataFrame, commitments: pd.DataFrame, origin: str) -> None:
    """Raise a one-line :class:`UserError` for the first stored evidence row that names an unknown
    commitment or carries a malformed date (rows imported with ``critmin data import csv
    framework_evidence`` are checked only for their columns at import)."""
    problems = evidence_problems(evidence, commitments)
    if problems:
        p = problems[0]
        eid = evidence["evidence_id"].iloc[p.row - 2]
        hint = f" ({p.hint})" if p.hint else ""
        raise UserError(
            f"{origin}: evidence {eid!r}: {p.column}: {p.reason} {p.value!r}{hint}; import a corrected row "
            "with `critmin data import csv framework_evidence FILE`"
        )


def _evidence_item(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: ("" if _blank(row.get(k)) else str(row.get(k)))
            for k in ("evidence_id", "date", "effect", "text", "notes", "source", "confidence", "layer")}  # fmt: skip


def commitment_status(
    commitments: pd.DataFrame,
    evidence: pd.DataFrame,
    as_of: date,
    window_days: int = DUE_WINDOW_DAYS,
) -> pd.DataFrame:
    """Each commitment's status as of ``as_of`` from its due date and the evidence dated on or
    before that day (see the module's rules).

    Returns one row per commitment (in the order given): commitment_id, instrument, parties,
    commitment, signed, due, days_to_due (negative once past; None without a due date), status,
    evidence (a list of the evidence known on the day, oldest first: evidence_id, date, effect,
    text, source, confidence, layer), last_evidence (the latest one's ``date effect: text``),
    source, confidence. Dates must be valid (:func:`check_commitments`, :func:`evidence_problems`).
    """
    if window_days < 0:
        raise UserError(f"the due window must be zero or more days (got {window_days})")
    ev = evidence.copy()
    if len(ev):
        ev["_date"] = [parse_date(d, "evidence date") for d in ev["date"]]
        ev = ev[ev["_date"] <= as_of].sort_values(["_date", "evidence_id"])
    by_commitment: dict[str, list[dict[str, Any]]] = {}
    for row in ev.to_dict("records"):
        by_commitment.setdefault(str(row["commitment_id"]), []).append(row)
    rows = []
    for c in commitments.to_dict("records"):
        cid = str(c["commitment_id"])
        known = by_commitment.get(cid, [])
        effects = {str(r["effect"]) for r in known}
        due = None if _blank(c.get("due")) else parse_date(c["due"], f"commitment {cid!r}: due")
        days = None if due is None else (due - as_of).days
        term_end = _text(c.get("due_kind")) == "term_end"
        if "met" in effects:
            status = "met"
        elif term_end and days is not None and days < 0:
            status = "unknown"  # a term that ran out: nothing fell due, and what followed is not in the data
        elif due is None:
            status = "overdue" if "missed" in effects else "unknown"
        elif days is not None and (days < 0 or "missed" in effects):
            status = "overdue"
        elif days is not None and days <= window_days:
            status = "due"
        else:
            status = "upcoming"
        items = [_evidence_item(r) for r in known]
        last = items[-1] if items else None
        rows.append(
            {"commitment_id": cid, "instrument": _text(c.get("instrument")), "parties": _text(c.get("parties")),
             "commitment": _text(c.get("commitment")), "signed": _text(c.get("signed")),
             "due": "" if due is None else due.isoformat(), "days_to_due": days, "status": status,
             "evidence": items, "evidence_count": len(items),
             "last_evidence": f"{last['date']} {last['effect']}: {last['text']}" if last else "",
             "source": _text(c.get("source")), "confidence": _text(c.get("confidence"))}
        )  # fmt: skip
    cols = ["commitment_id", "instrument", "parties", "commitment", "signed", "due", "days_to_due", "status",
            "evidence", "evidence_count", "last_evidence", "source", "confidence"]  # fmt: skip
    out = pd.DataFrame(rows, columns=cols)
    out["days_to_due"] = pd.Series([r["days_to_due"] for r in rows], dtype=object, index=out.index)
    return out


def _text(value: object) -> str:
    return "" if _blank(value) else str(value)


# -- indicators ----------------------------------------------------------------------------------
def _stage_words(text: object) -> set[str]:
    words = re.split(r"[\s/+(),&]+", str(text).lower())
    return {w for w in words if w in PRODUCING_STAGES}


def _capacity_in_basis(row: Mapping[str, Any], stage: str, basis: str) -> tuple[float | None, str]:
    """A facility's capacity in t/yr of the stage's basis (``REO`` or ``NdFeB``), or None and why."""
    raw = row.get("capacity")
    if _blank(raw):
        return None, "no capacity in the facility list"
    cap = float(str(raw))
    unit = _text(row.get("unit"))
    product = _text(row.get("product"))
    if basis == "NdFeB" and stage == "magnet" and unit.startswith("t/yr") and "NdFeB" in f"{unit} {product}":
        return cap, ""
    if basis == "REO" and re.search(r"\bREOs?\b", unit) and "NdPr" not in unit:
        return cap, ""
    return None, f"capacity in {unit!r}, not t/yr {basis}"


def _included(unit: str) -> str | None:
    """The facility a capacity says it includes ('... total incl. Independence' -> 'Independence')."""
    m = re.search(r"incl\.\s+([A-Z][\w-]*)", unit)
    return m.group(1) if m else None


def _applicable_goals(goals: pd.DataFrame, material: str, stage: str) -> pd.DataFrame:
    if goals is None or goals.empty:
        return pd.DataFrame(columns=["goal_id", "measure", "comparison", "value", "year", "notes"])
    sel = goals[goals["material"].isin(["*", material]) & goals["stage"].isin(["*", stage])]
    return sel.sort_values("goal_id")


_OPS = {
    "<": lambda x, v: x < v,
    "<=": lambda x, v: x <= v,
    ">": lambda x, v: x > v,
    ">=": lambda x, v: x >= v,
}


def framework_indicators(
    chain: SupplyChain,
    years: Iterable[int] | None = None,
    *,
    material: str = "rare_earths",
    stages: Sequence[str] = ("separation", "magnet"),
    bloc: str = "framework",
    goals: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The allied (``bloc``) and the largest supplier's share of world capacity by stage and year,
    from the base-year capacity and the facility pipeline, against the stated goals.

    Capacity in the base year is the chain's ``capacity`` table (by country, in the stage's basis:
    t/yr REO at separation, t/yr NdFeB at magnet). A listed facility adds its capacity from its
    ``start_year`` on where that year is after the base year (earlier ones are in the base-year
    capacity), its status is not "unlikely" or "cancelled", its stage names the stage and its unit
    is the stage's basis (t/yr ... REO; t/yr of NdFeB magnets); a capacity marked "total incl. X"
    adds only its excess over facility X. Everything else in the list is left out, with the reason
    in ``attrs["notes"]``. Other countries stay at base-year capacity: the list has no complete
    pipeline outside the allies, so a rising allied share reads as an upper bound.

    ``goals`` (default: the shipped ``framework_goals``) are matched by material and stage (``*``
    matches any); each goal's measure (``top1_share`` or ``china_share``) is compared with its value.

    Returns one row per (stage, year, goal): material, stage, year, basis, world_capacity_t_per_yr,
    bloc, bloc_capacity_t_per_yr, bloc_share, top1_country, top1_share, china_share,
    added_capacity_t_per_yr (pipeline capacity added since the base year), added_facilities,
    goal_id, goal_measure, goal_comparison, goal_value, goal_year, goal_met, goal_gap (measure
    minus goal value: above zero means short of a ``<=`` goal).

    Examples
    --------
    >>> import pandas as pd
    >>> from critmin.chain import SupplyChain
    >>> prod = pd.DataFrame({"material": "rare_earths", "stage": "separation", "year": 2024, "unit": "t",
    ...                      "country_iso3": ["CHN", "AUS"], "quantity": [90.0, 10.0]})
    >>> cap = prod.rename(columns={"quantity": "capacity_t_per_yr"}).assign(basis="REO")
    >>> fac = pd.DataFrame({"facility": ["New refinery"], "country_iso3": ["AUS"], "stage": ["separation"],
    ...                     "capacity": [20.0], "unit": ["t/yr REO"], "status": ["construction"],
    ...                     "start_year": [2026], "product": [""]})
    >>> chain = SupplyChain.from_frames(prod, capacity=cap, facilities=fac)
    >>> df = framework_indicators(chain, [2025, 2026], stages=["separation"])
    >>> df[["year", "bloc_share", "top1_share", "goal_met"]].round(3).values.tolist()
    [[2025, 0.1, 0.9, False], [2026, 0.25, 0.75, False]]
    """
    from critmin.dataset import shipped_table

    goals = shipped_table("framework_goals") if goals is None else goals
    mid = chain.material(material)
    members = set(chain.members(bloc))
    base_year = chain.base_year
    cap = chain.capacity
    if cap.empty:
        raise UserError("the chain has no capacity table: framework indicators need base-year capacity")
    notes: list[str] = []
    fac = chain.facilities
    stage_list = [chain.stage(s) for s in stages]
    goal_years = [int(y) for y in goals["year"]] if len(goals) else []
    year_list = (
        sorted({int(y) for y in years})
        if years is not None
        else list(range(base_year, max([base_year + 6, *goal_years]) + 1))
    )
    rows = []
    for stage in stage_list:
        base = cap[(cap["material"] == mid) & (cap["stage"] == stage) & (cap["year"] == base_year)]
        base = base[base["country_iso3"] != "WLD"]
        if base.empty:
            notes.append(f"{mid} {stage}: no base-year capacity in the data; left out")
            continue
        bases = set(base["basis"].astype(str)) if "basis" in base.columns else {""}
        basis = bases.pop() if len(bases) == 1 else ""
        by_country = base.groupby("country_iso3")["capacity_t_per_yr"].sum().astype(float)
        additions: list[tuple[int, str, str, float]] = []  # (start year, country, facility, t/yr)
        includes: dict[str, str] = {}  # facility -> the facility its capacity includes
        for row in fac.to_dict("records"):
            if stage not in _stage_words(row.get("stage")):
                continue
            name = _text(row.get("facility"))
            status = _text(row.get("status")).lower()
            start = row.get("start_year")
            if _blank(start) or int(float(str(start))) <= base_year:
                continue
            if "unlikely" in status or "cancel" in status:
                notes.append(f"{stage}: {name} left out (status {row.get('status')!r})")
                continue
            value, why = _capacity_in_basis(row, stage, basis)
            if value is None:
                notes.append(f"{stage}: {name} ({int(float(str(start)))}) left out: {why}")
                continue
            incl = _included(_text(row.get("unit")))
            if incl is not None:
                includes[name] = incl
            additions.append((int(float(str(start))), str(row["country_iso3"]), name, value))
        for k, (y, c, n, v) in enumerate(additions):
            if n in includes:
                inside = sum(v2 for (_y, _c, n2, v2) in additions if n2 != n and n2.startswith(includes[n]))
                additions[k] = (y, c, n, v - inside)
                notes.append(f"{stage}: {n} adds {v - inside:,.0f} t/yr: its {v:,.0f} t/yr include {includes[n]} "
                             f"({inside:,.0f} t/yr)")  # fmt: skip
        for y, _c, n, _v in additions:
            if y > max(year_list):
                notes.append(f"{stage}: {n} starts in {y}, after the last year shown")
        for year in year_list:
            caps = by_country.copy()
            added = [(c, n, v) for (y, c, n, v) in additions if y <= year]
            for c, _n, v in added:
                caps[c] = caps.get(c, 0.0) + v
            world = float(caps.sum())
            named = caps.drop(labels=["OTH"], errors="ignore")
            top1 = str(named.idxmax()) if len(named) else ""
            shares: dict[str, Any] = {
                "world_capacity_t_per_yr": world,
                "bloc_capacity_t_per_yr": float(caps[caps.index.isin(members)].sum()),
                "top1_country": top1,
                "top1_share": float(named.max()) / world if world > 0 and len(named) else np.nan,
                "china_share": float(caps.get("CHN", 0.0)) / world if world > 0 else np.nan,
            }
            shares["bloc_share"] = shares["bloc_capacity_t_per_yr"] / world if world > 0 else np.nan
            common = {"material": mid, "stage": stage, "year": year, "basis": basis, "bloc": bloc.lower(), **shares,
                      "added_capacity_t_per_yr": float(sum(v for _c, _n, v in added)),
                      "added_facilities": "; ".join(n for _c, n, _v in added)}  # fmt: skip
            applicable = _applicable_goals(goals, mid, stage)
            if applicable.empty:
                rows.append({**common, "goal_id": "", "goal_measure": "", "goal_comparison": "", "goal_value": np.nan,
                             "goal_year": pd.NA, "goal_met": pd.NA, "goal_gap": np.nan})  # fmt: skip
            for g in applicable.to_dict("records"):
                x = shares[str(g["measure"])]
                v = float(g["value"])
                rows.append({**common, "goal_id": g["goal_id"], "goal_measure": g["measure"],
                             "goal_comparison": g["comparison"], "goal_value": v, "goal_year": int(g["year"]),
                             "goal_met": bool(_OPS[str(g["comparison"])](x, v)), "goal_gap": x - v})  # fmt: skip
    for g in goals.to_dict("records") if len(goals) else []:
        if _text(g.get("notes")):
            notes.append(f"goal {g['goal_id']}: {g['notes']}")
    if rows:
        notes.append(
            "other countries are held at base-year capacity (the facility list has no complete pipeline "
            "outside the allies): the allied share reads as an upper bound on the trend"
        )
    cols = ["material", "stage", "year", "basis", "world_capacity_t_per_yr", "bloc", "bloc_capacity_t_per_yr",
            "bloc_share", "top1_country", "top1_share", "china_share", "added_capacity_t_per_yr", "added_facilities",
            "goal_id", "goal_measure", "goal_comparison", "goal_value", "goal_year", "goal_met",
            "goal_gap"]  # fmt: skip
    out = pd.DataFrame(rows, columns=cols)
    out.attrs["notes"] = list(dict.fromkeys(notes))
    return out


def indicators_figure(df: pd.DataFrame) -> go.Figure:
    """The indicators of :func:`framework_indicators` as lines by year: the allied share (solid) and
    the largest supplier's share (dashed) of world capacity at each stage, and each goal as a dotted
    horizontal line.

    >>> df = pd.DataFrame({"stage": ["magnet", "magnet"], "year": [2024, 2025], "bloc": "framework",
    ...                    "bloc_share": [0.04, 0.05], "top1_share": [0.94, 0.93], "top1_country": "CHN",
    ...                    "goal_id": "G", "goal_value": 0.65, "goal_measure": "top1_share"})
    >>> [t.name for t in indicators_figure(df).data]
    ['magnet: framework share', 'magnet: largest supplier (CHN)', 'goal G']
    """
    fig = go.Figure()
    palette = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd")
    stages = list(dict.fromkeys(df["stage"])) if len(df) else []
    for i, stage in enumerate(stages):
        sub = df[df["stage"] == stage].drop_duplicates("year").sort_values("year")
        colour = palette[i % len(palette)]
        bloc = str(sub["bloc"].iloc[0])
        fig.add_trace(go.Scatter(x=sub["year"], y=sub["bloc_share"], mode="lines+markers",
                                 name=f"{stage}: {bloc} share", line={"color": colour}))  # fmt: skip
        top = ", ".join(dict.fromkeys(str(c) for c in sub["top1_country"]))
        fig.add_trace(go.Scatter(x=sub["year"], y=sub["top1_share"], mode="lines+markers",
                                 name=f"{stage}: largest supplier ({top})",
                                 line={"color": colour, "dash": "dash"}))  # fmt: skip
    if len(df) and "goal_id" in df.columns:
        goals = df[df["goal_id"].astype(str) != ""].drop_duplicates("goal_id")
        years = sorted(df["year"])
        for g in goals.to_dict("records"):
            fig.add_trace(go.Scatter(x=[years[0], years[-1]], y=[g["goal_value"], g["goal_value"]], mode="lines",
                                     name=f"goal {g['goal_id']}", line={"color": "#7f7f7f", "dash": "dot"},
                                     hovertext=f"{g['goal_measure']} goal {g['goal_value']:.0%}"))  # fmt: skip
    fig.update_layout(
        template="plotly_white",
        title="Share of world capacity: the allies and the largest supplier, against the stated goals",
        xaxis_title="year",
        yaxis={"title": "share of world capacity", "tickformat": ".0%", "range": [0, 1]},
        legend={"orientation": "h", "y": -0.2},
        height=460,
        margin={"l": 60, "r": 30, "t": 70, "b": 50},
    )
    return fig
