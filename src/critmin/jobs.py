"""Jobs: one library function for each thing a user asks of critmin.

The CLI, the report, the web app and the levers call these and only print or serve what they
return. Each job checks its options first (engines, modes, output places), computes, and only then
writes (files staged and moved into place, the store in one transaction), so a failed job writes
nothing.

Example
-------
>>> store = open_store()          # $CRITMIN_DB or the user data folder; built on first use
>>> chain = load_chain(store)
>>> outcome = run_job("ga-ge-ban-us", chain, mode="both")       # store=store would keep the runs
>>> sorted(outcome.runs), outcome.stored
(['coordinated', 'market'], False)
>>> row = outcome.value_of_cooperation.query("material == 'Ga' and region == 'USA'").iloc[0]
>>> bool(row.shortfall_market_t >= row.shortfall_coordinated_t)
True
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from critmin.chain import SupplyChain
from critmin.engine import run_scenario
from critmin.engine.network import region_of
from critmin.errors import UserError
from critmin.names import Blocs
from critmin.options import ENGINES, MODES, RUN_MODES, choice
from critmin.outputs import OutputDir, atomic_write_text, check_file_target
from critmin.results import RunResult, value_of_cooperation
from critmin.scenario import Scenario, builtin_names, load_scenario, parse_scenario, read_scenario, template
from critmin.store import Store
from critmin.tabular import records


# -- store and chain -----------------------------------------------------------------------------
def open_store(db: str | Path | None = None) -> Store:
    """The store at ``db`` (default: ``$CRITMIN_DB`` or the user data folder), built on first use."""
    store = Store(db)
    store.ensure_built()
    return store


def load_chain(store: Store, blocs_file: str | Path | None = None) -> SupplyChain:
    """The supply chain of a built store, with the blocs of ``blocs_file`` added."""
    store.ensure_built()
    return SupplyChain.from_store(store, blocs_file=blocs_file)


def resolve_scenario(scenario: Scenario | str | Path, blocs: Blocs | None = None) -> Scenario:
    """A scenario object as given, or loaded by built-in name or file and validated against the
    blocs in force (a user's bloc file may name new targets and coalitions; default: the
    built-in blocs)."""
    if isinstance(scenario, Scenario):
        return scenario
    return load_scenario(scenario, blocs=blocs)


# -- scenarios -----------------------------------------------------------------------------------
def scenario_catalogue() -> pd.DataFrame:
    """The built-in scenarios: name, start, months, mode, number of events, first sentence."""
    rows = []
    for name in builtin_names():
        s = load_scenario(name)
        rows.append(
            {
                "name": name,
                "start": s.start,
                "months": s.months,
                "mode": s.mode,
                "events": len(s.disruption) + len(s.outage),
                "description": s.description.split(". ")[0].strip(),
            }
        )
    return pd.DataFrame(rows)


def scenario_text(scenario: str | Path, blocs: Blocs | None = None) -> tuple[Scenario, str]:
    """A scenario (validated against the blocs in force) and its TOML text as written."""
    s, text = read_scenario(scenario, blocs=blocs)
    return s, text if text.endswith("\n") else text + "\n"


def refuse_existing(target: Path, force: bool) -> None:
    """A :class:`UserError` if ``target`` is a file that exists and ``force`` is not given (or a name
    the system cannot look up)."""
    try:
        exists = target.exists()
    except OSError as exc:  # a name too long to look up
        raise UserError(f"{str(target)[:60]}...: not a usable file name ({exc.strerror or exc})") from None
    if exists and not target.is_dir() and not force:
        raise UserError(f"{target} exists; use --force to overwrite")


def write_scenario_template(name: str, path: str | Path | None = None, force: bool = False) -> Path:
    """Write a commented template that runs as written; refuse to overwrite unless ``force``."""
    target = Path(path) if path is not None else Path(f"{name}.toml")
    refuse_existing(target, force)
    text = template(name, str(target))
    parse_scenario(text, str(target))  # the template must itself be valid
    return atomic_write_text(target, text)


# -- runs ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunOutcome:
    """What :func:`run_job` produced: the runs by mode, the value of cooperation (mode "both"),
    whether they were stored, and the files written."""

    scenario: Scenario
    runs: dict[str, RunResult]
    value_of_cooperation: pd.DataFrame | None = None
    stored: bool = False
    files: tuple[Path, ...] = ()

    @property
    def run(self) -> RunResult:
        """The run of a single-mode job (the market run of a "both" job)."""
        return self.runs.get("market") or next(iter(self.runs.values()))

    def document(self) -> dict[str, Any]:
        """The ``--format json`` document: the run, or both runs and the value of cooperation."""
        if self.value_of_cooperation is None:
            return self.run.to_json()
        doc: dict[str, Any] = {m: r.to_json() for m, r in self.runs.items()}
        doc["value_of_cooperation"] = records(self.value_of_cooperation)
        return doc


def run_job(
    scenario: Scenario | str | Path,
    chain: SupplyChain,
    engine: str = "fast",
    mode: str | None = None,
    store: Store | None = None,
    out_dir: str | Path | None = None,
) -> RunOutcome:
    """Run a scenario (``mode="both"``: in both modes, with the value of cooperation), store it
    (when ``store`` is given) and write its files (when ``out_dir`` is given).

    The output place is checked before computing; files are staged and moved into place only after
    the runs are stored, and a failure removes what was stored: all or nothing.
    """
    engine = choice("engine", engine, ENGINES)
    if mode is not None:
        mode = choice("mode", mode, RUN_MODES)
    s = resolve_scenario(scenario, chain.blocs)
    out = OutputDir(out_dir) if out_dir is not None else None
    stored: list[str] = []
    try:
        modes = MODES if mode == "both" else (mode,)
        runs = {}
        for m in modes:
            res = run_scenario(s, chain, engine=engine, mode=m)
            runs[res.mode] = res
        voc = None
        if mode == "both":
            coalition = sorted({region_of(c, s.regions) for c in chain.blocs.members(s.coalition)})
            voc = value_of_cooperation(runs["market"], runs["coordinated"], coalition)
        if out is not None:
            for m, res in runs.items():
                write_run_files(res, out, m if mode == "both" else "")
            if voc is not None:
                voc.to_csv(out.file("value_of_cooperation.csv"), index=False)
        if store is not None:
            for res in runs.values():
                stored.append(res.save(store))
        files = tuple(out.commit()) if out is not None else ()
    except BaseException:
        if store is not None and stored:
            store.delete_runs(stored)
        raise
    finally:
        if out is not None:
            out.abort()
    return RunOutcome(s, runs, voc, store is not None, files)


def shortfall_by_year_table(run: RunResult, pairs: pd.DataFrame) -> pd.DataFrame:
    """Shortfall share of demand by calendar year for the (material, region) pairs of ``pairs``:
    one row per pair, one column per year."""
    years = run.by_year()
    keep = years.merge(pairs[["material", "region"]], on=["material", "region"])
    wide = keep.pivot_table(index=["material", "region"], columns="year", values="shortfall_share", sort=False)
    wide.columns = [str(c) for c in wide.columns]
    return wide.reset_index()


def stoppage_table(run: RunResult) -> pd.DataFrame:
    """The line-stoppage proxy for the terminal: sectors with the same months stopped, first month
    and lowest fill in a material and region on one row (their names joined)."""
    stops = run.stoppage()
    stops = stops[stops["months_stopped"] > 0]
    keys = ["material", "region", "months_stopped", "first_month_stopped", "min_fill"]
    if stops.empty:
        return stops.assign(sectors="")[[*keys, "sectors"]]
    stops = stops.assign(min_fill=stops["min_fill"].round(3))
    n_all = run.dataset.sizes["sector"]
    out = stops.groupby(keys, sort=False)["sector"].agg(lambda s: "all" if len(s) == n_all else ", ".join(s))
    out = out.rename("sectors").reset_index()
    return out.sort_values(["months_stopped", "material", "region"], ascending=[False, True, True], kind="stable")


def product_lines(run: RunResult) -> list[str]:
    """One line per magnet product that runs short: tonnes of magnet short over the horizon, outside
    the regions that are never short, with the worst month."""
    prod = run.products()
    out = []
    for product, rows in prod.groupby("product", sort=False):
        short = rows.groupby("region")["shortfall_t"].sum()
        short = short[short > 1e-6 * rows["demand_t"].sum()]
        if short.empty:
            continue
        monthly = rows.groupby("month")[["demand_t", "shortfall_t"]].sum()
        worst = (monthly["shortfall_t"] / monthly["demand_t"]).idxmax()
        regions = ", ".join(f"{r} {v:,.0f}" for r, v in short.sort_values(ascending=False).items())
        out.append(f"{product} short, t of magnet: {regions} (world worst month {worst})")
    return out


def hindcast_job(chain: SupplyChain, engine: str = "fast") -> pd.DataFrame:
    """Run ``apr2025-heavy-ree`` and compare it with the observed 2025 figures
    (:func:`critmin.hindcast.compare`). The model's magnet exports are in tonnes of magnet; its
    regional oxide prices are each region's element price (:meth:`RunResult.element_prices`, at the
    oxide's base price)."""
    from critmin.hindcast import compare

    res = run_scenario(
        resolve_scenario("apr2025-heavy-ree", chain.blocs), chain, engine=choice("engine", engine, ENGINES)
    )
    prices = res.element_prices().assign(stage="separation")
    return compare(res.trade(), prices)


