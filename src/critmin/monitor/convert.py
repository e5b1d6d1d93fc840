"""An export-control event as a scenario file that reproduces it in the engine.

:func:`control_scenario` reads one event of the store's ``export_controls`` and writes the
disruptions that reproduce it (docs/monitor.md, "From a control to a scenario"):

* **kind** from ``measure``: export licensing is ``kind = "licensing"`` with the processing lag
  and approval share of the store's parameters (``licensing_processing_months``,
  ``licensing_approval_share``, each cited in the file); a ban or an embargo is a restriction of
  ``severity`` 1 (or ``--severity``); an extraterritorial rule adds ``foreign_content = true``.
  Suspensions, agreements and technology or equipment controls restrict no material flow the
  engine simulates and are refused with the reason.
* **materials** from ``minerals``: the materials the engine simulates on the store's data
  (``rare_earths`` is every simulated rare-earth element unless the event lists some); the others
  are named in the file's header.
* **stages** from ``supply_chain_stage`` (ore: mine; oxide, refined, compounds: separation; metal,
  alloy: metal; magnet), each material at the stages its chain has. A magnet is covered when it
  contains a listed element: NdFeB whole for Nd or Pr, its Dy/Tb grades (the store's
  ``heavy_grade_share``) for Dy or Tb alone, SmCo for Sm.
* **timing**: from the month the event takes effect, for ``months`` (default 12); the disruption
  ends where the event ends or where a suspension in the data takes effect after it did. A control
  suspended before it took effect is reproduced as announced (a what-if), and the header says so.
* **targets** from ``target``; the **exporter** from ``country``.

The header (comment lines and the scenario's ``source``) carries the event's source.

Example
-------
>>> from critmin.chain import SupplyChain
>>> from critmin.dataset import build_tables
>>> t = build_tables()
>>> chain = SupplyChain.from_frames(t["production"], demand=t["demand"], inventory=t["inventory"],
...                                 parameters=t["parameters"], capacity=t["capacity"])
>>> c = control_scenario(chain, "CN-2024-046", months=6)
>>> [(d.kind, d.materials, d.stages, d.targets, d.months) for d in c.scenario.disruption]
[('restriction', ('Ga',), ('separation',), ('USA',), 6)]
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pandas as pd

from critmin import names
from critmin.chain import SupplyChain
from critmin.dataset import Params
from critmin.engine.network import build_network
from critmin.errors import UnknownNameError, UserError
from critmin.monitor.controls import Event, MineralTerm, mineral_terms, parse_suspends, suspensions_of
from critmin.months import month_index, month_label
from critmin.scenario import Scenario, parse_scenario

#: the scenario horizon when ``months`` is not given
DEFAULT_MONTHS = 12
#: the longest horizon a scenario may have (``Scenario.months``)
MAX_MONTHS = 240
#: the NdFeB elements and the ones only its heavy grades contain (the engine's grade model,
#: docs/engine.md section 4.5)
NDFEB: tuple[str, ...] = ("Nd", "Pr", "Dy", "Tb")
NDFEB_LIGHT: tuple[str, ...] = ("Nd", "Pr")
NDFEB_HEAVY: tuple[str, ...] = ("Dy", "Tb")
#: words of ``supply_chain_stage`` and the engine stages they stand for
STAGE_WORDS: Mapping[str, tuple[str, ...]] = {
    "ore": ("mine",),
    "mine": ("mine",),
    "mining": ("mine",),
    "oxide": ("separation",),
    "oxides": ("separation",),
    "separation": ("separation",),
    "refined": ("separation",),
    "refining": ("separation",),
    "compounds": ("separation",),
    "metal": ("metal",),
    "metals": ("metal",),
    "alloy": ("metal",),
    "alloys": ("metal",),
    "magnet": ("magnet",),
    "magnets": ("magnet",),
    "all": names.PRODUCING_STAGES,
}
#: words that make a ``supply_chain_stage`` term about things other than material flows
NOT_FLOWS: tuple[str, ...] = ("equipment", "technology")


@dataclass(frozen=True)
class Flow:
    """One disruption's worth of a control: materials at stages, the covered share and why."""

    materials: tuple[str, ...]
    stages: tuple[str, ...]
    covered_share: float = 1.0
    why: str = ""
    cite: str = ""


@dataclass(frozen=True)
class Timing:
    """When the scenario starts, how long the disruption lasts, and what the header says of it."""

    start: str
    months: int
    horizon: int
    lines: tuple[str, ...] = ()


