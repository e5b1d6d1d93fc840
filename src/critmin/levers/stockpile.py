"""Stockpile sizing over a risk ensemble, verified out of sample with the full engine.

1. Run the scenario's Monte Carlo ensemble (``draws``, ``seed``), keeping each holder's monthly
   end-use shortfall of the chosen materials (defence alone for ``defence_`` targets).
2. Solve the least-cost stockpile that meets the targets over those draws
   (:mod:`critmin.levers.stockpile_model`, a sample-average approximation).
3. **Out of sample**: put the recommendation into the scenario as ``[[stockpile]]`` entries and
   run the full engine on fresh draws (``verify_seed``, by default ``seed + 1,000,003``); measure
   every target with its standard error.
   The ``independent`` regime runs (in and out of sample) in the scenario's mode; ``complementary``
   in ``coordinated`` mode, the engine's arrangement among the coalition: it pools the members'
   stockpiles (holder first, then the partners pro rata) and routes supply by sector priority, so
   defence is served first (docs/engine.md §3, §4.7). What cooperation saves is therefore the
   saving of that whole arrangement, not of sharing stocks alone.
4. If a target fails, re-sample (new in-sample draws, seed + round) with the stockpile in place,
   solve for what to add to it against a tighter in-sample bound (the target times target /
   verified value, at most 0.9 of the last: the sample-average answer fits its own draws; this
   calibrates it on the engine's verdict), and verify again, until every target holds, the budget is spent,
   ``max_rounds`` is reached or a round closes less than 5 % of the gap (``no_progress``).

Next to it, the benchmark users know: a buffer of ``benchmark_days`` (60) of each holder's
consumption of each material, its cost and the risk it leaves, on the same fresh draws.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from critmin import __version__
from critmin.chain import SupplyChain
from critmin.errors import UserError
from critmin.levers.holdings import NDFEB, Holdings, Item
from critmin.levers.stockpile_model import REGIMES, Problem, Solution, TargetUnreachable, solve
from critmin.levers.targets import DEFAULT_TOLERANCE, Target, measure, parse_target, target_sector
from critmin.risk import Ensemble, run_ensemble
from critmin.scenario import Scenario

#: added to the in-sample seed for the out-of-sample draws unless a seed is given
VERIFY_SEED_OFFSET = 1_000_003
#: the most in-sample draws: the model holds a variable per holder, item, draw and month (and a
#: binary per holder and draw for a probability target)
MAX_DRAWS = 5_000
#: a round that closes less than this share of the remaining gap to the targets ends the rounds
MIN_PROGRESS = 0.05
#: after a miss out of sample the in-sample bound shrinks by bound / value, at least by this factor
TIGHTEN_MAX = 0.9
#: stages tried, in this order, for the benchmark buffer of an element (NdFeB: magnets)
BENCHMARK_STAGES = ("separation", "metal", "magnet")


@dataclass(frozen=True)
class StockpileOptions:
    """What to size: holders, materials, stages, targets and the run's numbers."""

    holders: tuple[str, ...]
    materials: tuple[str, ...]
    targets: tuple[str, ...]
    stages: tuple[str, ...] = ()
    regime: str = "independent"  # or complementary, both
    draws: int = 500
    seed: int | None = None
    verify_draws: int = 2000
    verify_seed: int | None = None
    budget_usd: float | None = None
    buy_months: float = 12.0
    carrying_share_per_yr: float | None = None
    tolerance: float = DEFAULT_TOLERANCE
    max_rounds: int = 5
    time_limit_s: float = 120.0
    benchmark_days: float = 60.0


@dataclass(frozen=True)
class Check:
    """One target measured out of sample for one holder."""

    target: str
    holder: str
    value: float
    stderr: float
    met: bool


@dataclass(frozen=True)
class RegimeResult:
    """The verified recommendation of one regime."""

    regime: str
    tonnes: NDArray[np.float64]  # (holder, item)
    release_t_per_month: NDArray[np.float64]
    cost_usd: NDArray[np.float64]  # (holder, item)
    checks: tuple[Check, ...]
    rounds: int
    met: bool
    solver: tuple[dict[str, Any], ...]  # per round
    verify_mode: str
    stopped: str  # why the rounds stopped
    #: the holders' expected economic loss (value of output stopped) on the fresh draws, USD,
    #: with the stockpile and its standard error (see :mod:`critmin.levers.valuation`)
    loss_after_usd: float = math.nan
    loss_after_stderr_usd: float = math.nan

    @property
    def total_cost_usd(self) -> float:
        return float(self.cost_usd.sum())


