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

import numpy as np
import xarray as xr

from critmin.chain import SupplyChain
from critmin.dataset import Params
from critmin.engine.compiled import CompiledScenario, compile_scenario, with_mode
from critmin.engine.network import Network, build_network, region_of
from critmin.engine.simulate import ENGINES, simulate
from critmin.scenario import Scenario

if TYPE_CHECKING:
    from critmin.results import RunResult

__all__ = ["ENGINES", "CompiledScenario", "Network", "build_network", "compile_scenario", "run_scenario", "simulate"]


def _stages(net: Network, material: str) -> tuple[str, ...]:
    return net.groups[net.locate(material)[0]].stages


def _stockpile_notes(scenario: Scenario, ds: xr.Dataset, net: Network) -> tuple[str, ...]:
    """A note for each stockpile whose releases its holder could not use: released material that
    ends up in the holder's end-use stock because magnets also need elements the holder lacks."""
    notes = []
    regions = list(net.regions)
    for i, sp in enumerate(scenario.stockpile):
        holder = region_of(sp.holder, regions)
        if sp.material not in net.materials:
            continue
        level = ds["stockpile_t"].sel(material=sp.material, stage=sp.stage, region=holder)
        # every stockpile of this product held in the holder's simulation region
        held = sum(
            x.tonnes
            for x in scenario.stockpile
            if (region_of(x.holder, regions), x.material, x.stage) == (holder, sp.material, sp.stage)
        )
        released = float(held - level.isel(month=-1))
        stages = _stages(net, sp.material)
        inv = ds["inventory_t"].sel(material=sp.material, stage=stages[-1], region=holder)
        unused = float(inv.max("month") - inv.isel(month=0))
        if released > 1e-6 and unused > 0.1 * released:
            short = ds["shortfall_t"].sel(region=holder).sum(("month", "sector"))
            # the elements a magnet needs besides the stockpiled one (the recipe, docs/engine.md 4.5)
            recipe = [m for m in ("Nd", "Pr", "Dy", "Tb") if m in net.materials and m != sp.material]
            lacking = [m for m in recipe if float(short.sel(material=m)) > 1e-6]
            why = (
                f"its magnets also need {', '.join(lacking)}, short in {holder}"
                if lacking
                else "end users could not use it"
            )
            notes.append(
                f"stockpile[{i}] ({holder} {sp.material} {sp.stage}): {released:,.1f} t released, but up to "
                f"{min(unused, released):,.1f} t of it could not be used at end use: {why}"
            )
    return tuple(notes)


def run_scenario(
    scenario: Scenario,
    chain: SupplyChain | None = None,
    engine: str = "fast",
    mode: str | None = None,
) -> RunResult:
    """Run one scenario and return its labelled result (not stored; see :meth:`RunResult.save`).

    The result records the chain's fingerprint (data and blocs) as ``data_sha256``.
    """
    from critmin.results import RunResult, make_run_id, now_utc, to_dataset, to_trade

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
    dataset = to_dataset(net, groups, scenario.month_labels, levers=lv)
    prm = Params(chain.parameters)
    content = [prm.get("magnet_content", m, "magnet") if "magnet" in _stages(net, m) else np.nan for m in net.materials]
    dataset["magnet_content_pct"] = ("material", np.array(content, dtype=float))
    created = now_utc()
    return RunResult(
        run_id=make_run_id(scenario, engine, lv.mode, created),
        scenario=scenario,
        engine=engine,
        mode=lv.mode,
        dataset=dataset,
        trade_t=to_trade(net, groups, scenario.month_labels),
        notes=lv.notes + _stockpile_notes(scenario, dataset, net),
        data_sha256=chain.fingerprint,
        created_utc=created,
    )
