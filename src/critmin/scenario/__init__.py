"""Scenarios: frozen, validated specifications of disruptions and responses, read from TOML.

A scenario says what happens (export restrictions, outages), what the world can do about it
(stocks, stockpiles, ramp-up, new projects, demand response, sector priorities) and how buyers
behave (``market`` or ``coordinated``). It is pure data: applying it to a
:class:`~critmin.chain.SupplyChain` is the engine's job (:mod:`critmin.engine`).

Unknown keys are errors; every name is checked against the known materials, stages, countries,
regions and sectors and the blocs in force (``load_scenario(path, blocs=chain.blocs)``; default the
built-ins), with "did you mean"; every number must be finite and in its field's range, and so must
every value an ``[[uncertain]]`` distribution can draw; disruptions and outages start within the
horizon. An invalid file (or one that is not a UTF-8 TOML file at all) is reported on one line with
the file, the line where it is known, and the field path.

Modules: :mod:`~critmin.scenario.specs` (the sections), :mod:`~critmin.scenario.uncertain`
(``[[uncertain]]`` entries and field ranges), :mod:`~critmin.scenario.model` (the whole scenario),
:mod:`~critmin.scenario.loading` (TOML text, files, built-ins, error messages),
:mod:`~critmin.scenario.template` (``critmin scenarios new``).

Example
-------
>>> s = parse_scenario('''
... name = "test"
... start = "2026-01"
... months = 12
... [[disruption]]
... exporter = "China"
... materials = ["dysprosium"]
... stages = ["refining"]
... targets = ["framework"]
... severity = 0.5
... start = "2026-02"
... months = 3
... ''', "example.toml")
>>> s.disruption[0].exporter, s.disruption[0].materials, s.disruption[0].stages
('CHN', ('Dy',), ('separation',))
>>> s.disruption[0].end_month
'2026-04'
"""

from __future__ import annotations

from critmin.months import month_index, month_label
from critmin.names import DEFAULT_REGIONS
from critmin.scenario.loading import (
    builtin_names,
    builtin_text,
    load_scenario,
    parse_scenario,
    read_scenario,
    scenario_from_dict,
)
from critmin.scenario.model import Scenario, expand_targets
from critmin.scenario.specs import DemandResponse, Disruption, Inventory, Market, Outage, Project, RampUp, Stockpile
from critmin.scenario.template import TEMPLATE, template
from critmin.scenario.uncertain import DISTRIBUTIONS, UNCERTAIN_FIELD, UNCERTAIN_FIELDS, UNCERTAIN_RANGES, Uncertain

__all__ = [
    "DEFAULT_REGIONS",
    "DISTRIBUTIONS",
    "TEMPLATE",
    "UNCERTAIN_FIELD",
    "UNCERTAIN_FIELDS",
    "UNCERTAIN_RANGES",
    "DemandResponse",
    "Disruption",
    "Inventory",
    "Market",
    "Outage",
    "Project",
    "RampUp",
    "Scenario",
    "Stockpile",
    "Uncertain",
    "builtin_names",
    "builtin_text",
    "expand_targets",
    "load_scenario",
    "month_index",
    "month_label",
    "parse_scenario",
    "read_scenario",
    "scenario_from_dict",
    "template",
]
