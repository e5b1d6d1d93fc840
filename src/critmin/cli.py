"""The ``critmin`` command line: parsing and printing only.

Every command calls one library function (:mod:`critmin.jobs`, :mod:`critmin.metrics`,
:class:`critmin.store.Store`) and prints what it returns. Under ``--format json`` or ``csv`` standard
output holds only the document; notes, warnings and progress go to standard error. User errors
print one line and exit with code 2 (``--debug`` shows the traceback); import errors also print a
table of the problems found.
"""

from __future__ import annotations

import json
import math
import sys
import threading
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table as RichTable
from rich.text import Text

from critmin import __version__
from critmin.errors import DataValidationError, UserError
from critmin.names import load_blocs
from critmin.options import DOCUMENT_FORMATS, ENGINES, MODES, TABLE_FORMATS, choice
from critmin.outputs import check_file_target
from critmin.schema import IMPORTABLE, schema_markdown
from critmin.store import Store
from critmin.tabular import plain, records

if TYPE_CHECKING:
    from critmin import jobs, metrics
    from critmin.chain import SupplyChain
else:

    class _OnFirstUse:
        """A module imported when first used: `critmin data build` or `--version` need only the
        store, not the engine, xarray and the rest."""

        def __init__(self, name: str) -> None:
            self._name = name

        def __getattr__(self, attr: str) -> Any:
            import importlib

            return getattr(importlib.import_module(self._name), attr)

    jobs = _OnFirstUse("critmin.jobs")
    metrics = _OnFirstUse("critmin.metrics")

