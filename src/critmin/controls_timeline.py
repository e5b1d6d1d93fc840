"""The export-control timeline as of a date, computed from the data's dates and relations.

Pure logic on the store's ``export_controls`` frame, in the data layer so that both the
criticality methods (trade-restriction factors in force on a day,
:func:`critmin.criticality.supply.trade_factors`) and the framework monitor
(:mod:`critmin.monitor.controls`, ``critmin monitor controls``) use the same states.

Every event of the store's ``export_controls`` table gets a *state* as of a day: computed from its
announcement, effective and end dates and from the events that suspend it (the ``suspends`` column
of the suspending event: event ids, each with an optional ``(part)`` for a partial suspension).
The stored ``status`` text is a snapshot of November 2025 and is not read.

States, in the order an event passes through them:

* ``not yet announced``: the day is before the announcement;
* ``announced``: announced, not yet effective;
* ``in force``: effective, not ended, not suspended;
* ``partly suspended``: in force, with the part a suspension names suspended;
* ``suspended``: a suspension in force covers it (until its end date, by its event id), also when
  the suspension came before the control took effect;
* ``suspension lapsed``: the suspension's end date has passed and the data hold no later event on
  it: whether it was extended, the control is back in force or it ended is not known, and the
  status says so rather than guessing;
* ``ended``: its own end date has passed;
* ``historical (informal)``: a measure without a published instrument (no legal in-force state).

Dates are ``YYYY-MM-DD`` or ``YYYY-MM``; a month stands for its first day as a start and for its
last day as an end (and as an ``as of`` date). End dates are inclusive: a suspension "until
2026-11-10" is in force on that day and has lapsed the day after.

Example
-------
>>> from critmin.dataset import shipped_table
>>> t = control_timeline(shipped_table("export_controls"), as_of="2026-01-15").set_index("event_id")
>>> t.loc["CN-2025-061", ["state", "suspended_by", "suspended_until"]].tolist()
['suspended', 'CN-2025-070', '2026-11-10']
>>> control_timeline(shipped_table("export_controls"), as_of="2027-01").set_index("event_id").loc[
...     "CN-2025-061", "state"]
'suspension lapsed'
"""

from __future__ import annotations

import re
from calendar import monthrange
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd

from critmin import names
from critmin.errors import UnknownNameError, UserError

NOT_ANNOUNCED = "not yet announced"
ANNOUNCED = "announced"
IN_FORCE = "in force"
PARTLY_SUSPENDED = "partly suspended"
SUSPENDED = "suspended"
LAPSED = "suspension lapsed"
ENDED = "ended"
INFORMAL = "historical (informal)"
#: what the status says when a suspension has lapsed and nothing in the data tells what followed
NO_LATER_EVENT = (
    "the data hold no later event on it, so whether it was extended, is back in force or ended is not known"
)
#: every state an event can be in, in the order it passes through them
STATES: tuple[str, ...] = (NOT_ANNOUNCED, ANNOUNCED, IN_FORCE, PARTLY_SUSPENDED, SUSPENDED, LAPSED, ENDED, INFORMAL)

#: the columns of :func:`control_timeline`, in order
TIMELINE_COLUMNS: tuple[str, ...] = (
    "event_id", "announced", "effective", "end", "country", "instrument", "measure", "minerals",
    "supply_chain_stage", "target", "items", "state", "status", "suspended_by", "suspended_until",
    "suspends", "source", "confidence",
)  # fmt: skip

_DATE = re.compile(r"^(\d{4})-(\d{2})(?:-(\d{2}))?$")
_SUSPENDS = re.compile(r"^([^\s()]+)\s*(?:\((.*)\))?$")
_TERM = re.compile(r"^([^()]*?)\s*(?:\((.*)\))?$")


def parse_date(text: str, what: str = "--as-of", end: bool = False) -> date:
    """The day ``text`` (``YYYY-MM-DD`` or ``YYYY-MM``) stands for: a month is its first day, or
    its last with ``end``. Anything else is a one-line :class:`UserError` naming ``what``.

    Examples
    --------
    >>> parse_date("2026-11"), parse_date("2026-11", end=True), parse_date("2026-02-03")
    (datetime.date(2026, 11, 1), datetime.date(2026, 11, 30), datetime.date(2026, 2, 3))
    >>> parse_date("11/2026")
    Traceback (most recent call last):
    ...
    critmin.errors.UserError: --as-of: '11/2026' is not a date; expected YYYY-MM-DD or YYYY-MM
    """
    m = _DATE.match(str(text).strip())
    try:
        if m is None:
            raise ValueError
        year, month = int(m.group(1)), int(m.group(2))
        if m.group(3) is not None:
            return date(year, month, int(m.group(3)))
        return date(year, month, monthrange(year, month)[1] if end else 1)
    except ValueError:
        raise UserError(f"{what}: {text!r} is not a date; expected YYYY-MM-DD or YYYY-MM") from None


