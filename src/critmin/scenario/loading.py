"""Reading scenarios: TOML text, files and the built-in library, validated against the blocs in
force, with one-line errors that name the file, the line and the field path."""

from __future__ import annotations

import re
import types
import typing
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from critmin import names
from critmin.errors import UnknownNameError, UserError, suggest
from critmin.scenario.model import Scenario
from critmin.scenario.specs import (
    DemandResponse,
    Disruption,
    FieldError,
    Inventory,
    Outage,
    Project,
    RampUp,
    Stockpile,
)
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
    """``disruption[0].severity``; a key with control characters or spaces is quoted, so the
    message stays one line.

    >>> print(_format_loc(("demand", "a\\nb")))
    demand.'a\\nb'
    """
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            text = str(part)
            out += ("." if out else "") + (text if text.isprintable() and " " not in text else repr(text))
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


def _is_union(model: type[BaseModel], name: str) -> bool:
    field = model.model_fields.get(name)
    if field is None:
        return False
    ann = field.annotation
    if typing.get_origin(ann) not in (typing.Union, types.UnionType):
        return False
    return len([a for a in typing.get_args(ann) if a is not type(None)]) > 1


def _clean_loc(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """Drop pydantic's union-member tags (``capacity_t_per_yr.float``) from an error location."""
    model = _loc_model(loc)
    out: list[int | str] = []
    skip_next = False
    for part in loc:
        if skip_next:
            skip_next = False
            continue
        out.append(part)
        if isinstance(part, str) and _is_union(model, part):
            skip_next = True
    return tuple(out)


#: which error to report when there are several: an unknown key (usually a typo that also explains
#: a "field required"), then a non-finite number (which also fails the other members of a union)
_ERROR_RANK = {"extra_forbidden": 0, "finite_number": 1}


def parse_scenario(text: str, source: str = "<scenario>", *, blocs: names.Blocs | None = None) -> Scenario:
    """Parse and validate a scenario document; raise :class:`UserError` with file, line and path.

    ``blocs`` are the blocs in force (default: the built-ins); disruption targets and the coalition
    may name any of them.

    >>> quad = names.Blocs({"quad": ("AUS", "IND", "JPN", "USA")})
    >>> text = "\\n".join(['name = "q"', 'start = "2026-01"', "months = 6", 'coalition = "quad"'])
    >>> parse_scenario(text, "q.toml", blocs=quad).coalition
    'quad'
    >>> parse_scenario(text, "q.toml")
    Traceback (most recent call last):
    ...
    critmin.errors.UserError: q.toml:4: coalition: unknown bloc 'quad' (valid: allies, eu, framework)
    """
    return scenario_from_dict(names.parse_toml(text, source), source, text, blocs=blocs)


def scenario_from_dict(
    doc: Any, source: str = "<scenario>", text: str = "", *, blocs: names.Blocs | None = None
) -> Scenario:
    """Validate a parsed document against the blocs in force (``text``, when given, is used to
    find line numbers)."""
    if not isinstance(doc, dict):
        raise UserError(f"{source}: a scenario is a table of keys, not {type(doc).__name__}")
    try:
        return Scenario.model_validate(doc, context={"blocs": blocs or names.default_blocs()})
    except ValidationError as exc:
        errors = sorted(exc.errors(), key=lambda e: _ERROR_RANK.get(e["type"], 2))
        err = errors[0]
        loc = _clean_loc(tuple(err["loc"]))
        msg = str(err["msg"]).removeprefix("Value error, ")
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, FieldError):  # a whole-model check that names the field it is about
            loc, msg = (*loc, *cause.loc), str(cause)
        line = _line_of(text, loc) if text else None
        where = f"{source}:{line}" if line else source
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


def load_scenario(name_or_path: str | Path, *, blocs: names.Blocs | None = None) -> Scenario:
    """Load a scenario from a TOML file or by built-in name, validated against ``blocs`` (the blocs
    in force, e.g. ``chain.blocs`` or ``names.load_blocs(blocs_file)``; default the built-ins).

    A path that ends in ``.toml`` or exists is a file: a missing file, a directory, a binary or
    non-UTF-8 file, one over 4 MiB or nested too deeply is a one-line :class:`UserError`.

    >>> load_scenario("lynas-malaysia-outage-6m").outage[0].facility
    'lynas-malaysia-lamp-light-re-separation'
    """
    return read_scenario(name_or_path, blocs=blocs)[0]


def read_scenario(name_or_path: str | Path, *, blocs: names.Blocs | None = None) -> tuple[Scenario, str]:
    """The scenario :func:`load_scenario` loads, and the TOML text it was read from.

    >>> s, text = read_scenario("ga-ge-ban-us")
    >>> s.name, text.startswith('name = "ga-ge-ban-us"')
    ('ga-ge-ban-us', True)
    """
    p = Path(name_or_path)
    try:  # a file (or anything else on disk but a directory named like a built-in) wins over a built-in
        on_disk = p.exists() and not (p.is_dir() and str(name_or_path) in builtin_names())
    except OSError:  # a name the system cannot even look up (too long): not a file
        on_disk = False
    if p.suffix == ".toml" or on_disk:
        text = names.read_text_file(p, "scenario file")
        return parse_scenario(text, str(p), blocs=blocs), text
    text = builtin_text(str(name_or_path))
    return parse_scenario(text, f"{name_or_path} (built-in)", blocs=blocs), text