@dataclass(frozen=True)
class ControlScenario:
    """A converted event: its id, the scenario file's text and the validated scenario."""

    event_id: str
    text: str
    scenario: Scenario
    notes: tuple[str, ...] = field(default=())


# -- the event ---------------------------------------------------------------------------------------
def event_row(events: pd.DataFrame, event_id: str) -> dict[str, Any]:
    """The row of ``event_id`` (case-insensitive), else :class:`UnknownNameError` with "did you mean".

    >>> from critmin.dataset import shipped_table
    >>> event_row(shipped_table("export_controls"), "cn-2025-018")["instrument"]
    'MOFCOM/GACC Announcement No. 18 [2025]'
    >>> event_row(shipped_table("export_controls"), "CN-2025-18")
    Traceback (most recent call last):
    ...
    critmin.errors.UnknownNameError: unknown export-control event 'CN-2025-18' (did you mean 'CN-2025-018'?)
    """
    ids = [str(x) for x in events["event_id"]]
    key = str(event_id).strip().upper()
    for i, eid in enumerate(ids):
        if eid.upper() == key:
            return {str(k): v for k, v in events.iloc[i].to_dict().items()}
    raise UnknownNameError("export-control event", str(event_id), ids)


def _cell(row: Mapping[str, Any], column: str) -> str:
    v = row.get(column)
    return "" if v is None or (pd.api.types.is_scalar(v) and pd.isna(v)) else str(v).strip()


def measure_kind(row: Mapping[str, Any]) -> str:
    """``licensing`` or ``restriction`` for an event's ``measure``; a :class:`UserError` naming the
    event and why for a measure that restricts no material flow (a suspension, an agreement, a
    technology control) or one critmin cannot read.

    >>> measure_kind({"event_id": "X", "measure": "export licensing"})
    'licensing'
    >>> measure_kind({"event_id": "X", "measure": "technology export ban"})
    Traceback (most recent call last):
    ...
    critmin.errors.UserError: X is a technology control (technology export ban): it restricts know-how, not the \
material flows critmin simulates; nothing to convert
    """
    eid, measure = _cell(row, "event_id"), _cell(row, "measure")
    m = measure.lower()
    if "suspension" in m or _cell(row, "suspends"):
        ids = ", ".join(e for e, _ in parse_suspends(_cell(row, "suspends"), eid)) or "listed in its items"
        raise UserError(f"{eid} is a suspension, not a control: convert the events it suspends instead ({ids})")
    if "agreement" in m or "truce" in m:
        raise UserError(f"{eid} is a {measure}, not an export control: it restricts nothing to simulate")
    if "technology" in m:
        raise UserError(
            f"{eid} is a technology control ({measure}): it restricts know-how, not the material flows critmin "
            "simulates; nothing to convert"
        )
    if "licens" in m:
        return "licensing"
    if any(w in m for w in ("ban", "embargo", "prohibit")):
        return "restriction"
    raise UserError(f"{eid}: measure {measure!r} is not one critmin converts (export licensing, a ban or an embargo)")