def as_of_day(as_of: str | date | None, what: str = "--as-of") -> date:
    """The day a timeline is computed for: ``as_of`` (a date, ``YYYY-MM-DD``, or ``YYYY-MM`` for
    the month's last day), today when ``None``.

    >>> as_of_day("2025-11")
    datetime.date(2025, 11, 30)
    """
    if as_of is None:
        return date.today()
    if isinstance(as_of, date):
        return as_of
    return parse_date(as_of, what, end=True)


_YEAR = re.compile(r"^\d{4}$")


def as_of_date(as_of: str | int | date, what: str = "--as-of") -> date:
    """The day an assessment "as of" ``as_of`` uses: a year (``2024`` or ``"2024"``) is its 31
    December, ``YYYY-MM`` the month's last day, ``YYYY-MM-DD`` (or a ``date``) that day. Anything
    else is a one-line :class:`UserError` naming ``what``.

    Examples
    --------
    >>> as_of_date(2024), as_of_date("2026-06"), as_of_date("2025-12-01")
    (datetime.date(2024, 12, 31), datetime.date(2026, 6, 30), datetime.date(2025, 12, 1))
    >>> as_of_date("24")
    Traceback (most recent call last):
    ...
    critmin.errors.UserError: --as-of: '24' is not a date; expected YYYY, YYYY-MM-DD or YYYY-MM
    """
    if isinstance(as_of, date):
        return as_of
    if isinstance(as_of, int) and not isinstance(as_of, bool):
        as_of = str(as_of)
    text = str(as_of).strip()
    try:
        if _YEAR.match(text):
            return date(int(text), 12, 31)
        return parse_date(text, what, end=True)
    except (UserError, ValueError):
        raise UserError(f"{what}: {text!r} is not a date; expected YYYY, YYYY-MM-DD or YYYY-MM") from None


# -- minerals --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MineralTerm:
    """One ``;``-separated term of an event's ``minerals``: ``base`` is a critmin material id
    (``rare_earths``, ``Ga``) or the data's own word in lower case (``magnets``, ``superhard
    materials``); ``elements`` the critmin ids listed in brackets (``rare_earths (Sm,Gd)``) and
    ``unknown`` the listed names critmin does not know. ``qualified`` says a list was given."""

    base: str
    known: bool
    elements: tuple[str, ...] = ()
    unknown: tuple[str, ...] = ()
    qualified: bool = False


def mineral_terms(text: str) -> list[MineralTerm]:
    """The terms of an event's ``minerals`` cell.

    >>> [(t.base, t.elements, t.unknown) for t in mineral_terms("rare_earths (Sm,Sc);magnets;gallium")]
    [('rare_earths', ('Sm',), ('Sc',)), ('magnets', (), ()), ('Ga', (), ())]
    """
    out = []
    for raw in str(text).split(";"):
        m = _TERM.match(raw.strip())
        if m is None or not m.group(1):
            continue
        base, known = _material_or_word(m.group(1))
        listed = [x.strip() for x in (m.group(2) or "").split(",") if x.strip()]
        elements = [e for e in (_material_or_word(x) for x in listed) if e[1]]
        out.append(
            MineralTerm(
                base,
                known,
                tuple(e for e, _ in elements),
                tuple(x for x in listed if not _material_or_word(x)[1]),
                qualified=m.group(2) is not None,
            )
        )
    return out


def _material_or_word(name: str) -> tuple[str, bool]:
    try:
        return names.material(name), True
    except UnknownNameError:
        return name.strip().lower(), False


