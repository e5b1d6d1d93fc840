"""The project-financing portfolio: which candidate projects to fund within a budget so that the
counted regions' pooled shortfall is smallest, verified out of sample with the full engine, every
candidate ranked by its risk reduction per dollar, and what the chosen projects make unnecessary
in a stockpile.

1. **Candidates**: the data's facility pipeline (``critmin/data/project_candidates.csv``: capex,
   probability of delivery and delay distribution, each with its source), a user's TOML file
   (:mod:`critmin.levers.candidates`) and candidates given in code; a later one with the same name
   replaces an earlier one. Each is placed on the scenario (:func:`~critmin.levers.candidates.resolve`):
   a candidate without a capex or without a capacity in element tonnes is listed, with why, and
   not chosen.
2. **In sample**: the scenario's ensemble (``draws``, ``seed``) keeps the monthly shortfall of the
   counted regions (``regions``, default the scenario's coalition members) for the objective
   materials (default: those the candidates produce), pooled over the regions: ``S[m, n, t]``.
   Each candidate's delivery (``p_delivery``) and delay are drawn per draw from the same seed, as
   ``[[uncertain]]`` entries of the scenario with every candidate in it (two entries each, in a
   fixed order: a candidate's draws do not depend on which others are on, and the scenario's own
   draws stay as they were). Its **effect** ``E[p, m, n, t]`` is
   ``engine`` (default): ``S`` minus the pooled shortfall of the full engine run with that candidate
       alone switched on, on the same draws: capacity reaches end use only where the chain around
       it can carry it (a magnet plant without metal supply, or a mine whose ore goes to an
       exporter's refiners, removes little);
   ``first_order``: its contained-element output (capacity × ramp × delivery × delay) carried to
       end use by the stage yields of the data, times the defence share of demand for a defence
       objective in ``market`` mode (an upper bound: every tonne reaches a short buyer).
3. **Choice**: the mixed-integer programme of :mod:`critmin.levers.portfolio_model` (effects add
   up, the residual shortfall is cut at zero month by month, the capex within the budget).
4. **Ranking**: each candidate's reduction of the objective alone (``objective(∅) −
   objective({p})``) and given the chosen set (what removing a chosen one, or adding another,
   changes), per million USD, in the model; and a ``why`` for each.
5. **Check**: the chosen set with every candidate's delivery and delay in the full engine, in
   sample (joint run, the same draws: how far the model's additivity is off) and **out of sample**
   (the chosen projects as ``[[project]]`` and ``[[uncertain]]`` entries, ``verify_draws`` fresh
   draws, ``verify_seed``, by default ``seed + 1,000,003``): the objective before and after with
   standard errors, the reduction with a paired one (the same draws of the scenario's own
   uncertainty with and without the projects).
6. **Stockpiles and projects as substitutes**: year by year, for each chosen project, its expected
   delivered output (end-use equivalent, t) and the shortfall it removes alone (its *relief*, t:
   what a stockpile would have had to release to do the same), also in days of the counted
   regions' consumption; the same for the set from the joint engine run. With
   ``stockpile_targets``, the least-cost stockpile meeting them (``optimize_stockpile``) without
   and with the chosen projects, and the difference: the stockpile the projects make unnecessary.

The horizon must be long enough for projects to matter: a candidate whose earliest start (its
start plus the smallest delay) is after the horizon delivers nothing and says so.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from critmin import __version__, names
from critmin.chain import SupplyChain
from critmin.engine.network import Network, build_network, region_of
from critmin.errors import UnknownNameError, UserError
from critmin.levers.candidates import (
    Candidate,
    Resolved,
    delivered_t,
    horizon_text,
    pipeline_candidates,
    pipeline_table,
    read_candidates,
    resolve,
)
from critmin.levers.portfolio_model import Objective, Problem, Solution, evaluate, per_draw, solve
from critmin.levers.targets import DEFAULT_TOLERANCE, cvar
from critmin.months import month_index, month_label
from critmin.risk import Ensemble, run_ensemble
from critmin.sampling import sample
from critmin.scenario import Scenario

#: added to the in-sample seed for the out-of-sample draws unless a seed is given
VERIFY_SEED_OFFSET = 1_000_003
EFFECTS = ("engine", "first_order")
#: the ranking's columns in the printed table
RANKING_COLUMNS = (
    "rank", "candidate", "capex_usd", "reduction_alone", "per_musd_alone", "reduction_given_chosen",
    "per_musd_given_chosen", "chosen", "why",
)  # fmt: skip
#: relative disagreement between the model and the joint engine run that earns a note
DISAGREEMENT = 0.2


class BudgetTooSmall(UserError):
    """The budget buys none of the candidates that can be chosen; the message gives the best reachable."""


@dataclass(frozen=True)
class PortfolioOptions:
    """What to choose from, how to measure it and the run's numbers (see the module docstring)."""

    budget_usd: float
    objective: str = "expected_shortfall"
    regions: tuple[str, ...] = ()
    materials: tuple[str, ...] = ()
    candidates_file: str | Path | None = None
    candidates: tuple[Candidate, ...] = ()
    pipeline: bool = True
    effect: str = "engine"
    draws: int = 300
    seed: int | None = None
    verify_draws: int = 2000
    verify_seed: int | None = None
    tolerance: float = DEFAULT_TOLERANCE
    time_limit_s: float = 120.0
    stockpile_targets: tuple[str, ...] = ()
    stockpile_materials: tuple[str, ...] = ()
    stockpile_stages: tuple[str, ...] = ()


