"""The ``critmin`` command line: a thin layer over the library.

Every command calls the same library function a notebook would. User errors
print one line and exit with code 2 (``--debug`` shows the traceback); import
errors also print a table of every problem found.
"""

from __future__ import annotations

import json
import math
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table as RichTable

from critmin import __version__, metrics
from critmin.chain import SupplyChain
from critmin.errors import DataValidationError, UserError
from critmin.schema import IMPORTABLE, schema_markdown
from critmin.store import Store
from critmin.tabular import plain, records

app = typer.Typer(
    help="critmin: critical-mineral supply-chain security (chain map, metrics, disruption scenarios).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Build, inspect, import and export the embedded DuckDB store.", no_args_is_help=True)
import_app = typer.Typer(help="Import rows into the store (all or nothing).", no_args_is_help=True)
data_app.add_typer(import_app, name="import")
app.add_typer(data_app, name="data")


def _console(stderr: bool = False) -> Console:
    # a pipe or a file gets a wide table rather than rich's 80-column default
    probe = Console(stderr=stderr)
    return Console(stderr=stderr, width=None if probe.is_terminal else 160)


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


def _chain() -> SupplyChain:
    store = _store()
    store.ensure_built()
    return SupplyChain.from_store(store, blocs_file=state.blocs_file)


# -- output helpers ---------------------------------------------------------
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
    """Print a frame as a rich table, JSON (list of objects) or CSV."""
    if fmt == "json":
        print(json.dumps(records(df), indent=2))
        return
    if fmt == "csv":
        sys.stdout.write(df.to_csv(index=False))
        return
    if fmt != "table":
        raise UserError(f"unknown format {fmt!r} (valid: table, json, csv)")
    cols = columns or list(df.columns)
    t = RichTable(title=title or None, show_lines=False, header_style="bold")
    for c in cols:
        t.add_column(c, justify="right" if pd.api.types.is_numeric_dtype(df[c]) else "left")
    for r in df[cols].itertuples(index=False):
        t.add_row(*(_fmt(v, c) for v, c in zip(r, cols, strict=True)))
    out.print(t)


def _problems_table(exc: DataValidationError) -> None:
    t = RichTable(
        title=f"{exc.path}: {len(exc.problems)} problem(s); nothing was written",
        header_style="bold red",
    )
    for c in ("row", "column", "value", "reason", "hint"):
        t.add_column(c)
    for p in exc.problems:
        t.add_row(str(p.row), p.column, p.value[:40], p.reason, p.hint)
    err.print(t)


FORMAT = Annotated[str, typer.Option("--format", "-f", help="table | json | csv")]


# -- top-level commands -----------------------------------------------------
@app.command()
def overview(
    material: Annotated[str, typer.Option(help="Material (default: total rare earths).")] = "rare_earths",
    year: Annotated[int | None, typer.Option(help="Year (default: the base year).")] = None,
    bloc: Annotated[str, typer.Option(help="Bloc whose share is shown.")] = "framework",
    fmt: FORMAT = "table",
) -> None:
    """Concentration by stage for one material: the main job of `make run`."""
    chain = _chain()
    y = year or chain.base_year
    df = metrics.concentration(chain, material=material, year=y, bloc=bloc)
    cols = ["stage", "world_total", "hhi", "top1_country", "top1_share", "top3_share", "china_share",
            "bloc_share", "n1_coverage", "hhi_wgi"]  # fmt: skip
    if fmt != "table":
        emit(df, fmt)
        return
    mid = chain.material(material)
    emit(df, fmt, title=f"{mid}: concentration by stage, {y} (bloc share = {bloc})", columns=cols)
    bn = df["bottleneck_stage"].dropna()
    if len(bn):
        out.print(f"Bottleneck stage (highest governance-weighted HHI): [bold]{bn.iloc[0]}[/bold]")
    units = ", ".join(
        f"{r.stage}: t {b}" for r, b in zip(df.itertuples(), _bases(chain, mid, y, list(df["stage"])), strict=True)
    )
    out.print(f"World totals in {units}. Sources: `critmin data sources`.")