@dataclass(frozen=True)
class StockpileOutcome:
    """Everything ``critmin optimize stockpile`` reports."""

    scenario: str
    holdings: Holdings
    targets: tuple[Target, ...]
    results: tuple[RegimeResult, ...]
    benchmark: pd.DataFrame
    provenance: dict[str, Any]
    notes: tuple[str, ...] = field(default_factory=tuple)
    #: the holders' expected economic loss on the fresh draws without any added stockpile
    loss_before_usd: float = math.nan
    loss_before_stderr_usd: float = math.nan

    def cost_benefit(self) -> pd.DataFrame:
        """Per regime: the stockpile's cost against the expected loss it avoids (and their ratio)."""
        rows = []
        for r in self.results:
            avoided = self.loss_before_usd - r.loss_after_usd
            rows.append(
                {"regime": r.regime, "cost_usd": r.total_cost_usd, "expected_loss_before_usd": self.loss_before_usd,
                 "expected_loss_after_usd": r.loss_after_usd, "loss_avoided_usd": avoided,
                 "benefit_cost_ratio": avoided / r.total_cost_usd if r.total_cost_usd > 0 else math.nan}
            )  # fmt: skip
        return pd.DataFrame(rows)

    def result(self, regime: str) -> RegimeResult:
        return next(r for r in self.results if r.regime == regime)

    @property
    def savings_vs_independent_usd(self) -> float | None:
        regimes = {r.regime: r for r in self.results}
        if "independent" in regimes and "complementary" in regimes:
            return regimes["independent"].total_cost_usd - regimes["complementary"].total_cost_usd
        return None

    def recommendation(self, regime: str | None = None) -> pd.DataFrame:
        """One row per holder and item held: tonnes, release limit, days of cover, cost."""
        rows = []
        book = self.holdings
        for res in self.results if regime is None else [self.result(regime)]:
            for h, holder in enumerate(book.holders):
                for i, it in enumerate(book.items):
                    t = float(res.tonnes[h, i])
                    if t <= 1e-9:
                        continue
                    rows.append(
                        {
                            "regime": res.regime,
                            "holder": holder,
                            "material": it.material,
                            "stage": it.stage,
                            "tonnes": t,
                            "release_t_per_month": float(res.release_t_per_month[h, i]),
                            "days_of_cover": book.days_of_cover(holder, it, t),
                            "cost_usd": float(res.cost_usd[h, i]),
                        }
                    )
        cols = ["regime", "holder", "material", "stage", "tonnes", "release_t_per_month", "days_of_cover", "cost_usd"]
        return pd.DataFrame(rows, columns=cols)

    def out_of_sample(self) -> pd.DataFrame:
        """One row per regime, target and holder: the value on fresh draws, its stderr, met."""
        rows = [
            {"regime": r.regime, "metric": c.target, "holder": c.holder, "value": c.value, "stderr": c.stderr,
             "met": c.met, "rounds": r.rounds}
            for r in self.results for c in r.checks
        ]  # fmt: skip
        return pd.DataFrame(rows, columns=["regime", "metric", "holder", "value", "stderr", "met", "rounds"])

    def prices(self) -> list[dict[str, Any]]:
        """The unit price of every item held, with its source."""
        b = self.holdings
        return [
            {"item": it.label, "usd_per_t": float(p), "source": src}
            for it, p, src in zip(b.items, b.price_usd_per_t, b.price_source, strict=True)
        ]

    def document(self) -> dict[str, Any]:
        """The JSON document (``--format json``)."""
        from critmin.tabular import records

        main = self.results[-1] if len(self.results) == 1 else self.result("complementary")
        return {
            "scenario": self.scenario,
            "target": [str(t) for t in self.targets],
            "regime": [r.regime for r in self.results] if len(self.results) > 1 else main.regime,
            "recommendation": records(self.recommendation()),
            "total_cost_usd": {r.regime: r.total_cost_usd for r in self.results},
            "savings_vs_independent_usd": self.savings_vs_independent_usd,
            "out_of_sample": records(self.out_of_sample()),
            "met": {r.regime: r.met for r in self.results},
            "rounds": {r.regime: r.rounds for r in self.results},
            "stopped": {r.regime: r.stopped for r in self.results},
            "benchmark": records(self.benchmark),
            "cost_benefit": records(self.cost_benefit()),
            "solver": {r.regime: list(r.solver) for r in self.results},
            "prices": self.prices(),
            "carrying_share_per_yr": self.holdings.carrying_share_per_yr,
            "carrying_source": self.holdings.carrying_source,
            "provenance": self.provenance,
            "notes": list(self.notes),
        }


