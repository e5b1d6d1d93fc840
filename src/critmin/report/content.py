"""What a report says: sections of text, figures and tables, computed from the library's jobs.

:func:`report_content` takes what a user names (a stored run id, a built-in scenario or a TOML
file), runs what is needed (the scenario; an undisturbed baseline of it for the Sankey's marked
flows; an ensemble when asked for draws; the hindcast for ``apr2025-heavy-ree``) and returns a
:class:`ReportContent`. The HTML page (:func:`critmin.report.html.render_html`) and the web app
both draw from it, so the report and the dashboard show the same figures.

A stored run is re-run from its stored scenario, engine and mode (runs are deterministic; an
ensemble's draws depend on the seed alone): the report says whether the re-run matches the stored
totals, and says so when the data changed since the run.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from critmin import metrics
from critmin.chain import SupplyChain
from critmin.errors import UnknownNameError
from critmin.results import RunResult
from critmin.scenario import Scenario, builtin_names, load_scenario
from critmin.store import Store

from . import figures as F

#: the scenario whose months the data's 2025 observations cover (the hindcast section)
HINDCAST_SCENARIO = "apr2025-heavy-ree"
#: the month whose magnet exports calibrated apr2025-heavy-ree (not a prediction: left out of the fit)
CALIBRATION_MONTH = "2025-05"
#: monthly series kept per draw for the fan chart: the riskiest pairs of the deterministic run
FAN_PAIRS = 6
#: materials the overview shows first: the magnet chain, then the other modelled materials
FEATURED = ("Nd", "Pr", "Dy", "Tb", "Sm", "Gd", "Y", "Ga", "Ge")
#: rows of the top-risks table
TOP_RISKS = 15


@dataclass(frozen=True)
class Figure:
    """One figure: a stable key (the HTML's ``data-figure``), a caption and the plotly figure."""

    key: str
    caption: str
    figure: go.Figure


@dataclass(frozen=True)
class Table:
    """One table: a stable key, a caption and the frame."""

    key: str
    caption: str
    frame: pd.DataFrame


@dataclass(frozen=True)
class Section:
    """One section of the report: a heading, paragraphs of plain text, figures and tables."""

    key: str
    heading: str
    paragraphs: tuple[str, ...] = ()
    figures: tuple[Figure, ...] = ()
    tables: tuple[Table, ...] = ()


@dataclass(frozen=True)
class ReportContent:
    """A whole report: title, a one-line subtitle (what was run, on which data), the run ids it
    shows and its sections in order."""

    title: str
    subtitle: str
    run_ids: tuple[str, ...]
    sections: tuple[Section, ...]
    provenance: dict[str, Any] = field(default_factory=dict)

    def figures(self) -> list[Figure]:
        """Every figure, in the order of the sections."""
        return [f for s in self.sections for f in s.figures]

    def section(self, key: str) -> Section:
        """The section with ``key``."""
        for s in self.sections:
            if s.key == key:
                return s
        raise KeyError(key)


# -- what the user named ---------------------------------------------------------------------------
@dataclass(frozen=True)
class _Source:
    scenario: Scenario
    engine: str
    mode: str | None
    run_id: str = ""
    kind: str = "scenario"  # or "run", "mc"
    draws: int | None = None
    seed: int | None = None
    stored: pd.DataFrame | None = None  # a stored run's row
    data_sha256: str = ""


def _stored_row(store: Store, run_id: str) -> tuple[str, pd.Series] | None:
    for table_name, kind in (("runs", "run"), ("mc_runs", "mc")):
        rows = store.read_runs(table_name)
        hit = rows[rows["run_id"] == run_id]
        if len(hit):
            return kind, hit.iloc[0]
    return None


def _stored_ids(store: Store) -> list[str]:
    return [str(i) for t in ("runs", "mc_runs") for i in store.read_runs(t)["run_id"]]


def resolve_source(
    source: str | Path | Scenario, chain: SupplyChain, store: Store | None, engine: str, mode: str | None
) -> _Source:
    """A scenario object, a stored run id, a built-in name or a TOML file, in that order."""
    if isinstance(source, Scenario):
        return _Source(source, engine, mode)
    text = str(source)
    if store is not None and store.exists() and not Path(text).suffix:
        found = _stored_row(store, text)
        if found is not None:
            kind, row = found
            doc = json.loads(str(row["scenario_json"]))
            s = Scenario.model_validate(doc, context={"blocs": chain.blocs})
            draws = int(row["draws"]) if kind == "mc" else None
            return _Source(
                s,
                str(row["engine"]),
                str(row["mode"]),
                text,
                kind,
                draws,
                int(row["seed"]),
                data_sha256=str(row.get("data_sha256", "") or ""),
            )
    if Path(text).suffix.lower() == ".toml" or text in builtin_names():
        return _Source(load_scenario(text, blocs=chain.blocs), engine, mode)
    known = list(builtin_names()) + (_stored_ids(store) if store is not None and store.exists() else [])
    raise UnknownNameError("run id or built-in scenario (or give a .toml file)", text, known)


# -- sections --------------------------------------------------------------------------------------
def _pct(x: float | None) -> str:
    return "" if x is None else f"{x:.0%}"


def describe_scenario(s: Scenario) -> list[str]:
    """The scenario in words: its description, then one sentence per event and policy."""
    out = [s.description.strip() or s.name]
    out.append(
        f"{s.months} months from {s.start}, {s.mode} mode; regions {', '.join(s.regions)}; coalition {s.coalition}."
    )
    for d in s.disruption:
        how = "licenses" if d.kind == "licensing" else "restricts"
        words = [
            f"{d.exporter} {how} {', '.join(d.materials)} at {', '.join(d.stages)} to {', '.join(d.targets)} "
            f"from {d.start} for {d.months} months"
        ]
        if d.kind == "licensing":
            words.append(
                f"approving {_pct(d.approval_share)}"
                + (f" rising to {_pct(d.approval_share_final)}" if d.approval_share_final is not None else "")
            )
        else:
            words.append(f"severity {d.severity:.0%}")
        if d.covered_share < 1:
            words.append(f"covering {d.covered_share:.0%} of the flow")
        if d.compliance < 1:
            words.append(f"compliance {d.compliance:.0%}")
        out.append(", ".join(words) + (f" ({d.note})" if d.note else "") + ".")
    for o in s.outage:
        where = o.facility or o.region or "?"
        out.append(
            f"Outage: {where}{' ' + o.stage if o.stage else ''} loses {o.capacity_lost:.0%} of capacity from "
            f"{o.start} for {o.months} months{' (' + o.note + ')' if o.note else ''}."
        )
    for sp in s.stockpile:
        out.append(
            f"Stockpile: {sp.holder} holds {sp.tonnes:,.0f} t of {sp.material} ({sp.stage}), released at up "
            f"to {sp.max_release_t_per_month:,.0f} t a month."
        )
    for p in s.project:
        out.append(
            f"Project: {p.name or p.facility or p.region} {p.stage or ''} {', '.join(p.materials)} "
            f"from {p.start or 'its data start'}.".replace("  ", " ")
        )
    if s.uncertain:
        out.append(
            f"Uncertain: {len(s.uncertain)} field(s) drawn per Monte Carlo draw: "
            + "; ".join(u.name or ", ".join(u.fields or (u.field or "?",)) for u in s.uncertain)
            + "."
        )
    if s.source:
        out.append("Sources: " + s.source.strip())
    return out


def _baseline(s: Scenario) -> Scenario:
    """The undisturbed run the Sankey compares with: the scenario without disruptions, outages
    and uncertain entries (stockpiles, projects and market settings kept)."""
    return s.with_changes(disruption=[], outage=[], uncertain=[])


def _chain_section(run: RunResult, base: RunResult, materials: Sequence[str]) -> Section:
    figs = []
    for m in materials:
        if not F.chain_stages(run.dataset, m):
            continue
        figs.append(
            Figure(
                f"sankey-{m}",
                f"{m}: base flows region to region; red links lost tonnes in this "
                "scenario, blue links gained them (trade diverted).",
                F.sankey_figure(run, base, m),
            )
        )
    text = (
        "The chain as the engine simulates it: each region's output of a stage goes to the buyers of the "
        "next stage (and after the last stage to end users) region by region. Widths are tonnes over the "
        "horizon in the undisturbed run (the same scenario without its disruptions and outages); links "
        f"under {0.2:.1f}% of a stage's flow are left out. Regions are the scenario's: countries, with "
        "the EU and the rest of the world (ROW) aggregated."
    )
    return Section("chain", "The chain and the disrupted flows", (text,), tuple(figs))


def _concentration_section(chain: SupplyChain, materials: Sequence[str]) -> Section:
    conc = metrics.concentration(chain)
    shares = metrics.production_shares(chain)
    shares = shares[shares["material"].isin(materials)]
    cols = ["material", "stage", "year", "hhi", "top1_country", "top1_share", "china_share", "n1_coverage"]
    latest = conc[conc["material"].isin(materials)]
    latest = latest.loc[latest.groupby(["material", "stage"])["year"].idxmax(), cols].reset_index(drop=True)
    return Section(
        "concentration",
        "Concentration by stage",
        (
            "Shares of world output by country for the materials this scenario simulates (latest year in the data "
            "for each stage); HHI on shares in percent (10,000 = one country).",
        ),
        (
            Figure(
                "concentration-bars",
                "Top country, top three and China's share of each stage.",
                F.concentration_figure(conc, materials),
            ),
            Figure(
                "share-map",
                "Share of world output by country; pick a material and stage.",
                F.share_map_figure(shares, materials),
            ),
        ),
        (Table("concentration", "Concentration by material and stage", latest),),
    )


def _run_sections(run: RunResult) -> list[Section]:
    summ = run.summary()
    short = summ[summ["shortfall_t"] > 0]
    n_short = len(short)
    lead = (
        f"{n_short} material-region pairs run short over the horizon."
        if n_short
        else "No region runs short of any material over the horizon."
    )
    risks = short.head(TOP_RISKS)[
        [
            "material",
            "region",
            "shortfall_t",
            "shortfall_share",
            "months_short",
            "first_month_short",
            "peak_month",
            "peak_month_share",
            "min_cover_months",
            "peak_price_index",
        ]
    ]
    stops = run.stoppage()
    stops = stops[stops["months_stopped"] > 0]
    return [
        Section(
            "shortfall",
            "Shortfall over time",
            (lead, *run.notes[:0]),
            (
                Figure(
                    "shortfall-region",
                    "Shortfall per month by region (pick a material).",
                    F.shortfall_region_figure(run),
                ),
                Figure(
                    "shortfall-sector", "Shortfall per month by sector, all regions.", F.shortfall_sector_figure(run)
                ),
            ),
        ),
        Section(
            "stocks",
            "Stocks drawn down",
            (
                "End users' inventory of the product they buy, in months of their demand, and government "
                "stockpiles where the scenario holds any.",
            ),
            (Figure("stocks", "Cover and stockpiles (pick a material).", F.stocks_figure(run)),),
        ),
        Section(
            "prices",
            "Prices by region",
            (
                "Each element's price to each region's buyers: spot, and paid (contracts and spot weighted by "
                "what was received). In USD/kg at the data's base price of the oxide where it has one.",
            ),
            (Figure("prices", "Spot and paid prices (pick a material).", F.prices_figure(run)),),
        ),
        Section(
            "stoppage",
            "Line-stoppage months by sector",
            (
                "A month counts as stopped when a sector received less than its stoppage threshold of its need "
                "(a proxy for lines halting, as automakers' did in 2025).",
            ),
            (Figure("stoppage", "Months stopped by material, sector and region.", F.stoppage_figure(run)),),
            (Table("stoppage", "Sectors that stopped", stops.head(TOP_RISKS)),) if len(stops) else (),
        ),
        Section(
            "risks", "Top risks", (lead,), (), (Table("top-risks", "The largest shortfalls over the horizon", risks),)
        ),
    ]


def _ensemble_section(
    s: Scenario,
    chain: SupplyChain,
    run: RunResult,
    draws: int,
    seed: int | None,
    engine: str,
    mode: str | None,
    progress: Callable[[int], None] | None,
) -> tuple[Section, str]:
    from critmin.risk import metrics_table, risk_metrics, run_ensemble

    summ = run.summary()
    pairs = [(str(m), str(r)) for m, r in zip(summ["material"], summ["region"], strict=True)][:FAN_PAIRS]
    ens = run_ensemble(
        s,
        chain,
        draws,
        seed=seed,
        engine="compiled" if engine == "fast" else engine,
        mode=mode,
        progress=progress,
        keep_monthly=pairs,
    )
    table = metrics_table(risk_metrics(ens))
    from critmin.jobs import MC_TABLE_COLUMNS

    top = table.sort_values("expected_shortfall_t", ascending=False).head(TOP_RISKS)
    top = top[[c for c in MC_TABLE_COLUMNS if c in top.columns]]
    paragraphs = [f"{int(ens.sizes['draw']):,} draws, seed {ens.attrs['seed']}, {ens.attrs['engine']} engine."]
    if not s.uncertain:
        paragraphs.append(f"{s.name} has no [[uncertain]] entries: every draw is the same run, so the bands are lines.")
    figs = (
        Figure("fan", "Monthly shortfall over the draws (pick a material and region).", F.fan_figure(ens)),
        Figure("risk-bars", "Expected shortfall and probability of any shortfall.", F.risk_bars_figure(table)),
    )
    sec = Section(
        "ensemble",
        "Uncertainty: the Monte Carlo ensemble",
        tuple(paragraphs),
        figs,
        (Table("ensemble-risks", "Risk metrics of the riskiest pairs", top),),
    )
    return sec, str(ens.attrs["run_id"])


def _hindcast_section(run: RunResult) -> Section:
    from critmin.hindcast import compare

    cmp = compare(run.trade(), run.element_prices().assign(stage="separation"))
    fit = cmp.dropna(subset=["ratio"])
    fit = fit[np.isfinite(fit["ratio"])]
    calibrated = (fit["indicator"] == "magnet_exports_t") & (fit["month"] == CALIBRATION_MONTH)
    fit = fit[~calibrated]
    paragraphs = [
        "The model's months against what China's customs data and price reporters showed in 2025 "
        "(src/critmin/data/hindcast_2025.csv). Two parameters were calibrated on May 2025 magnet exports; every "
        "other month and series is a prediction (docs/engine.md section 6).",
    ]
    if len(fit):
        logs = np.log(fit["ratio"].clip(lower=1e-6))
        within = int(((fit["ratio"] > 0.5) & (fit["ratio"] < 2)).sum())
        paragraphs.append(
            f"{len(fit)} predicted model-observed pairs (the calibration month left out): median ratio "
            f"model/observed {float(np.exp(np.median(logs))):.2f}; {within} of {len(fit)}"
            " within a factor of two."
        )
    cols = ["indicator", "month", "region", "material", "observed", "model", "model_paid", "unit", "ratio"]
    return Section(
        "hindcast",
        "The 2025 hindcast",
        tuple(paragraphs),
        (Figure("hindcast", "Model (lines) against observed (circles).", F.hindcast_figure(cmp)),),
        (Table("hindcast", "Model against observed", cmp[cols]),),
    )


def stockpile_section(outcome: Any) -> Section:
    """The stockpile recommendation (:class:`~critmin.levers.stockpile.StockpileOutcome`)."""
    rec, oos = outcome.recommendation(), outcome.out_of_sample()
    paragraphs = [
        f"Targets: {', '.join(str(t) for t in outcome.targets)}. "
        + "; ".join(
            f"{r.regime}: ${r.total_cost_usd:,.0f}, {'met' if r.met else 'NOT met'} out of sample "
            f"({r.rounds} round(s); {r.stopped})"
            for r in outcome.results
        )
    ]
    paragraphs += list(outcome.notes)
    figs = (Figure("stockpile", "Tonnes to hold and each target on fresh draws.", F.stockpile_figure(rec, oos)),)
    tables = (
        Table("stockpile-recommendation", "Recommendation", rec),
        Table("stockpile-out-of-sample", "Out-of-sample check", oos),
        Table("stockpile-cost-benefit", "Cost against the expected loss avoided", outcome.cost_benefit()),
    )
    return Section("stockpile", "Stockpile recommendation", tuple(paragraphs), figs, tables)


def portfolio_section(outcome: Any) -> Section:
    """The project portfolio (:class:`~critmin.levers.portfolio.PortfolioOutcome`)."""
    paragraphs = [
        f"Budget ${outcome.budget_usd:,.0f}; chosen: {', '.join(outcome.chosen) or 'none'} "
        f"(capex ${outcome.total_capex_usd:,.0f}). Objective: {outcome.objective.describe()}.",
        *outcome.notes,
    ]
    tables = tuple(Table(f"portfolio-{i}", title, frame) for i, (title, frame) in enumerate(outcome.tables().items()))
    figs = (Figure("portfolio", "Reduction per $M of each candidate alone.", F.portfolio_figure(outcome.ranking)),)
    return Section("portfolio", "Project portfolio", tuple(paragraphs), figs, tables)


def monitor_section(store: Store, chain: SupplyChain, s: Scenario) -> Section:
    """The framework monitor next to the scenario: the export controls as of the end of the
    scenario's first month and as of today, the commitments as of today and the allied share of
    capacity against the stated goals (:mod:`critmin.monitor`)."""
    from critmin.jobs import controls_job, framework_job
    from critmin.monitor.framework import indicators_figure

    cols = ["event_id", "effective", "end", "measure", "minerals", "target", "state", "status"]
    start = controls_job(chain, as_of=s.start)
    start = start[start["state"] != "not yet announced"][cols]
    today = controls_job(chain)
    fw = framework_job(store, indicators=True)
    commitments = fw.commitments[["commitment_id", "instrument", "due", "status", "last_evidence", "source",
                                  "confidence"]]  # fmt: skip
    counts = fw.commitments["status"].value_counts()
    paragraphs = (
        f"Export controls in the data as of the end of {s.start} (the scenario's first month) and as of "
        f"{today.attrs.get('as_of', 'today')}: each event's state computed from its dates and the suspensions "
        "in the data (critmin monitor controls).",
        f"Framework commitments as of {fw.as_of}: " + ", ".join(f"{n} {k}" for k, n in counts.items()) + ". "
        "A status comes from the due date and the dated evidence in the data (critmin monitor framework).",
        *fw.notes,
    )
    figures: tuple[Figure, ...] = ()
    tables = [Table("controls-start", f"Export controls as of {s.start}", start),
              Table("controls-today", "Export controls as of today", today[cols]),
              Table("commitments", f"Commitments as of {fw.as_of}", commitments)]  # fmt: skip
    if fw.indicators is not None and len(fw.indicators):
        figures = (Figure("indicators", "Allied share of capacity by year from the facility pipeline, against the "
                          "stated goals.", indicators_figure(fw.indicators)),)  # fmt: skip
        tables.append(Table("indicators", "Indicators against the goals", fw.indicators))
    return Section("monitor", "The framework monitor", paragraphs, figures, tuple(tables))


def _provenance_section(store: Store | None, s: Scenario, notes: Sequence[str]) -> tuple[Section, dict[str, Any]]:
    from critmin.jobs import data_sources

    paragraphs = []
    tables = []
    info: dict[str, Any] = {}
    if store is not None and store.exists():
        src = data_sources(store)
        by_conf = src.groupby("confidence")["rows"].sum().sort_values(ascending=False)
        user = src[src["layer"] != "shipped"]
        info = {
            "rows_by_confidence": {str(k): int(v) for k, v in by_conf.items()},
            "assumption_rows": int(by_conf.get("assumption", 0)),
            "user_rows": int(user["rows"].sum()),
        }
        paragraphs.append(
            "Rows by confidence: "
            + ", ".join(f"{k} {v:,}" for k, v in info["rows_by_confidence"].items())
            + f". {info['assumption_rows']:,} rows are modelling assumptions, each with its reason "
            "(src/critmin/data/assumptions.csv; override them with `critmin data import`)."
        )
        paragraphs.append(
            f"The user's own data: {info['user_rows']:,} rows"
            + (
                " (" + ", ".join(f"{t} {n:,}" for t, n in user.groupby("table")["rows"].sum().items()) + ")"
                if len(user)
                else " (none: every number is the shipped data's)"
            )
            + "."
        )
        tables.append(Table("sources", "Every source, its confidence and the rows it gives", src))
    settings = s.model_dump(mode="json", exclude_defaults=True)
    overrides = {
        k: v
        for k, v in settings.items()
        if k in ("market", "demand", "priorities", "inventory", "ramp_up", "regions", "coalition")
    }
    paragraphs.append(
        "The scenario overrides the model's defaults in: "
        + (
            "; ".join(f"{k} = {json.dumps(v, sort_keys=True)}" for k, v in overrides.items())
            if overrides
            else "nothing"
        )
        + "."
    )
    info["scenario_overrides"] = overrides
    if notes:
        paragraphs.append("Run notes: " + " | ".join(notes))
    return Section("provenance", "Assumptions and data provenance", tuple(paragraphs), (), tuple(tables)), info


# -- the report ------------------------------------------------------------------------------------
def _stored_check(store: Store, src: _Source, run: RunResult, chain: SupplyChain) -> str:
    """Whether the re-run of a stored deterministic run gives its stored shortfall."""
    if src.data_sha256 and src.data_sha256 != chain.fingerprint:
        return (
            f"The data changed since run {src.run_id} was stored (fingerprint {src.data_sha256[:10]} then, "
            f"{chain.fingerprint[:10]} now): this report re-runs its scenario on today's data."
        )
    if src.kind != "run":
        return ""  # an ensemble's check needs its re-run: see report_content
    stored = store.read_runs("run_results")
    stored = stored[stored["run_id"] == src.run_id]
    want = float(stored["shortfall_t"].sum())
    got = float(run.tidy()["shortfall_t"].sum())
    same = math.isclose(want, got, rel_tol=1e-6, abs_tol=1e-6)
    return (
        f"Re-run of stored run {src.run_id}: total shortfall {got:,.3f} t against {want:,.3f} t stored "
        f"({'identical' if same else 'DIFFERENT: the engine or data changed'})."
    )


def report_content(
    source: str | Path | Scenario,
    chain: SupplyChain,
    store: Store | None = None,
    *,
    draws: int | None = None,
    seed: int | None = None,
    engine: str = "fast",
    mode: str | None = None,
    progress: Callable[[int], None] | None = None,
    stockpile: Any = None,
    portfolio: Any = None,
) -> ReportContent:
    """Everything a report shows for ``source`` (a stored run id, a built-in scenario, a TOML file
    or a :class:`~critmin.scenario.Scenario`).

    Parameters
    ----------
    draws, seed
        Add the Monte Carlo section (fan charts of the riskiest pairs' monthly shortfall, risk
        metrics): ``draws`` draws of the scenario's ``[[uncertain]]`` entries with ``seed``. A
        stored ensemble's id brings its own draws and seed.
    engine, mode
        Of the deterministic run (a stored run's own are used for a run id).
    progress
        Called with the draws just finished (ensembles).
    stockpile, portfolio
        A lever's outcome (:func:`critmin.jobs.stockpile_job`, :func:`critmin.jobs.portfolio_job`)
        to add its recommendation and out-of-sample check.

    Examples
    --------
    >>> import critmin
    >>> from critmin.report import report_content
    >>> store = critmin.jobs.open_store()
    >>> content = report_content("lynas-malaysia-outage-6m", critmin.jobs.load_chain(store), store)
    >>> [s.key for s in content.sections][:3]
    ['scenario', 'chain', 'concentration']
    """
    from critmin.jobs import run_job

    src = resolve_source(source, chain, store, engine, mode)
    s = src.scenario
    if draws is None and src.kind == "mc":
        draws = src.draws
    if seed is None and src.seed is not None and src.kind == "mc":
        seed = src.seed
    run_engine = "fast" if src.kind == "mc" else src.engine
    run_mode = src.mode
    run = run_job(s, chain, engine=run_engine, mode=run_mode if run_mode != "both" else None).run
    base = run_job(_baseline(s), chain, engine=run_engine, mode=run.mode).run
    materials = F._materials_short(run)
    scen_text = describe_scenario(s)
    if src.run_id and store is not None and (check := _stored_check(store, src, run, chain)):
        scen_text.append(check)
    sections = [
        Section(
            "scenario",
            "The scenario",
            tuple(scen_text),
            (),
            (Table("settings", "Run", pd.DataFrame([run.metadata()])),),
        )
    ]
    sections.append(_chain_section(run, base, materials))
    sections.append(_concentration_section(chain, materials))
    sections += _run_sections(run)
    run_ids = [src.run_id or run.run_id]
    if draws:
        sec, ens_id = _ensemble_section(
            s, chain, run, draws, seed, src.engine if src.kind == "mc" else engine, run.mode, progress
        )
        sections.append(sec)
        run_ids.append(ens_id)
        if src.kind == "mc" and src.data_sha256 == chain.fingerprint:
            same = ens_id == src.run_id  # the id hashes everything that sets the result
            scen_text.append(
                f"Re-run of the stored ensemble {src.run_id}: "
                + ("the same run id, so the same inputs, seed and draws (identical)." if same else
                   f"a different run id ({ens_id}): the inputs or the critmin version changed.")
            )  # fmt: skip
            sections[0] = replace(sections[0], paragraphs=tuple(scen_text))
    if s.name == HINDCAST_SCENARIO:
        sections.append(_hindcast_section(run))
    if stockpile is not None:
        sections.append(stockpile_section(stockpile))
    if portfolio is not None:
        sections.append(portfolio_section(portfolio))
    if store is not None and store.exists():
        sections.append(monitor_section(store, chain, s))
    prov, info = _provenance_section(store, s, run.notes)
    sections.append(prov)
    subtitle = (
        f"{s.start} + {s.months} months, {run.mode} mode, {run.engine} engine; data {chain.fingerprint[:12]}; "
        f"critmin {run.version}"
    )
    info.update(run.metadata())
    return ReportContent(f"critmin report: {s.name}", subtitle, tuple(dict.fromkeys(run_ids)), tuple(sections), info)


def overview_figures(chain: SupplyChain, materials: Sequence[str] | None = None) -> list[Figure]:
    """The dashboard's overview: concentration by material and stage, and the world map of shares
    (``materials`` default: every material in the data, the magnet chain's first)."""
    conc = metrics.concentration(chain)
    shares = metrics.production_shares(chain)
    known = sorted(set(conc["material"]) - {"rare_earths"})
    mats = list(materials) if materials else [m for m in FEATURED if m in known] + [m for m in known
                                                                                   if m not in FEATURED]  # fmt: skip
    return [
        Figure(
            "concentration-bars",
            "Top country, top three and China's share of each stage.",
            F.concentration_figure(conc, mats),
        ),
        Figure(
            "share-map",
            "Share of world output by country; pick a material and stage.",
            F.share_map_figure(shares[shares["material"].isin(mats)], mats),
        ),
    ]