def _bases(chain: SupplyChain, material: str, year: int, stages: list[str]) -> list[str]:
    """The basis (REO, metal, NdFeB, ...) of each stage's tonnages, in the order given."""
    by = chain.select(material, None, year).groupby("stage")["basis"].first()
    return [str(by.get(s, "")) for s in stages]


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
    chain = _chain()
    df = metrics.concentration(chain, material=material, stage=stage, year=year, bloc=bloc, perspective=perspective)
    if df.empty:
        raise UserError("no production data matches these filters")
    cols = ["material", "stage", "year", "hhi", "top1_country", "top1_share", "top3_share", "china_share",
            "bloc_share", "n1_coverage", "hhi_wgi", "bottleneck_stage"]  # fmt: skip
    if perspective:
        cols.append("net_import_reliance")
    emit(
        df,
        fmt,
        title=f"Concentration metrics (bloc share = {bloc})",
        columns=cols if fmt == "table" else None,
    )


@app.command()
def shares(
    material: Annotated[str, typer.Option("--material", "-m")],
    stage: Annotated[str, typer.Option("--stage", "-s")],
    year: Annotated[int | None, typer.Option("--year", "-y")] = None,
    fmt: FORMAT = "table",
) -> None:
    """Production by country and share, with each row's source and confidence."""
    chain = _chain()
    df = metrics.production_shares(chain, material, stage, year or chain.base_year)
    cols = ["country_iso3", "quantity", "unit", "basis", "share", "confidence", "source"]
    if fmt == "table":
        df = df.assign(source=df["source"].str.slice(0, 60))
    emit(
        df,
        fmt,
        title=f"{material} {stage}: production by country",
        columns=cols if fmt == "table" else None,
    )


@app.command()
def nk(
    countries: Annotated[list[str], typer.Argument(help="Countries and/or blocs that drop out, e.g. CHN MMR.")],
    material: Annotated[str | None, typer.Option("--material", "-m")] = None,
    stage: Annotated[str | None, typer.Option("--stage", "-s")] = None,
    year: Annotated[int | None, typer.Option("--year", "-y")] = None,
    fmt: FORMAT = "table",
) -> None:
    """N-k coverage: share of world output left if the named suppliers drop out."""
    chain = _chain()
    df = metrics.nk_coverage(chain, countries, material, stage, year or chain.base_year)
    cols = ["material", "stage", "year", "dropped", "lost_share", "nk_coverage"]
    emit(df, fmt, title="N-k coverage", columns=cols if fmt == "table" else None)


# -- data commands --------------------------------------------------------
@data_app.command("build")
def data_build(
    overrides: Annotated[
        Path | None,
        typer.Option(help="Folder of <table>.csv files whose rows override shipped rows."),
    ] = None,
) -> None:
    """Build (or rebuild) the database from the shipped data. Idempotent."""
    store = _store()
    counts = store.build(overrides)
    total = sum(v for k, v in counts.items() if k != "meta")
    out.print(f"built {store.path}: {total:,} rows in {len(counts) - 1} tables (base year {store.base_year()})")


@data_app.command("list")
def data_list(fmt: FORMAT = "table") -> None:
    """Tables, row counts and the base year."""
    store = _store()
    store.ensure_built()
    df = store.list_tables()
    emit(df, fmt, title=f"{store.path} (base year {store.base_year()})")


@data_app.command("sources")
def data_sources(
    confidence: Annotated[
        str | None,
        typer.Option(help="Only rows of this confidence (read, read-secondary, derived, assumption)."),
    ] = None,
    table_name: Annotated[str | None, typer.Option("--table", help="Only this table.")] = None,
    fmt: FORMAT = "table",
) -> None:
    """Where the numbers come from, and how many rows rest on each confidence level."""
    from critmin.schema import CONFIDENCE_LEVELS
    from critmin.schema import table as lookup_table

    if confidence is not None and confidence not in CONFIDENCE_LEVELS:
        from critmin.errors import UnknownNameError

        raise UnknownNameError("confidence level", confidence, CONFIDENCE_LEVELS)
    store = _store()
    store.ensure_built()
    df = store.sources(confidence)
    if table_name is not None:
        lookup_table(table_name)
        df = df[df["table"] == table_name]
    if fmt != "table":
        emit(df, fmt)
        return
    emit(df.assign(source=df["source"].str.slice(0, 90)), fmt, title="Sources")
    summary = df.groupby("confidence")["rows"].sum().reindex(CONFIDENCE_LEVELS).dropna().astype(int)
    out.print("Rows by confidence: " + ", ".join(f"{k} {v:,}" for k, v in summary.items()))


