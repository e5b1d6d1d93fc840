"""The closed sets of choices a user passes by name (engines, modes, output formats), checked in
one place with "did you mean" so that the CLI, the library, a report or a web app say the same.

>>> choice("engine", "fast", ENGINES)
'fast'
>>> choice("mode", "cordinated", MODES)
Traceback (most recent call last):
...
critmin.errors.UnknownNameError: unknown mode 'cordinated' (did you mean 'coordinated'?)
"""

from __future__ import annotations

from collections.abc import Sequence

from critmin.errors import UnknownNameError

#: engines: the month loop compiled with numba (closed forms per draw), the numpy loop with
#: closed-form batched arrays (the readable reference), or HiGHS linear programmes (the solver
#: reference); all three compute the same model
ENGINES: tuple[str, ...] = ("compiled", "fast", "lp")
#: allocation modes: buyers compete, or the coalition pools and serves by priority
MODES: tuple[str, ...] = ("market", "coordinated")
#: what a run may ask for: one mode, or both and the value of cooperation between them
RUN_MODES: tuple[str, ...] = (*MODES, "both")
#: output formats of tables
TABLE_FORMATS: tuple[str, ...] = ("table", "json", "csv")
#: output formats of documents with several parts (a run, a Monte Carlo run)
DOCUMENT_FORMATS: tuple[str, ...] = ("table", "json")


def choice(kind: str, value: str, valid: Sequence[str]) -> str:
    """``value`` if it is one of ``valid``, else :class:`UnknownNameError` naming the nearest."""
    if value in valid:
        return value
    raise UnknownNameError(kind, str(value), valid)