app = typer.Typer(
    help="critmin: critical-mineral supply-chain security (chain map, metrics, disruption scenarios).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts are plain: "[[uncertain]]" is not markup
)
data_app = typer.Typer(
    help="Build, inspect, import and export the embedded DuckDB store.", no_args_is_help=True, rich_markup_mode=None
)
import_app = typer.Typer(
    help="Import rows into the store (all or nothing).", no_args_is_help=True, rich_markup_mode=None
)
scen_app = typer.Typer(
    help="The built-in scenario library and scenario files.", no_args_is_help=True, rich_markup_mode=None
)
optimize_app = typer.Typer(
    help="Size the framework's levers over the risk ensembles: stockpiles, project portfolios.", no_args_is_help=True
)
monitor_app = typer.Typer(
    help="Keep watch: export controls in force, framework commitments falling due, claims against the data.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
data_app.add_typer(import_app, name="import")
app.add_typer(optimize_app, name="optimize")
app.add_typer(monitor_app, name="monitor")
app.add_typer(data_app, name="data")
app.add_typer(scen_app, name="scenarios")


def _console(stderr: bool = False) -> Console:
    # a pipe or a file gets a wide table rather than rich's 80-column default
    probe = Console(stderr=stderr)
    return Console(stderr=stderr, width=None if probe.is_terminal else 160, highlight=False)


out = _console()
err = _console(stderr=True)


class _State:
    db: Path | None = None
    debug: bool = False
    blocs_file: Path | None = None


state = _State()


def _version(value: bool) -> None:
    if value:
        print(f"critmin {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    db: Annotated[
        Path | None,
        typer.Option("--db", help="Database file (default: $CRITMIN_DB or the user data dir)."),
    ] = None,
    blocs: Annotated[
        Path | None,
        typer.Option("--blocs", help="TOML file with extra blocs: [blocs] name = [ISO3, ...]."),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    state.db = db
    state.debug = debug
    state.blocs_file = blocs


def _store() -> Store:
    return Store(state.db)


def _chain(store: Store | None = None) -> SupplyChain:
    return jobs.load_chain(store or _store(), state.blocs_file)


# -- printing -------------------------------------------------------------------------------------
def say(text: str) -> None:
    """A status line for a person (standard output; never under --format json/csv)."""
    out.print(Text(text))


def note(text: str, kind: str = "note") -> None:
    """A note or warning: always on standard error."""
    err.print(Text(f"{kind}: {text}", style="yellow" if kind == "warning" else "dim"))


def _fmt(value: Any, col: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float):
        if col.endswith("share") or col.endswith("coverage") or col == "net_import_reliance":
            return f"{value:.1%}"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.2f}" if abs(value) < 10 else f"{value:,.1f}"
    return str(value)


def emit(df: pd.DataFrame, fmt: str, title: str = "", columns: list[str] | None = None) -> None:
    """Print a frame as a table (cells are text, never markup), JSON (list of objects) or CSV."""
    fmt = choice("format", fmt, TABLE_FORMATS)
    if fmt == "json":
        print(json.dumps(records(df), indent=2))
        return
    if fmt == "csv":
        sys.stdout.write(df.to_csv(index=False))
        return
    cols = columns or list(df.columns)
    t = RichTable(title=Text(title) if title else None, show_lines=False, header_style="bold")
    for c in cols:
        t.add_column(Text(c), justify="right" if pd.api.types.is_numeric_dtype(df[c]) else "left")
    for r in df[cols].itertuples(index=False):
        t.add_row(*(Text(_fmt(v, c)) for v, c in zip(r, cols, strict=True)))
    out.print(t)


def emit_document(doc: Any) -> None:
    """A JSON document on standard output (numpy scalars unwrapped, NaN as null)."""
    print(json.dumps(plain(doc), indent=2))


def _problems_table(exc: DataValidationError) -> None:
    shown = f", the first {len(exc.problems)} shown" if exc.total > len(exc.problems) else ""
    t = RichTable(title=Text(f"{exc.path}: {exc.total:,} problem(s){shown}; nothing was written"),
                  header_style="bold red")  # fmt: skip
    for c in ("row", "column", "value", "reason", "hint"):
        t.add_column(c)
    for p in exc.problems:
        t.add_row(*(Text(x) for x in (str(p.row), p.column, p.value[:40], p.reason, p.hint)))
    err.print(t)


FORMAT = Annotated[str, typer.Option("--format", "-f", help="table | json | csv")]
DOC_FORMAT = Annotated[str, typer.Option("--format", "-f", help="table | json")]


# -- chain and metrics ------------------------------------------------------------------------------
@app.command()
def overview(
    material: Annotated[str, typer.Option(help="Material (default: total rare earths).")] = "rare_earths",
    year: Annotated[int | None, typer.Option(help="Year (default: the base year).")] = None,
    bloc: Annotated[str, typer.Option(help="Bloc whose share is shown.")] = "framework",
    fmt: FORMAT = "table",
) -> None:
    """Concentration by stage for one material: the main job of `make run`."""
    fmt = choice("format", fmt, TABLE_FORMATS)
    chain = _chain()
    y = year or chain.base_year
    df = metrics.concentration(chain, material=material, year=y, bloc=bloc)
    if fmt != "table":
        emit(df, fmt)
        return
    cols = ["stage", "world_total", "hhi", "top1_country", "top1_share", "top3_share", "china_share",
            "bloc_share", "n1_coverage", "hhi_wgi"]  # fmt: skip
    emit(df, fmt, title=f"{chain.material(material)}: concentration by stage, {y} (bloc share = {bloc})", columns=cols)
    bn = df["bottleneck_stage"].dropna()
    if len(bn):
        say(f"Bottleneck stage (highest governance-weighted HHI): {bn.iloc[0]}")
    units = ", ".join(f"{r.stage}: t {r.basis}" for r in df.itertuples())
    say(f"World totals in {units}. Sources: `critmin data sources`.")


@app.command(name="metrics")
def metrics_cmd(
    material: Annotated[str | None, typer.Option("--material", "-m", help="Material id or name.")] = None,
    stage: Annotated[str | None, typer.Option("--stage", "-s", help="mine|separation|metal|magnet.")] = None,
    year: Annotated[int | None, typer.Option("--year", "-y", help="Year.")] = None,
    bloc: Annotated[str, typer.Option("--bloc", "-b", help="Bloc for bloc_share.")] = "framework",
    perspective: Annotated[
        str | None,
        typer.Option("--perspective", "-p", help="Country or bloc for net import reliance."),
    ] = None,
    fmt: FORMAT = "table",
) -> None:
    """Concentration metrics per material x stage x year (HHI, top-k, China and bloc share, N-1, HHI_WGI)."""
    fmt = choice("format", fmt, TABLE_FORMATS)
    chain = _chain()
    df = metrics.concentration(chain, material=material, stage=stage, year=year, bloc=bloc, perspective=perspective)
    if df.empty:
        raise UserError("no production data matches these filters")
    cols = ["material", "stage", "year", "hhi", "top1_country", "top1_share", "top3_share", "china_share",
            "bloc_share", "n1_coverage", "hhi_wgi", "bottleneck_stage"]  # fmt: skip
    if perspective:
        cols.append("net_import_reliance")
    emit(df, fmt, title=f"Concentration metrics (bloc share = {bloc})", columns=cols if fmt == "table" else None)


@app.command()
def shares(
    material: Annotated[str, typer.Option("--material", "-m")],
    stage: Annotated[str, typer.Option("--stage", "-s")],
    year: Annotated[int | None, typer.Option("--year", "-y")] = None,
    fmt: FORMAT = "table",
) -> None:
    """Production by country and share, with each row's source and confidence."""
    fmt = choice("format", fmt, TABLE_FORMATS)
    chain = _chain()
    df = metrics.production_shares(chain, material, stage, year or chain.base_year)
    cols = ["country_iso3", "quantity", "unit", "basis", "share", "confidence", "source"]
    if fmt == "table":
        df = df.assign(source=df["source"].str.slice(0, 60))
    emit(df, fmt, title=f"{material} {stage}: production by country", columns=cols if fmt == "table" else None)


@app.command()
def nk(
    countries: Annotated[list[str], typer.Argument(help="Countries and/or blocs that drop out, e.g. CHN MMR.")],
    material: Annotated[str | None, typer.Option("--material", "-m")] = None,
    stage: Annotated[str | None, typer.Option("--stage", "-s")] = None,
    year: Annotated[int | None, typer.Option("--year", "-y")] = None,
    fmt: FORMAT = "table",
) -> None:
    """N-k coverage: share of world output left if the named suppliers drop out."""
    fmt = choice("format", fmt, TABLE_FORMATS)
    chain = _chain()
    df = metrics.nk_coverage(chain, countries, material, stage, year or chain.base_year)
    cols = ["material", "stage", "year", "dropped", "lost_share", "nk_coverage"]
    emit(df, fmt, title="N-k coverage", columns=cols if fmt == "table" else None)


# -- data -----------------------------------------------------------------------------------------
@data_app.command("build")
def data_build(
    overrides: Annotated[
        Path | None,
        typer.Option(help="Folder of <table>.csv files whose rows override shipped rows."),
    ] = None,
    discard_imports: Annotated[
        bool,
        typer.Option("--discard-imports", help="Drop the rows imported with `data import` (kept by default)."),
    ] = False,
) -> None:
    """Build (or rebuild) the database from the shipped data, the --overrides given and the rows
    imported earlier (the user layer). Stored runs are kept. Idempotent."""
    store = _store()
    counts = store.build(overrides, discard_imports=discard_imports)
    total = sum(v for k, v in counts.items() if k != "meta")
    say(f"built {store.path}: {total:,} rows in {len(counts) - 1} tables (base year {store.base_year()})")


@data_app.command("list")
def data_list(fmt: FORMAT = "table") -> None:
    """Tables, row counts and the base year."""
    fmt = choice("format", fmt, TABLE_FORMATS)
    store = _store()
    store.ensure_built()
    emit(store.list_tables(), fmt, title=f"{store.path} (base year {store.base_year()})")


@data_app.command("sources")
def data_sources(
    confidence: Annotated[
        str | None,
        typer.Option(help="Only rows of this confidence (read, read-secondary, derived, assumption, user)."),
    ] = None,
    table_name: Annotated[str | None, typer.Option("--table", help="Only this table.")] = None,
    fmt: FORMAT = "table",
) -> None:
    """Where the numbers come from, and how many rows rest on each confidence level."""
    from critmin.schema import CONFIDENCE_LEVELS, LAYERS

    fmt = choice("format", fmt, TABLE_FORMATS)
    df = jobs.data_sources(_store(), confidence, table_name)
    if fmt != "table":
        emit(df, fmt)
        return
    emit(df.assign(source=df["source"].str.slice(0, 90)), fmt, title="Sources")
    summary = df.groupby("confidence")["rows"].sum().reindex(CONFIDENCE_LEVELS).dropna().astype(int)
    say("Rows by confidence: " + ", ".join(f"{k} {v:,}" for k, v in summary.items()))
    layers = df.groupby("layer")["rows"].sum().reindex(LAYERS).dropna().astype(int)
    say("Rows by layer: " + ", ".join(f"{k} {v:,}" for k, v in layers.items()))
    imported = df[df["layer"] == "import"].groupby("table")["rows"].sum()
    if len(imported):
        parts = ", ".join(f"{t} {n:,}" for t, n in imported.items())
        say(f"user layer: {imported.sum():,} imported rows ({parts}); kept by `critmin data build`, "
            "dropped by `critmin data build --discard-imports`")  # fmt: skip


@data_app.command("schema")
def data_schema(
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write the Markdown here.")] = None,
) -> None:
    """The store schema as Markdown, generated from the table definitions."""
    text = schema_markdown() + "\n"
    if output is None:
        sys.stdout.write(text)
        return
    jobs.write_text_file(output, text, protect=[_store().path])
    say(f"wrote {output}")


@data_app.command("export")
def data_export(
    table_name: Annotated[str, typer.Argument(metavar="TABLE", help="Table to export.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output file.")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="csv | parquet")] = "csv",
) -> None:
    """Export a table to CSV or Parquet."""
    store = _store()
    store.ensure_built()
    n = store.export(table_name, fmt, output)
    say(f"wrote {n:,} rows of {table_name} to {output}")