@data_app.command("schema")
def data_schema(
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write the Markdown here.")] = None,
) -> None:
    """The store schema as Markdown, generated from the table definitions."""
    text = schema_markdown()
    if output:
        output.write_text(text + "\n", encoding="utf-8")
        out.print(f"wrote {output}")
    else:
        print(text)


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
    out.print(f"wrote {n:,} rows of {table_name} to {output}")


@import_app.command("csv")
def import_csv(
    table_name: Annotated[str, typer.Argument(metavar="TABLE", help=f"One of: {', '.join(IMPORTABLE)}.")],
    file: Annotated[Path, typer.Argument(help="Tidy CSV with the table's columns (see `critmin data schema`).")],
) -> None:
    """Import tidy rows into a table (rows with the same key are replaced)."""
    from critmin.schema import table as lookup_table

    lookup_table(table_name)
    store = _store()
    store.ensure_built()
    n = store.import_csv(table_name, file)
    out.print(f"imported {n:,} rows into {table_name} from {file}")


@import_app.command("usgs-mcs")
def import_usgs(
    file: Annotated[Path, typer.Argument(help="USGS MCS world-data CSV (MCS2025 wide or MCS2026 long layout).")],
) -> None:
    """Import USGS Mineral Commodity Summaries production rows (critmin's materials only)."""
    from critmin.usgs import parse_usgs_mcs

    if not file.exists():
        raise UserError(f"{file}: file not found")
    store = _store()
    store.ensure_built()
    try:
        with file.open(encoding="utf-8-sig") as fh:
            rows, skipped = parse_usgs_mcs(fh, str(file))
    except UnicodeDecodeError:
        with file.open(encoding="cp1252") as fh:
            rows, skipped = parse_usgs_mcs(fh, str(file))
    if rows.empty:
        raise UserError(f"{file}: no rows for critmin's materials (skipped {sum(skipped.values())} rows)")
    n = store.import_frame("production", rows, str(file))
    note = f"; skipped {sum(skipped.values())} rows of {len(skipped)} unmodelled commodities" if skipped else ""
    out.print(f"imported {n:,} production rows from {file}{note}")


# -- scenarios and runs -------------------------------------------------------
scen_app = typer.Typer(help="The built-in scenario library and scenario files.", no_args_is_help=True)
app.add_typer(scen_app, name="scenarios")


@scen_app.command("list")
def scenarios_list(fmt: FORMAT = "table") -> None:
    """List the built-in scenarios."""
    from critmin.scenario import builtin_names, load_scenario

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
    emit(pd.DataFrame(rows), fmt, title="built-in scenarios (critmin scenarios show NAME)")


@scen_app.command("show")
def scenarios_show(
    scenario: Annotated[str, typer.Argument(help="Built-in name or TOML file.")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="toml | json")] = "toml",
) -> None:
    """Validate a scenario and print it (TOML text, or the validated JSON)."""
    from critmin.scenario import builtin_names, builtin_text, load_scenario

    s = load_scenario(scenario)
    if fmt == "json":
        print(json.dumps(s.model_dump(mode="json"), indent=2))
        return
    if fmt != "toml":
        raise UserError(f"unknown format {fmt!r} (valid: toml, json)")
    text = builtin_text(scenario) if scenario in builtin_names() else Path(scenario).read_text(encoding="utf-8")
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    err.print(f"# valid scenario {s.name!r}: {len(s.disruption)} disruption(s), {len(s.outage)} outage(s), "
              f"{len(s.stockpile)} stockpile(s); sha256 {s.digest()[:12]}")  # fmt: skip