@dataclass(frozen=True)
class PortfolioOutcome:
    """Everything ``critmin optimize portfolio`` reports (:meth:`document`, :meth:`tables`)."""

    scenario: str
    objective: Objective
    regions: tuple[str, ...]
    materials: tuple[str, ...]
    budget_usd: float
    effect: str
    chosen: tuple[str, ...]
    total_capex_usd: float
    ranking: pd.DataFrame
    values: pd.DataFrame
    substitutes: pd.DataFrame
    stockpile: pd.DataFrame | None
    scenario_after: Scenario
    added: dict[str, list[dict[str, Any]]]
    sources: pd.DataFrame
    solver: dict[str, Any]
    provenance: dict[str, Any]
    notes: tuple[str, ...] = field(default_factory=tuple)
    #: capex against the counted regions' expected economic loss avoided on the fresh draws
    cost_benefit: dict[str, float] = field(default_factory=dict)

    def value(self, basis: str) -> pd.Series:
        """The objective row of ``basis`` (``model, in sample``, ``engine, in sample``, ``engine,
        out of sample``)."""
        return self.values.set_index("basis").loc[basis]

    def document(self) -> dict[str, Any]:
        """The JSON document (``--format json``): plain values, NaN as null."""
        from critmin.tabular import plain, records

        return {
            "scenario": self.scenario,
            "objective": self.objective.name,
            "objective_description": self.objective.describe(),
            "units": self.objective.units,
            "regions": list(self.regions),
            "materials": list(self.materials),
            "budget_usd": self.budget_usd,
            "effect": self.effect,
            "chosen": list(self.chosen),
            "total_capex_usd": self.total_capex_usd,
            "objective_values": records(self.values),
            "cost_benefit": plain(self.cost_benefit),
            "candidates": records(self.ranking),
            "substitutes": records(self.substitutes),
            "stockpile": None if self.stockpile is None else records(self.stockpile),
            "projects_added": plain(self.added),
            "candidate_sources": records(self.sources),
            "solver": plain(self.solver),
            "provenance": plain(self.provenance),
            "notes": list(self.notes),
        }

    def tables(self) -> dict[str, pd.DataFrame]:
        """Titled tables for printing: the chosen set, the objective before and after, every
        candidate's ranking and why, the substitutes by year and (with targets) the stockpiles."""
        r = self.ranking
        chosen = r[r["chosen"]][
            ["candidate", "region", "stages", "capex_usd", "start", "p_delivery", "delay_months", "reduction_alone"]
        ]
        units = self.objective.units
        out = {
            f"portfolio ({self.objective.name}; budget ${self.budget_usd:,.0f}; "
            f"capex ${self.total_capex_usd:,.0f})": chosen.reset_index(drop=True),
            f"{self.objective.describe()}, {', '.join(self.regions)} pooled ({units})": self.values,
            "candidates, ranked by reduction per $M alone": r[list(RANKING_COLUMNS)],
            "stockpile a chosen project replaces, by year": self.substitutes,
        }
        if self.stockpile is not None:
            out["least-cost stockpile without and with the projects"] = self.stockpile
        return out