# -- materials and stages --------------------------------------------------------------------------
def event_stages(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The engine stages a ``supply_chain_stage`` cell names, and its terms that are not material
    flows (equipment, technology, products the engine does not simulate).

    >>> event_stages("refined metal/compounds")
    (('separation', 'metal'), ())
    >>> event_stages("separation/metal/magnet equipment")
    ((), ('separation/metal/magnet equipment',))
    >>> event_stages("magnet;downstream products")
    (('magnet',), ('downstream products',))
    """
    stages: list[str] = []
    other: list[str] = []
    for term in (t.strip() for t in str(text).split(";")):
        if not term:
            continue
        words = [w for w in re.split(r"[\s/,]+", term.lower()) if w]
        if any(w in NOT_FLOWS for w in words):
            other.append(term)
            continue
        hits = [s for w in words for s in STAGE_WORDS.get(w, ())]
        if hits:
            stages.extend(hits)
        else:
            other.append(term)
    order = {s: i for i, s in enumerate(names.PRODUCING_STAGES)}
    return tuple(sorted(set(stages), key=order.__getitem__)), tuple(other)


@dataclass(frozen=True)
class Minerals:
    """What an event's ``minerals`` say in critmin's terms: the simulated materials, whether
    magnets are named, the rare-earth elements listed (``None``: all of them, or magnets named
    without elements) and what critmin does not simulate."""

    materials: tuple[str, ...]
    magnets: bool
    listed_ree: tuple[str, ...] | None
    not_simulated: tuple[str, ...]


def event_minerals(terms: Sequence[MineralTerm], simulated: Sequence[str]) -> Minerals:
    """The simulated materials of an event's mineral terms (in critmin's material order).

    >>> from critmin.monitor.controls import mineral_terms
    >>> m = event_minerals(mineral_terms("rare_earths (Sm,Lu,Sc);magnets"), ["Nd", "Dy", "Sm"])
    >>> m.materials, m.magnets, m.listed_ree, m.not_simulated
    (('Sm',), True, ('Sm', 'Lu'), ('Lu', 'Sc'))
    """
    mats: list[str] = []
    missing: list[str] = []
    listed: list[str] | None = []
    magnets = False
    for t in terms:
        if t.base == "magnets":
            magnets = True
        elif t.base == "rare_earths" and not t.qualified:
            listed = None
            mats.extend(m for m in names.REE_ELEMENTS if m in simulated)
        elif t.base == "rare_earths":
            if listed is not None:
                listed.extend(t.elements)
            mats.extend(m for m in t.elements if m in simulated)
            missing.extend([*(m for m in t.elements if m not in simulated), *t.unknown])
        elif t.known and t.base in simulated:
            mats.append(t.base)
        else:
            missing.append(t.base)
    if magnets and not any(t.base == "rare_earths" for t in terms):
        listed = None  # magnets without elements named: every magnet
    order = {m: i for i, m in enumerate(names.MATERIAL_IDS)}
    return Minerals(
        tuple(sorted(set(mats), key=order.__getitem__)),
        magnets,
        None if listed is None else tuple(dict.fromkeys(listed)),
        tuple(dict.fromkeys(missing)),
    )


def _material_flows(
    minerals: Minerals, stages: Sequence[str], chain_stages: Mapping[str, tuple[str, ...]]
) -> list[Flow]:
    """Disruptions below the magnet stage: the materials grouped by the stages their chains have."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for m in minerals.materials:
        own = tuple(s for s in stages if s != "magnet" and s in chain_stages[m])
        if own:
            groups.setdefault(own, []).append(m)
    return [Flow(tuple(ms), st) for st, ms in groups.items()]


def _magnet_flows(
    minerals: Minerals, chain_stages: Mapping[str, tuple[str, ...]], heavy: tuple[float, str]
) -> list[Flow]:
    """Disruptions at the magnet stage: the magnets that contain a listed element."""
    made = [m for m in chain_stages if "magnet" in chain_stages[m]]
    ndfeb = tuple(m for m in NDFEB if m in made)
    other = tuple(m for m in made if m not in NDFEB)
    listed = minerals.listed_ree
    if listed is None:  # every rare earth: every magnet
        return [Flow(tuple(m for m in names.MATERIAL_IDS if m in made), ("magnet",), 1.0, "every magnet the data make")]
    out = []
    if ndfeb and set(listed) & set(NDFEB_LIGHT):
        out.append(Flow(ndfeb, ("magnet",), 1.0, "every NdFeB magnet contains a listed element"))
    elif ndfeb and set(listed) & set(NDFEB_HEAVY):
        share, cite = heavy
        out.append(Flow(ndfeb, ("magnet",), share, "the NdFeB magnets that contain Dy or Tb", cite))
    for m in other:
        if m in listed:
            out.append(Flow((m,), ("magnet",), 1.0, f"every {m} magnet contains {m}"))
    return out


def control_flows(row: Mapping[str, Any], chain: SupplyChain) -> tuple[list[Flow], tuple[str, ...]]:
    """The disruptions' materials, stages and covered shares for an event, and the header lines
    that name what is not simulated; a :class:`UserError` when nothing of it is simulated."""
    eid = _cell(row, "event_id")
    net = build_network(chain)
    chain_stages = {m: g.stages for g in net.groups for m in g.materials}
    minerals = event_minerals(mineral_terms(_cell(row, "minerals")), list(chain_stages))
    stages, other = event_stages(_cell(row, "supply_chain_stage"))
    if minerals.magnets and "magnet" not in stages:
        stages = (*stages, "magnet")
    if not minerals.materials and not (minerals.magnets and minerals.listed_ree is None):
        simulated = ", ".join(chain_stages)
        raise UserError(
            f"{eid} concerns {_cell(row, 'minerals')}: none of it is simulated on the store's data "
            f"(simulated: {simulated}); nothing to convert"
        )
    if not stages:
        raise UserError(
            f"{eid} covers {_cell(row, 'supply_chain_stage') or 'no stage'}, not material flows critmin simulates "
            "(mine, separation, metal, magnet); nothing to convert"
        )
    flows = _material_flows(minerals, stages, chain_stages)
    if "magnet" in stages:
        flows += _magnet_flows(minerals, chain_stages, _heavy_share(chain))
    if not flows:
        raise UserError(
            f"{eid}: its simulated materials ({', '.join(minerals.materials)}) have no "
            f"{', '.join(stages)} stage in the store's data; nothing to convert"
        )
    lines = []
    if minerals.not_simulated:
        lines.append(
            f"not simulated (no production by stage and end-use demand in the store, or not a critmin "
            f"material): {', '.join(minerals.not_simulated)}"
        )
    if other:
        lines.append(f"stages not simulated: {'; '.join(other)}")
    return flows, tuple(lines)