def write_run_files(res: RunResult, out: OutputDir, subdir: str = "") -> None:
    """A run's files into a staged output folder: summary.csv, by_month.csv, by_year.csv,
    prices.csv (regional spot and paid indices), trade.parquet (shipments between regions),
    stoppage.csv, products.csv (magnets in tonnes), results.parquet (tidy end use), dataset.parquet
    (every variable) and run.json (the JSON document)."""
    sub = Path(subdir)
    res.summary().to_csv(out.file(sub / "summary.csv"), index=False)
    res.by_month().to_csv(out.file(sub / "by_month.csv"), index=False)
    res.by_year().to_csv(out.file(sub / "by_year.csv"), index=False)
    res.prices().to_csv(out.file(sub / "prices.csv"), index=False)
    res.trade().to_parquet(out.file(sub / "trade.parquet"), index=False)
    res.stoppage().to_csv(out.file(sub / "stoppage.csv"), index=False)
    res.products().to_csv(out.file(sub / "products.csv"), index=False)
    res.tidy().to_parquet(out.file(sub / "results.parquet"), index=False)
    res.dataset.to_dataframe().reset_index().to_parquet(out.file(sub / "dataset.parquet"), index=False)
    out.file(sub / "run.json").write_text(json.dumps(res.to_json(), indent=2), encoding="utf-8")