def optimize_portfolio(
    scenario: Scenario,
    chain: SupplyChain,
    options: PortfolioOptions,
    progress: Callable[[str], None] | None = None,
) -> PortfolioOutcome:
    """Choose, rank and verify a portfolio of candidate projects (see the module docstring).

    Examples
    --------
    Two user candidates on a five-year embargo scenario: a US magnet plant that starts within
    the horizon and one that starts after it; the budget buys one.

    >>> import critmin
    >>> from critmin.levers.candidates import Candidate
    >>> chain = critmin.SupplyChain.from_store(critmin.open_store())
    >>> s = critmin.load_scenario("china-embargo-framework-12m").with_changes(months=48, uncertain=[
    ...     {"field": "disruption[0].months", "dist": "uniform", "low": 12, "high": 48}])
    >>> a = Candidate(name="sep", region="USA", stage="separation", capacity_t_per_yr={"NdPr": 2000},
    ...               capex_usd=3e8, start="2026-07", ramp_months=12)
    >>> late = Candidate(name="late", region="USA", stage="separation", capacity_t_per_yr={"NdPr": 2000},
    ...                  capex_usd=1e8, start="2031-01")
    >>> opts = PortfolioOptions(budget_usd=4e8, candidates=(a, late), pipeline=False, draws=40, verify_draws=80)
    >>> out = optimize_portfolio(s, chain, opts)
    >>> out.chosen, out.ranking.set_index("candidate").loc["late", "why"].startswith("delivers nothing")
    (('sep',), True)
    """
    t0 = time.perf_counter()
    say = progress or (lambda _msg: None)
    objective = Objective.parse(options.objective)
    _check_options(options)
    net = build_network(chain, scenario.regions)
    listed = _collect(options, chain)
    resolved = tuple(resolve(c, origin, chain, scenario, net) for c, origin in listed)
    regions = _regions(options, scenario, net)
    materials = _materials(options, resolved, net, regions, objective.sector)
    pairs = [(m, r) for m in materials for r in regions if _demand(net, m, r, "all") > 0]
    seed = scenario.seed if options.seed is None else options.seed
    verify_seed = options.verify_seed if options.verify_seed is not None else seed + VERIFY_SEED_OFFSET
    sector = objective.sector
    notes: list[str] = []
    if not scenario.uncertain:
        notes.append("the scenario has no [[uncertain]] entries: only the candidates' delivery and delay vary")
    eligible = [r for r in resolved if not r.excluded]
    if not eligible:
        why = "; ".join(f"{r.name}: {r.excluded}" for r in resolved)
        raise UserError(f"none of the candidates can be chosen ({why})")
    T = scenario.months

    say(f"in sample: {options.draws:,} draws of {scenario.name} (seed {seed}), {', '.join(regions)} pooled")
    base = run_ensemble(scenario, chain, options.draws, seed=seed, keep_monthly=pairs, monthly_sector=sector)
    S, D = _pooled_monthly(base, materials, pairs, sector)
    drawn = sample(_with_candidates(scenario, eligible, set(range(len(eligible)))), 0, options.draws, seed)
    first = len(scenario.project)
    output = []  # (p, m, n, t) end-use equivalent delivered, first order
    starts = []
    for r in eligible:
        happens, shift = drawn[f"project[{first}].happens"], drawn[f"project[{first}].start_shift"]
        first += len(r.stages)
        output.append(_end_use_output(r, scenario, net, materials, happens, shift, T))
        starts.append(r.earliest_offset(scenario))
    out_t = np.stack(output) if output else np.zeros((0, *S.shape))
    in_horizon = np.array([s < T for s in starts])
    if options.effect == "first_order":
        reach = _reach(net, materials, regions, sector, scenario.mode)
        E = out_t * reach[None, :, None, None]
    else:
        E = np.zeros_like(out_t)
        for i, r in enumerate(eligible):
            if not in_horizon[i]:
                continue
            say(f"effect of {r.name}: the engine with it alone ({options.draws:,} draws)")
            ens = run_ensemble(
                _with_candidates(scenario, eligible, {i}), chain, options.draws, seed=seed, keep_monthly=pairs,
                monthly_sector=sector,
            )  # fmt: skip
            E[i] = S - _pooled_monthly(ens, materials, pairs, sector)[0]
    capex = np.array([r.candidate.capex_usd or math.nan for r in eligible])
    problem = Problem(
        S, E, D, capex, np.ones(len(eligible), dtype=bool), options.budget_usd, objective, options.tolerance,
        tuple(r.name for r in eligible),
    )  # fmt: skip
    none = np.zeros(len(eligible), dtype=bool)
    _check_budget(problem, eligible, objective)
    say(f"choosing within ${options.budget_usd:,.0f} ({len(eligible)} candidates, {options.draws:,} draws)")
    sol = solve(problem, options.time_limit_s)
    chosen_idx = [i for i in range(len(eligible)) if sol.chosen[i]]
    chosen = [eligible[i] for i in chosen_idx]
    ranking = _ranking(problem, sol, resolved, eligible, out_t, starts, scenario, options.effect)
    if objective.metric == "p" and evaluate(problem, none) >= 1.0:
        notes.append(
            f"every draw runs short ({objective.name} = 1 without projects), so no candidate can lower it unless it "
            "removes every short month of a draw: for projects that arrive after the first months, "
            f"{objective.sector + '_' if objective.sector == 'defence' else ''}expected_shortfall or cvar95 measures "
            "what they do"
        )

    # the full engine with the chosen set: in sample (joint, the same draws) and out of sample
    rows = [_row("model, in sample", problem, none, sol.chosen, options.draws, seed)]
    joint_S = S
    if chosen:
        say(f"in sample: the engine with the chosen set ({options.draws:,} draws)")
        joint = run_ensemble(
            _with_candidates(scenario, eligible, set(chosen_idx)), chain, options.draws, seed=seed,
            keep_monthly=pairs, monthly_sector=sector,
        )  # fmt: skip
        joint_S = _pooled_monthly(joint, materials, pairs, sector)[0]
    rows.append(_engine_row("engine, in sample", objective, options.tolerance, S, joint_S, D, options.draws, seed))
    after = _with_candidates(scenario, chosen, set(range(len(chosen))))
    say(f"out of sample: {options.verify_draws:,} fresh draws (seed {verify_seed}), without and with the projects")
    ver0 = run_ensemble(scenario, chain, options.verify_draws, seed=verify_seed)
    ver1 = run_ensemble(after, chain, options.verify_draws, seed=verify_seed) if chosen else ver0
    x0, d0 = _pooled_horizon(ver0, materials, pairs, sector)
    x1, _ = _pooled_horizon(ver1, materials, pairs, sector)
    rows.append(_measured_row("engine, out of sample", objective, options.tolerance, x0, x1, d0, verify_seed))
    values = pd.DataFrame(rows)
    notes += _disagreement(values, objective, options.effect)
    cost_benefit = _cost_benefit(ver0, ver1, chain, regions, float(np.nansum(capex[sol.chosen])))

    say("substitutes: what the chosen projects replace in a stockpile, by year")
    subs = _substitutes(scenario, net, chosen_idx, eligible, problem, out_t, S, joint_S, materials, regions, sector)
    stock = None
    if options.stockpile_targets and chosen:
        stock, more = _stockpile(scenario, after, chain, options, materials, regions, net, say)
        notes += more
    notes += [f"{r.name}: {n}" for r in resolved for n in r.notes]
    added = {
        "project": [p for r in chosen for p in r.projects()],
        "uncertain": [u for u in after.model_dump(mode="json")["uncertain"][len(scenario.uncertain) :]],
    }
    used = {r.name for r in resolved if r.origin == "pipeline"}
    table = pipeline_table()
    sources = table[table["candidate"].isin(used)].reset_index(drop=True)
    provenance = {
        "scenario": scenario.name,
        "scenario_sha256": scenario.digest(),
        "scenario_after_sha256": after.digest(),
        "data_sha256": chain.fingerprint,
        "horizon": horizon_text(scenario),
        "months": T,
        "mode": scenario.mode,
        "seed": seed,
        "draws": options.draws,
        "verify_seed": verify_seed,
        "verify_draws": options.verify_draws,
        "tolerance": options.tolerance,
        "critmin_version": __version__,
        "seconds": round(time.perf_counter() - t0, 2),
    }
    solver = {"status": sol.status, "seconds": round(sol.seconds, 3), **sol.stats}
    if sol.status == "time_limit":
        gap = sol.stats.get("mip_gap")
        notes.append(
            f"the solver stopped at its time limit ({options.time_limit_s:g} s) with a gap of "
            + (f"{gap:.1%}" if isinstance(gap, float) and math.isfinite(gap) else "unknown size")
            + " to the best possible: the set chosen may not be the best (raise --time-limit)"
        )
    return PortfolioOutcome(
        scenario.name, objective, tuple(regions), tuple(materials), options.budget_usd, options.effect,
        tuple(r.name for r in chosen), float(np.nansum(capex[sol.chosen])), ranking, values, subs, stock, after,
        added, sources, solver, provenance, tuple(dict.fromkeys(notes)), cost_benefit,
    )  # fmt: skip


