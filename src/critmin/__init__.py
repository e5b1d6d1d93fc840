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

from typing import TYPE_CHECKING, Any

#: the public API: name -> module it lives in (imported on first use, so that `import critmin.store`
#: or `critmin --version` does not pay for the engine, xarray and the rest)
_API = {
    "RunResult": "critmin.results",
    "Scenario": "critmin.scenario",
    "Store": "critmin.store",
    "SupplyChain": "critmin.chain",
    "UserError": "critmin.errors",
    "assess": "critmin.criticality",
    "criticality_job": "critmin.jobs",
    "default_db_path": "critmin.store",
    "load_chain": "critmin.jobs",
    "load_scenario": "critmin.scenario",
    "metrics": "critmin.metrics",
    "monte_carlo_job": "critmin.jobs",
    "open_store": "critmin.jobs",
    "parse_scenario": "critmin.scenario",
    "risk_metrics": "critmin.risk",
    "run_ensemble": "critmin.risk",
    "run_job": "critmin.jobs",
    "run_scenario": "critmin.engine",
}

if TYPE_CHECKING:
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


def __getattr__(name: str) -> Any:
    import importlib

    if name not in _API:
        raise AttributeError(f"module 'critmin' has no attribute {name!r}")
    module = importlib.import_module(_API[name])
    value = module if name == "metrics" else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])


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
