"""Reading scenarios: TOML text, files and the built-in library, with errors that name the file,
the line and the field path."""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from critmin.errors import UnknownNameError, UserError, suggest
from critmin.scenario.model import Scenario
from critmin.scenario.specs import DemandResponse, Disruption, Inventory, Outage, Project, RampUp, Stockpile
from critmin.scenario.uncertain import Uncertain


def _line_of(text: str, loc: tuple[int | str, ...]) -> int | None:
    """Best-effort line number for a pydantic location in a TOML document."""
    lines = text.splitlines()
    begin = 0
    key: str | None = None
    i = 0
    while i < len(loc):
        part = loc[i]
        if isinstance(part, str) and i + 1 < len(loc) and isinstance(loc[i + 1], int):
            idx = int(loc[i + 1])
            header = re.compile(rf"^\s*\[\[\s*{re.escape(part)}\s*\]\]")
            hits = [n for n in range(begin, len(lines)) if header.match(lines[n])]
            if idx < len(hits):
                begin = hits[idx]
                key = part
                i += 2
                continue
            key = part
            break
        if isinstance(part, str):
            key = part
        i += 1
    if key is None:
        return None
    pat = re.compile(rf"^\s*{re.escape(key)}\s*=")
    for n in range(begin, len(lines)):
        if pat.match(lines[n]) or re.match(rf"^\s*\[\[?\s*{re.escape(key)}\s*\]\]?", lines[n]):
            return n + 1
    return begin + 1 if begin else None


def _format_loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _field_names(model: type[BaseModel]) -> list[str]:
    return list(model.model_fields)


def _loc_model(loc: tuple[int | str, ...]) -> type[BaseModel]:
    model: type[BaseModel] = Scenario
    sub: dict[str, type[BaseModel]] = {
        "disruption": Disruption,
        "outage": Outage,
        "stockpile": Stockpile,
        "inventory": Inventory,
        "ramp_up": RampUp,
        "project": Project,
        "demand": DemandResponse,
        "uncertain": Uncertain,
    }
    for part in loc[:-1]:
        if isinstance(part, str) and part in sub and model is Scenario:
            model = sub[part]
    return model


def parse_scenario(text: str, source: str = "<scenario>") -> Scenario:
    """Parse and validate a scenario document; raise :class:`UserError` with file, line and path."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{source}: not valid TOML: {exc}") from None
    return scenario_from_dict(doc, source, text)


def scenario_from_dict(doc: Any, source: str = "<scenario>", text: str = "") -> Scenario:
    """Validate a parsed document (``text``, when given, is used to find line numbers)."""
    if not isinstance(doc, dict):
        raise UserError(f"{source}: a scenario is a table of keys, not {type(doc).__name__}")
    try:
        return Scenario.model_validate(doc)
    except ValidationError as exc:
        # an unknown key is usually a typo that also explains a "field required": report it first
        errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
        err = errors[0]
        loc = tuple(err["loc"])
        line = _line_of(text, loc) if text else None
        where = f"{source}:{line}" if line else source
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden" and loc and isinstance(loc[-1], str):
            hint = suggest(loc[-1], _field_names(_loc_model(loc)))
            msg = f"unknown key {loc[-1]!r}" + (f" (did you mean {hint[0]!r}?)" if hint else "")
        more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise UserError(f"{where}: {_format_loc(loc)}: {msg}{more}") from None


def builtin_names() -> tuple[str, ...]:
    """Names of the shipped scenarios."""
    root = resources.files("critmin") / "scenarios"
    return tuple(sorted(p.name.removesuffix(".toml") for p in root.iterdir() if p.name.endswith(".toml")))


def builtin_text(name: str) -> str:
    """The TOML text of a shipped scenario."""
    if name not in builtin_names():
        raise UnknownNameError("scenario", name, builtin_names())
    return (resources.files("critmin") / "scenarios" / f"{name}.toml").read_text(encoding="utf-8")


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Load a scenario from a TOML file or by built-in name.

    >>> load_scenario("lynas-malaysia-outage-6m").outage[0].facility
    'lynas-malaysia-lamp-light-re-separation'
    """
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.exists():
        if not p.is_file():
            raise UserError(f"{p}: scenario file not found")
        return parse_scenario(p.read_text(encoding="utf-8"), str(p))
    return parse_scenario(builtin_text(str(name_or_path)), f"{name_or_path} (built-in)")