# -- criticality ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class CriticalityOutcome:
    """An assessment from every perspective asked (``results``: one row per material and
    perspective, the full detail in ``inputs``; :func:`critmin.criticality.assess`), the skipped
    materials with their reasons (grouped), and the warnings about inputs."""

    results: pd.DataFrame
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def perspectives(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.results["perspective"]))

    def summary(self) -> pd.DataFrame:
        """One row per material and perspective (:func:`critmin.criticality.summary_frame`)."""
        from critmin.criticality import summary_frame

        return summary_frame(self.results)

    def by_stage(self) -> pd.DataFrame:
        """One row per material, perspective and stage (:func:`critmin.criticality.stage_frame`)."""
        from critmin.criticality import stage_frame

        return stage_frame(self.results)

    def by_perspective(self) -> pd.DataFrame:
        """Supply risk, material x perspective (wide)."""
        wide = self.summary().pivot(index="material", columns="perspective", values="sr")
        return wide[list(self.perspectives)].reset_index()


def criticality_job(
    chain: SupplyChain,
    method: str = "eu",
    perspectives: Sequence[str] | None = None,
    materials: Sequence[str] | None = None,
    input_files: Sequence[str | Path] | None = None,
    use_defaults: bool = True,
    strict: bool = False,
    scenarios: Sequence[str] | None = None,
    weights: Sequence[float] | None = None,
    draws: int = 200,
    seed: int | None = None,
    figure: str | Path | None = None,
    protect: Sequence[str | Path] = (),
    by_stage: bool = False,
    as_of: str | int | date | None = None,
) -> CriticalityOutcome:
    """Criticality by ``method`` from each perspective (default: the method's own), with the
    criticality matrix written to ``figure`` (HTML) when given (never over a database, nor over
    one of ``protect``). ``by_stage`` asks for the per-stage view, which the ensemble method lacks.
    ``as_of`` (``YYYY``, meaning its 31 December, ``YYYY-MM`` or ``YYYY-MM-DD``) picks the export
    controls in force that give the EU method's trade-restriction factors (default: 31 December of
    the production data's latest year; :func:`critmin.criticality.assess`)."""
    from critmin.criticality import METHODS, assess, load_inputs
    from critmin.criticality.supply import perspective as resolve

    method = choice("method", method, METHODS)
    if draws < 1:
        raise UserError(f"--draws must be at least 1 (got {draws})")
    if figure is not None and method == "usgs":
        raise UserError("--figure draws SR against EI: use --method eu or ensemble (the USGS method has no EI)")
    if by_stage and method == "ensemble":
        raise UserError("--by-stage applies to the eu and usgs methods (the ensemble has no stages)")
    figure_path = check_file_target(figure, protect) if figure is not None else None
    inp = load_inputs([Path(f) for f in input_files or []], use_defaults=use_defaults, chain=chain)
    persps: list[str | None] = [None]
    if perspectives:
        persps = list(dict.fromkeys(resolve(chain, p).name for p in perspectives)) or [None]
    frames: list[pd.DataFrame] = []
    skipped: list[str] = []
    for p in persps:
        got, sk = assess(chain, method, p, materials, inp, strict=strict, scenarios=scenarios, draws=draws,
                         seed=seed, weights=weights, as_of=as_of)  # fmt: skip
        frames.append(got)
        skipped += [f"{m} ({p})" if len(persps) > 1 else m for m in sk]
    kept = [f for f in frames if not f.empty]
    if not kept:
        raise UserError("no material could be assessed: " + "; ".join(skipped))
    results = pd.concat(kept, ignore_index=True)
    warnings = list(dict.fromkeys(w for inputs in results["inputs"] for w in inputs.get("warnings", [])))
    if figure_path is not None:
        from critmin.criticality.figure import matrix_figure, write_figure

        thr = results["inputs"].iloc[0]["thresholds"]
        write_figure(matrix_figure(results, thr["sr"], thr["ei"]), figure_path, protect)
    return CriticalityOutcome(results, group_skips(skipped), warnings)