def optimize_stockpile(
    scenario: Scenario,
    chain: SupplyChain,
    options: StockpileOptions,
    progress: Callable[[str], None] | None = None,
) -> StockpileOutcome:
    """Size, verify and compare stockpiles (see the module docstring).

    Examples
    --------
    >>> import critmin
    >>> chain = critmin.SupplyChain.from_store(critmin.open_store())
    >>> s = critmin.load_scenario("apr2025-heavy-ree").with_changes(uncertain=[
    ...     {"field": "disruption[0].approval_share", "dist": "uniform", "low": 0.1, "high": 0.6}])
    >>> opts = StockpileOptions(("JPN",), ("NdFeB",), ("expected_shortfall_t<=100",), draws=30, verify_draws=100)
    >>> out = optimize_stockpile(s, chain, opts)
    >>> out.result("independent").met, out.recommendation()["material"].tolist()
    (True, ['NdFeB'])
    """
    t0 = time.perf_counter()
    say = progress or (lambda _msg: None)
    targets = tuple(parse_target(t) for t in options.targets)
    if not targets:
        raise UserError('give at least one --target, e.g. --target "defence_p_shortfall<=0.05"')
    sector = target_sector(targets)
    _check_options(options)
    if options.regime not in (*REGIMES, "both"):
        raise UserError(f"--regime must be independent, complementary or both (got {options.regime!r})")
    book = Holdings.build(
        chain, options.holders, options.materials, options.stages, scenario, options.carrying_share_per_yr
    )
    regimes = ("independent", "complementary") if options.regime in ("both", "complementary") else ("independent",)
    if "complementary" in regimes:
        members = set(scenario.blocs.members(scenario.coalition))
        outside = [h for h in book.holders if h not in members]
        if outside:
            raise UserError(
                f"--regime complementary: {', '.join(outside)} not in the scenario's coalition "
                f"{scenario.coalition!r} ({', '.join(sorted(members))}), which pools stockpiles"
            )
    seed = scenario.seed if options.seed is None else options.seed
    verify_seed = options.verify_seed if options.verify_seed is not None else seed + VERIFY_SEED_OFFSET
    notes: list[str] = [*book.notes, *(f"{h}: {it} not held: {why}" for (h, it), why in book.why_not.items())]
    if not scenario.uncertain:
        notes.append("the scenario has no [[uncertain]] entries: every draw is the same run")
    kept = [(el, h) for el in book.measured_elements() for h in book.holders]
    results = []
    for regime in regimes:
        mode = "coordinated" if regime == "complementary" else scenario.mode
        say(f"{regime}: in-sample ensemble: {options.draws:,} draws (seed {seed}, {mode} mode)")
        base = run_ensemble(
            scenario, chain, options.draws, seed=seed, keep_monthly=kept, monthly_sector=sector, mode=mode
        )
        results.append(
            _rounds(scenario, chain, book, targets, sector, options, regime, mode, base, seed, verify_seed, say)
        )
    say(f"expected economic loss without a stockpile, on {options.verify_draws:,} fresh draws")
    plain = run_ensemble(scenario, chain, options.verify_draws, seed=verify_seed, mode=scenario.mode)
    before, before_se = holders_loss(plain, chain, book)
    say(f"benchmark: {options.benchmark_days:g} days of cover, verified on {options.verify_draws:,} draws")
    bench = _benchmark(scenario, chain, book, targets, sector, options, verify_seed)
    provenance = {
        "scenario": scenario.name,
        "scenario_sha256": scenario.digest(),
        "data_sha256": chain.fingerprint,
        "seed": seed,
        "draws": options.draws,
        "verify_seed": verify_seed,
        "verify_draws": options.verify_draws,
        "months": scenario.months,
        "mode": scenario.mode,
        "sector": sector,
        "tolerance": options.tolerance,
        "buy_months": options.buy_months,
        "budget_usd": options.budget_usd,
        "critmin_version": __version__,
        "seconds": round(time.perf_counter() - t0, 2),
    }
    return StockpileOutcome(
        scenario.name, book, targets, tuple(results), bench, provenance, tuple(notes), before, before_se
    )


