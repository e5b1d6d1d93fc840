"""Months as ``YYYY-MM`` strings and as integer indices (so differences are month counts).

>>> month_index("2026-03") - month_index("2025-12")
3
>>> month_label(month_index("2026-11"))
'2026-11'
"""

from __future__ import annotations

import re
from typing import Any

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def month_index(month: str) -> int:
    """Months since year 0 for a ``YYYY-MM`` string (so differences are month counts).

    >>> month_index("2026-03") - month_index("2025-12")
    3
    """
    m = _MONTH.match(month)
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise ValueError(f"{month!r} is not a month of the form YYYY-MM")
    return int(m.group(1)) * 12 + int(m.group(2)) - 1


def month_label(index: int) -> str:
    """Inverse of :func:`month_index`.

    >>> month_label(month_index("2026-11"))
    '2026-11'
    """
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


#: the years a scenario may start in (the data's years: see the schema's year columns)
FIRST_YEAR, LAST_YEAR = 1900, 2100


def check_month(v: Any) -> str:
    """``v`` if it is a ``YYYY-MM`` month, else ``ValueError`` (a pydantic field validator).

    >>> check_month("2026-01")
    '2026-01'
    >>> check_month(202601)
    Traceback (most recent call last):
    ...
    ValueError: a month is a string 'YYYY-MM'
    >>> check_month("9999-06")
    Traceback (most recent call last):
    ...
    ValueError: '9999-06' is outside the years critmin models (1900 to 2100)
    """
    if not isinstance(v, str):
        raise ValueError("a month is a string 'YYYY-MM'")
    year = month_index(v) // 12
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise ValueError(f"{v!r} is outside the years critmin models ({FIRST_YEAR} to {LAST_YEAR})")
    return v
