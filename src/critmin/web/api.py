"""The dashboard's JSON API (under ``/api``): each endpoint calls the library and returns its
document; long work (runs, ensembles, reports, the criticality assessment) is a background job
that the page polls at ``GET /api/jobs/{id}``.

The OpenAPI description is at ``/openapi.json``; docs/web.md lists the endpoints.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from critmin import __version__, jobs, metrics
from critmin.errors import UserError
from critmin.options import ENGINES, MODES, RUN_MODES, choice
from critmin.report import overview_figures, render_html
from critmin.results import load_runs
from critmin.scenario import template
from critmin.store import Store
from critmin.tabular import plain, records
from critmin.web import scenarios
from critmin.web.compare import compare_runs, stored_summary
from critmin.web.documents import content_doc, figure_doc, plotly_doc, table_doc
from critmin.web.reports import ReportCache
from critmin.web.runner import JobRunner

#: the most draws an ensemble started from the dashboard may ask for
MAX_DRAWS = 100_000
#: the most draws per scenario of the ensemble criticality method
MAX_CRITICALITY_DRAWS = 20_000
#: rows of the top-risks table of an ensemble job
TOP = 15
_NAME = Field(default=None, max_length=200, description="A built-in scenario's name (GET /api/scenarios).")
_TOML = Field(default=None, description="A scenario's TOML text (what the editor holds).")


@dataclass
class Context:
    """What the endpoints share: the store (its path; no connection held), the job runner and
    the computed reports and overview."""

    store: Store
    runner: JobRunner
    token_required: bool = False
    reports: ReportCache = field(default_factory=ReportCache)
    overview: dict[str, dict[str, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


# -- request bodies -------------------------------------------------------------------------------
class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ValidateRequest(_Body):
    toml: str = Field(description="The scenario's TOML text.")


class RunRequest(_Body):
    name: str | None = _NAME
    toml: str | None = _TOML
    engine: str = Field(default="fast", description="fast | compiled | lp")
    mode: str | None = Field(default=None, description="market | coordinated | both (default: the scenario's)")


class EnsembleRequest(_Body):
    name: str | None = _NAME
    toml: str | None = _TOML
    draws: int = Field(default=200, ge=1, le=MAX_DRAWS, description="Monte Carlo draws.")
    seed: int | None = Field(default=None, ge=0, description="Seed (default: the scenario's).")
    engine: str = Field(default="compiled", description="compiled | fast | lp")
    mode: str | None = Field(default=None, description="market | coordinated (default: the scenario's)")


class ReportRequest(_Body):
    run_id: str = Field(max_length=200, description="A stored run's id (GET /api/runs).")


class CriticalityRequest(_Body):
    method: str = Field(default="eu", description="eu | usgs | ensemble")
    perspectives: list[str] | None = Field(default=None, max_length=20, description="Countries or blocs.")
    materials: list[str] | None = Field(default=None, max_length=100, description="Materials (default: all).")
    draws: int = Field(default=200, ge=1, le=MAX_CRITICALITY_DRAWS, description="Ensemble: draws per scenario.")
    seed: int | None = Field(default=None, ge=0, description="Ensemble: seed.")


# -- helpers ---------------------------------------------------------------------------------------
def _json(doc: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(plain(doc), status_code=status)


def _runs(store: Store) -> pd.DataFrame:
    """Every stored run, deterministic and Monte Carlo, newest first, with its kind."""
    det = load_runs(store).assign(kind="run", draws=None)
    mc = store.read_runs("mc_runs")
    mc = mc[["run_id", "scenario", "engine", "mode", "seed", "draws", "critmin_version", "created_utc",
             "scenario_sha256"]].assign(kind="mc")  # fmt: skip
    cols = ["run_id", "kind", "scenario", "engine", "mode", "seed", "draws", "created_utc", "critmin_version",
            "scenario_sha256"]  # fmt: skip
    both = pd.concat([f[cols] for f in (det, mc) if len(f)], ignore_index=True) if len(det) or len(mc) else None
    if both is None:
        return pd.DataFrame(columns=cols)
    return both.sort_values("created_utc", ascending=False, kind="stable").reset_index(drop=True)


def _stored_row(store: Store, run_id: str) -> tuple[str, dict[str, Any]]:
    """The stored row of ``run_id`` and its kind (``run`` or ``mc``); 404 when there is none."""
    for table, kind in (("runs", "run"), ("mc_runs", "mc")):
        rows = store.read_runs(table)
        hit = rows[rows["run_id"] == run_id]
        if len(hit):
            return kind, records(hit.head(1))[0]
    raise HTTPException(404, f"no stored run {run_id!r} (GET /api/runs lists them)")


def _job_response(ctx: Context, job_id: str, status: int = 202) -> JSONResponse:
    job = ctx.runner.get(job_id)
    assert job is not None
    return _json(job.view(), status)


# -- the router ----------------------------------------------------------------------------------
def api_router(ctx: Context) -> APIRouter:
    """The ``/api`` endpoints, bound to ``ctx``."""
    r = APIRouter(prefix="/api")

    @r.get("/health", summary="Version, store and whether a token is required")
    def health() -> JSONResponse:
        return _json(
            {
                "status": "ok",
                "version": __version__,
                "base_year": ctx.store.base_year(),
                "token_required": ctx.token_required,
            }
        )

    # -- overview --------------------------------------------------------------------------------
    @r.get("/overview", summary="Concentration by material and stage: figures and table")
    def overview() -> JSONResponse:
        chain = jobs.load_chain(ctx.store)
        with ctx.lock:
            cached = ctx.overview.get(chain.fingerprint)
        if cached is None:
            conc = metrics.concentration(chain)
            latest = conc.loc[conc.groupby(["material", "stage"])["year"].idxmax()]
            cols = ["material", "stage", "year", "world_total", "hhi", "top1_country", "top1_share", "top3_share",
                    "china_share", "bloc_share", "n1_coverage", "hhi_wgi"]  # fmt: skip
            latest = latest[[c for c in cols if c in latest.columns]].reset_index(drop=True)
            cached = {
                "base_year": chain.base_year,
                "fingerprint": chain.fingerprint,
                "figures": [figure_doc(f) for f in overview_figures(chain)],
                "table": table_doc("concentration", "Concentration by material and stage (latest year)", latest),
            }
            with ctx.lock:
                ctx.overview = {chain.fingerprint: cached}
        return _json(cached)

    # -- scenarios -------------------------------------------------------------------------------
    @r.get("/scenarios", summary="The built-in scenarios")
    def scenario_list() -> JSONResponse:
        return _json({"scenarios": records(jobs.scenario_catalogue())})

    @r.get("/scenarios/template", summary="A commented scenario template (TOML) that runs as written")
    def scenario_template(name: str = Query("my-scenario", max_length=100)) -> JSONResponse:
        return _json({"name": name, "toml": template(name, f"{name}.toml")})

    @r.get("/scenarios/{name}", summary="A built-in scenario's TOML text")
    def scenario_get(name: str) -> JSONResponse:
        try:
            s, text = scenarios.builtin(name)
        except UserError as exc:
            raise HTTPException(404, str(exc)) from None
        return _json({"name": name, "toml": text, "scenario": scenarios.describe(s)})

    @r.post("/scenarios/validate", summary="Validate TOML text: its problems with their lines")
    def scenario_validate(body: ValidateRequest) -> JSONResponse:
        try:
            s = scenarios.parse_text(body.toml)
        except UserError as exc:
            return _json({"valid": False, "errors": [scenarios.problem(exc, body.toml)], "scenario": None})
        return _json({"valid": True, "errors": [], "scenario": scenarios.describe(s)})

    # -- jobs ------------------------------------------------------------------------------------
    @r.post("/jobs/run", status_code=202, summary="Run a scenario (stored); a background job")
    def job_run(body: RunRequest) -> JSONResponse:
        engine = choice("engine", body.engine, ENGINES)
        mode = choice("mode", body.mode, RUN_MODES) if body.mode is not None else None
        s = scenarios.resolve(body.name, body.toml)
        store = ctx.store

        def work(progress: Any) -> dict[str, Any]:
            out = jobs.run_job(s, jobs.load_chain(store), engine=engine, mode=mode, store=store)
            voc = out.value_of_cooperation
            return {
                "scenario": s.name,
                "run_ids": {m: res.run_id for m, res in out.runs.items()},
                "value_of_cooperation": None if voc is None else records(voc),
                "notes": list(dict.fromkeys(n for res in out.runs.values() for n in res.notes)),
            }

        label = f"run {s.name} ({engine}, {mode or s.mode})"
        return _job_response(ctx, ctx.runner.submit("run", label, work).id)

    @r.post("/jobs/mc", status_code=202, summary="A Monte Carlo ensemble (stored); a background job with progress")
    def job_mc(body: EnsembleRequest) -> JSONResponse:
        engine = choice("engine", body.engine, ENGINES)
        mode = choice("mode", body.mode, MODES) if body.mode is not None else None
        s = scenarios.resolve(body.name, body.toml)
        store = ctx.store

        def work(progress: Any) -> dict[str, Any]:
            out = jobs.monte_carlo_job(s, jobs.load_chain(store), body.draws, seed=body.seed, engine=engine,
                                       mode=mode, store=store, progress=progress)  # fmt: skip
            top = out.metrics.sort_values("expected_shortfall_t", ascending=False, kind="stable").head(TOP)
            top = top[[c for c in jobs.MC_TABLE_COLUMNS if c in top.columns]]
            meta = {k: v for k, v in out.metadata.items() if k != "per_draw_parquet"}
            return {
                "scenario": s.name,
                "run_id": str(out.metadata["run_id"]),
                "metadata": meta,
                "notes": list(out.notes),
                "metrics": table_doc("ensemble-risks", "Risk metrics of the riskiest pairs", top),
                "convergence": table_doc("convergence", "Convergence (world expected shortfall)", out.convergence),
            }

        label = f"ensemble {s.name} ({body.draws:,} draws, {engine})"
        return _job_response(ctx, ctx.runner.submit("mc", label, work, total=body.draws).id)

    @r.post("/jobs/report", status_code=202, summary="Compute a stored run's report (figures); a background job")
    def job_report(body: ReportRequest) -> JSONResponse:
        kind, row = _stored_row(ctx.store, body.run_id)
        draws = int(row["draws"]) if kind == "mc" and row.get("draws") else None
        job = ctx.reports.job_for(body.run_id, ctx.runner, ctx.store, draws)
        return _job_response(ctx, job.id)

    @r.post("/jobs/criticality", status_code=202, summary="The criticality assessment and matrix; a background job")
    def job_criticality(body: CriticalityRequest) -> JSONResponse:
        from critmin.criticality import METHODS

        method = choice("method", body.method, METHODS)
        store = ctx.store

        def work(progress: Any) -> dict[str, Any]:
            from critmin.criticality.figure import matrix_figure

            out = jobs.criticality_job(jobs.load_chain(store), method, body.perspectives, body.materials,
                                       draws=body.draws, seed=body.seed)  # fmt: skip
            thresholds = out.results["inputs"].iloc[0].get("thresholds") or {}
            figure = None
            if method != "usgs" and "sr" in thresholds:
                figure = plotly_doc(matrix_figure(out.results, thresholds["sr"], thresholds.get("ei")))
            doc = {
                "method": method,
                "perspectives": list(out.perspectives),
                "figure": figure,
                "summary": table_doc("criticality", f"Criticality, {method} method", out.summary()),
                "skipped": out.skipped,
                "warnings": out.warnings,
            }
            if len(out.perspectives) > 1:
                doc["by_perspective"] = table_doc("by-perspective", "Supply risk by perspective", out.by_perspective())
            return doc

        label = f"criticality ({method}{', ' + ', '.join(body.perspectives) if body.perspectives else ''})"
        return _job_response(ctx, ctx.runner.submit("criticality", label, work).id)

    @r.get("/jobs", summary="Every job of this server, newest first (without results)")
    def job_list() -> JSONResponse:
        return _json({"jobs": [j.view(with_result=False) for j in ctx.runner.jobs()]})

    @r.get("/jobs/{job_id}", summary="A job: state, progress, error or result")
    def job_get(job_id: str) -> JSONResponse:
        job = ctx.runner.get(job_id)
        if job is None:
            raise HTTPException(404, f"no job {job_id!r} (jobs live as long as the server)")
        return _json(job.view())

    # -- runs ------------------------------------------------------------------------------------
    @r.get("/runs", summary="Stored runs: deterministic (kind run) and Monte Carlo (kind mc), newest first")
    def run_list() -> JSONResponse:
        return _json({"runs": records(_runs(ctx.store))})

    @r.get("/runs/{run_id}", summary="A stored run: what identifies it and (deterministic) its summary")
    def run_get(run_id: str) -> JSONResponse:
        kind, row = _stored_row(ctx.store, run_id)
        row.pop("scenario_json", None)
        row.pop("per_draw_parquet", None)
        doc: dict[str, Any] = {"kind": kind, "run": row, "report_computed": ctx.reports.get(run_id) is not None}
        if kind == "run":
            doc["summary"] = table_doc("summary", "Summary over the horizon", stored_summary(ctx.store, run_id))
        return _json(doc)

    @r.get("/runs/{run_id}/report", summary="A run's report content (after POST /api/jobs/report)")
    def run_report(run_id: str) -> JSONResponse:
        _stored_row(ctx.store, run_id)
        content = ctx.reports.get(run_id)
        if content is None:
            raise HTTPException(409, f"the report of {run_id} is not computed yet: POST /api/jobs/report first")
        return _json(content_doc(content))

    @r.get("/runs/{run_id}/report.html", summary="The self-contained HTML report, as a download")
    def run_report_html(run_id: str) -> Response:
        _stored_row(ctx.store, run_id)
        content = ctx.reports.get(run_id)
        if content is None:
            raise HTTPException(409, f"the report of {run_id} is not computed yet: POST /api/jobs/report first")
        return Response(
            render_html(content),
            media_type="text/html; charset=utf-8",
            headers={"content-disposition": f'attachment; filename="critmin-report-{run_id}.html"'},
        )

    @r.get("/compare", summary="Two stored deterministic runs side by side, and their shortfall difference")
    def compare(a: str = Query(max_length=200), b: str = Query(max_length=200)) -> JSONResponse:
        rows = {}
        for key, run_id in (("a", a), ("b", b)):
            kind, row = _stored_row(ctx.store, run_id)
            if kind != "run":
                raise UserError(f"{run_id} is a Monte Carlo run: compare takes two deterministic runs")
            row.pop("scenario_json", None)
            rows[key] = row
        frames = compare_runs(ctx.store, a, b)
        diff = table_doc("difference", "Shortfall, B - A, per material and region", frames["difference"])
        return _json(
            {
                "a": {"run": rows["a"], "summary": table_doc("summary-a", f"Run A: {a}", frames["a"])},
                "b": {"run": rows["b"], "summary": table_doc("summary-b", f"Run B: {b}", frames["b"])},
                "difference": diff,
            }
        )

    return r