def _check_options(o: StockpileOptions) -> None:
    if not 1 <= o.draws <= MAX_DRAWS:
        raise UserError(
            f"--draws must be between 1 and {MAX_DRAWS:,} for the optimisation (got {o.draws}): the model holds "
            "every draw and month; more draws belong in the out-of-sample check (--verify-draws)"
        )
    if not 1 <= o.verify_draws <= 10_000_000:
        raise UserError(f"--verify-draws must be between 1 and 10,000,000 (got {o.verify_draws})")
    for name, v in (("--budget", o.budget_usd), ("--buy-months", o.buy_months), ("--time-limit", o.time_limit_s)):
        if v is not None and not (math.isfinite(v) and v > 0):
            raise UserError(f"{name} must be a positive finite number (got {v})")
    if not (math.isfinite(o.tolerance) and 0 <= o.tolerance < 1):
        raise UserError(f"--tolerance must be a share between 0 and 1 (got {o.tolerance})")
    if not 1 <= o.max_rounds <= 50:
        raise UserError(f"--max-rounds must be between 1 and 50 (got {o.max_rounds})")
    if not (math.isfinite(o.benchmark_days) and o.benchmark_days > 0):
        raise UserError(f"--benchmark-days must be positive (got {o.benchmark_days})")


def draws_of(ens: Ensemble, book: Holdings, sector: str) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(holder, material, draw, month) monthly shortfall and (holder, material, draw) demand over
    the horizon, in the target materials' units, from an ensemble that kept the monthly series."""
    monthly = ens.monthly_shortfall()
    n, months = ens.draws, int(monthly.sizes["month"])
    S = np.zeros((len(book.holders), len(book.materials), n, months))
    D = np.zeros((len(book.holders), len(book.materials), n))
    dem_name = "defence_demand_t" if sector == "defence" else "demand_t"
    for h, holder in enumerate(book.holders):
        for j, m in enumerate(book.materials):
            el = "Nd" if m == NDFEB else m
            k = book.scale(m)
            S[h, j] = monthly.sel(material=el, region=holder).values * k
            D[h, j] = ens[dem_name].sel(material=el, region=holder).values * k
    return S, D


def holders_loss(ens: Ensemble, chain: SupplyChain, book: Holdings) -> tuple[float, float]:
    """The holders' expected economic loss over the horizon (USD) on ``ens`` and its standard
    error: :func:`critmin.levers.valuation.economic_loss` of the holders' pairs."""
    from critmin.levers.valuation import regions_loss

    loss = regions_loss(ens, chain, book.holders)
    return loss.expected_total_usd, loss.stderr_total_usd


def reach_of(ens: Ensemble, book: Holdings, sector: str, mode: str) -> NDArray[np.float64]:
    """(holder, material) share of a release that reaches the measured sector: the defence share
    of the holder's demand for a defence target in ``market`` mode (releases are shared among the
    holder's sectors pro rata there), else 1 (``coordinated`` mode serves defence first)."""
    out = np.ones((len(book.holders), len(book.materials)))
    if sector != "defence" or mode != "market":
        return out
    for h, holder in enumerate(book.holders):
        for j, m in enumerate(book.materials):
            el = "Nd" if m == NDFEB else m
            pair = ens.sel(material=el, region=holder)
            total = float(pair["demand_t"].sum())
            out[h, j] = float(pair["defence_demand_t"].sum()) / total if total > 0 else 1.0
    return out


def horizon_of(ens: Ensemble, book: Holdings, sector: str, holder: str) -> tuple[NDArray[np.float64], ...]:
    """(draw, target material) shortfall and demand over the horizon of one holder, in target units."""
    short_name = "defence_shortfall_t" if sector == "defence" else "shortfall_t"
    dem_name = "defence_demand_t" if sector == "defence" else "demand_t"
    cols_s, cols_d = [], []
    for m in book.targets:
        el = "Nd" if m == NDFEB else m
        k = book.scale(m)
        cols_s.append(ens[short_name].sel(material=el, region=holder).values.astype(float) * k)
        cols_d.append(ens[dem_name].sel(material=el, region=holder).values.astype(float) * k)
    return np.stack(cols_s, axis=1), np.stack(cols_d, axis=1)