def group_skips(skipped: Sequence[str]) -> list[str]:
    """'Co: sector_share missing', 'Li: sector_share missing' -> 'Co, Li: sector_share missing'.

    >>> group_skips(["Co: x missing", "Li: x missing", "Ni: y"])
    ['Co, Li: x missing', 'Ni: y']
    """
    by_reason: dict[str, list[str]] = {}
    for msg in skipped:
        mat, _, reason = msg.partition(": ")
        by_reason.setdefault(reason or mat, []).append(mat if reason else "")
    return [
        f"{', '.join(m for m in mats if m)}: {reason}" if any(mats) else reason for reason, mats in by_reason.items()
    ]


#: a progress callback: called with the number of draws just finished
Progress = Callable[[int], None]


# -- Monte Carlo ---------------------------------------------------------------------------------
#: the columns of the Monte Carlo table a person reads first
MC_TABLE_COLUMNS = ("material", "region", "expected_shortfall_t", "stderr_expected_shortfall_t",
                    "expected_shortfall_share", "p_shortfall", "var_t", "cvar_t", "first_short_month_p50",
                    "expected_peak_price_index")  # fmt: skip


@dataclass(frozen=True)
class MonteCarloOutcome:
    """What :func:`monte_carlo_job` produced: the ensemble, its risk metrics (all sectors and
    defence), the convergence table, the run's metadata (with its id) and the Parquet file of the
    per-draw summaries (when stored)."""

    scenario: Scenario
    ensemble: Any
    metrics: pd.DataFrame
    defence_metrics: pd.DataFrame
    convergence: pd.DataFrame
    metadata: dict[str, Any]
    parquet: Path | None = None
    notes: tuple[str, ...] = ()

    def document(self) -> dict[str, Any]:
        """The ``--format json`` document."""
        doc = dict(self.metadata)
        doc["notes"] = list(self.notes)
        doc["metrics"] = records(self.metrics)
        doc["defence_metrics"] = records(self.defence_metrics)
        doc["convergence"] = records(self.convergence)
        return doc


