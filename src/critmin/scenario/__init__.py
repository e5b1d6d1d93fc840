"""Scenarios: frozen, validated specifications of disruptions and responses, read from TOML.

A scenario says what happens (export restrictions, outages), what the world can do about it
(stocks, stockpiles, ramp-up, new projects, demand response, sector priorities) and how buyers
behave (``market`` or ``coordinated``). It is pure data: applying it to a
:class:`~critmin.chain.SupplyChain` is the engine's job (:mod:`critmin.engine`).

Unknown keys are errors, every name is checked against the known materials, stages, countries,
regions, blocs and sectors (with "did you mean"), and an invalid file is reported on one line
with the file, the line where it is known, and the field path.

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
from critmin.scenario.loading import builtin_names, builtin_text, load_scenario, parse_scenario, scenario_from_dict
from critmin.scenario.model import Scenario, expand_targets
from critmin.scenario.specs import DemandResponse, Disruption, Inventory, Outage, Project, RampUp, Stockpile
from critmin.scenario.template import TEMPLATE, template
from critmin.scenario.uncertain import DISTRIBUTIONS, UNCERTAIN_FIELD, UNCERTAIN_FIELDS, Uncertain

__all__ = [
    "DEFAULT_REGIONS",
    "DISTRIBUTIONS",
    "TEMPLATE",
    "UNCERTAIN_FIELD",
    "UNCERTAIN_FIELDS",
    "DemandResponse",
    "Disruption",
    "Inventory",
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
    "scenario_from_dict",
    "template",
]