def covers_mineral(text: str, mineral: str) -> bool:
    """Whether an event's ``minerals`` cover ``mineral`` (a critmin id or a word of the data):
    ``rare_earths`` covers every rare-earth element unless it lists some, and is covered by any.

    >>> covers_mineral("rare_earths", "Dy"), covers_mineral("rare_earths (Ho,Er)", "Dy")
    (True, False)
    >>> covers_mineral("rare_earths (Sm,Dy)", "rare_earths"), covers_mineral("gallium;germanium", "Ge")
    (True, True)
    """
    for t in mineral_terms(text):
        if mineral in (t.base, *t.elements):
            return True
        if t.base == "rare_earths" and not t.qualified and mineral in names.REE_ELEMENTS:
            return True
    return False


def resolve_mineral(mineral: str, events: pd.DataFrame) -> str:
    """``mineral`` as the timeline filters on it: a critmin material (id, name or alias) or a word
    of the data's ``minerals`` (``magnets``); else :class:`UnknownNameError` with "did you mean".

    >>> from critmin.dataset import shipped_table
    >>> resolve_mineral("gallium", shipped_table("export_controls"))
    'Ga'
    >>> resolve_mineral("magnet", shipped_table("export_controls"))
    Traceback (most recent call last):
    ...
    critmin.errors.UnknownNameError: unknown mineral 'magnet' (did you mean 'magnets'?)
    """
    base, known = _material_or_word(mineral)
    if known:
        return base
    words = {t.base for text in events.get("minerals", pd.Series(dtype=str)) for t in mineral_terms(text)}
    if base in words:
        return base
    raise UnknownNameError("mineral", mineral, [*names.MATERIAL_IDS, *words])


# -- events ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Event:
    """The dates and relations of one export-control event, read from its row."""

    event_id: str
    announced: date | None
    effective: date | None
    end: date | None
    informal: bool
    suspends: tuple[tuple[str, str], ...]
    #: the announcement, effective and end dates as the data write them (``YYYY-MM`` stays a month)
    written: tuple[str, str, str] = ("", "", "")

    @property
    def start(self) -> date | None:
        """The day it takes effect (its announcement when the data give no effective date)."""
        return self.effective or self.announced

    def label(self, which: str) -> str:
        """A date as the data write it: ``announced``, ``effective``, ``end`` or ``start``.

        >>> Event("E", date(2010, 9, 1), None, None, True, (), ("2010-09", "", "")).label("start")
        '2010-09'
        """
        if which == "start":
            which = "effective" if self.effective is not None else "announced"
        i = ("announced", "effective", "end").index(which)
        d = (self.announced, self.effective, self.end)[i]
        return self.written[i] or _day(d)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Event:
        """Read an event from a row of ``export_controls`` (a missing ``suspends`` column is empty)."""
        eid = str(row["event_id"])
        return cls(
            eid,
            _data_date(row, "date_announced"),
            _data_date(row, "date_effective"),
            _data_date(row, "date_end", end=True),
            "informal" in f"{_text(row, 'instrument')} {_text(row, 'measure')}".lower(),
            parse_suspends(_text(row, "suspends"), eid),
            (_text(row, "date_announced"), _text(row, "date_effective"), _text(row, "date_end")),
        )


def _text(row: Mapping[str, Any], column: str) -> str:
    value = row.get(column)
    return "" if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)) else str(value).strip()


def _data_date(row: Mapping[str, Any], column: str, end: bool = False) -> date | None:
    text = _text(row, column)
    return parse_date(text, f"export_controls {row['event_id']}: {column}", end=end) if text else None


def parse_suspends(text: str, event_id: str = "") -> tuple[tuple[str, str], ...]:
    """The ``suspends`` cell as ``(event id, part)`` pairs (part ``""``: the whole event).

    >>> parse_suspends("CN-2025-055;CN-2024-046 (clause 2)")
    (('CN-2025-055', ''), ('CN-2024-046', 'clause 2'))
    """
    out = []
    for raw in str(text).split(";"):
        if not raw.strip():
            continue
        m = _SUSPENDS.match(raw.strip())
        if m is None:
            raise UserError(
                f"export_controls {event_id}: suspends {raw.strip()!r} is not an event id with an optional "
                "'(part)'; separate several with ';'"
            )
        out.append((m.group(1), (m.group(2) or "").strip()))
    return tuple(out)


def suspensions_of(events: Iterable[Event]) -> dict[str, list[tuple[Event, str]]]:
    """For each suspended event id, the events that suspend it and the part they suspend."""
    out: dict[str, list[tuple[Event, str]]] = {}
    for ev in events:
        for target, part in ev.suspends:
            out.setdefault(target, []).append((ev, part))
    return out