def _cost_benefit(
    before: Ensemble, after: Ensemble, chain: SupplyChain, regions: Sequence[str], capex_usd: float
) -> dict[str, float]:
    """The counted regions' expected economic loss on the fresh draws without and with the chosen
    projects (:func:`critmin.levers.valuation.economic_loss`), the loss avoided and its ratio to
    the capex."""
    from critmin.levers.valuation import cost_benefit, regions_loss

    def loss(ens: Ensemble) -> float:
        return regions_loss(ens, chain, regions).expected_total_usd

    return cost_benefit(capex_usd, loss(before), loss(after))


# -- options, candidates, regions, materials ----------------------------------------------------
def _check_options(o: PortfolioOptions) -> None:
    if not (isinstance(o.budget_usd, int | float) and math.isfinite(o.budget_usd) and o.budget_usd > 0):
        raise UserError(f"--budget must be a positive finite number of USD (got {o.budget_usd})")
    if o.effect not in EFFECTS:
        raise UnknownNameError("effect", o.effect, EFFECTS)
    if not 1 <= o.draws <= 20_000:
        raise UserError(f"--draws must be between 1 and 20,000 for the optimisation (got {o.draws})")
    if not 1 <= o.verify_draws <= 10_000_000:
        raise UserError(f"--verify-draws must be between 1 and 10,000,000 (got {o.verify_draws})")
    if not (math.isfinite(o.tolerance) and 0 <= o.tolerance < 1):
        raise UserError(f"--tolerance must be a share between 0 and 1 (got {o.tolerance})")
    if not (math.isfinite(o.time_limit_s) and o.time_limit_s > 0):
        raise UserError(f"--time-limit must be a positive number of seconds (got {o.time_limit_s})")


def _collect(o: PortfolioOptions, chain: SupplyChain) -> list[tuple[Candidate, str]]:
    """Pipeline, file and given candidates; a later one with the same name replaces an earlier one."""
    found: dict[str, tuple[Candidate, str]] = {}
    if o.pipeline:
        found.update((c.name, (c, "pipeline")) for c in pipeline_candidates())
    if o.candidates_file is not None:
        found.update((c.name, (c, str(o.candidates_file))) for c in read_candidates(o.candidates_file, chain))
    found.update((c.name, (c, "given")) for c in o.candidates)
    if not found:
        raise UserError("no candidates: give --candidates FILE or leave the data's pipeline in")
    return list(found.values())


def _demand(net: Network, material: str, region: str, sector: str) -> float:
    """Base-year end-use demand, t per month (the defence sector's alone for ``defence``)."""
    gi, mi = net.locate(material)
    d = net.groups[gi].demand0[mi, net.regions.index(region)]
    return float(d[net.sectors.index("defence")] if sector == "defence" else d.sum())


def _regions(o: PortfolioOptions, scenario: Scenario, net: Network) -> list[str]:
    """The counted regions: ``o.regions`` (regions, countries or blocs of the scenario), default
    the members of the scenario's coalition, each as the simulated region it belongs to."""
    given: list[str] = []
    for name in o.regions or (scenario.coalition,):
        given += list(scenario.blocs.members(name)) if name in scenario.blocs else [name]
    out: list[str] = []
    for name in given:
        key = str(name).strip().upper()
        if key in net.regions:
            code = key
        else:
            try:
                code = region_of(names.country(key), net.regions)
            except UnknownNameError:
                valid = (*net.regions, *scenario.blocs.names)
                raise UnknownNameError("region, country or bloc (--regions)", str(name), valid) from None
        if code not in out:
            out.append(code)
    return out


def _materials(
    o: PortfolioOptions, resolved: Sequence[Resolved], net: Network, regions: list[str], sector: str
) -> list[str]:
    if o.materials:
        wanted: list[str] = []
        for m in o.materials:
            mid = names.material(m)
            if mid not in net.materials:
                raise UserError(f"--materials: {mid} is not simulated (simulated: {', '.join(net.materials)})")
            wanted.append(mid)
    else:
        made = {m for r in resolved if not r.excluded for m in r.capacity_t_per_yr}
        wanted = [m for m in net.materials if m in made]
    out = [m for m in dict.fromkeys(wanted) if any(_demand(net, m, r, sector) > 0 for r in regions)]
    if not out:
        what = "defence demand" if sector == "defence" else "demand"
        raise UserError(
            f"none of the materials {', '.join(wanted) or '(none)'} has {what} in {', '.join(regions)}: "
            "choose --regions or --materials"
        )
    return out