def monte_carlo_job(
    scenario: Scenario | str | Path,
    chain: SupplyChain,
    draws: int = 1000,
    seed: int | None = None,
    engine: str = "compiled",
    mode: str | None = None,
    chunk: int = 2000,
    threads: int | None = None,
    workers: int = 0,
    scheduler: str | None = None,
    alpha: float = 0.95,
    target_stderr: float | None = None,
    store: Store | None = None,
    progress: Progress | None = None,
) -> MonteCarloOutcome:
    """Monte Carlo over the scenario's ``[[uncertain]]`` fields: risk metrics per material and
    region; stored (run row and per-draw Parquet, all or nothing) when ``store`` is given."""
    from critmin.risk import (
        check_run_options,
        convergence,
        convergence_table,
        dask_client,
        metrics_table,
        risk_metrics,
        run_ensemble,
        save_ensemble,
    )

    check_run_options(draws, seed, engine, mode, chunk, threads, target_stderr)  # before starting a cluster
    if not 0 < alpha < 1:
        raise UserError(f"--alpha must be between 0 and 1 (got {alpha})")
    s = resolve_scenario(scenario, chain.blocs)
    notes = []
    if not s.uncertain:
        notes.append(f"{s.name} has no [[uncertain]] entries: every draw is the same run")
    client = dask_client(workers, scheduler)
    try:
        ens = run_ensemble(s, chain, draws, seed=seed, engine=engine, mode=mode, chunk=chunk, progress=progress,
                           client=client, target_stderr=target_stderr, threads=threads)  # fmt: skip
    finally:
        if client is not None:
            client.close()
    meta = {k: v for k, v in ens.attrs.items() if k not in ("scenario_json", "notes")}
    notes += [n for n in str(ens.attrs.get("notes", "")).split("\n") if n]
    parquet = None
    if store is not None:
        parquet = save_ensemble(store, ens)
        meta["per_draw_parquet"] = str(parquet)
    return MonteCarloOutcome(
        s,
        ens,
        metrics_table(risk_metrics(ens, quantiles=(alpha,))),
        metrics_table(risk_metrics(ens, quantiles=(alpha,), sector="defence")),
        convergence_table(convergence(ens)),
        meta,
        parquet,
        tuple(notes),
    )


# -- data ----------------------------------------------------------------------------------------
def write_text_file(path: str | Path, text: str, protect: Sequence[str | Path] = ()) -> Path:
    """Write a text file all or nothing (checked first: not a folder or a database, a place we may
    write; ``protect`` names databases it may never be)."""
    return atomic_write_text(path, text, protect)


def facility_table(chain: SupplyChain) -> pd.DataFrame:
    """Facility ids for ``facility = ...`` in outages and projects, with country, stage, capacity,
    unit, status and start year."""
    from critmin.engine.compiled import facilities

    fac = facilities(chain)
    return pd.DataFrame(
        {
            "id": fac["fid"],
            "country": fac["country_iso3"],
            "stage": fac["stage"],
            "capacity": fac["capacity"],
            "unit": fac["unit"],
            "status": fac["status"],
            "start_year": [
                str(int(y)) if pd.notna(y) else "" for y in pd.to_numeric(fac["start_year"], errors="coerce")
            ],
        }
    )


def data_sources(store: Store, confidence: str | None = None, table_name: str | None = None) -> pd.DataFrame:
    """Where the numbers come from: (table, source, confidence, rows), filtered by confidence
    level and table (both checked, with "did you mean")."""
    from critmin.schema import CONFIDENCE_LEVELS
    from critmin.schema import table as lookup_table

    if confidence is not None:
        choice("confidence level", confidence, CONFIDENCE_LEVELS)
    if table_name is not None:
        lookup_table(table_name)
    store.ensure_built()
    df = store.sources(confidence)
    if table_name is not None:
        df = df[df["table"] == table_name].reset_index(drop=True)
    return df


def import_csv(store: Store, table_name: str, path: str | Path) -> int:
    """Import a tidy CSV into a table as the user layer (all or nothing); returns the rows."""
    from critmin.schema import table as lookup_table

    lookup_table(table_name)
    store.ensure_built()
    return store.import_csv(table_name, path)


