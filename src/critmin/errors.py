"""The project's own error types.

Every problem a user can cause (unknown name, bad file, bad value) raises
:class:`UserError` or a subclass. The CLI turns it into one line on stderr and
exit code 2; ``--debug`` shows the traceback.

Example
-------
>>> from critmin.errors import UnknownNameError
>>> str(UnknownNameError("material", "Dx", ["Dy", "Tb"]))
"unknown material 'Dx' (did you mean 'Dy'?)"
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


class UserError(Exception):
    """An error caused by user input; shown as one line, exit code 2."""

    exit_code = 2


def suggest(name: str, valid: Iterable[str], n: int = 1) -> list[str]:
    """Return the valid names closest to ``name`` (case-insensitive).

    >>> suggest("neodymium", ["Nd", "Pr", "neodymium_oxide"])
    ['neodymium_oxide']
    """
    valid = list(valid)
    lowered = {v.lower(): v for v in valid}
    key = name.lower()

    def score(cand: str) -> float:
        ratio = difflib.SequenceMatcher(None, key, cand).ratio()
        if cand[:1] == key[:1]:
            ratio += 0.1  # the first letter is rarely the typo
        if cand.startswith(key) or key.startswith(cand):
            ratio += 0.2
        return ratio

    ranked = sorted(lowered, key=lambda c: (-score(c), c))
    hits = [c for c in ranked if score(c) >= 0.5][:n]
    return [lowered[h] for h in hits]


class UnknownNameError(UserError):
    """A name (material, stage, country, bloc, table, ...) that is not known."""

    def __init__(self, kind: str, name: str, valid: Iterable[str]) -> None:
        self.kind = kind
        self.name = name
        self.valid = sorted(set(valid))
        hint = suggest(name, self.valid)
        msg = f"unknown {kind} {name!r}"
        if hint:
            msg += f" (did you mean {hint[0]!r}?)"
        elif self.valid and len(self.valid) <= 12:
            msg += f" (valid: {', '.join(self.valid)})"
        super().__init__(msg)


@dataclass(frozen=True)
class RowProblem:
    """One problem found in one row of an input file."""

    row: int  # 1-based line number in the file (header is line 1)
    column: str
    value: str
    reason: str
    hint: str = ""


#: the most problems a validation error lists (it counts them all)
MAX_PROBLEMS = 50


class DataValidationError(UserError):
    """A file failed validation: the first :data:`MAX_PROBLEMS` problems found (``problems``) and
    how many there were in all (``total``; a ``problems`` list with a ``total`` attribute gives its
    own).

    >>> e = DataValidationError("x.csv", [RowProblem(2, "year", "x", "not an integer")] * 60)
    >>> len(e.problems), e.total
    (50, 60)
    >>> str(e)
    "x.csv: 60 problem(s), the first 50 listed; first at line 2, field 'year': not an integer"
    """

    def __init__(self, path: str, problems: Sequence[RowProblem], total: int | None = None) -> None:
        self.path = path
        self.problems = list(problems)[:MAX_PROBLEMS]
        own = getattr(problems, "total", None)
        self.total = max(len(problems), total or 0, own or 0)
        first = self.problems[0] if self.problems else None
        msg = f"{path}: {self.total:,} problem(s)"
        if self.total > len(self.problems) and first is not None:
            msg += f", the first {len(self.problems)} listed"
        if first is not None:
            msg += f"; first at line {first.row}, field {first.column!r}: {first.reason}"
            if first.hint:
                msg += f" ({first.hint})"
        super().__init__(msg)


class StoreBusyError(UserError):
    """The database stayed locked by another process for longer than the timeout."""