# -- status ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Status:
    """An event's state as of a day, the sentence that explains it and the suspension behind it."""

    state: str
    text: str
    suspended_by: str = ""
    suspended_until: str = ""


def _day(d: date | None) -> str:
    return "" if d is None else d.isoformat()


def event_status(ev: Event, suspensions: Iterable[tuple[Event, str]], day: date) -> Status:
    """The state of ``ev`` on ``day``, given the events that suspend it.

    Examples
    --------
    >>> from datetime import date
    >>> ctrl = Event("C", date(2025, 10, 9), date(2025, 11, 8), None, False, ())
    >>> susp = Event("S", date(2025, 11, 7), date(2025, 11, 7), date(2026, 11, 10), False, (("C", ""),))
    >>> event_status(ctrl, [(susp, "")], date(2025, 10, 20)).state
    'announced'
    >>> event_status(ctrl, [(susp, "")], date(2026, 1, 1)).text
    'suspended until 2026-11-10 by S, before it took effect (effective date 2025-11-08)'
    >>> event_status(ctrl, [(susp, "")], date(2026, 11, 11)).state
    'suspension lapsed'
    """
    if ev.announced is not None and day < ev.announced:
        return Status(NOT_ANNOUNCED, f"not yet announced on {day} (announced {ev.label('announced')})")
    if ev.informal:
        since = f" from {ev.label('start')}" if ev.start else ""
        until = f" until {ev.label('end')}" if ev.end else "; the data record no end date"
        return Status(INFORMAL, f"informal measure (no published instrument){since}{until}")
    if ev.end is not None and day > ev.end:
        return Status(ENDED, f"ended: in force from {ev.label('start')} until {ev.label('end')} (its end date)")
    known = [(s, part) for s, part in suspensions if s.announced is None or s.announced <= day]
    return _suspended(ev, _own_status(ev, day), known, day)


def _own_status(ev: Event, day: date) -> Status:
    if ev.effective is None and ev.announced is not None:
        return Status(ANNOUNCED, f"announced {ev.label('announced')}; the data give no effective date")
    start = ev.start
    if start is not None and day < start:
        return Status(ANNOUNCED, f"announced {ev.label('announced')}; takes effect {ev.label('start')}")
    text = f"in force since {ev.label('start')}" if start else "in force (the data give no dates)"
    if ev.end is not None:
        text += f" until {ev.label('end')}"
    if ev.suspends:
        listed = ", ".join(f"{eid} ({part})" if part else eid for eid, part in ev.suspends)
        text += f"; suspends {listed}"
    return Status(IN_FORCE, text)


def _suspended(ev: Event, own: Status, known: list[tuple[Event, str]], day: date) -> Status:
    def began(s: Event) -> bool:
        return s.start is None or s.start <= day

    active = [(s, p) for s, p in known if began(s) and (s.end is None or day <= s.end)]
    lapsed = [(s, p) for s, p in known if s.end is not None and day > s.end]
    pending = [(s, p) for s, p in known if not began(s)]
    later = "".join(
        f"; {s.event_id} (announced {s.label('announced')}) suspends it from {s.label('start')}" for s, _ in pending
    )
    if active:
        # a whole suspension before a partial one; of several, the one that lasts longest
        s, part = min(active, key=lambda sp: (sp[1] != "", -(sp[0].end or date.max).toordinal()))
        until = f"until {s.label('end')} " if s.end else ""
        if part:
            text = f"{own.text}; {part} suspended {until}by {s.event_id}"
            return Status(PARTLY_SUSPENDED, text + later, s.event_id, _day(s.end))
        text = f"suspended {until}by {s.event_id}" + ("" if s.end else " (the data give no end date)")
        if ev.effective is not None and s.start is not None and s.start <= ev.effective:
            text += f", before it took effect (effective date {ev.label('effective')})"
        return Status(SUSPENDED, text + later, s.event_id, _day(s.end))
    if lapsed:
        s, part = max(lapsed, key=lambda sp: sp[0].end or date.min)
        what = f"the suspension of {part} by {s.event_id}" if part else f"the suspension by {s.event_id}"
        unknown = later or f"; {NO_LATER_EVENT}"
        prefix = f"{own.text}; " if part else ""
        return Status(LAPSED, f"{prefix}{what} lapsed after {s.label('end')}{unknown}", s.event_id, _day(s.end))
    return Status(own.state, own.text + later)