def with_holdings(
    scenario: Scenario, book: Holdings, tonnes: NDArray[np.float64], release: NDArray[np.float64]
) -> Scenario:
    """The scenario with the holdings added as ``[[stockpile]]`` entries (after its own)."""
    extra: list[Any] = []
    for h, holder in enumerate(book.holders):
        for i, it in enumerate(book.items):
            if tonnes[h, i] > 1e-9:
                extra += book.stockpile_entries(holder, it, float(tonnes[h, i]), float(release[h, i]))
    own = [s.model_dump(mode="python") for s in scenario.stockpile]
    return scenario.with_changes(stockpile=own + extra) if extra else scenario


def check_targets(
    ens: Ensemble,
    book: Holdings,
    targets: Sequence[Target],
    sector: str,
    tolerance: float,
    tonnes: NDArray[np.float64],
) -> tuple[Check, ...]:
    """Every target for every holder, measured on ``ens`` (days of cover on ``tonnes``)."""
    out = []
    for t in targets:
        for h, holder in enumerate(book.holders):
            if t.metric == "days_of_cover":
                days = [book.days_held(holder, tonnes[h], m) for m in book.targets]
                v = float(min(days))
                out.append(Check(str(t), holder, v, 0.0, t.met(v)))
                continue
            s, d = horizon_of(ens, book, sector, holder)
            v, se = measure(t, s, d, tolerance)
            out.append(Check(str(t), holder, v, se, t.met(v)))
    return tuple(out)


def _rounds(
    scenario: Scenario,
    chain: SupplyChain,
    book: Holdings,
    targets: tuple[Target, ...],
    sector: str,
    o: StockpileOptions,
    regime: str,
    verify_mode: str,
    base: Ensemble,
    seed: int,
    verify_seed: int,
    say: Callable[[str], None],
) -> RegimeResult:
    n_h, n_i = len(book.holders), len(book.items)
    held = np.zeros((n_h, n_i))
    release = np.zeros((n_h, n_i))
    cost = np.zeros((n_h, n_i))
    ens_in = base
    solver: list[dict[str, Any]] = []
    kept = [(el, h) for el in book.measured_elements() for h in book.holders]
    years = scenario.months / 12.0
    checks: tuple[Check, ...] = ()
    stopped = "max_rounds"
    rounds = 0
    last_gap = math.inf
    tight = [1.0] * len(targets)  # in-sample bound = target x this, tightened after a miss
    ver: Ensemble | None = None
    for rnd in range(1, o.max_rounds + 1):
        rounds = rnd
        S, D = draws_of(ens_in, book, sector)
        left = None if o.budget_usd is None else o.budget_usd - float(cost.sum())
        solved = tuple(replace(t, bound=t.bound * tight[i]) for i, t in enumerate(targets))
        problem = Problem(
            book, S, D, solved, regime, years, o.buy_months, left, o.tolerance, held if rnd > 1 else None,
            reach_of(ens_in, book, sector, verify_mode),
        )  # fmt: skip
        say(f"{regime}: round {rnd}: solving over {S.shape[2]:,} draws")
        try:
            sol: Solution = solve(problem, o.time_limit_s)
        except TargetUnreachable:
            if rnd == 1:
                raise
            stopped = "budget"
            break
        solver.append({"round": rnd, "status": sol.status, "seconds": round(sol.seconds, 2), **sol.stats})
        held = held + sol.tonnes
        release = release + sol.release_t_per_month
        # a holding the draws never needed to release (a days-of-cover target) may still release a
        # month of the holder's consumption a month, as the benchmark buffer does
        for h, holder in enumerate(book.holders):
            for i, it in enumerate(book.items):
                if held[h, i] > 0 and release[h, i] <= 1e-9:
                    release[h, i] = min(held[h, i], book.tonnes_for_days(holder, it, 365.0 / 12))
        cost = cost + sol.cost_usd
        trial = with_holdings(scenario, book, held, release)
        say(f"{regime}: round {rnd}: verifying on {o.verify_draws:,} fresh draws ({verify_mode} mode)")
        ver = run_ensemble(trial, chain, o.verify_draws, seed=verify_seed, mode=verify_mode)
        checks = check_targets(ver, book, targets, sector, o.tolerance, held)
        gap = _gap(targets, checks)
        solver[-1]["verified_gap"] = gap  # how far the targets are from holding (0 when they do)
        if all(c.met for c in checks):
            stopped = "met"
            break
        if rnd > 1 and gap > (1 - MIN_PROGRESS) * last_gap:
            stopped = "no_progress"  # the engine barely uses what was added: more of it will not do
            break
        last_gap = gap
        # the next round solves for a tighter in-sample bound where the fresh draws missed it (the
        # sample-average answer fits its own draws: this calibrates it on the engine's verdict)
        for i, t in enumerate(targets):
            worst = max((c.value for c in checks if c.target == str(t)), default=t.bound)
            if t.is_risk and not t.met(worst) and worst > 0:
                tight[i] *= min(TIGHTEN_MAX, t.bound / worst)
        solver[-1]["next_in_sample_bounds"] = [t.bound * tight[i] for i, t in enumerate(targets)]
        if rnd < o.max_rounds:  # re-sample (new draws: seed + round) with the stockpile in place
            ens_in = run_ensemble(
                trial, chain, o.draws, seed=seed + rnd, keep_monthly=kept, monthly_sector=sector, mode=verify_mode
            )
    loss, loss_se = holders_loss(ver, chain, book) if ver is not None else (math.nan, math.nan)
    return RegimeResult(
        regime, held, np.minimum(release, held), cost, checks, rounds, all(c.met for c in checks), tuple(solver),
        verify_mode, stopped, loss, loss_se,
    )  # fmt: skip


