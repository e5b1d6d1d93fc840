"""The export-control timeline as of a date, computed from the data's dates and relations.

The logic lives in :mod:`critmin.controls_timeline` (the data layer, so that the criticality
methods' trade-restriction factors use the same states); this module is the monitor's name for it
(``critmin monitor controls``, :func:`critmin.jobs.controls_job`). States, date rules and the
treatment of a lapsed suspension are documented there and in ``docs/monitor.md``.

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

from critmin.controls_timeline import (
    ANNOUNCED,
    ENDED,
    IN_FORCE,
    INFORMAL,
    LAPSED,
    NO_LATER_EVENT,
    NOT_ANNOUNCED,
    PARTLY_SUSPENDED,
    STATES,
    SUSPENDED,
    TIMELINE_COLUMNS,
    Event,
    MineralTerm,
    Status,
    as_of_day,
    control_timeline,
    covers_mineral,
    event_status,
    mineral_terms,
    parse_date,
    parse_suspends,
    resolve_mineral,
    suspensions_of,
)

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
    "as_of_day",
    "control_timeline",
    "covers_mineral",
    "event_status",
    "mineral_terms",
    "parse_date",
    "parse_suspends",
    "resolve_mineral",
    "suspensions_of",
]
