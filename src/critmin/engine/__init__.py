"""The disruption engine: a scenario on the supply-chain network, month by month.

Two engines compute the same model: ``fast`` (closed-form batched array code) and ``lp`` (each
allocation solved with HiGHS). See ``docs/engine.md`` for the formulation.

Example
-------
>>> from critmin.jobs import load_chain, open_store
>>> from critmin.scenario import load_scenario
>>> chain = load_chain(open_store())
>>> fast = run_scenario(load_scenario("ga-ge-ban-us"), chain)
>>> lp = run_scenario(load_scenario("ga-ge-ban-us"), chain, engine="lp")
>>> a, b = (float(r.summary().query("material == 'Ga' and region == 'USA'").shortfall_t.iloc[0]) for r in (fast, lp))
>>> a > 0 and abs(a - b) <= 1e-6 * a
True
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from critmin.chain import SupplyChain
from critmin.engine.compiled import CompiledScenario, compile_scenario, with_mode
from critmin.engine.network import Network, build_network
from critmin.engine.simulate import ENGINES, simulate
from critmin.scenario import Scenario

if TYPE_CHECKING:
    from critmin.results import RunResult

__all__ = ["ENGINES", "CompiledScenario", "Network", "build_network", "compile_scenario", "run_scenario", "simulate"]


def run_scenario(
    scenario: Scenario,
    chain: SupplyChain | None = None,
    engine: str = "fast",
    mode: str | None = None,
) -> RunResult:
    """Run one scenario and return its labelled result (not stored; see :meth:`RunResult.save`).

    The result records the chain's fingerprint (data and blocs) as ``data_sha256``.
    """
    from critmin.results import RunResult, make_run_id, now_utc, to_dataset

    if chain is None:
        from critmin.store import Store, default_db_path

        store = Store(default_db_path())
        store.ensure_built()
        chain = SupplyChain.from_store(store)
    net = build_network(chain, scenario.regions)
    lv = compile_scenario(scenario, net, chain.blocs, chain)
    if mode is not None:
        lv = with_mode(lv, mode)
    groups = simulate(net, lv, engine)
    created = now_utc()
    return RunResult(
        run_id=make_run_id(scenario, engine, lv.mode, created),
        scenario=scenario,
        engine=engine,
        mode=lv.mode,
        dataset=to_dataset(net, groups, scenario.month_labels),
        notes=lv.notes,
        data_sha256=chain.fingerprint,
        created_utc=created,
    )
