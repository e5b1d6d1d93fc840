"""A commented scenario template that loads as written (``critmin scenarios new``)."""

from __future__ import annotations

import json

TEMPLATE = """# critmin scenario: {name}
# Months are "YYYY-MM"; quantities are tonnes of contained element; shares are 0..1.
# Validate with:  critmin scenarios show {path}      Run with:  critmin run {path}
name = {name_toml}
description = "What this scenario asks"
source = "Where its numbers come from"
start = "2026-01"          # first month simulated
months = 36                # horizon (monthly steps)
mode = "market"            # market | coordinated (framework partners pool stocks, defence first)
# regions = ["CHN", "USA", "JPN", "AUS", "MYS", "EU", "KOR", "VNM", "MMR", "IND", "CAN", "GBR", "ROW"]
# coalition = "framework"  # the bloc that pools in coordinated mode

[[disruption]]             # an export restriction
exporter = "CHN"
materials = ["Dy", "Tb"]
stages = ["separation", "metal", "magnet"]
targets = ["framework"]    # ISO3 codes and/or bloc names, or ["all"]
severity = 1.0             # share of exports to the targets withheld
start = "2026-01"
months = 12
# covered_share = 1.0      # share of the flow the control covers (e.g. magnets containing Dy/Tb)
# foreign_content = false  # also restrict products made abroad from the exporter's material ...
# compliance = 1.0         # ... to this share (third-country makers that comply)

# [[disruption]]           # licensing as a process: nothing licensed for processing_months, then
# exporter = "CHN"         # approval_share of the requests, moving to approval_share_final over
# kind = "licensing"       # approval_ramp_months; military end users refused (military_denied)
# materials = ["Dy", "Tb"]
# stages = ["separation", "metal"]
# targets = ["all"]
# start = "2026-01"
# months = 12
# processing_months = 2.07 # default: the data's licensing_processing_months (45 working days)
# approval_share = 0.25    # default: the data's licensing_approval_share
# approval_share_final = 0.6
# approval_ramp_months = 1

# [[outage]]               # capacity lost
# region = "MYS"           # or facility = "lynas-malaysia-lamp-light-re-separation"
# stage = "separation"
# materials = ["Nd", "Pr"] # empty = every material
# capacity_lost = 1.0
# start = "2026-03"
# months = 6

# [[stockpile]]            # a government stockpile, released after commercial inventory
# holder = "JPN"
# material = "Dy"
# stage = "magnet"         # the product held: its holder's buyers of that product draw on it
# tonnes = 200
# max_release_t_per_month = 20

# [[inventory]]            # commercial inventory, months of use (defaults from the data)
# region = "USA"
# stage = "end_use"
# months_of_use = 2.0

# [[ramp_up]]              # spare capacity brought on per month while the market is short
# region = "AUS"
# stage = "mine"
# share_per_month = 0.05

# [[project]]              # new capacity (t/yr of contained element, per material)
# name = "new separation plant"
# region = "USA"
# stage = "separation"
# capacity_t_per_yr = {{ Dy = 200, Tb = 40 }}
# start = "2026-06"
# ramp_months = 12

# [[project]]              # or a facility from the data (critmin scenarios facilities)
# facility = "10x-magnet-campus"
# start = "2027-01"        # default: the facility's start year

# [demand]                 # demand response by sector
# growth_pct_per_yr = 0.0
# elasticity = {{ automotive = -0.1, defence = 0.0 }}
# substitution = {{ automotive = 0.05 }}
# recycling = {{ electronics = 0.02 }}

# [market]                 # market structure (defaults from the data's parameters)
# contract_share = {{ magnet = 0.8, separation = 0.5 }}   # share of orders under contract
# qualification_months = {{ magnet = 5.5 }}               # months to qualify a new supplier
# heavy_grade_share = 0.755                              # NdFeB made in Dy/Tb grades
# stoppage_fill = {{ defence = 0.95 }}                    # fill below which a sector stops

# [priorities]             # 1 = served first in coordinated mode
# defence = 1

# [[uncertain]]            # Monte Carlo (critmin mc): a distribution on a numeric field
# field = "disruption[0].severity"
# dist = "uniform"         # fixed uniform triangular normal lognormal beta bernoulli choice
# low = 0.5                # every draw must lie in the field's range (severity 0..1); truncate
# high = 1.0               # normal and lognormal with low/high

# [[uncertain]]            # one draw shared by several fields correlates them
# fields = ["disruption[0].months"]
# dist = "triangular"
# low = 3
# mode = 9
# high = 18
"""


def template(name: str, path: str = "scenario.toml") -> str:
    """A commented scenario template that loads as written (the name is written as a TOML string,
    so quotes and backslashes in it stay part of the name).

    >>> import tomllib
    >>> tomllib.loads(template('my "big" case'))["name"]
    'my "big" case'
    """
    one_line = " ".join(name.split())
    return TEMPLATE.format(name=one_line, name_toml=json.dumps(one_line, ensure_ascii=False), path=path)