# -- parameters ------------------------------------------------------------------------------------
def parameter(chain: SupplyChain, name: str, material: str = "*", stage: str = "*") -> tuple[float, str]:
    """A parameter of the store (as the engine looks it up) and its citation: value, source and
    confidence of the row used.

    >>> import pandas as pd
    >>> from critmin.chain import SupplyChain
    >>> prod = pd.DataFrame({"material": ["Dy"], "stage": ["mine"], "country_iso3": ["CHN"], "year": [2024],
    ...                      "quantity": [1.0], "unit": ["t"]})
    >>> value, cite = parameter(SupplyChain.from_frames(prod), "licensing_approval_share")
    >>> value, cite.startswith("licensing_approval_share = 0.25 (CLEPA")
    (0.25, True)
    """
    frame = chain.parameters
    prm = Params(frame)
    value = prm.get(name, material, stage)
    key = next(iter(prm.used))
    hit = frame[
        (frame["parameter"] == key[0])
        & (frame["material"] == key[1])
        & (frame["stage"] == key[2])
        & (frame["region"] == key[3])
    ].iloc[0]
    return value, f"{name} = {value:g} ({hit['source']}; {hit['confidence']})"


def _heavy_share(chain: SupplyChain) -> tuple[float, str]:
    return parameter(chain, "heavy_grade_share", "rare_earths", "magnet")


# -- timing ----------------------------------------------------------------------------------------
def control_timing(row: Mapping[str, Any], events: pd.DataFrame, months: int) -> Timing:
    """The scenario's start (the month the event takes effect), the disruption's months (to the
    event's end or a suspension that took effect after it did, within ``months``) and the header
    lines that say so."""
    ev = Event.from_row(row)
    if ev.start is None:
        raise UserError(f"{ev.event_id} has no effective or announcement date; nothing to convert")
    first = month_index(month_label_of(ev.start))
    lines = []
    stop: tuple[date, str] | None = None
    if ev.end is not None:
        stop = (ev.end + timedelta(days=1), f"ends {ev.label('end')}")
    parsed = [Event.from_row(r) for r in events.to_dict("records")]
    for s, part in suspensions_of(parsed).get(ev.event_id, []):
        what = f"{part} of it" if part else "it"
        when = f"from {s.label('start')}" + (f" until {s.label('end')}" if s.end else " (no end date in the data)")
        if s.start is not None and s.start > ev.start:
            lines.append(
                f"{s.event_id} suspends {what} {when}: the disruption ends there; the data hold no later "
                "event, so the scenario does not model what follows the suspension"
            )
            if stop is None or s.start < stop[0]:
                stop = (s.start, f"suspended by {s.event_id}")
        else:
            lines.append(
                f"{s.event_id} suspends {what} {when}, before it took effect: this scenario is the control "
                "as announced (a what-if)"
            )
    length = months
    if stop is not None:
        length = min(months, max(1, month_index(month_label_of(stop[0])) - first))
        lines.append(f"in force {length} month(s) in the scenario ({stop[1]})")
    return Timing(month_label(first), length, months, tuple(lines))


def month_label_of(d: date) -> str:
    """The ``YYYY-MM`` month of a day.

    >>> month_label_of(date(2025, 11, 9))
    '2025-11'
    """
    return f"{d.year:04d}-{d.month:02d}"