def import_usgs_mcs(store: Store, path: str | Path) -> tuple[int, dict[str, int]]:
    """Import the production rows of a USGS MCS world-data CSV (2025 wide or 2026 long layout)
    for critmin's materials, as the user layer; returns (rows imported, rows skipped by
    unmodelled commodity)."""
    from critmin.usgs import read_usgs_mcs

    rows, skipped = read_usgs_mcs(path)
    store.ensure_built()
    return store.import_frame("production", rows, str(path)), dict(skipped)


# -- levers ----------------------------------------------------------------------------------------
def stockpile_job(
    scenario: Scenario | str | Path,
    chain: SupplyChain,
    options: Any,
    progress: Callable[[str], None] | None = None,
) -> Any:
    """Size complementary stockpiles over the scenario's risk ensemble and verify them out of
    sample (:func:`critmin.levers.stockpile.optimize_stockpile`; ``options`` a
    :class:`~critmin.levers.stockpile.StockpileOptions`). Writes nothing."""
    from critmin.levers.stockpile import optimize_stockpile

    return optimize_stockpile(resolve_scenario(scenario, chain.blocs), chain, options, progress)


def price_floor_job(kind: str, **kwargs: Any) -> Any:
    """The guarantor's cost of a price floor (``kind="floor"``) or an offtake guarantee
    (``kind="offtake"``) over simulated benchmark prices
    (:mod:`critmin.levers.price_floor`). Writes nothing."""
    from critmin.levers.price_floor import offtake_guarantee, price_floor

    return (price_floor if choice("contract", kind, ("floor", "offtake")) == "floor" else offtake_guarantee)(**kwargs)


@dataclass(frozen=True)
class ShortfallCostOutcome:
    """What a scenario's shortfalls cost the chosen regions: per material, the expected shortfall
    over the horizon, its value at the lever unit price with and without an extra buy, and the
    expected economic loss (value of output stopped), each with its Monte Carlo standard error."""

    scenario: Scenario
    regions: tuple[str, ...]
    table: pd.DataFrame
    loss_total_usd: float
    loss_stderr_usd: float
    draws: int
    seed: int
    notes: tuple[str, ...]

    def document(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario.name,
            "regions": list(self.regions),
            "draws": self.draws,
            "seed": self.seed,
            "materials": records(self.table),
            "expected_economic_loss_usd": self.loss_total_usd,
            "stderr_economic_loss_usd": self.loss_stderr_usd,
            "notes": list(self.notes),
        }


def _nan_sum(values: list[float]) -> float:
    """The sum of the values that are numbers; NaN when none is."""
    import math

    nums = [v for v in values if not math.isnan(v)]
    return float(sum(nums)) if nums else math.nan


