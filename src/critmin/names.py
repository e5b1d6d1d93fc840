"""Canonical names: materials, stages, countries and blocs, with aliases and lookup.

Every user-supplied name goes through :func:`material`, :func:`stage`,
:func:`country` or :class:`Blocs`, so that an unknown name always gets a
"did you mean" hint. User blocs come from a TOML file (``--blocs``); :func:`read_text_file` and
:func:`parse_toml` read such a file (and scenario files) with one-line errors naming it.

Example
-------
>>> material("dysprosium")
'Dy'
>>> stage("refining")
'separation'
>>> default_blocs().members("framework")
('AUS', 'JPN', 'MYS', 'USA')
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from critmin.errors import UnknownNameError, UserError


@dataclass(frozen=True)
class Material:
    """A material the model knows: id, human name, group and stages with data."""

    id: str
    name: str
    group: str  # "ree" (rare-earth element or total REO) or "other"
    aliases: tuple[str, ...] = ()


MATERIALS: tuple[Material, ...] = (
    Material("rare_earths", "Rare earths (total REO)", "ree", ("ree", "reo", "treo", "rare earths")),
    Material("Nd", "Neodymium", "ree", ("neodymium",)),
    Material("Pr", "Praseodymium", "ree", ("praseodymium",)),
    Material("Dy", "Dysprosium", "ree", ("dysprosium",)),
    Material("Tb", "Terbium", "ree", ("terbium",)),
    Material("Sm", "Samarium", "ree", ("samarium",)),
    Material("La", "Lanthanum", "ree", ("lanthanum",)),
    Material("Ce", "Cerium", "ree", ("cerium",)),
    Material("Y", "Yttrium", "ree", ("yttrium",)),
    Material("Gd", "Gadolinium", "ree", ("gadolinium",)),
    Material("Lu", "Lutetium", "ree", ("lutetium",)),
    Material("Ga", "Gallium", "other", ("gallium",)),
    Material("Ge", "Germanium", "other", ("germanium",)),
    Material("graphite", "Graphite (natural)", "other", ("graphite_natural", "natural graphite")),
    Material("Sb", "Antimony", "other", ("antimony",)),
    Material("W", "Tungsten", "other", ("tungsten",)),
    Material("Co", "Cobalt", "other", ("cobalt",)),
    Material("Li", "Lithium", "other", ("lithium",)),
    Material("Ni", "Nickel", "other", ("nickel",)),
    Material("Mn", "Manganese", "other", ("manganese",)),
    Material("Mo", "Molybdenum", "other", ("molybdenum",)),
    Material("Bi", "Bismuth", "other", ("bismuth",)),
    Material("In", "Indium", "other", ("indium",)),
    Material("Te", "Tellurium", "other", ("tellurium",)),
    Material("Nb", "Niobium", "other", ("niobium", "columbium")),
)
MATERIAL_IDS: tuple[str, ...] = tuple(m.id for m in MATERIALS)
REE_ELEMENTS: tuple[str, ...] = ("Nd", "Pr", "Dy", "Tb", "Sm", "La", "Ce", "Y", "Gd", "Lu")

STAGES: tuple[str, ...] = ("mine", "separation", "metal", "magnet", "end_use")
#: the stages that produce (everything but end use): production, capacity and trade rows use these
PRODUCING_STAGES: tuple[str, ...] = STAGES[:-1]

#: end-use sectors of demand (one vocabulary for the data, scenarios and the engine)
SECTORS: tuple[str, ...] = ("automotive", "wind", "industrial", "electronics", "defence", "robotics", "other")

#: the default simulation region set (DESIGN.md section 2); everything else is aggregated to ROW
DEFAULT_REGIONS: tuple[str, ...] = (
    "CHN", "USA", "JPN", "AUS", "MYS", "EU", "KOR", "VNM", "MMR", "IND", "CAN", "GBR", "ROW",
)  # fmt: skip
_STAGE_ALIASES = {
    "mining": "mine",
    "extraction": "mine",
    "refining": "separation",
    "refinery": "separation",
    "processing": "separation",
    "refining/separation": "separation",
    "alloy": "metal",
    "magnets": "magnet",
    "magnet manufacturing": "magnet",
    "end use": "end_use",
    "end-use": "end_use",
}

EU_MEMBERS: tuple[str, ...] = (
    "AUT", "BEL", "BGR", "HRV", "CYP", "CZE", "DNK", "EST", "FIN", "FRA", "DEU", "GRC", "HUN",
    "IRL", "ITA", "LVA", "LTU", "LUX", "MLT", "NLD", "POL", "PRT", "ROU", "SVK", "SVN", "ESP",
    "SWE",
)  # fmt: skip
FRAMEWORK: tuple[str, ...] = ("AUS", "JPN", "MYS", "USA")
#: pseudo-country codes used by the data: OTH = USGS "other countries" residual
PSEUDO_COUNTRIES: Mapping[str, str] = {"OTH": "Other countries (unattributed residual)"}
#: territories that produce minerals but are not WGI economies
EXTRA_COUNTRIES: Mapping[str, str] = {"NCL": "New Caledonia"}


def _index() -> dict[str, str]:
    idx: dict[str, str] = {}
    for m in MATERIALS:
        for key in (m.id, m.name, *m.aliases):
            idx[key.lower()] = m.id
    return idx


_MATERIAL_INDEX = _index()


def material(name: str) -> str:
    """Return the canonical material id for ``name`` (id, element name or alias).

    >>> material("REO")
    'rare_earths'
    """
    mid = _MATERIAL_INDEX.get(str(name).strip().lower())
    if mid is None:
        raise UnknownNameError("material", str(name), MATERIAL_IDS)
    return mid


def stage(name: str) -> str:
    """Return the canonical stage for ``name``.

    >>> stage("Mining")
    'mine'
    """
    key = str(name).strip().lower()
    if key in STAGES:
        return key
    if key in _STAGE_ALIASES:
        return _STAGE_ALIASES[key]
    raise UnknownNameError("stage", str(name), STAGES)


def material_group(mid: str) -> str:
    """'ree' or 'other' for a canonical material id."""
    for m in MATERIALS:
        if m.id == mid:
            return m.group
    raise UnknownNameError("material", mid, MATERIAL_IDS)


#: the largest TOML file critmin reads: scenario and bloc files are a few kB; this bounds the parse time
MAX_TOML_BYTES = 4 * 1024 * 1024


def read_text_file(path: str | Path, kind: str) -> str:
    """The text of a user's UTF-8 file (a byte-order mark is allowed), or a one-line
    :class:`UserError` naming the file: not found, a directory, unreadable, binary, not UTF-8 or
    larger than :data:`MAX_TOML_BYTES`. ``kind`` names the file in messages ("scenario file").

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     read_text_file(d, "bloc file")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    critmin.errors.UserError: ...: is a directory, not a bloc file
    """
    p = Path(path)
    try:
        with p.open("rb") as fh:
            data = fh.read(MAX_TOML_BYTES + 1)
    except FileNotFoundError:
        raise UserError(f"{p}: {kind} not found") from None
    except IsADirectoryError:
        raise UserError(f"{p}: is a directory, not a {kind}") from None
    except OSError as exc:
        raise UserError(f"{p}: cannot read the {kind}: {exc.strerror or exc}") from None
    if len(data) > MAX_TOML_BYTES:
        raise UserError(f"{p}: larger than {MAX_TOML_BYTES // 2**20} MiB, too large for a {kind} (TOML text)")
    if b"\x00" in data:
        raise UserError(f"{p}: a binary file, not a {kind} (TOML text)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserError(
            f"{p}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); save the {kind} as UTF-8"
        ) from None


def parse_toml(text: str, source: str) -> dict[str, Any]:
    """Parse TOML text; a syntax error or a document nested too deeply for the parser is a one-line
    :class:`UserError` starting with ``source``.

    Examples
    --------
    >>> parse_toml('a = [1, 2]', "x.toml")
    {'a': [1, 2]}
    >>> parse_toml("a = " + "[" * 5000 + "]" * 5000, "x.toml")
    Traceback (most recent call last):
    ...
    critmin.errors.UserError: x.toml: not valid TOML for critmin: arrays or tables nested too deeply
    """
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{source}: not valid TOML: {exc}") from None
    except RecursionError:  # tomllib recurses once per nesting level
        raise UserError(f"{source}: not valid TOML for critmin: arrays or tables nested too deeply") from None


class Blocs:
    """Named groups of countries.

    Built-ins: ``framework`` (USA, JPN, AUS, MYS), ``eu`` (27 members) and
    ``allies`` (framework + EU + GBR, CAN, KOR). Users add their own from TOML::

        [blocs]
        quad = ["USA", "JPN", "AUS", "IND"]

    Two :class:`Blocs` are equal when they define the same blocs with the same members.

    >>> Blocs({"x": ("USA",)}).members("X")
    ('USA',)
    >>> Blocs({"x": ("USA",)}) == Blocs({"X": ["USA", "USA"]})
    True
    """

    def __init__(self, blocs: Mapping[str, Iterable[str]]) -> None:
        self._blocs = {k.lower(): tuple(sorted(set(v))) for k, v in blocs.items()}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Blocs) and self._blocs == other._blocs

    def __hash__(self) -> int:
        return hash(frozenset(self._blocs.items()))

    def __repr__(self) -> str:
        return f"Blocs({', '.join(self.names)})"

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._blocs))

    def members(self, name: str) -> tuple[str, ...]:
        key = str(name).strip().lower()
        if key not in self._blocs:
            raise UnknownNameError("bloc", str(name), self.names)
        return self._blocs[key]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.strip().lower() in self._blocs

    def with_file(self, path: str | Path, known_countries: Iterable[str]) -> Blocs:
        """Return a new :class:`Blocs` with the blocs of a TOML file added.

        A bloc may include another bloc by name. Any problem with the file (missing, a directory,
        binary, not UTF-8, not TOML, nested too deeply, no ``[blocs]`` table, an unknown country, a
        bloc named like a country, ``all`` or ``ROW``) is a one-line :class:`UserError` naming it.
        """
        p = Path(path)
        doc = parse_toml(read_text_file(p, "bloc file"), str(p))
        table = doc.get("blocs")
        if not isinstance(table, dict) or not table:
            raise UserError(f"{p}: expected a [blocs] table of name = [ISO3, ...]")
        known = set(known_countries)
        out = {k: v for k, v in self._blocs.items()}
        for name, members in table.items():
            key = name.strip().lower()
            if not key or key in ("all", "row") or key.upper() in known:
                raise UserError(
                    f"{p}: bloc name {name!r} is taken (a country code, 'all' or 'ROW' in scenario targets); "
                    "choose another name"
                )
            if not isinstance(members, list) or not members:
                raise UserError(f"{p}: bloc {name!r} must be a non-empty list of ISO3 codes")
            codes: list[str] = []
            for c in members:
                if not isinstance(c, str):
                    raise UserError(f"{p}: bloc {name!r}: members are ISO3 codes or bloc names (strings), not {c!r}")
                code = c.strip().upper()
                if code.lower() in out:  # a bloc may include another bloc
                    codes.extend(out[code.lower()])
                    continue
                if code not in known:
                    raise UnknownNameError(f"country in bloc {name!r} ({p})", code, known)
                codes.append(code)
            out[key] = tuple(sorted(set(codes)))
        return Blocs(out)

    def expand(self, names: Iterable[str], known_countries: Iterable[str]) -> tuple[str, ...]:
        """Expand a mix of ISO3 codes and bloc names into sorted ISO3 codes."""
        known = set(known_countries)
        out: set[str] = set()
        for n in names:
            if n in self:
                out.update(self.members(n))
            elif n.upper() in known:
                out.add(n.upper())
            else:
                raise UnknownNameError("country or bloc", n, [*known, *self.names])
        return tuple(sorted(out))


def default_blocs() -> Blocs:
    """The built-in blocs."""
    allies = (*FRAMEWORK, *EU_MEMBERS, "GBR", "CAN", "KOR")
    return Blocs({"framework": FRAMEWORK, "eu": EU_MEMBERS, "allies": allies})


def load_blocs(path: str | Path | None = None) -> Blocs:
    """The blocs in force: the built-ins, plus those of a ``--blocs`` TOML file when one is given.

    >>> load_blocs() == default_blocs()
    True
    """
    blocs = default_blocs()
    return blocs if path is None else blocs.with_file(path, countries())


_COUNTRIES: dict[str, str] | None = None


def countries() -> dict[str, str]:
    """Known countries: ISO3 -> name (the 214 WGI economies plus pseudo-codes).

    >>> countries()["MMR"]
    'Myanmar'
    """
    global _COUNTRIES
    if _COUNTRIES is None:
        import csv
        from importlib import resources

        path = resources.files("critmin") / "data" / "pack" / "wgi.csv"
        out: dict[str, str] = {}
        with path.open(encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                out[row["country_iso3"]] = row["country"]
        out.update(EXTRA_COUNTRIES)
        out.update(PSEUDO_COUNTRIES)
        _COUNTRIES = out
    return _COUNTRIES


#: regions usable for demand and stocks: any country, plus EU and ROW (rest of world)
REGION_EXTRAS: Mapping[str, str] = {"EU": "European Union", "ROW": "Rest of world"}


def country(name: str) -> str:
    """ISO3 code for an ISO3 code or a country name (case-insensitive).

    >>> country("japan")
    'JPN'
    """
    c = countries()
    key = str(name).strip()
    if key.upper() in c:
        return key.upper()
    by_name = {v.lower(): k for k, v in c.items()}
    if key.lower() in by_name:
        return by_name[key.lower()]
    raise UnknownNameError("country", key, [*c, *c.values()])