def _gap(targets: Sequence[Target], checks: Sequence[Check]) -> float:
    """The largest relative miss of the targets over the holders (0 when every target holds)."""
    worst = 0.0
    for c in checks:
        t = next(t for t in targets if str(t) == c.target)
        scale = max(abs(t.bound), 1e-9)
        miss = (c.value - t.bound) if t.metric != "days_of_cover" else (t.bound - c.value)
        worst = max(worst, miss / scale)
    return worst


def benchmark_item(book: Holdings, holder: str, material: str) -> Item | None:
    """The item a days-of-cover buffer of ``material`` is held as: magnets for NdFeB, else the
    first of :data:`BENCHMARK_STAGES` the holder can use."""
    h = book.holders.index(holder)
    for stage in ("magnet",) if material == NDFEB else BENCHMARK_STAGES:
        it = Item(material, stage)
        if it in book.items and book.usable[h, book.items.index(it)]:
            return it
    return None


def _benchmark(
    scenario: Scenario,
    chain: SupplyChain,
    book: Holdings,
    targets: tuple[Target, ...],
    sector: str,
    o: StockpileOptions,
    verify_seed: int,
) -> pd.DataFrame:
    """A ``benchmark_days`` buffer of every material for every holder (released at up to a
    month's consumption a month), its cost and the targets' values on the fresh draws."""
    n_h, n_i = len(book.holders), len(book.items)
    tonnes = np.zeros((n_h, n_i))
    release = np.zeros((n_h, n_i))
    for h, holder in enumerate(book.holders):
        for m in book.targets:
            it = benchmark_item(book, holder, m)
            if it is None:
                continue
            i = book.items.index(it)
            tonnes[h, i] = book.tonnes_for_days(holder, it, o.benchmark_days)
            release[h, i] = book.tonnes_for_days(holder, it, 365.0 / 12)
    carry = 1 + book.carrying_share_per_yr * scenario.months / 12
    cost = np.zeros((n_h, n_i))
    for i, it in enumerate(book.items):
        total = float(tonnes[:, i].sum())
        if total > 0:
            cost[:, i] = book.buying_cost_usd(it, total, o.buy_months) * carry * tonnes[:, i] / total
    ens = run_ensemble(with_holdings(scenario, book, tonnes, release), chain, o.verify_draws, seed=verify_seed)
    checks = check_targets(ens, book, targets, sector, o.tolerance, tonnes)
    rows = []
    for h, holder in enumerate(book.holders):
        for i, it in enumerate(book.items):
            if tonnes[h, i] > 0:
                rows.append(
                    {"kind": "holding", "holder": holder, "material": it.material, "stage": it.stage,
                     "tonnes": float(tonnes[h, i]), "days_of_cover": o.benchmark_days, "cost_usd": float(cost[h, i]),
                     "metric": "", "value": math.nan, "stderr": math.nan, "met": None}
                )  # fmt: skip
    for c in checks:
        rows.append(
            {"kind": "risk", "holder": c.holder, "material": "", "stage": "", "tonnes": math.nan,
             "days_of_cover": o.benchmark_days, "cost_usd": math.nan, "metric": c.target, "value": c.value,
             "stderr": c.stderr, "met": c.met}
        )  # fmt: skip
    return pd.DataFrame(rows)