def shortfall_cost_job(
    scenario: Scenario | str | Path,
    chain: SupplyChain,
    regions: Sequence[str] | None = None,
    draws: int = 1000,
    seed: int | None = None,
    extra_buy_t: dict[str, float] | None = None,
) -> ShortfallCostOutcome:
    """Value the shortfalls of ``regions`` (default: the scenario's coalition) over the scenario's
    ensemble: tonnes and dollars per material at the lever unit price (metal, else oxide), with
    and without an extra buy at the start of the crisis (``extra_buy_t``: tonnes of element per
    material, taken off each draw's shortfall of the regions together), as the US stockpile
    requirements reports do, and the expected economic loss
    (:func:`critmin.levers.valuation.economic_loss`). Writes nothing."""
    import math

    import numpy as np

    from critmin.levers.valuation import economic_loss, lever_unit_price_usd_per_t
    from critmin.risk import run_ensemble

    s = resolve_scenario(scenario, chain.blocs)
    regions = tuple(regions or s.blocs.members(s.coalition))
    unknown = [r for r in regions if r not in s.regions]
    if unknown:
        from critmin.errors import UnknownNameError

        raise UnknownNameError("region (of the scenario)", unknown[0], s.regions)
    ens = run_ensemble(s, chain, draws, seed=seed)
    buys = dict(extra_buy_t or {})
    materials = [str(m) for m in ens["price_material"].values]
    stray = [m for m in buys if m not in materials]
    if stray:
        from critmin.errors import UnknownNameError

        raise UnknownNameError("material with a shortfall (--extra-buy)", stray[0], materials)
    for m, b in buys.items():
        if not (math.isfinite(b) and b >= 0):
            raise UserError(f"--extra-buy {m}: tonnes must be a finite number >= 0 (got {b})")
    idx = [i for i, (_, r) in enumerate(ens.pairs) if r in regions]
    sub = ens.isel(pair=idx)
    loss = economic_loss(sub, chain)
    per_pair = loss.summary.set_index(["material", "region"])
    rows, notes = [], []
    n = ens.draws
    for m in materials:
        cols = [i for i, (mm, _) in enumerate(sub.pairs) if mm == m]
        if not cols:
            continue
        x = sub["shortfall_t"].values[:, cols].astype(float).sum(axis=1)
        if x.max() <= 0:
            continue
        price = None
        for stage in ("metal", "separation"):
            try:
                price = lever_unit_price_usd_per_t(chain, m, stage)
                break
            except UserError:
                continue
        left = np.maximum(x - buys.get(m, 0.0), 0.0)
        se = float(x.std(ddof=1)) / math.sqrt(n) if n > 1 else 0.0
        usd = price.usd_per_t if price is not None else math.nan
        if price is None:
            notes.append(f"{m}: no lever price: its shortfall is not valued in dollars")
        m_loss = [per_pair.loc[(m, r), "expected_loss_usd"] for r in regions if (m, r) in per_pair.index]
        rows.append(
            {"material": m, "expected_shortfall_t": float(x.mean()), "stderr_t": se, "unit_price_usd_per_t": usd,
             "value_usd": float(x.mean()) * usd, "extra_buy_t": buys.get(m, 0.0),
             "expected_shortfall_with_extra_buy_t": float(left.mean()),
             "value_with_extra_buy_usd": float(left.mean()) * usd,
             "expected_economic_loss_usd": _nan_sum(m_loss),
             "price_source": price.source if price is not None else ""}
        )  # fmt: skip
    if loss.unvalued:
        notes.append(f"no value at risk for {', '.join(loss.unvalued)}: left out of the economic loss")
    notes.append(
        "economic loss: the magnet elements of a region count once (a stopped magnet is short of all four); "
        "values at risk are assumptions per sector (critmin data sources --table parameters)"
    )
    return ShortfallCostOutcome(
        s, regions, pd.DataFrame(rows), loss.expected_total_usd, loss.stderr_total_usd, n,
        int(ens.attrs["seed"]), tuple(notes),
    )  # fmt: skip


def portfolio_job(
    scenario: Scenario | str | Path,
    chain: SupplyChain,
    options: Any,
    progress: Callable[[str], None] | None = None,
) -> Any:
    """Choose the projects to finance within a budget over the scenario's risk ensemble, rank
    every candidate and verify the choice out of sample
    (:func:`critmin.levers.portfolio.optimize_portfolio`; ``options`` a
    :class:`~critmin.levers.portfolio.PortfolioOptions`). Writes nothing."""
    from critmin.levers.portfolio import optimize_portfolio

    return optimize_portfolio(resolve_scenario(scenario, chain.blocs), chain, options, progress)


# -- monitor: export controls ----------------------------------------------------------------------
def controls_job(chain: SupplyChain, as_of: str | None = None, mineral: str | None = None) -> pd.DataFrame:
    """The export-control timeline of the chain's data as of a day (default today), each event's
    state computed from its dates and the suspensions in the data
    (:func:`critmin.monitor.controls.control_timeline`); ``attrs["as_of"]`` holds the day used.

    Examples
    --------
    >>> t = controls_job(load_chain(open_store()), as_of="2026-01", mineral="Ga")
    >>> t.attrs["as_of"], t.set_index("event_id").loc["CN-2024-046", "state"]
    ('2026-01-31', 'partly suspended')
    """
    from critmin.monitor.controls import as_of_day, control_timeline

    day = as_of_day(as_of)
    table = control_timeline(chain.export_controls, as_of=day, mineral=mineral)
    table.attrs["as_of"] = day.isoformat()
    return table


