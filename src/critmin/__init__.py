"""critmin: an open model of critical-mineral supply-chain security.

The library is the product; the CLI is a thin layer over it. The main entry points:

* data: :class:`Store` (the embedded DuckDB store: build, import, export, provenance) and
  :class:`SupplyChain` (labelled production, demand, stocks, governance and blocs);
* concentration: :mod:`critmin.metrics` (HHI, shares, N-k, HHI_WGI, import reliance);
* scenarios: :class:`Scenario`, :func:`load_scenario`, :func:`parse_scenario`;
* the engine: :func:`run_scenario` (one run, a labelled :class:`~critmin.results.RunResult`);
* risk: :func:`run_ensemble` (Monte Carlo) and :func:`risk_metrics`;
* criticality: :func:`assess` (EU, USGS and ensemble methods);
* jobs (what the CLI, the report and the web app call): :func:`run_job`, :func:`monte_carlo_job`,
  :func:`criticality_job`.

Example
-------
>>> import critmin
>>> store = critmin.open_store()          # $CRITMIN_DB or the user data folder; built on first use
>>> chain = critmin.SupplyChain.from_store(store)
>>> row = critmin.metrics.concentration(chain, material="rare_earths", stage="mine", year=2024).iloc[0]
>>> row.top1_country, round(float(row.china_share), 3)
('CHN', 0.711)
>>> res = critmin.run_scenario(critmin.load_scenario("ga-ge-ban-us"), chain)
>>> bool(res.summary().query("material == 'Ga' and region == 'USA'").shortfall_t.iloc[0] > 0)
True
"""

from __future__ import annotations

__version__ = "0.1.0"

from critmin import metrics
from critmin.chain import SupplyChain
from critmin.criticality import assess
from critmin.engine import run_scenario
from critmin.errors import UserError
from critmin.jobs import criticality_job, load_chain, monte_carlo_job, open_store, run_job
from critmin.results import RunResult
from critmin.risk import risk_metrics, run_ensemble
from critmin.scenario import Scenario, load_scenario, parse_scenario
from critmin.store import Store, default_db_path

__all__ = [
    "RunResult",
    "Scenario",
    "Store",
    "SupplyChain",
    "UserError",
    "__version__",
    "assess",
    "criticality_job",
    "default_db_path",
    "load_chain",
    "load_scenario",
    "metrics",
    "monte_carlo_job",
    "open_store",
    "parse_scenario",
    "risk_metrics",
    "run_ensemble",
    "run_job",
    "run_scenario",
]