@import_app.command("csv")
def import_csv(
    table_name: Annotated[str, typer.Argument(metavar="TABLE", help=f"One of: {', '.join(IMPORTABLE)}.")],
    file: Annotated[Path, typer.Argument(help="Tidy CSV with the table's columns (see `critmin data schema`).")],
) -> None:
    """Import tidy rows into a table as the user layer, kept across rebuilds (rows with the same
    key are replaced)."""
    n = jobs.import_csv(_store(), table_name, file)
    say(f"imported {n:,} rows into {table_name} from {file}")


@import_app.command("usgs-mcs")
def import_usgs(
    file: Annotated[Path, typer.Argument(help="USGS MCS world-data CSV (MCS2025 wide or MCS2026 long layout).")],
) -> None:
    """Import USGS Mineral Commodity Summaries production rows (critmin's materials only)."""
    n, skipped = jobs.import_usgs_mcs(_store(), file)
    extra = f"; skipped {sum(skipped.values())} rows of {len(skipped)} unmodelled commodities" if skipped else ""
    say(f"imported {n:,} production rows from {file}{extra}")


# -- scenarios ------------------------------------------------------------------------------------
@scen_app.command("list")
def scenarios_list(fmt: FORMAT = "table") -> None:
    """List the built-in scenarios."""
    emit(jobs.scenario_catalogue(), fmt, title="built-in scenarios (critmin scenarios show NAME)")


@scen_app.command("show")
def scenarios_show(
    scenario: Annotated[str, typer.Argument(help="Built-in name or TOML file.")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="toml | json")] = "toml",
) -> None:
    """Validate a scenario (against the blocs in force) and print it: TOML as written, or the
    validated JSON."""
    fmt = choice("format", fmt, ("toml", "json"))
    s, text = jobs.scenario_text(scenario, load_blocs(state.blocs_file))
    if fmt == "json":
        emit_document(s.model_dump(mode="json"))
        return
    sys.stdout.write(text)
    note(
        f"valid scenario {s.name!r}: {len(s.disruption)} disruption(s), {len(s.outage)} outage(s), "
        f"{len(s.stockpile)} stockpile(s); sha256 {s.digest()[:12]}"
    )