def event_states(events: pd.DataFrame, day: date) -> list[tuple[dict[str, Any], Event, Status]]:
    """Every event of ``events`` (an ``export_controls`` frame) with its parsed dates and its
    state on ``day``, in the frame's order.

    >>> from critmin.dataset import shipped_table
    >>> [(ev.event_id, st.state) for _, ev, st in event_states(shipped_table("export_controls"), date(2022, 12, 31))
    ...  if ev.event_id.startswith("CN-2023-0")]
    [('CN-2023-023', 'not yet announced')]
    """
    rows = events.to_dict("records")
    parsed = [Event.from_row(r) for r in rows]
    by_target = suspensions_of(parsed)
    return [
        (row, ev, event_status(ev, by_target.get(ev.event_id, []), day)) for row, ev in zip(rows, parsed, strict=True)
    ]


def own_state(ev: Event, day: date) -> str:
    """The state ``ev`` would have on ``day`` without its suspensions (``in force`` once effective
    and before its end): what a lapsed suspension leaves.

    >>> own_state(Event("C", date(2025, 10, 9), date(2025, 11, 8), None, False, ()), date(2026, 12, 1))
    'in force'
    """
    if ev.announced is not None and day < ev.announced:
        return NOT_ANNOUNCED
    if ev.informal:
        return INFORMAL
    if ev.end is not None and day > ev.end:
        return ENDED
    return _own_status(ev, day).state


# -- the timeline ------------------------------------------------------------------------------------
def control_timeline(events: pd.DataFrame, as_of: str | date | None = None, mineral: str | None = None) -> pd.DataFrame:
    """The export-control timeline as of a day: one row per event (the data's dates, instrument,
    items, target) with its state and status computed from the dates and the suspensions.

    Parameters
    ----------
    events:
        The ``export_controls`` table (``chain.export_controls``); a ``suspends`` column, where
        present, names the events each one suspends.
    as_of:
        The day (``YYYY-MM-DD``, ``YYYY-MM`` for the month's last day, or a ``date``); today by
        default.
    mineral:
        Keep the events that cover this mineral (a critmin material or a word of the data).

    Returns
    -------
    pandas.DataFrame
        :data:`TIMELINE_COLUMNS`, ordered by announcement date.

    Examples
    --------
    >>> from critmin.dataset import shipped_table
    >>> t = control_timeline(shipped_table("export_controls"), as_of="2026-03", mineral="Ga")
    >>> t[["event_id", "state"]].values.tolist()  # doctest: +NORMALIZE_WHITESPACE
    [['CN-2023-023', 'in force'], ['CN-2024-046', 'partly suspended'], ['US-CN-2025-BUSAN', 'in force'],
     ['CN-2025-046SUSP', 'in force']]
    """
    day = as_of_day(as_of)
    out = [_timeline_row(row, st) for row, _, st in event_states(events, day)]
    df = pd.DataFrame(out, columns=list(TIMELINE_COLUMNS))
    if mineral is not None:
        m = resolve_mineral(mineral, events)
        df = df[[covers_mineral(text, m) for text in df["minerals"]]]
    order = [parse_date(a).toordinal() if a else 0 for a in df["announced"]]
    return df.assign(_o=order).sort_values(["_o", "event_id"]).drop(columns="_o").reset_index(drop=True)


def _timeline_row(row: Mapping[str, Any], st: Status) -> dict[str, str]:
    fields = {
        "announced": "date_announced",
        "effective": "date_effective",
        "end": "date_end",
    }
    out = {c: _text(row, fields.get(c, c)) for c in TIMELINE_COLUMNS}
    out.update(state=st.state, status=st.text, suspended_by=st.suspended_by, suspended_until=st.suspended_until)
    return out


__all__ = [
    "ANNOUNCED",
    "ENDED",
    "INFORMAL",
    "IN_FORCE",
    "LAPSED",
    "NOT_ANNOUNCED",
    "NO_LATER_EVENT",
    "PARTLY_SUSPENDED",
    "STATES",
    "SUSPENDED",
    "TIMELINE_COLUMNS",
    "Event",
    "MineralTerm",
    "Status",
    "as_of_date",
    "as_of_day",
    "control_timeline",
    "covers_mineral",
    "event_states",
    "event_status",
    "mineral_terms",
    "own_state",
    "parse_date",
    "parse_suspends",
    "resolve_mineral",
    "suspensions_of",
]