# -- scenarios and draws ------------------------------------------------------------------------
def _with_candidates(scenario: Scenario, items: Sequence[Resolved], on: set[int]) -> Scenario:
    """``scenario`` with the candidates' projects and two ``[[uncertain]]`` entries each (after its
    own, in order), the ones not in ``on`` never delivered."""
    if not items:
        return scenario
    projects = [p.model_dump(mode="python") for p in scenario.project]
    uncertain = [u.model_dump(mode="python") for u in scenario.uncertain]
    k = len(projects)
    for i, r in enumerate(items):
        projects += r.projects()
        uncertain += r.uncertain(k, on=i in on)
        k += len(r.stages)
    return scenario.with_changes(project=projects, uncertain=uncertain)


def _pooled_monthly(
    ens: Ensemble, materials: Sequence[str], pairs: Sequence[tuple[str, str]], sector: str
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(material, draw, month) shortfall and (material, draw) demand over the horizon, pooled over
    the counted regions."""
    monthly = ens.monthly_shortfall()
    n, months = ens.draws, int(monthly.sizes["month"])
    S = np.zeros((len(materials), n, months))
    D = np.zeros((len(materials), n))
    dem = "defence_demand_t" if sector == "defence" else "demand_t"
    for j, m in enumerate(materials):
        for mm, r in pairs:
            if mm == m:
                S[j] += monthly.sel(material=m, region=r).values
                D[j] += ens[dem].sel(material=m, region=r).values
    return np.maximum(S, 0.0), D


def _pooled_horizon(
    ens: Ensemble, materials: Sequence[str], pairs: Sequence[tuple[str, str]], sector: str
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(material, draw) shortfall and demand over the horizon, pooled over the counted regions."""
    short = "defence_shortfall_t" if sector == "defence" else "shortfall_t"
    dem = "defence_demand_t" if sector == "defence" else "demand_t"
    X = np.zeros((len(materials), ens.draws))
    D = np.zeros((len(materials), ens.draws))
    for j, m in enumerate(materials):
        for mm, r in pairs:
            if mm == m:
                X[j] += ens[short].sel(material=m, region=r).values
                D[j] += ens[dem].sel(material=m, region=r).values
    return np.maximum(X, 0.0), D


def _end_use_output(
    r: Resolved,
    scenario: Scenario,
    net: Network,
    materials: Sequence[str],
    happens: NDArray[np.float64],
    shift: NDArray[np.float64],
    months: int,
) -> NDArray[np.float64]:
    """(material, draw, month): the candidate's delivered output carried to end use by the stage
    yields after its last stage (t of element per month)."""
    out = np.zeros((len(materials), happens.size, months))
    last = r.stages[-1]
    for m, series in delivered_t(r, scenario, happens, shift, months).items():
        if m not in materials:
            continue
        gi, mi = net.locate(m)
        g = net.groups[gi]
        k = g.stages.index(last)
        y = float(np.prod([g.yield_[mi, j] for j in range(k + 1, len(g.stages))]))
        out[list(materials).index(m)] = series * y
    return out


def _reach(
    net: Network, materials: Sequence[str], regions: Sequence[str], sector: str, mode: str
) -> NDArray[np.float64]:
    """Share of end-use supply that reaches the measured sector, first order: the defence share of
    the counted regions' demand for a defence objective in ``market`` mode (supply is shared pro
    rata there), else 1."""
    out = np.ones(len(materials))
    if sector != "defence" or mode != "market":
        return out
    for j, m in enumerate(materials):
        total = sum(_demand(net, m, r, "all") for r in regions)
        out[j] = sum(_demand(net, m, r, "defence") for r in regions) / total if total > 0 else 1.0
    return out


# -- budget, ranking, why -----------------------------------------------------------------------
def _check_budget(pb: Problem, eligible: Sequence[Resolved], o: Objective) -> None:
    capex = pb.capex_usd
    fits = np.isfinite(capex) & (capex <= pb.budget_usd)
    if fits.any():
        return
    i = int(np.nanargmin(capex))
    base = evaluate(pb, np.zeros(pb.candidates, dtype=bool))
    raise BudgetTooSmall(
        f"--budget ${pb.budget_usd:,.0f} buys none of the {len(eligible)} candidates that can be chosen "
        f"(cheapest: {eligible[i].name} at ${capex[i]:,.0f}); the best reachable within it is no project: "
        f"{o.name} {base:.4g} {o.units} in sample"
    )


@dataclass(frozen=True)
class _Facts:
    """What the ranking knows of the candidates (arrays in the eligible candidates' order)."""

    value0: float  # objective without any candidate
    alone: NDArray[np.float64]  # objective(none) - objective({p})
    given: NDArray[np.float64]  # what removing a chosen one / adding another changes
    per_alone: NDArray[np.float64]  # per million USD
    per_given: NDArray[np.float64]
    tonnes: NDArray[np.float64]  # shortfall removed alone, t (expected, materials summed)
    overlap: NDArray[np.float64]  # first-order output in months with shortfall, t (expected)
    left: float  # budget left after the chosen set
    tiny: float


def _facts(pb: Problem, sol: Solution, out_t: NDArray[np.float64]) -> _Facts:
    n = pb.candidates
    v0 = evaluate(pb, np.zeros(n, dtype=bool))
    vc = evaluate(pb, sol.chosen)
    alone = np.array([v0 - evaluate(pb, np.eye(n, dtype=bool)[i]) for i in range(n)])
    given = np.zeros(n)
    for i in range(n):
        trial = sol.chosen.copy()
        trial[i] = not trial[i]
        given[i] = evaluate(pb, trial) - vc if sol.chosen[i] else vc - evaluate(pb, trial)
    S = pb.shortfall_t
    tonnes = np.array([(S - np.maximum(S - pb.effect_t[i], 0.0)).sum(axis=(0, 2)).mean() for i in range(n)])
    overlap = np.array([(out_t[i] * (S > 0)).sum(axis=(0, 2)).mean() for i in range(n)])
    musd = pb.capex_usd / 1e6
    left = pb.budget_usd - float(np.nansum(pb.capex_usd[sol.chosen]))
    return _Facts(v0, alone, given, alone / musd, given / musd, tonnes, overlap, left, 1e-9 * max(abs(v0), 1e-12))


def _ranking(
    pb: Problem,
    sol: Solution,
    resolved: Sequence[Resolved],
    eligible: Sequence[Resolved],
    out_t: NDArray[np.float64],
    starts: Sequence[float],
    scenario: Scenario,
    effect: str,
) -> pd.DataFrame:
    """One row per candidate (excluded ones too): its data, its reductions alone and given the
    chosen set, per million USD, and why it was or was not chosen; ranked by reduction per $ alone."""
    f = _facts(pb, sol, out_t)
    end = month_label(month_index(scenario.start) + scenario.months - 1)
    rows = []
    for r in resolved:
        c = r.candidate
        row: dict[str, Any] = {
            "candidate": r.name, "origin": r.origin, "status": c.status, "region": r.region,
            "stages": "+".join(r.stages), "capacity_t_per_yr": _caps_text(r.capacity_t_per_yr),
            "capex_usd": c.capex_usd if c.capex_usd is not None else math.nan, "start": r.start or "",
            "p_delivery": c.p_delivery, "delay_months": c.delay_months.text() if c.delay_months else "none",
            "earliest_output": "", "expected_output_t": math.nan, "shortfall_removed_alone_t": math.nan,
            "reduction_alone": math.nan, "per_musd_alone": math.nan, "reduction_given_chosen": math.nan,
            "per_musd_given_chosen": math.nan, "chosen": False, "why": "",
        }  # fmt: skip
        if r.excluded:
            row["why"] = f"not considered: {r.excluded}"
            rows.append(row)
            continue
        i = next(j for j, e in enumerate(eligible) if e is r)
        earliest = month_label(month_index(scenario.start) + int(starts[i]))
        row.update(
            earliest_output=earliest if starts[i] < scenario.months else f"after {end}",
            expected_output_t=float(out_t[i].sum(axis=(0, 2)).mean()), shortfall_removed_alone_t=f.tonnes[i],
            reduction_alone=f.alone[i], per_musd_alone=f.per_alone[i], reduction_given_chosen=f.given[i],
            per_musd_given_chosen=f.per_given[i], chosen=bool(sol.chosen[i]),
        )  # fmt: skip
        late = starts[i] >= scenario.months
        row["why"] = _why(i, pb, sol, f, earliest, end, late, effect)
        rows.append(row)
    df = pd.DataFrame(rows)
    order = df.assign(
        _x=df["candidate"].map({r.name: bool(r.excluded) for r in resolved}),
        _p=df["per_musd_alone"].fillna(-np.inf),
    ).sort_values(["_x", "_p", "capex_usd"], ascending=[True, False, True], kind="stable")
    df = df.loc[order.index].reset_index(drop=True)
    df.insert(0, "rank", np.arange(1, len(df) + 1))
    return df


def _why(i: int, pb: Problem, sol: Solution, f: _Facts, earliest: str, end: str, late: bool, effect: str) -> str:
    """Why candidate ``i`` was or was not chosen, in one sentence."""
    o = pb.objective
    u = o.units
    capex = float(pb.capex_usd[i])
    tiny = f.tiny
    if sol.chosen[i]:
        text = (
            f"chosen: cuts {o.name} by {f.alone[i]:.4g} {u} alone ({f.per_alone[i]:.4g} per $M) and by "
            f"{f.given[i]:.4g} given the rest of the set"
        )
        best = float(np.max(f.per_alone[sol.chosen]))
        if f.per_alone[i] < 0.01 * best:
            text += "; a small gain (under 1% of the best chosen per $M), bought because the budget had room"
        return text
    if late:
        return (
            f"delivers nothing in the horizon: output starts {earliest} at the earliest, after the horizon ends ({end})"
        )
    if capex > pb.budget_usd:
        return f"over budget: capex ${capex:,.0f} is above the budget ${pb.budget_usd:,.0f}"
    if f.alone[i] <= tiny:
        if f.tonnes[i] > 1e-9 * max(float(pb.shortfall_t.sum(axis=(0, 2)).mean()), 1e-12):
            where = {
                "p": "the draws it helps still run short above the tolerance at other times (e.g. before it delivers)",
                "cvar": "not in the worst draws",
                "expected_shortfall": "",
            }[o.metric]
            return f"removes {f.tonnes[i]:.4g} t of shortfall but does not change {o.name}: {where}"
        if f.overlap[i] <= 1e-9:
            return "reduces nothing alone: it delivers only in months without shortfall (after the disruption)"
        if effect == "engine":
            return (
                "reduces nothing alone: in the engine its output does not reach the counted regions' end use while "
                "they are short (no input or no downstream capacity for it there, or it goes to other buyers)"
            )
        return "reduces nothing alone"
    if f.given[i] <= tiny:
        return "adds nothing given the chosen set: the shortfall it would remove is removed already"
    chosen_per = f.per_alone[sol.chosen]
    if capex > f.left + 1e-6:
        if chosen_per.size and f.per_alone[i] < float(np.min(chosen_per)):
            return (
                f"dominated: {f.per_alone[i]:.4g} per $M alone, below every chosen project's "
                f"({float(np.min(chosen_per)):.4g} to {float(np.max(chosen_per)):.4g}); capex ${capex:,.0f}, "
                f"${f.left:,.0f} left"
            )
        return (
            f"does not fit with the chosen set (capex ${capex:,.0f}, ${f.left:,.0f} left): the chosen set cuts more "
            f"within the budget although this one cuts {f.per_alone[i]:.4g} per $M alone"
        )
    return (
        f"fits (${f.left:,.0f} left) and would add {f.given[i]:.4g} {u}: not taken within the solver's optimality gap"
    )


def _caps_text(caps: dict[str, float]) -> str:
    return ", ".join(f"{m} {v:,.0f}" for m, v in caps.items())


# -- measuring the objective --------------------------------------------------------------------
def _measure(
    o: Objective, tol: float, x: NDArray[np.float64], d: NDArray[np.float64]
) -> tuple[float, float, NDArray[np.float64]]:
    """(value, stderr, per-draw values whose mean is the value or None-like for CVaR) of the
    objective on (material, draw) horizon shortfalls ``x`` and demands ``d``."""
    n = x.shape[1]
    if o.metric == "expected_shortfall":
        tot = x.sum(axis=0)
        return float(tot.mean()), float(tot.std(ddof=1) / math.sqrt(n)) if n > 1 else 0.0, tot
    if o.metric == "cvar":
        tot = x.sum(axis=0)
        v, se = cvar(tot, o.alpha)
        var = v - float(np.maximum(tot - _var(tot, o.alpha), 0.0).mean()) / (1 - o.alpha)
        return v, se, var + np.maximum(tot - var, 0.0) / (1 - o.alpha)  # per draw, mean = CVaR
    hit = (x > tol * d + 1e-9).any(axis=0).astype(float)
    p = float(hit.mean())
    return p, math.sqrt(p * (1 - p) / n), hit


def _var(x: NDArray[np.float64], alpha: float) -> float:
    """The ``alpha`` quantile of ``x`` as :func:`~critmin.levers.targets.cvar` takes it."""
    xs = np.sort(x)
    return float(xs[min(xs.size - 1, math.ceil(alpha * xs.size) - 1)])


def _paired(
    o: Objective, a: tuple[float, float, NDArray[np.float64]], b: tuple[float, float, NDArray[np.float64]]
) -> float:
    """The standard error of ``a - b`` on the same draws: of the mean of the per-draw differences
    (for CVaR the per-draw terms of the Rockafellar–Uryasev form at each one's VaR, whose mean is
    the CVaR: the VaR's own sampling error is left out, as in a single CVaR's standard error)."""
    diff = a[2] - b[2]
    return float(diff.std(ddof=1) / math.sqrt(diff.size)) if diff.size > 1 else 0.0


def _values(basis: str, o: Objective, draws: int, seed: int, a: Any, b: Any) -> dict[str, Any]:
    return {
        "basis": basis, "draws": draws, "seed": seed, "before": a[0], "before_stderr": a[1], "after": b[0],
        "after_stderr": b[1], "reduction": a[0] - b[0], "reduction_stderr": _paired(o, a, b),
    }  # fmt: skip


def _row(
    basis: str, pb: Problem, none: NDArray[np.bool_], chosen: NDArray[np.bool_], draws: int, seed: int
) -> dict[str, Any]:
    o = pb.objective
    a = _measure(o, pb.tolerance, per_draw(pb, none)[0], pb.demand_t)
    b = _measure(o, pb.tolerance, per_draw(pb, chosen)[0], pb.demand_t)
    return _values(basis, o, draws, seed, a, b)


def _engine_row(
    basis: str, o: Objective, tol: float, S0: NDArray[np.float64], S1: NDArray[np.float64], D: NDArray[np.float64],
    draws: int, seed: int,
) -> dict[str, Any]:  # fmt: skip
    return _values(basis, o, draws, seed, _measure(o, tol, S0.sum(axis=2), D), _measure(o, tol, S1.sum(axis=2), D))


def _measured_row(
    basis: str, o: Objective, tol: float, x0: NDArray[np.float64], x1: NDArray[np.float64], d: NDArray[np.float64],
    seed: int,
) -> dict[str, Any]:  # fmt: skip
    return _values(basis, o, x0.shape[1], seed, _measure(o, tol, x0, d), _measure(o, tol, x1, d))


def _disagreement(values: pd.DataFrame, o: Objective, effect: str) -> list[str]:
    v = values.set_index("basis")
    model, engine = float(v.loc["model, in sample", "reduction"]), float(v.loc["engine, in sample", "reduction"])
    big = max(abs(model), abs(engine))
    if big <= 0 or abs(model - engine) <= DISAGREEMENT * big:
        return []
    why = (
        "first-order effects count every tonne of capacity as reaching a short buyer, which the engine's chain "
        "(inputs, downstream capacity, who buys) does not allow; run with effect engine"
        if effect == "first_order"
        else "the chosen projects interact (they cover the same shortfall, or one needs another's output), which "
        "the additive model leaves out"
    )
    return [
        f"the model's reduction ({model:.4g} {o.units}) and the joint engine run's on the same draws "
        f"({engine:.4g}) differ by more than {DISAGREEMENT:.0%}: {why}; the engine's rows are the measure"
    ]


# -- substitutes --------------------------------------------------------------------------------
def _substitutes(
    scenario: Scenario,
    net: Network,
    chosen_idx: Sequence[int],
    eligible: Sequence[Resolved],
    pb: Problem,
    out_t: NDArray[np.float64],
    S: NDArray[np.float64],
    joint_S: NDArray[np.float64],
    materials: Sequence[str],
    regions: Sequence[str],
    sector: str,
) -> pd.DataFrame:
    """Per chosen project (and the set, from the joint engine run), calendar year and material:
    expected delivered output (end-use equivalent, t), the shortfall removed (relief, t: the
    stockpile release it makes unnecessary) and that in days of the counted regions' consumption."""
    first = month_index(scenario.start)
    years = np.array([(first + t) // 12 for t in range(scenario.months)])
    per_day = np.array([sum(_demand(net, m, r, sector) for r in regions) * 12 / 365 for m in materials])
    rows = []

    def add(label: str, output: NDArray[np.float64] | None, relief: NDArray[np.float64]) -> None:
        for y in np.unique(years):
            sel = years == y
            for j, m in enumerate(materials):
                rel = float(relief[j][:, sel].sum(axis=1).mean())
                out = float(output[j][:, sel].sum(axis=1).mean()) if output is not None else math.nan
                if abs(rel) <= 1e-9 and (output is None or abs(out) <= 1e-9):
                    continue
                rows.append(
                    {"project": label, "year": int(y), "material": m, "expected_output_t": out, "relief_t": rel,
                     "days_of_consumption": rel / per_day[j] if per_day[j] > 0 else math.nan}
                )  # fmt: skip

    for i in chosen_idx:
        relief = S - np.maximum(S - pb.effect_t[i], 0.0)
        add(eligible[i].name, out_t[i], relief)
    if chosen_idx:
        add("(chosen set, engine)", out_t[list(chosen_idx)].sum(axis=0), S - joint_S)
    cols = ["project", "year", "material", "expected_output_t", "relief_t", "days_of_consumption"]
    return pd.DataFrame(rows, columns=cols)


def _stockpile(
    scenario: Scenario,
    after: Scenario,
    chain: SupplyChain,
    o: PortfolioOptions,
    materials: Sequence[str],
    regions: Sequence[str],
    net: Network,
    say: Callable[[str], None],
) -> tuple[pd.DataFrame | None, list[str]]:
    """The least-cost stockpile meeting ``o.stockpile_targets`` without and with the chosen
    projects, per holder and item, and the difference."""
    from critmin.levers.holdings import NDFEB, NDFEB_ELEMENTS
    from critmin.levers.stockpile import StockpileOptions, optimize_stockpile

    held = list(o.stockpile_materials)
    if not held:  # magnet elements are held as magnets (a stockpile of Nd alone cannot make them)
        held = [m for m in materials if m not in NDFEB_ELEMENTS]
        if any(m in NDFEB_ELEMENTS for m in materials):
            held.insert(0, NDFEB)
    measured = [NDFEB_ELEMENTS[0] if m.lower() == NDFEB.lower() else m for m in held]
    holders = tuple(r for r in regions if all(_demand(net, names.material(m), r, "all") > 0 for m in measured))
    if not holders:
        return None, ["stockpile: no counted region consumes every stockpile material; no joint stockpile run"]
    opts = StockpileOptions(
        holders, tuple(held), tuple(o.stockpile_targets), stages=tuple(o.stockpile_stages),
        draws=min(o.draws, 20_000), seed=o.seed, verify_draws=o.verify_draws, verify_seed=o.verify_seed,
        tolerance=o.tolerance, time_limit_s=o.time_limit_s,
    )  # fmt: skip
    cols = ["case", "holder", "material", "stage", "tonnes", "days_of_cover", "cost_usd", "met"]
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    done: list[str] = []
    for label, scn in (("without projects", scenario), ("with projects", after)):
        say(f"stockpile {label}: {', '.join(o.stockpile_targets)}")
        try:
            res = optimize_stockpile(scn, chain, opts)
        except UserError as exc:
            notes.append(f"stockpile {label}: {exc}")
            continue
        met = bool(res.result("independent").met)
        rows += [{**rec, "case": label, "met": met} for rec in res.recommendation("independent").to_dict("records")]
        done.append(label)
    if not done:
        return None, notes
    if len(done) == 2:
        sums: dict[tuple[str, str, str], list[float]] = {}
        for row in rows:
            key = (str(row["case"]), str(row["holder"]), str(row["material"]))
            acc = sums.setdefault(key, [0.0, 0.0])
            acc[0] += float(row["tonnes"])
            acc[1] += float(row["cost_usd"])
        for h, m in sorted({(h, m) for _, h, m in sums}):
            w = sums.get(("without projects", h, m), [0.0, 0.0])
            v = sums.get(("with projects", h, m), [0.0, 0.0])
            rows.append(
                {"case": "made unnecessary", "holder": h, "material": m, "stage": "", "tonnes": w[0] - v[0],
                 "days_of_cover": math.nan, "cost_usd": w[1] - v[1], "met": None}
            )  # fmt: skip
        saved = sum(v[1] if k[0] == "without projects" else -v[1] for k, v in sums.items())
        rows.append(
            {"case": "made unnecessary", "holder": "all", "material": "all", "stage": "", "tonnes": math.nan,
             "days_of_cover": math.nan, "cost_usd": saved, "met": None}
        )  # fmt: skip
    df = pd.DataFrame([{c: row.get(c) for c in cols} for row in rows], columns=cols)
    return df, notes