@scen_app.command("new")
def scenarios_new(
    name: Annotated[str, typer.Argument(help="Scenario name; the file is NAME.toml unless --out is given.")],
    out_file: Annotated[Path | None, typer.Option("--out", "-o", help="File to write.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented scenario template that runs as written."""
    path = jobs.write_scenario_template(name, out_file, force)
    say(f"wrote {path}: edit it, then `critmin run {path}`")


@scen_app.command("facilities")
def scenarios_facilities(fmt: FORMAT = "table") -> None:
    """Facility ids for `facility = ...` in outages and projects (from the store's facility list)."""
    emit(jobs.facility_table(_chain()), fmt, title="facilities (critmin data sources --table facilities)")


@scen_app.command("from-control")
def scenarios_from_control(
    event_id: Annotated[str, typer.Argument(help="Export-control event id (critmin monitor controls).")],
    out_file: Annotated[Path | None, typer.Option("--out", "-o", help="File to write (default: print).")] = None,
    months: Annotated[int | None, typer.Option("--months", help="Horizon from the effective month (12).")] = None,
    severity: Annotated[
        float | None, typer.Option("--severity", help="Share withheld by a ban (1), or licensed share of the flow.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a scenario that reproduces an export-control event of the data (licensing, bans,
    targets, stages), with the event's source in its header."""
    store = _store()
    converted, path = jobs.control_scenario_job(
        _chain(store), event_id, out_file, months=months, severity=severity, force=force, protect=[store.path]
    )
    for line in converted.notes:
        note(line)
    if path is None:
        sys.stdout.write(converted.text)
        note(f"valid scenario {converted.scenario.name!r}: save it with -o FILE, then `critmin run FILE`")
        return
    say(f"wrote {path}: check it with `critmin scenarios show {path}`, then `critmin run {path}`")


# -- runs -----------------------------------------------------------------------------------------
@app.command("run")
def run_cmd(
    scenario: Annotated[str, typer.Argument(help="Built-in scenario name or TOML file.")],
    engine: Annotated[str, typer.Option("--engine", help="fast (numpy) | compiled (numba) | lp (HiGHS)")] = "fast",
    mode: Annotated[
        str | None,
        typer.Option("--mode", help="market | coordinated | both (both: also the value of cooperation)"),
    ] = None,
    fmt: DOC_FORMAT = "table",
    out_dir: Annotated[Path | None, typer.Option("--out", help="Also write CSV/Parquet/JSON results here.")] = None,
    top: Annotated[int, typer.Option("--top", min=0, help="Rows in the table (0 = all).")] = 15,
    save: Annotated[bool, typer.Option("--save/--no-save", help="Store the run in the database.")] = True,
) -> None:
    """Run a scenario month by month: who runs short of what, when, by how much, at what price."""
    fmt = choice("format", fmt, DOCUMENT_FORMATS)
    store = _store()
    chain = _chain(store)
    res = jobs.run_job(scenario, chain, engine=engine, mode=mode, store=store if save else None, out_dir=out_dir)
    notes = list(dict.fromkeys(n for r in res.runs.values() for n in r.notes))
    if fmt == "json":
        for n in notes:
            note(n)
        emit_document(res.document())
        return
    s = res.scenario
    where = (" (stored)" if save else "") + (f"; files in {out_dir}" if out_dir else "")
    if res.value_of_cooperation is not None:
        title = f"{s.name}: value of cooperation ({s.coalition} pools; shortfall in t over {s.months} months)"
        emit(res.value_of_cooperation, "table", title=title)
        for n in notes:
            note(n)
        say("run ids " + ", ".join(f"{m} {r.run_id}" for m, r in res.runs.items()) + where)
        return
    run = res.run
    summ = run.summary()
    short = summ[summ["shortfall_t"] > 0]
    title = (f"{s.name}: {s.start} + {s.months} months, {run.mode} mode, {run.engine} engine: "
             f"{len(short)} material-region pairs run short")  # fmt: skip
    if short.empty:
        say(f"{title}\nno shortfall in any region")
    else:
        cols = ["material", "region", "shortfall_t", "shortfall_share", "months_short", "first_month_short",
                "peak_month", "peak_month_share", "min_cover_months", "peak_price_index"]  # fmt: skip
        emit(short.head(top) if top else short, "table", title=title, columns=cols)
        years = jobs.shortfall_by_year_table(run, short.head(top) if top else short)
        emit(years, "table", title="shortfall share by calendar year")
        stops = jobs.stoppage_table(run)
        if not stops.empty:
            emit(stops.head(top) if top else stops, "table",
                 title="line-stoppage proxy: months a sector got less than its threshold of its need")  # fmt: skip
    for line in jobs.product_lines(run):
        say(line)
    peaks = run.dataset["price_index"].max("month").to_series()
    say("peak world paid price index: " + ", ".join(f"{m} {v:.2f}" for m, v in peaks.items()))
    for n in notes:
        note(n)
    say(f"run id {run.run_id}{where}")


@app.command("hindcast")
def hindcast_cmd(
    engine: Annotated[str, typer.Option("--engine", help="fast (numpy) | compiled (numba) | lp (HiGHS)")] = "fast",
    fmt: FORMAT = "table",
) -> None:
    """The 2025 hindcast: the apr2025-heavy-ree run month by month next to China's customs data and
    regional Dy/Tb prices (src/critmin/data/hindcast_2025.csv)."""
    cmp = jobs.hindcast_job(_chain(), engine=engine)
    cols = ["indicator", "month", "region", "material", "observed", "model", "model_paid", "unit", "ratio"]
    emit(cmp, fmt, title="apr2025-heavy-ree against 2025 observations (ratio = model / observed)", columns=cols)


@app.command("report")
def report_cmd(
    source: Annotated[
        str, typer.Argument(help="A stored run id (`critmin runs`), a built-in scenario or a TOML file.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="The HTML file to write (self-contained, opens offline).")],
    draws: Annotated[
        int | None, typer.Option("--draws", "-n", min=1, help="Add the Monte Carlo section with this many draws.")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of the draws (default: the scenario's).")] = None,
    engine: Annotated[str, typer.Option("--engine", help="fast (numpy) | compiled (numba) | lp (HiGHS)")] = "fast",
    mode: Annotated[str | None, typer.Option("--mode", help="market | coordinated (default: the scenario's)")] = None,
) -> None:
    """One self-contained HTML report of a run: the scenario, the chain as Sankeys, concentration,
    shortfall, stocks, prices, line stoppages, top risks, the 2025 hindcast, provenance."""
    from critmin.report import report_content, write_report

    engine = choice("engine", engine, ENGINES)
    if mode is not None:
        mode = choice("mode", mode, MODES)
    store = _store()
    chain = _chain(store)
    if draws:
        _warm_engine()
    path = write_report(
        out,
        lambda: report_content(source, chain, store, draws=draws, seed=seed, engine=engine, mode=mode),
        protect=[store.path],
    )
    say(f"report written: {path.resolve()}")


@app.command("mc")
def mc_cmd(
    scenario: Annotated[str, typer.Argument(help="Built-in scenario name or TOML file with [[uncertain]] entries.")],
    draws: Annotated[int, typer.Option("--draws", "-n", help="Number of Monte Carlo draws.")] = 1000,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed (default: the scenario's).")] = None,
    engine: Annotated[str, typer.Option("--engine", help="compiled (numba) | fast (numpy) | lp (HiGHS)")] = "compiled",
    mode: Annotated[str | None, typer.Option("--mode", help="market | coordinated (default: the scenario's)")] = None,
    workers: Annotated[int, typer.Option("--workers", help="Start a local Dask cluster of K processes.")] = 0,
    scheduler: Annotated[
        str | None, typer.Option("--scheduler", help="Use a running Dask cluster (tcp://host:8786).")
    ] = None,
    chunk: Annotated[int, typer.Option("--chunk", help="Draws per batch (bounds memory).")] = 2000,
    threads: Annotated[
        int | None, typer.Option("--threads", help="In-process threads (default: cores; fast, lp: at most 2).")
    ] = None,
    alpha: Annotated[float, typer.Option("--alpha", help="Quantile of VaR and CVaR (0-1).")] = 0.95,
    target_stderr: Annotated[
        float | None,
        typer.Option("--target-stderr", help="Stop early, at a chunk boundary, at this relative standard error."),
    ] = None,
    fmt: DOC_FORMAT = "table",
    top: Annotated[int, typer.Option("--top", min=0, help="Rows in the table (0 = all).")] = 15,
    save: Annotated[
        bool, typer.Option("--save/--no-save", help="Store per-draw summaries (Parquet) and the run.")
    ] = True,
) -> None:
    """Monte Carlo over the scenario's [[uncertain]] fields: risk metrics per material and region."""
    fmt = choice("format", fmt, DOCUMENT_FORMATS)
    store = _store()
    chain = _chain(store)
    if choice("engine", engine, ENGINES) == "compiled" and not workers and scheduler is None:
        _warm_engine()  # (on Dask the workers compile it, in their first chunk)
    res = _with_progress(
        fmt == "table" and draws > 200,
        draws,
        lambda progress: jobs.monte_carlo_job(
            scenario, chain, draws, seed=seed, engine=engine, mode=mode, chunk=chunk, threads=threads,
            workers=workers, scheduler=scheduler, alpha=alpha, target_stderr=target_stderr,
            store=store if save else None, progress=progress),
    )  # fmt: skip
    if fmt == "json":
        for n in res.notes:
            note(n)
        emit_document(res.document())
        return
    meta = res.metadata
    m = res.metrics
    shown = m[m["expected_shortfall_t"] > 0]
    cols = [c for c in jobs.MC_TABLE_COLUMNS if c in m.columns]
    title = (f"{res.scenario.name}: {meta['draws']:,} draws, seed {meta['seed']}, {meta['engine']} engine, "
             f"{meta['mode']} mode, {meta['seconds']:.1f} s; shortfall in t over {res.scenario.months} months, "
             f"VaR and CVaR at quantile {alpha:g}")  # fmt: skip
    if shown.empty:
        say(f"{title}\nno shortfall in any draw")
    else:
        emit(shown.head(top) if top else shown, "table", title=title, columns=cols)
    emit(res.convergence, "table", title="convergence (world expected shortfall)")
    for n in res.notes:
        note(n)
    say(f"run id {meta['run_id']}" + (f"; per-draw summaries in {res.parquet}" if res.parquet else ""))


def _warm_engine() -> None:
    """Load the compiled engine's machine code, compiling it first where numba's disk cache has
    none (once per machine and version); on a terminal a spinner says so while it takes."""
    from critmin.engine.month_loop import warm_up

    if not err.is_terminal:
        warm_up()
        return
    failed: list[BaseException] = []
    done = threading.Event()

    def work() -> None:
        try:
            warm_up()
        except BaseException as exc:  # shown below, in the main thread
            failed.append(exc)
        finally:
            done.set()

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    if not done.wait(0.5):
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        text = "compiling the engine (once per machine and version: about a minute)"
        with Progress(SpinnerColumn(), TextColumn(text), TimeElapsedColumn(), console=err, transient=True) as bar:
            bar.add_task("compile", total=None)
            done.wait()
    worker.join()
    if failed:
        raise failed[0]


def _with_progress(show: bool, total: int, job: Any) -> Any:
    if not show or not err.is_terminal:
        return job(None)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress("draws", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=err) as bar:
        task = bar.add_task("mc", total=total)
        return job(lambda n: bar.advance(task, n))


@app.command("criticality")
def criticality_cmd(
    method: Annotated[str, typer.Option("--method", help="eu | usgs | ensemble")] = "eu",
    perspective: Annotated[
        str | None,
        typer.Option(
            "--perspective",
            "-p",
            help="EU, USA, JPN, AUS, MYS, framework, a bloc or a country; several separated by commas "
            "(default: EU for eu, USA for usgs, framework for ensemble).",
        ),
    ] = None,
    materials: Annotated[
        str | None, typer.Option("--materials", "-m", help="Comma-separated materials (default: all with data).")
    ] = None,
    inputs: Annotated[
        list[Path] | None, typer.Option("--inputs", help="Parameter file(s) overriding the defaults (CSV).")
    ] = None,
    no_defaults: Annotated[
        bool, typer.Option("--no-defaults", help="Use only the --inputs files, not the shipped defaults.")
    ] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Fail on a missing input instead of skipping.")] = False,
    scenarios: Annotated[
        str | None, typer.Option("--scenarios", help="Ensemble: comma-separated scenarios (default: built-ins).")
    ] = None,
    weights: Annotated[
        str | None, typer.Option("--weights", help="Ensemble: comma-separated scenario weights (default: equal).")
    ] = None,
    draws: Annotated[int, typer.Option("--draws", help="Ensemble: draws per uncertain scenario.")] = 200,
    seed: Annotated[int | None, typer.Option("--seed", help="Ensemble: seed (default: each scenario's).")] = None,
    figure: Annotated[
        Path | None, typer.Option("--figure", help="Write the criticality matrix (HTML, offline).")
    ] = None,
    by_stage: Annotated[bool, typer.Option("--by-stage", help="One row per material and stage (eu, usgs).")] = False,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Trade-restriction factors from the export controls in force on this day: YYYY (31 December), "
            "YYYY-MM or YYYY-MM-DD (default: 31 December of the production data's latest year).",
        ),
    ] = None,
    fmt: FORMAT = "table",
) -> None:
    """Criticality by the EU CRM method, the USGS supply-risk method or the engine's ensembles."""
    fmt = choice("format", fmt, TABLE_FORMATS)
    store = _store()
    res = jobs.criticality_job(
        _chain(store), method, _split(perspective), _split(materials), inputs or [], use_defaults=not no_defaults,
        strict=strict, scenarios=_split(scenarios), weights=_numbers(weights, "--weights"), draws=draws, seed=seed,
        figure=figure, protect=[store.path], by_stage=by_stage, as_of=as_of,
    )  # fmt: skip
    for msg in res.skipped:
        note(msg, "skipped")
    if method == "eu" and not res.results.empty:
        first = res.results["inputs"].iloc[0]
        note(f"trade-restriction factors: export controls in force on {first['trade_factors_as_of']} "
             f"({first['trade_factors_as_of_basis']})")  # fmt: skip
    for w in res.warnings:
        note(w, "warning")
    if figure is not None:
        note(f"criticality matrix written to {figure}")
    if fmt == "json":
        emit_document(records(res.results))
        return
    if by_stage:
        emit(res.by_stage(), fmt, title=f"Supply risk by stage, {method} method")
        return
    emit(res.summary(), fmt, title=f"Criticality, {method} method, perspective {', '.join(res.perspectives)}")
    if len(res.perspectives) > 1 and fmt == "table":
        emit(res.by_perspective(), "table", title="Supply risk by perspective")


def _split(text: str | None) -> list[str] | None:
    return [x.strip() for x in text.split(",") if x.strip()] if text else None


def _numbers(text: str | None, option: str) -> list[float] | None:
    if not text:
        return None
    try:
        return [float(x) for x in text.split(",")]
    except ValueError:
        raise UserError(f"{option} must be numbers separated by commas (got {text!r})") from None


# -- levers -----------------------------------------------------------------------------------------
def _lever_report(scenario: str, chain: SupplyChain, path: Path, **lever: Any) -> None:
    """Write the scenario's report with a lever's section (``stockpile=`` or ``portfolio=``)."""
    from critmin.report import report_content, write_report

    store = _store()
    written = write_report(path, lambda: report_content(scenario, chain, store, **lever), protect=[store.path])
    note(f"report written: {written.resolve()}")


@optimize_app.command("stockpile")
def optimize_stockpile_cmd(
    scenario: Annotated[str, typer.Argument(help="Built-in scenario name or TOML file (with [[uncertain]] entries).")],
    holders: Annotated[str, typer.Option("--holders", help="Regions holding stockpiles, e.g. USA,JPN.")],
    materials: Annotated[str, typer.Option("--materials", help="Materials to hold, e.g. Dy,Tb,NdFeB.")],
    target: Annotated[
        list[str],
        typer.Option(
            "--target",
            help='Risk target per holder, repeatable: "defence_p_shortfall<=0.05", '
            '"expected_shortfall_t<=5", "cvar95_t<=10", "days_of_cover>=60".',
        ),
    ],
    stages: Annotated[
        str | None, typer.Option("--stages", help="Stages elements may be held at (default separation,metal,magnet).")
    ] = None,
    regime: Annotated[str, typer.Option("--regime", help="independent | complementary | both")] = "independent",
    draws: Annotated[int, typer.Option("--draws", "-n", help="In-sample draws of the optimisation.")] = 200,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed (default: the scenario's).")] = None,
    verify_draws: Annotated[int, typer.Option("--verify-draws", help="Fresh draws of the out-of-sample check.")] = 2000,
    verify_seed: Annotated[
        int | None, typer.Option("--verify-seed", help="Seed of the check (default: seed + 1,000,003).")
    ] = None,
    budget: Annotated[float | None, typer.Option("--budget", help="Most to spend, USD.")] = None,
    buy_months: Annotated[float, typer.Option("--buy-months", help="Months over which the stock is bought.")] = 12.0,
    carrying_cost: Annotated[
        float | None, typer.Option("--carrying-cost", help="Yearly holding cost, share of value (default: data).")
    ] = None,
    tolerance: Annotated[
        float, typer.Option("--tolerance", help="A shortfall counts above this share of demand.")
    ] = 1e-3,
    max_rounds: Annotated[int, typer.Option("--max-rounds", help="Out-of-sample rounds at most.")] = 5,
    time_limit: Annotated[float, typer.Option("--time-limit", help="Solver time limit per round, s.")] = 60.0,
    benchmark_days: Annotated[float, typer.Option("--benchmark-days", help="The benchmark buffer, days.")] = 60.0,
    report: Annotated[
        Path | None, typer.Option("--report", help="Also write the scenario's HTML report with this lever's section.")
    ] = None,
    fmt: DOC_FORMAT = "table",
) -> None:
    """Least-cost stockpiles that meet risk targets over the ensemble, verified out of sample."""
    from critmin.levers.stockpile import StockpileOptions

    fmt = choice("format", fmt, DOCUMENT_FORMATS)
    chain = _chain()
    opts = StockpileOptions(
        holders=tuple(_split(holders) or ()), materials=tuple(_split(materials) or ()), targets=tuple(target),
        stages=tuple(_split(stages) or ()), regime=regime, draws=draws, seed=seed, verify_draws=verify_draws,
        verify_seed=verify_seed, budget_usd=budget, buy_months=buy_months, carrying_share_per_yr=carrying_cost,
        tolerance=tolerance, max_rounds=max_rounds, time_limit_s=time_limit, benchmark_days=benchmark_days,
    )  # fmt: skip
    if report is not None:
        check_file_target(report)
    _warm_engine()
    res = jobs.stockpile_job(scenario, chain, opts, progress=lambda msg: note(msg, "progress"))
    if report is not None:
        _lever_report(scenario, chain, report, stockpile=res)
    if fmt == "json":
        for n in res.notes:
            note(n)
        emit_document(res.document())
        return
    p = res.provenance
    say(f"{res.scenario}: targets {', '.join(map(str, res.targets))} for each of {', '.join(res.holdings.holders)}; "
        f"{p['draws']:,} in-sample draws (seed {p['seed']}), checked on {p['verify_draws']:,} fresh draws "
        f"(seed {p['verify_seed']}); {p['seconds']:.0f} s")  # fmt: skip
    rec = res.recommendation()
    if rec.empty:
        say("no stockpile is needed: the targets hold without one")
    else:
        emit(rec, "table", title="least-cost stockpile (tonnes of the stage's product; NdFeB: t of magnet)")
    emit(res.out_of_sample(), "table", title="out of sample: the targets on fresh draws, full engine")
    totals = ", ".join(f"{r.regime} ${r.total_cost_usd:,.0f} ({r.rounds} round(s), {r.stopped})" for r in res.results)
    say(f"total cost: {totals}")
    if res.savings_vs_independent_usd is not None:
        say(f"what cooperation saves: ${res.savings_vs_independent_usd:,.0f}")
    bench = res.benchmark
    emit(
        bench[bench["kind"] == "holding"].drop(columns=["kind", "metric", "value", "stderr", "met"]),
        "table",
        title=f"benchmark: {p['verify_draws']:,} draws with a {opts.benchmark_days:g}-day buffer of each material",
    )
    emit(bench[bench["kind"] == "risk"][["holder", "metric", "value", "stderr", "met"]], "table",
         title="risk the benchmark leaves")  # fmt: skip
    emit(res.cost_benefit(), "table", title="cost against expected economic loss avoided (fresh draws)")
    for n in res.notes:
        note(n)


@optimize_app.command("portfolio")
def optimize_portfolio_cmd(
    scenario: Annotated[str, typer.Argument(help="Built-in scenario name or TOML file (with [[uncertain]] entries).")],
    budget: Annotated[float, typer.Option("--budget", help="Capital to commit, USD.")],
    candidates: Annotated[
        str | None, typer.Option("--candidates", help="TOML file of [[candidate]] projects (added to the pipeline).")
    ] = None,
    objective: Annotated[
        str, typer.Option("--objective", help="expected_shortfall | cvar95 | p, each also defence_...")
    ] = "expected_shortfall",
    regions: Annotated[
        str | None,
        typer.Option("--regions", help="Regions or blocs whose pooled shortfall counts (default: coalition)."),
    ] = None,
    materials: Annotated[str | None, typer.Option("--materials", help="Materials that count (default: all).")] = None,
    no_pipeline: Annotated[
        bool, typer.Option("--no-pipeline", help="Only the candidates file, not the data's facility pipeline.")
    ] = False,
    effect: Annotated[
        str, typer.Option("--effect", help="engine (each candidate run in the engine) | first_order")
    ] = "engine",
    draws: Annotated[int, typer.Option("--draws", "-n", help="In-sample draws.")] = 300,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed (default: the scenario's).")] = None,
    verify_draws: Annotated[int, typer.Option("--verify-draws", help="Fresh draws of the out-of-sample check.")] = 2000,
    verify_seed: Annotated[int | None, typer.Option("--verify-seed", help="Seed of the check.")] = None,
    stockpile_target: Annotated[
        list[str] | None,
        typer.Option("--stockpile-target", help="Also size stockpiles with and without the projects (repeatable)."),
    ] = None,
    time_limit: Annotated[float, typer.Option("--time-limit", help="Solver time limit, s.")] = 120.0,
    report: Annotated[
        Path | None, typer.Option("--report", help="Also write the scenario's HTML report with this lever's section.")
    ] = None,
    fmt: DOC_FORMAT = "table",
) -> None:
    """The projects that cut risk most within a budget, every candidate ranked, checked out of sample."""
    from critmin.levers.portfolio import PortfolioOptions

    fmt = choice("format", fmt, DOCUMENT_FORMATS)
    chain = _chain()
    opts = PortfolioOptions(
        budget_usd=budget, objective=objective, regions=tuple(_split(regions) or ()),
        materials=tuple(_split(materials) or ()), candidates_file=candidates, pipeline=not no_pipeline, effect=effect,
        draws=draws, seed=seed, verify_draws=verify_draws, verify_seed=verify_seed, time_limit_s=time_limit,
        stockpile_targets=tuple(stockpile_target or ()),
    )  # fmt: skip
    _warm_engine()
    if report is not None:
        check_file_target(report)
    res = jobs.portfolio_job(scenario, chain, opts, progress=lambda msg: note(msg, "progress"))
    if report is not None:
        _lever_report(scenario, chain, report, portfolio=res)
    if fmt == "json":
        for n in res.notes:
            note(n)
        emit_document(res.document())
        return
    for title, table in res.tables().items():
        if table is None or table.empty:
            continue
        if "why" in table.columns:  # the reasons print as lines: too long for a table cell
            emit(table.drop(columns=["why"]), "table", title=title)
            for r in table.itertuples(index=False):
                say(f"  {getattr(r, 'rank', '')}. {r.candidate}: {r.why}")
        else:
            emit(table, "table", title=title)
    cb = res.cost_benefit
    if cb:
        say(f"capex ${cb['cost_usd']:,.0f} against an expected economic loss avoided of "
            f"${cb['loss_avoided_usd']:,.0f} on the fresh draws (ratio {cb['benefit_cost_ratio']:.2f})")  # fmt: skip
    for n in res.notes:
        note(n)


def _contract(kind: str, fmt: str, **kwargs: Any) -> None:
    fmt = choice("format", fmt, DOCUMENT_FORMATS)
    res = jobs.price_floor_job(kind, **kwargs)
    if fmt == "json":
        for n in res.notes:
            note(n)
        emit_document(res.document())
        return
    what = "price floor" if kind == "floor" else "offtake guarantee"
    say(f"{what} on {res.material} at ${res.floor_usd_per_kg:,.2f}/kg for {res.volume_t_per_yr:,.0f} t/yr over "
        f"{res.years} years, from ${res.start_price_usd_per_kg:,.2f}/kg ({res.start_price_from}); {res.draws:,} "
        f"price paths, seed {res.seed}")  # fmt: skip
    say(f"expected cost ${res.expected_cost_usd:,.0f} (± {res.expected_cost_stderr_usd:,.0f}); median "
        f"${res.p50_cost_usd:,.0f}; 95th percentile ${res.p95_cost_usd:,.0f}; "
        f"P(any payment) {res.p_any_payment:.1%}")  # fmt: skip
    emit(res.table(), "table", title="cost to the guarantor by contract year, USD")
    emit(res.model.table(), "table", title="price model (fit and uncertainty)")
    for n in res.notes:
        note(n)


_PRICE_MODEL = Annotated[
    str | None, typer.Option("--price-model", help="TOML price model (default: fitted to the data's series).")
]
_START_PRICE = Annotated[
    float | None, typer.Option("--start-price", help="Starting price, USD/kg (default: the data's latest).")
]
_DISCOUNT = Annotated[float, typer.Option("--discount-rate", help="Yearly discount rate.")]
_PATHS = Annotated[int, typer.Option("--draws", "-n", help="Price paths.")]
_PATH_SEED = Annotated[int, typer.Option("--seed", help="Seed.")]


@app.command("price-floor")
def price_floor_cmd(
    material: Annotated[str, typer.Option("--material", help="Benchmark material, e.g. NdPr.")],
    floor: Annotated[float, typer.Option("--floor", help="Floor price, USD/kg.")],
    volume_t_per_yr: Annotated[float, typer.Option("--volume-t-per-yr", help="Volume under the floor, t/yr.")],
    years: Annotated[int, typer.Option("--years", help="Term, years.")],
    start_price: _START_PRICE = None,
    price_model: _PRICE_MODEL = None,
    upside_share: Annotated[
        float, typer.Option("--upside-share", help="Share of the price above the floor the guarantor keeps.")
    ] = 0.0,
    discount_rate: _DISCOUNT = 0.0,
    draws: _PATHS = 10_000,
    seed: _PATH_SEED = 0,
    fmt: DOC_FORMAT = "table",
) -> None:
    """The guarantor's cost of a price floor paid on the gap between a benchmark price and the floor."""
    _contract("floor", fmt, material=material, floor_usd_per_kg=floor, volume_t_per_yr=volume_t_per_yr, years=years,
              start_price_usd_per_kg=start_price, price_model=price_model, draws=draws, seed=seed,
              upside_share=upside_share, discount_rate=discount_rate)  # fmt: skip


@app.command("offtake")
def offtake_cmd(
    material: Annotated[str, typer.Option("--material", help="Benchmark material, e.g. NdPr.")],
    price: Annotated[float, typer.Option("--price", help="Guaranteed purchase price, USD/kg.")],
    volume_t_per_yr: Annotated[float, typer.Option("--volume-t-per-yr", help="Volume guaranteed, t/yr.")],
    years: Annotated[int, typer.Option("--years", help="Term, years.")],
    take_share: Annotated[
        float, typer.Option("--take-share", help="Share of the volume put to the guarantor when the market is below.")
    ] = 1.0,
    start_price: _START_PRICE = None,
    price_model: _PRICE_MODEL = None,
    discount_rate: _DISCOUNT = 0.0,
    draws: _PATHS = 10_000,
    seed: _PATH_SEED = 0,
    fmt: DOC_FORMAT = "table",
) -> None:
    """The cost of a buyer-of-last-resort guarantee: the guarantor buys at the guaranteed price and resells."""
    _contract("offtake", fmt, material=material, price_usd_per_kg=price, volume_t_per_yr=volume_t_per_yr, years=years,
              take_share=take_share, start_price_usd_per_kg=start_price, price_model=price_model, draws=draws,
              seed=seed, discount_rate=discount_rate)  # fmt: skip


@app.command("shortfall-cost")
def shortfall_cost_cmd(
    scenario: Annotated[
        str | None, typer.Argument(help="Built-in scenario name or TOML file (omit with --table-10-1).")
    ] = None,
    regions: Annotated[
        str | None, typer.Option("--regions", help="Regions whose shortfall to value (default: the coalition).")
    ] = None,
    draws: Annotated[int, typer.Option("--draws", "-n", help="Monte Carlo draws.")] = 1000,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed (default: the scenario's).")] = None,
    extra_buy: Annotated[
        str | None, typer.Option("--extra-buy", help="Tonnes bought at the start of the crisis, e.g. Dy=5,Tb=1.")
    ] = None,
    table_10_1: Annotated[
        bool, typer.Option("--table-10-1", help="Check the 2013 stockpile report's Table 10-1 arithmetic instead.")
    ] = False,
    fmt: DOC_FORMAT = "table",
) -> None:
    """What a shortfall costs: tonnes and dollars per material, with and without an extra buy, and
    the value of the output it stops."""
    fmt = choice("format", fmt, DOCUMENT_FORMATS)
    if table_10_1:
        from critmin.levers.valuation import check_table_10_1

        if scenario is not None or regions or extra_buy:
            raise UserError("--table-10-1 checks the 2013 report's table: give it alone, without a scenario")

        check = check_table_10_1()
        if fmt == "json":
            emit_document({"rows": records(check.rows), "totals": None if check.totals is None else
                           records(check.totals), "ok": check.ok, "note": check.note})  # fmt: skip
            return
        emit(check.rows, "table", title="Table 10-1 (2013 stockpile requirements report): each row at one unit price")
        if check.totals is not None:
            emit(check.totals, "table", title="the table's totals")
        say(f"{'reproduced' if check.ok else 'NOT reproduced'}: {check.note}")
        return
    if scenario is None:
        raise UserError("give a scenario (or --table-10-1)")
    buys: dict[str, float] = {}
    for part in _split(extra_buy) or []:
        name, _, value = part.partition("=")
        if name.strip() in buys:
            raise UserError(f"--extra-buy names {name.strip()} twice")
        try:
            buys[name.strip()] = float(value)
        except ValueError:
            raise UserError(f"--extra-buy must be MATERIAL=TONNES pairs, e.g. Dy=5,Tb=1 (got {part!r})") from None
    res = jobs.shortfall_cost_job(scenario, _chain(), _split(regions), draws, seed, buys)
    if fmt == "json":
        for n in res.notes:
            note(n)
        emit_document(res.document())
        return
    short = {"expected_shortfall_t": "shortfall_t", "unit_price_usd_per_t": "usd_per_t",
             "expected_shortfall_with_extra_buy_t": "after_buy_t", "value_with_extra_buy_usd": "after_buy_usd",
             "extra_buy_t": "buy_t", "expected_economic_loss_usd": "economic_loss_usd"}  # fmt: skip
    emit(res.table.drop(columns=["price_source"]).rename(columns=short), "table",
         title=f"{res.scenario.name}: shortfall of {', '.join(res.regions)} over {res.scenario.months} months, "
               f"{res.draws:,} draws (seed {res.seed}); values at the lever unit prices")  # fmt: skip
    say(f"expected economic loss (value of output stopped): ${res.loss_total_usd:,.0f} (± {res.loss_stderr_usd:,.0f})")
    for n in res.notes:
        note(n)


@app.command("runs")
def runs_cmd(fmt: FORMAT = "table") -> None:
    """List the runs stored in the database."""
    from critmin.results import load_runs

    emit(load_runs(_store()), fmt, title="stored runs")


@app.command("serve")
def serve_cmd(
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on; beyond loopback only with $CRITMIN_TOKEN set.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8050,
) -> None:
    """The web dashboard and its JSON API (docs/web.md), on the same store as these commands."""
    from critmin.web.server import serve

    serve(host, port, db=state.db)


# -- monitor: export controls -----------------------------------------------------------------------
@monitor_app.command("controls")
def monitor_controls_cmd(
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Date YYYY-MM-DD or YYYY-MM (its last day); default today.")
    ] = None,
    mineral: Annotated[str | None, typer.Option("--mineral", "-m", help="Only events covering this mineral.")] = None,
    fmt: FORMAT = "table",
) -> None:
    """The export-control timeline as of a date: announcement, effective and end dates, instrument,
    items, target, and each event's status computed from the dates and the suspensions in the data."""
    fmt = choice("format", fmt, TABLE_FORMATS)
    table = jobs.controls_job(_chain(), as_of=as_of, mineral=mineral)
    title = f"export controls as of {table.attrs['as_of']} (sources: critmin data sources --table export_controls)"
    cols = ["event_id", "announced", "effective", "end", "measure", "minerals", "target", "state", "status"]
    emit(table, fmt, title=title, columns=cols if fmt == "table" else None)


# -- monitor: framework and claims --------------------------------------------------------------------
@monitor_app.command("framework")
def monitor_framework_cmd(
    as_of: Annotated[str | None, typer.Option("--as-of", help="Date YYYY-MM-DD; default today.")] = None,
    evidence: Annotated[
        Path | None,
        typer.Option(
            "--evidence",
            help="CSV of further evidence rows (the framework_evidence columns: critmin data schema), "
            "validated like an import.",
        ),
    ] = None,
    indicators: Annotated[
        bool,
        typer.Option(
            "--indicators",
            help="Show the model's indicators instead: the allied share of separation and magnet capacity by "
            "year from the facility pipeline, against the stated goals.",
        ),
    ] = False,
    fmt: DOC_FORMAT = "table",
) -> None:
    """Each framework commitment with its due date and its status as of a date (upcoming, due,
    overdue, met, unknown), from the due dates and the evidence dated on or before it."""
    fmt = choice("format", fmt, DOCUMENT_FORMATS)
    res = jobs.framework_job(
        _store(), as_of=as_of, evidence_file=evidence, blocs_file=state.blocs_file, indicators=indicators
    )
    if res.indicators is not None:
        ind = res.indicators
        if fmt == "json":
            emit_document(records(ind))
        else:
            cols = ["stage", "year", "basis", "world_capacity_t_per_yr", "bloc_share", "top1_country", "top1_share",
                    "added_capacity_t_per_yr", "goal_id", "goal_value", "goal_met"]  # fmt: skip
            title = "share of world capacity, base year plus the facility pipeline (bloc: framework)"
            emit(ind, "table", title=title, columns=cols)
        for n in res.notes:
            note(n)
        return
    df = res.commitments
    if fmt == "json":
        cols = ["commitment_id", "instrument", "parties", "commitment", "signed", "due", "days_to_due", "status",
                "evidence", "source", "confidence"]  # fmt: skip
        emit_document(records(df[cols]))
    else:
        shown = df.assign(last_evidence=df["last_evidence"].str.slice(0, 80))
        cols = ["commitment_id", "due", "days_to_due", "status", "evidence_count", "last_evidence"]
        emit(shown, "table", title=f"framework commitments as of {res.as_of.isoformat()}", columns=cols)
        counts = df["status"].value_counts()
        say(", ".join(f"{counts[s]} {s}" for s in ("overdue", "due", "upcoming", "met", "unknown") if s in counts)
            + ". Evidence and sources: --format json; critmin data sources --table framework_evidence.")  # fmt: skip
    for n in res.notes:
        note(n)


@monitor_app.command("claims")
def monitor_claims_cmd(
    file: Annotated[Path, typer.Argument(help="Claims file (TOML): [[claim]] tables, see docs/monitor.md.")],
    fmt: DOC_FORMAT = "table",
) -> None:
    """Check each claim of a claims file against the data: supported, contradicted, depends on
    stage, depends on definition, or not checkable, with the numbers found and their sources."""
    fmt = choice("format", fmt, DOCUMENT_FORMATS)
    df = jobs.claims_job(_store(), file, state.blocs_file)
    if fmt == "json":
        emit_document(records(df))
        return
    shown = df.assign(text=df["text"].str.slice(0, 50), found=df["found"].str.slice(0, 70))
    emit(shown, "table", title=f"claims in {file}", columns=["claim_id", "verdict", "text", "found"])
    for row in df.itertuples(index=False):
        tested = f"{row.test}. " if row.test != "(no test)" else ""
        say(f"{row.claim_id} ({row.verdict}): {tested}{row.reason}")
        seen: dict[str, None] = {}
        for item in row.evidence:
            for s in item.get("sources", []):
                seen[f"{s['source']} ({s['confidence']})"] = None
        if seen:
            say("  sources: " + "; ".join(seen))


# -- entry point ------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    """Console entry point; returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        app(args=args, prog_name="critmin")
    except SystemExit as exc:  # typer/click: normal exit, --help, or a usage error (code 2)
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except DataValidationError as exc:
        if debug:
            traceback.print_exc()
        _problems_table(exc)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except UserError as exc:
        if debug:
            traceback.print_exc()
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("aborted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # an internal error: one line, traceback with --debug
        if debug:
            traceback.print_exc()
        print(
            f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1
    return 0


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