@scen_app.command("new")
def scenarios_new(
    name: Annotated[str, typer.Argument(help="Scenario name; the file is NAME.toml unless --out is given.")],
    out_file: Annotated[Path | None, typer.Option("--out", "-o", help="File to write.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented scenario template that runs as written."""
    from critmin.scenario import parse_scenario, template

    path = out_file or Path(f"{name}.toml")
    if path.exists() and not force:
        raise UserError(f"{path} exists; use --force to overwrite")
    text = template(name, str(path))
    parse_scenario(text, str(path))  # the template must itself be valid
    path.write_text(text, encoding="utf-8")
    out.print(f"wrote {path}: edit it, then `critmin run {path}`")


@scen_app.command("facilities")
def scenarios_facilities(fmt: FORMAT = "table") -> None:
    """Facility ids for `facility = ...` in outages and projects (from the data's facility list)."""
    from critmin.engine.compiled import facilities

    fac = facilities()
    df = pd.DataFrame(
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
    emit(df, fmt, title="facilities (data/pack/facilities.csv)")


@app.command("run")
def run_cmd(
    scenario: Annotated[str, typer.Argument(help="Built-in scenario name or TOML file.")],
    engine: Annotated[str, typer.Option("--engine", help="fast | lp")] = "fast",
    mode: Annotated[
        str | None,
        typer.Option("--mode", help="market | coordinated | both (both: also the value of cooperation)"),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table | json")] = "table",
    out_dir: Annotated[Path | None, typer.Option("--out", help="Also write CSV/Parquet/JSON results here.")] = None,
    top: Annotated[int, typer.Option("--top", help="Rows in the table (0 = all).")] = 15,
    save: Annotated[bool, typer.Option("--save/--no-save", help="Store the run in the database.")] = True,
) -> None:
    """Run a scenario month by month: who runs short of what, when, by how much, at what price."""
    from critmin.engine import run_scenario
    from critmin.scenario import load_scenario

    if engine not in ("fast", "lp"):
        raise UserError(f"unknown engine {engine!r} (valid: fast, lp)")
    if mode is not None and mode not in ("market", "coordinated", "both"):
        raise UserError(f"unknown mode {mode!r} (valid: market, coordinated, both)")
    if fmt not in ("table", "json"):
        raise UserError(f"unknown format {fmt!r} (valid: table, json)")
    s = load_scenario(scenario)
    store = _store()
    store.ensure_built()
    chain = SupplyChain.from_store(store, blocs_file=state.blocs_file)
    if mode == "both":
        _run_both(s, chain, engine, fmt, store if save else None, out_dir)
        return
    res = run_scenario(s, chain, engine=engine, mode=mode)
    if save:
        res.save(store)
    if out_dir is not None:
        _write_run(res, out_dir)
    if fmt == "json":
        print(json.dumps(res.to_json(), indent=2))
        return
    summ = res.summary()
    short = summ[summ["shortfall_t"] > 0]
    title = (f"{s.name}: {s.start} + {s.months} months, {res.mode} mode, {engine} engine: "
             f"{len(short)} material-region pairs run short")  # fmt: skip
    if short.empty:
        out.print(f"{title}\nno shortfall in any region")
    else:
        emit(short.head(top) if top else short, "table", title=title)
    peaks = res.dataset["price_index"].max("month").to_series()
    out.print("peak price index: " + ", ".join(f"{m} {v:.2f}" for m, v in peaks.items()))
    for n in res.notes:
        out.print(f"[dim]note: {n}[/dim]")
    out.print(f"run id {res.run_id}" + (" (stored)" if save else "") + (f"; files in {out_dir}" if out_dir else ""))


def _run_both(s: Any, chain: SupplyChain, engine: str, fmt: str, store: Store | None, out_dir: Path | None) -> None:
    """Both modes of one scenario and the value of cooperation between them."""
    from critmin.engine import run_scenario
    from critmin.engine.network import region_of
    from critmin.results import value_of_cooperation

    runs = {m: run_scenario(s, chain, engine=engine, mode=m) for m in ("market", "coordinated")}
    coalition = sorted({region_of(c, s.regions) for c in chain.blocs.members(s.coalition)})
    voc = value_of_cooperation(runs["market"], runs["coordinated"], coalition)
    for m, res in runs.items():
        if store is not None:
            res.save(store)
        if out_dir is not None:
            _write_run(res, out_dir / m)
    if out_dir is not None:
        voc.to_csv(out_dir / "value_of_cooperation.csv", index=False)
    if fmt == "json":
        doc: dict[str, Any] = {m: r.to_json() for m, r in runs.items()}
        doc["value_of_cooperation"] = records(voc)
        print(json.dumps(doc, indent=2))
        return
    emit(
        voc,
        "table",
        title=f"{s.name}: value of cooperation ({s.coalition} pools; shortfall in t over {s.months} months)",
    )
    out.print("run ids " + ", ".join(f"{m} {r.run_id}" for m, r in runs.items()) + (" (stored)" if store else ""))


def _write_run(res: Any, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    res.summary().to_csv(out_dir / "summary.csv", index=False)
    res.by_month().to_csv(out_dir / "by_month.csv", index=False)
    res.tidy().to_parquet(out_dir / "results.parquet", index=False)
    res.dataset.to_dataframe().reset_index().to_parquet(out_dir / "dataset.parquet", index=False)
    (out_dir / "run.json").write_text(json.dumps(res.to_json(), indent=2), encoding="utf-8")


@app.command("mc")
def mc_cmd(
    scenario: Annotated[str, typer.Argument(help="Built-in scenario name or TOML file with [[uncertain]] entries.")],
    draws: Annotated[int, typer.Option("--draws", "-n", help="Number of Monte Carlo draws.")] = 1000,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed (default: the scenario's).")] = None,
    engine: Annotated[str, typer.Option("--engine", help="fast | lp")] = "fast",
    mode: Annotated[str | None, typer.Option("--mode", help="market | coordinated (default: the scenario's)")] = None,
    workers: Annotated[int, typer.Option("--workers", help="Start a local Dask cluster of K processes.")] = 0,
    scheduler: Annotated[
        str | None, typer.Option("--scheduler", help="Use a running Dask cluster (tcp://host:8786).")
    ] = None,
    chunk: Annotated[int, typer.Option("--chunk", help="Draws per batch (bounds memory).")] = 2000,
    threads: Annotated[
        int | None, typer.Option("--threads", help="In-process threads (default: cores, at most 2).")
    ] = None,
    alpha: Annotated[float, typer.Option("--alpha", help="VaR/CVaR level.")] = 0.95,
    target_stderr: Annotated[
        float | None,
        typer.Option("--target-stderr", help="Stop early at this relative standard error (in process, not with Dask)."),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table | json")] = "table",
    top: Annotated[int, typer.Option("--top", help="Rows in the table (0 = all).")] = 15,
    save: Annotated[
        bool, typer.Option("--save/--no-save", help="Store per-draw summaries (Parquet) and the run.")
    ] = True,
) -> None:
    """Monte Carlo over the scenario's [[uncertain]] fields: risk metrics per material and region."""
    import time

    from critmin.risk import convergence, mc_metadata, risk_metrics, run_ensemble
    from critmin.scenario import load_scenario

    if engine not in ("fast", "lp"):
        raise UserError(f"unknown engine {engine!r} (valid: fast, lp)")
    if fmt not in ("table", "json"):
        raise UserError(f"unknown format {fmt!r} (valid: table, json)")
    if draws < 1:
        raise UserError(f"--draws must be at least 1 (got {draws})")
    if seed is not None and seed < 0:
        raise UserError(f"--seed must be a non-negative integer (got {seed})")
    if threads is not None and threads < 1:
        raise UserError(f"--threads must be at least 1 (got {threads})")
    s = load_scenario(scenario)
    if not s.uncertain:
        out.print(f"[yellow]note: {s.name} has no [[uncertain]] entries: every draw is the same run[/yellow]")
    store = _store()
    store.ensure_built()
    chain = SupplyChain.from_store(store, blocs_file=state.blocs_file)
    client = _dask_client(workers, scheduler)
    used_seed = s.seed if seed is None else seed
    t0 = time.perf_counter()
    try:
        ens = _with_progress(
            fmt == "table" and draws > 200,
            draws,
            lambda progress: run_ensemble(s, chain, draws, seed=used_seed, engine=engine, mode=mode, chunk=chunk,
                                          progress=progress, client=client, target_stderr=target_stderr,
                                          threads=threads),
        )  # fmt: skip
    finally:
        if client is not None:
            client.close()
    seconds = time.perf_counter() - t0
    metrics_all = risk_metrics(ens, alpha=alpha)
    metrics_def = risk_metrics(ens, alpha=alpha, sector="defence")
    meta = mc_metadata(s, ens, used_seed, engine, seconds)
    run_id = f"mc-{s.digest()[:8]}-{used_seed}-{ens.draws}-{engine}"
    meta["run_id"] = run_id
    if save:
        path = _save_mc(store, run_id, meta, ens)
        meta["per_draw_parquet"] = str(path)
    if fmt == "json":
        doc = dict(meta)
        doc["metrics"] = records(metrics_all)
        doc["defence_metrics"] = records(metrics_def)
        doc["convergence"] = records(convergence(ens))
        print(json.dumps(doc, indent=2))
        return
    cols = ["material", "region", "expected_shortfall_t", "stderr_expected_shortfall_t", "expected_shortfall_share",
            "p_shortfall", f"var{alpha * 100:g}_t", f"cvar{alpha * 100:g}_t", "first_short_month_p50",
            "expected_peak_price_index"]  # fmt: skip
    shown = metrics_all[metrics_all["expected_shortfall_t"] > 0]
    title = f"{s.name}: {ens.draws:,} draws, seed {used_seed}, {engine} engine, {seconds:.1f} s"
    emit(shown.head(top) if top else shown, "table", title=title, columns=cols)
    if shown.empty:
        out.print("no shortfall in any draw")
    emit(convergence(ens), "table", title="convergence (world expected shortfall)")
    out.print(f"run id {run_id}" + (f"; per-draw summaries in {meta['per_draw_parquet']}" if save else ""))


def _with_progress(show: bool, total: int, job: Any) -> Any:
    if not show or not out.is_terminal:
        return job(None)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress("draws", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=err) as bar:
        task = bar.add_task("mc", total=total)
        return job(lambda n: bar.advance(task, n))


def _dask_client(workers: int, scheduler: str | None) -> Any:
    if not workers and not scheduler:
        return None
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError as exc:
        raise UserError("--workers/--scheduler need Dask: pip install 'critmin[dist]'") from exc
    if scheduler:
        try:
            return Client(scheduler, timeout="10s")
        except OSError as exc:
            raise UserError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from exc
    if workers < 1:
        raise UserError(f"--workers must be at least 1 (got {workers})")
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
    return Client(cluster)


def _save_mc(store: Store, run_id: str, meta: dict[str, Any], ens: Any) -> Path:
    folder = store.path.parent / "mc"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{run_id}.parquet"
    ens.write_parquet(path)
    row = pd.DataFrame([{**{k: str(v) for k, v in meta.items()}, "per_draw_parquet": str(path)}])
    with store.connect() as con:
        con.execute(
            "CREATE TABLE IF NOT EXISTS mc_runs (run_id VARCHAR, scenario VARCHAR, scenario_sha256 VARCHAR, "
            "draws VARCHAR, seed VARCHAR, engine VARCHAR, critmin_version VARCHAR, seconds VARCHAR, "
            "created_utc VARCHAR, per_draw_parquet VARCHAR)"
        )
        con.register("row_view", row[["run_id", "scenario", "scenario_sha256", "draws", "seed", "engine",
                                       "critmin_version", "seconds", "created_utc", "per_draw_parquet"]])  # fmt: skip
        con.execute("DELETE FROM mc_runs WHERE run_id = ?", [run_id])
        con.execute("INSERT INTO mc_runs SELECT * FROM row_view")
    return path


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
    fmt: FORMAT = "table",
) -> None:
    """Criticality by the EU CRM method, the USGS supply-risk method or the engine's ensembles."""
    from critmin.criticality import assess, load_inputs, stage_frame, summary_frame

    if draws < 1:
        raise UserError(f"--draws must be at least 1 (got {draws})")
    if by_stage and method == "ensemble":
        raise UserError("--by-stage applies to the eu and usgs methods (the ensemble has no stages)")
    if figure is not None and method == "usgs":
        raise UserError("--figure draws SR against EI: use --method eu or ensemble (the USGS method has no EI)")
    chain = _chain()
    inp = load_inputs(inputs, use_defaults=not no_defaults)
    mats = [m.strip() for m in materials.split(",") if m.strip()] if materials else None
    scen = [x.strip() for x in scenarios.split(",") if x.strip()] if scenarios else None
    try:
        w = [float(x) for x in weights.split(",")] if weights else None
    except ValueError as exc:
        raise UserError(f"--weights must be numbers separated by commas (got {weights!r})") from exc
    persps: list[str | None] = [None]
    if perspective:
        from critmin.criticality.supply import perspective as resolve

        names = [resolve(chain, x.strip()).name for x in perspective.split(",") if x.strip()]
        persps = list(dict.fromkeys(names)) or [None]
    rows: list[dict[str, Any]] = []
    skipped: list[str] = []
    for p in persps:
        got, sk = assess(chain, method, p, mats, inp, strict=strict, scenarios=scen, draws=draws, seed=seed, weights=w)
        rows += got
        skipped += [f"{m} ({p})" if len(persps) > 1 else m for m in sk]
    for msg in _group_skips(skipped):
        err.print(f"[yellow]skipped: {msg}[/yellow]")
    for row in rows:
        for warning in row["inputs"].get("warnings", []):
            err.print(f"[yellow]warning: {warning}[/yellow]")
    if not rows:
        raise UserError("no material could be assessed: " + "; ".join(skipped))
    if figure is not None:
        from critmin.criticality.figure import matrix_figure, write_figure

        thr = rows[0]["inputs"]["thresholds"]
        write_figure(matrix_figure(rows, thr["sr"], thr["ei"]), figure)
        err.print(f"criticality matrix written to {figure}")
    if fmt == "json":
        print(json.dumps(plain(rows), indent=2))
        return
    if by_stage:
        emit(stage_frame(rows), fmt, title=f"Supply risk by stage, {method} method")
        return
    title = f"Criticality, {method} method, perspective {', '.join(dict.fromkeys(r['perspective'] for r in rows))}"
    emit(summary_frame(rows), fmt, title=title)
    if len(persps) > 1 and fmt == "table":
        wide = summary_frame(rows).pivot(index="material", columns="perspective", values="sr")
        wide = wide[list(dict.fromkeys(r["perspective"] for r in rows))].reset_index()
        emit(wide, "table", title="Supply risk by perspective")


def _group_skips(skipped: list[str]) -> list[str]:
    """'Co: sector_share missing', 'Li: sector_share missing' -> 'Co, Li: sector_share missing'."""
    by_reason: dict[str, list[str]] = {}
    for msg in skipped:
        mat, _, reason = msg.partition(": ")
        by_reason.setdefault(reason or mat, []).append(mat if reason else "")
    return [
        f"{', '.join(m for m in mats if m)}: {reason}" if any(mats) else reason for reason, mats in by_reason.items()
    ]


@app.command("runs")
def runs_cmd(fmt: FORMAT = "table") -> None:
    """List the runs stored in the database."""
    from critmin.results import load_runs

    emit(load_runs(_store()), fmt, title="stored runs")


# -- entry point ------------------------------------------------------------
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