def control_scenario_job(
    chain: SupplyChain,
    event_id: str,
    path: str | Path | None = None,
    months: int | None = None,
    severity: float | None = None,
    force: bool = False,
    protect: Sequence[str | Path] = (),
) -> tuple[Any, Path | None]:
    """Convert export-control event ``event_id`` into a scenario file
    (:func:`critmin.monitor.convert.control_scenario`) and write it to ``path`` all or nothing,
    refusing to overwrite a file unless ``force``; without ``path`` nothing is written. Returns the
    converted control (its ``text`` and validated ``scenario``) and the path written.

    Examples
    --------
    >>> converted, written = control_scenario_job(load_chain(open_store()), "CN-2024-046", months=6)
    >>> converted.scenario.disruption[0].targets, written
    (('USA',), None)
    """
    from critmin.monitor.convert import check_options, control_scenario

    check_options(months, severity)
    target = Path(path) if path is not None else None
    if target is not None:
        refuse_existing(target, force)
        check_file_target(target, protect)
    converted = control_scenario(chain, event_id, months=months, severity=severity)
    written = atomic_write_text(target, converted.text, protect) if target is not None else None
    return converted, written


# -- monitor: framework and claims ---------------------------------------------------------------
@dataclass(frozen=True)
class FrameworkOutcome:
    """What `critmin monitor framework` shows: each commitment's status as of a day, and, when asked
    for, the model's indicators against the stated goals."""

    as_of: Any  # datetime.date
    commitments: pd.DataFrame
    indicators: pd.DataFrame | None
    notes: tuple[str, ...]


def framework_job(
    store: Store,
    as_of: str | None = None,
    evidence_file: str | Path | None = None,
    blocs_file: str | Path | None = None,
    indicators: bool = False,
    bloc: str = "framework",
) -> FrameworkOutcome:
    """The framework commitments' status as of ``as_of`` (``YYYY-MM-DD``; default: today) from the
    store's commitments and evidence plus the rows of ``evidence_file`` (validated all or nothing
    like an import; its rows replace stored rows with the same ``evidence_id``)
    (:func:`critmin.monitor.framework.commitment_status`); with ``indicators``, the allied share of
    capacity from the facility pipeline against the stored goals
    (:func:`critmin.monitor.framework.framework_indicators`). Writes nothing."""
    from datetime import date

    from critmin.monitor import framework as fw

    day = date.today() if as_of is None else fw.parse_date(as_of, "--as-of")
    store.ensure_built()
    t = store.read_many(["framework_commitments", "framework_evidence", "framework_goals"])
    commitments, evidence = t["framework_commitments"], t["framework_evidence"]
    fw.check_commitments(commitments, f"{store.path}: table framework_commitments")
    fw.check_stored_evidence(evidence, commitments, f"{store.path}: table framework_evidence")
    notes: list[str] = []
    if evidence_file is not None:
        extra = fw.read_evidence(evidence_file, commitments)
        replaced = sorted(set(extra["evidence_id"]) & set(evidence["evidence_id"]))
        if replaced:
            notes.append(f"{evidence_file}: replaces stored evidence {', '.join(replaced)}")
        evidence = pd.concat([evidence[~evidence["evidence_id"].isin(extra["evidence_id"])], extra],
                             ignore_index=True)  # fmt: skip
    status = fw.commitment_status(commitments, evidence, day)
    ind = None
    if indicators:
        chain = load_chain(store, blocs_file)
        ind = fw.framework_indicators(chain, bloc=bloc, goals=t["framework_goals"])
        notes += list(ind.attrs.get("notes", []))
    return FrameworkOutcome(day, status, ind, tuple(notes))


def claims_job(store: Store, path: str | Path, blocs_file: str | Path | None = None) -> pd.DataFrame:
    """Each claim of a claims file checked against the data
    (:func:`critmin.monitor.claims.read_claims`, :func:`critmin.monitor.claims.evaluate_claims`):
    one row per claim with its verdict, the values found and their sources. Writes nothing."""
    from critmin.monitor.claims import evaluate_claims, read_claims
    from critmin.schema import IMPORTABLE

    chain = load_chain(store, blocs_file)
    tables = store.read_many(list(IMPORTABLE))
    claims = read_claims(path, chain=chain, tables=tables)
    return evaluate_claims(claims, chain, tables)
