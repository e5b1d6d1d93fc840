"""Scenarios as a client gives them: a built-in's name or TOML text, read as data only.

A client never names a file: a name must be one of the built-ins (read from the package, never
from the server's working folder), and text is parsed with
:func:`critmin.scenario.parse_scenario`. A scenario's problems come back with the line they are
on, for the editor to mark.

>>> problems_of("name = \\n")[0]["line"]
1
>>> problems_of('name = "x"\\nstart = "2026-01"\\nmonths = 0\\n')[0]["line"]
3
"""

from __future__ import annotations

import re
from typing import Any

from critmin.errors import UnknownNameError, UserError
from critmin.scenario import Scenario, builtin_names, builtin_text, parse_scenario

#: the name errors in editor text are reported under
EDITOR = "editor"
_AT_LINE = re.compile(rf"^{EDITOR}:(\d+): ")
_TOML_AT = re.compile(r"\(at line (\d+), column (\d+)\)")


def builtin(name: str) -> tuple[Scenario, str]:
    """A built-in scenario and its TOML text (:class:`UnknownNameError` for any other name)."""
    if name not in builtin_names():
        raise UnknownNameError("built-in scenario", name, builtin_names())
    text = builtin_text(name)
    return parse_scenario(text, f"{name} (built-in)"), text if text.endswith("\n") else text + "\n"


def parse_text(text: str) -> Scenario:
    """A scenario from editor text (errors name it ``editor`` and the line)."""
    return parse_scenario(text, EDITOR)


class ScenarioTextError(UserError):
    """Editor text that is not a valid scenario: the message starts with the line, and
    ``details`` holds the problem (line, column, message) for the editor to mark."""

    def __init__(self, found: dict[str, Any]) -> None:
        where = f"line {found['line']}: " if found["line"] else ""
        super().__init__(f"{where}{found['message']}")
        self.details = [found]


def resolve(name: str | None, toml: str | None) -> Scenario:
    """The scenario a request names: exactly one of a built-in ``name`` or ``toml`` text (text
    that does not load raises :class:`ScenarioTextError`)."""
    if (name is None) == (toml is None):
        raise UserError("give the scenario as one of: name (a built-in scenario) or toml (its text)")
    if name is not None:
        return builtin(name)[0]
    assert toml is not None
    try:
        return parse_text(toml)
    except UserError as exc:
        raise ScenarioTextError(problem(exc, toml)) from None


def problem(exc: UserError, text: str = "") -> dict[str, Any]:
    """An error in editor ``text`` as ``{"line", "column", "message"}`` (line and column where
    known; an error at the end of the document is on its last line).

    >>> problem(UserError("editor:4: months: must be positive"))
    {'line': 4, 'column': None, 'message': 'months: must be positive'}
    """
    message = " ".join(str(exc).split())
    m = _AT_LINE.match(message)
    if m:
        return {"line": int(m.group(1)), "column": None, "message": message[m.end() :]}
    message = message.removeprefix(f"{EDITOR}: ")
    t = _TOML_AT.search(message)
    if t:
        return {"line": int(t.group(1)), "column": int(t.group(2)), "message": message}
    if "(at end of document)" in message and text:
        return {"line": max(1, len(text.splitlines())), "column": None, "message": message}
    return {"line": None, "column": None, "message": message}


def problems_of(text: str) -> list[dict[str, Any]]:
    """The problems of editor text (empty when it is a valid scenario)."""
    try:
        parse_text(text)
    except UserError as exc:
        return [problem(exc, text)]
    return []


def describe(s: Scenario) -> dict[str, Any]:
    """What the editor shows of a valid scenario."""
    return {
        "name": s.name,
        "start": s.start,
        "months": s.months,
        "mode": s.mode,
        "disruptions": len(s.disruption),
        "outages": len(s.outage),
        "stockpiles": len(s.stockpile),
        "projects": len(s.project),
        "uncertain": len(s.uncertain),
        "seed": s.seed,
        "sha256": s.digest(),
    }