# -- the file --------------------------------------------------------------------------------------
def _toml(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _comment(text: str) -> str:
    return "# " + re.sub(r"[\x00-\x1f\x7f]+", " ", text).strip()


def _targets(row: Mapping[str, Any]) -> list[str]:
    out = []
    for t in (x.strip() for x in _cell(row, "target").split(";")):
        if not t:
            continue
        out.append("all" if t.lower().startswith("all") else t)
    if not out:
        raise UserError(f"{_cell(row, 'event_id')} names no target; nothing to convert")
    return out


def _exporter(row: Mapping[str, Any]) -> str:
    codes = [c.strip() for c in _cell(row, "country").split(";") if c.strip()]
    if len(codes) != 1:
        raise UserError(
            f"{_cell(row, 'event_id')} names {len(codes)} restricting countries ({', '.join(codes) or 'none'}); "
            "a converted control has one exporter"
        )
    return codes[0]


def check_options(months: int | None, severity: float | None) -> int:
    """The horizon (``months`` or :data:`DEFAULT_MONTHS`); a one-line :class:`UserError` naming the
    option for a value out of range.

    >>> check_options(None, None), check_options(6, 0.5)
    (12, 6)
    >>> check_options(0, None)
    Traceback (most recent call last):
    ...
    critmin.errors.UserError: --months: 0 is not a horizon critmin runs; give 1 to 240 months
    """
    if months is not None and not 1 <= months <= MAX_MONTHS:
        raise UserError(f"--months: {months} is not a horizon critmin runs; give 1 to {MAX_MONTHS} months")
    if severity is not None and not 0.0 <= severity <= 1.0:
        raise UserError(f"--severity: {severity:g} is not a share; give a number from 0 to 1")
    return DEFAULT_MONTHS if months is None else months


def _header(row: Mapping[str, Any], flows: list[Flow], lines: Iterable[str], chain: SupplyChain) -> list[str]:
    eid = _cell(row, "event_id")
    dates = ", ".join(
        f"{w} {_cell(row, c) or 'not in the data'}"
        for w, c in (("announced", "date_announced"), ("effective", "date_effective"), ("end", "date_end"))
    )
    out = [
        f"critmin scenario converted from export-control event {eid} (critmin scenarios from-control {eid})",
        f"instrument: {_cell(row, 'instrument')}",
        f"measure: {_cell(row, 'measure')}; restricting country: {_cell(row, 'country')}; "
        f"target: {_cell(row, 'target')}",
        dates,
        f"items: {_cell(row, 'items')}",
        f"minerals: {_cell(row, 'minerals')}; supply-chain stage: {_cell(row, 'supply_chain_stage')}",
        f"notes: {_cell(row, 'notes') or '-'}",
        f"source: {_cell(row, 'source')} (export_controls.csv {eid}, confidence {_cell(row, 'confidence')})",
        *lines,
    ]
    if flows and int(_cell(row, "date_effective")[:4] or 0) < chain.base_year:
        out.append(
            f"the engine applies it to the data's base-year ({chain.base_year}) network; the months are the event's"
        )
    out.append("validate: critmin scenarios show FILE    run: critmin run FILE")
    return [_comment(x) for x in out]


def _disruption(
    flow: Flow, kind: str, row: Mapping[str, Any], timing: Timing, severity: float | None, chain: SupplyChain
) -> list[str]:
    eid = _cell(row, "event_id")
    measure = _cell(row, "measure")
    out = [
        "",
        "[[disruption]]",
        f"exporter = {_toml(_exporter(row))}",
        f'kind = "{kind}"',
        f"materials = {json.dumps(list(flow.materials))}",
        f"stages = {json.dumps(list(flow.stages))}",
        f"targets = {json.dumps(_targets(row))}",
        f"start = {_toml(timing.start)}",
        f"months = {timing.months}",
    ]
    if flow.covered_share != 1.0:
        out.append(f"covered_share = {flow.covered_share:g}  {_comment(f'{flow.why}: {flow.cite}')}")
    if kind == "restriction":
        out.append(
            f"severity = {1.0 if severity is None else severity:g}  "
            + _comment("a ban withholds every covered shipment; --severity sets another share")
        )
    else:
        if severity is not None:
            out.append(f"severity = {severity:g}  {_comment('--severity: the share of covered shipments licensed')}")
        for name, key in (
            ("licensing_processing_months", "processing_months"),
            ("licensing_approval_share", "approval_share"),
        ):
            value, cite = parameter(chain, name)
            out.append(f"{key} = {value:g}  {_comment('the store parameter ' + cite)}")
        out.append(
            "# approvals that rise over time: add approval_share_final = SHARE and approval_ramp_months = MONTHS"
        )
        said = "military" in f"{_cell(row, 'items')} {_cell(row, 'notes')}".lower()
        why = "the event's text denies military end users" if said else "the engine's default for licensing"
        out.append(f"military_denied = true  {_comment(why + ' (no licence for military end users)')}")
    if "extraterritorial" in measure.lower():
        out.append("foreign_content = true  # the rule reaches products made abroad from the exporter's material")
        out.append("compliance = 1.0  # assumption: makers abroad comply fully; lower it to test leakage")
    note = f"{eid}: {measure}" + (f"; {flow.why}" if flow.why else "")
    out.append(f"note = {_toml(note)}")
    return out


def control_scenario(
    chain: SupplyChain, event_id: str, months: int | None = None, severity: float | None = None
) -> ControlScenario:
    """The scenario file that reproduces export-control event ``event_id`` in the engine.

    Parameters
    ----------
    chain:
        The supply chain (its ``export_controls``, parameters and the materials it simulates).
    event_id:
        An event of ``chain.export_controls`` (case-insensitive; an unknown id gets "did you mean").
    months:
        The scenario horizon from the month the event takes effect (default 12, at most 240).
    severity:
        The share withheld by a ban (default 1) or the share of the covered flow under licence.

    Returns
    -------
    ControlScenario
        The TOML text (valid: it loads with :func:`critmin.scenario.load_scenario`) and the
        validated scenario.

    Examples
    --------
    >>> from critmin.chain import SupplyChain
    >>> from critmin.dataset import build_tables
    >>> t = build_tables()
    >>> chain = SupplyChain.from_frames(t["production"], demand=t["demand"], parameters=t["parameters"])
    >>> c = control_scenario(chain, "CN-2025-018", months=3)
    >>> [(d.materials, d.stages, d.covered_share) for d in c.scenario.disruption]  # doctest: +NORMALIZE_WHITESPACE
    [(('Dy', 'Tb', 'Sm'), ('separation', 'metal'), 1.0), (('Y', 'Gd'), ('separation',), 1.0),
     (('Nd', 'Pr', 'Dy', 'Tb'), ('magnet',), 0.755), (('Sm',), ('magnet',), 1.0)]
    """
    horizon = check_options(months, severity)
    events = chain.export_controls
    row = event_row(events, event_id)
    eid = _cell(row, "event_id")
    kind = measure_kind(row)
    flows, lines = control_flows(row, chain)
    timing = control_timing(row, events, horizon)
    text = "\n".join(_document(row, kind, flows, [*lines, *timing.lines], timing, severity, chain)) + "\n"
    scenario = parse_scenario(text, f"{eid} (from-control)", blocs=chain.blocs)
    return ControlScenario(eid, text, scenario, tuple(lines) + timing.lines)


def _document(
    row: Mapping[str, Any],
    kind: str,
    flows: list[Flow],
    lines: list[str],
    timing: Timing,
    severity: float | None,
    chain: SupplyChain,
) -> list[str]:
    eid = _cell(row, "event_id")
    cited = [f"{_cell(row, 'source')} (export_controls.csv {eid}, confidence {_cell(row, 'confidence')})"]
    if kind == "licensing":
        cited += [parameter(chain, p)[1] for p in ("licensing_processing_months", "licensing_approval_share")]
    if any(f.covered_share != 1.0 for f in flows):
        cited.append(_heavy_share(chain)[1])
    description = (
        f"{_cell(row, 'instrument')}: {_cell(row, 'measure')} by {_cell(row, 'country')} on "
        f"{_cell(row, 'minerals')} to {_cell(row, 'target')}, from {timing.start} (converted from {eid})"
    )
    out = [
        *_header(row, flows, lines, chain),
        f"name = {_toml('from-' + eid.lower())}",
        f"description = {_toml(description)}",
        f"source = {_toml('; '.join(cited))}",
        f"start = {_toml(timing.start)}",
        f"months = {timing.horizon}",
        'mode = "market"',
    ]
    for flow in flows:
        out += _disruption(flow, kind, row, timing, severity, chain)
    return out


__all__ = [
    "DEFAULT_MONTHS",
    "ControlScenario",
    "Flow",
    "Minerals",
    "Timing",
    "check_options",
    "control_flows",
    "control_scenario",
    "control_timing",
    "event_minerals",
    "event_row",
    "event_stages",
    "measure_kind",
    "month_label_of",
    "parameter",
]
