"""Table definitions, as data.

Every table the project stores is declared once here (columns with dtype, unit, required flag
and description, plus the key columns). That one declaration drives:

* validation of imported, overriding and built rows (:func:`critmin.validate.validate_frame`),
* ``CREATE TABLE`` in the DuckDB store (:func:`create_table_sql`),
* the integrity check of a database file (:meth:`critmin.store.Store.verify`),
* the schema documentation page (:func:`schema_markdown`, ``docs/schema.md``).

Tables are of three kinds: ``data`` (built from the shipped files by ``critmin data build``,
overridable with ``--overrides DIR/<table>.csv`` and importable; every row carries ``source``,
``confidence``, ``notes`` and the store-managed ``layer``), ``meta`` (build metadata) and ``run``
(written by runs, kept across rebuilds).

Example
-------
>>> TABLES["production"].column("quantity").unit
'see unit column'
>>> "PRIMARY KEY" in create_table_sql(TABLES["governance"])
True
>>> TABLES["facilities"].kind, TABLES["facilities"].key
('data', ('facility',))
>>> TABLES["production"].column("layer").choices
('shipped', 'overrides', 'import')
"""

from __future__ import annotations

from dataclasses import dataclass, field

from critmin.errors import UnknownNameError

CONFIDENCE_LEVELS: tuple[str, ...] = ("read", "read-secondary", "derived", "assumption", "user")
#: where a stored data row came from: the shipped files (and what critmin derives from them), the
#: ``--overrides DIR`` of the last build, or a user import (kept across rebuilds)
LAYERS: tuple[str, ...] = ("shipped", "overrides", "import")

_DUCKDB_TYPES = {"str": "VARCHAR", "float": "DOUBLE", "int": "BIGINT", "bool": "BOOLEAN"}


@dataclass(frozen=True)
class Column:
    """One column: name, dtype ('str'|'float'|'int'|'bool'), unit, required, description.

    ``choices`` restricts a string column to a closed set; ``check`` names a
    registry lookup ('material', 'stage', 'producing_stage', 'country', ...) done by
    the validator; ``min``/``max`` bound numbers. ``blank`` marks a string column
    where an empty cell is a value ("not applicable", stored as ``''`` so that it
    can be part of a key). ``managed`` columns are set by the store, never read
    from a user's file (a ``layer`` column in an imported file is ignored).
    """

    name: str
    dtype: str
    unit: str = ""
    required: bool = True
    description: str = ""
    choices: tuple[str, ...] = ()
    check: str = ""
    min: float | None = None
    max: float | None = None
    blank: bool = False
    managed: bool = False


def _provenance() -> tuple[Column, ...]:
    return (
        Column("source", "str", description="where the number comes from (document, file, or 'critmin assumption')"),
        Column(
            "confidence",
            "str",
            description="read | read-secondary | derived | assumption | user",
            choices=CONFIDENCE_LEVELS,
        ),
        Column("notes", "str", required=False, description="formula for derived rows, reason for assumptions"),
        Column(
            "layer",
            "str",
            description="shipped | overrides | import: where the row came from (set by the store; imports "
            "survive rebuilds)",
            choices=LAYERS,
            managed=True,
        ),
    )  # fmt: skip


@dataclass(frozen=True)
class Table:
    """A store table: name, description, columns and key columns."""

    name: str
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    provenance: bool = True
    #: "data" (built from the shipped data, importable), "meta" (build metadata) or "run" (written by
    #: runs and Monte Carlo runs; kept across rebuilds, never imported)
    kind: str = "data"
    #: an extra row check done by :func:`critmin.validate.validate_frame` ("criticality": the
    #: per-parameter rules of :data:`CRITICALITY_PARAMETERS`)
    row_check: str = ""
    all_columns: tuple[Column, ...] = field(init=False)

    def __post_init__(self) -> None:
        cols = self.columns + (_provenance() if self.provenance else ())
        object.__setattr__(self, "all_columns", cols)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.all_columns)

    def column(self, name: str) -> Column:
        for c in self.all_columns:
            if c.name == name:
                return c
        raise UnknownNameError(f"column of table {self.name!r}", name, self.column_names)


TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "production",
            "Output by material, stage, country and year. Mine rows are USGS MCS; separation, "
            "metal and magnet rows are derived from shares and company/industry volumes, or "
            "assumptions. Within one (material, stage, year) every row has the same unit and basis.",
            (
                Column(
                    "material",
                    "str",
                    description="material id (rare_earths, Nd, Dy, Ga, ...)",
                    check="material",
                ),
                Column(
                    "stage",
                    "str",
                    description="mine | separation | metal | magnet (a producing stage; not end_use)",
                    check="producing_stage",
                ),
                Column(
                    "country_iso3",
                    "str",
                    description="ISO 3166 alpha-3, or OTH for an unattributed residual",
                    check="country",
                ),
                Column("year", "int", "year", min=1900, max=2100),
                Column("quantity", "float", "see unit column", min=0),
                Column(
                    "unit",
                    "str",
                    description="t (tonnes) or share_pct (percent of world, where no tonnage exists)",
                    choices=("t", "share_pct"),
                ),
                Column(
                    "basis",
                    "str",
                    description="what is counted: REO, oxide, metal, NdFeB, content, gross",
                ),
            ),
            ("material", "stage", "country_iso3", "year"),
        ),
        Table(
            "capacity",
            "Annual capacity by material, stage and country in the base year (t/yr).",
            (
                Column("material", "str", check="material"),
                Column("stage", "str", description="a producing stage (not end_use)", check="producing_stage"),
                Column("country_iso3", "str", check="country"),
                Column("year", "int", "year", min=1900, max=2100),
                Column("capacity_t_per_yr", "float", "t/yr", min=0),
                Column("basis", "str", description="what is counted (REO, oxide, metal, NdFeB)"),
            ),
            ("material", "stage", "country_iso3", "year"),
        ),
        Table(
            "demand",
            "End-use demand by region, sector and material in the base year (t/yr).",
            (
                Column("material", "str", check="material"),
                Column("region", "str", description="ISO3 country, EU, or ROW", check="region"),
                Column(
                    "sector",
                    "str",
                    description="ev | wind | industrial | electronics | defence | robotics | other",
                ),
                Column("year", "int", "year", min=1900, max=2100),
                Column("demand_t_per_yr", "float", "t/yr", min=0),
                Column("basis", "str", description="what is counted (NdFeB, metal, REO)"),
            ),
            ("material", "region", "sector", "year"),
        ),
        Table(
            "inventory",
            "Commercial inventory held by region, in months of use.",
            (
                Column(
                    "material",
                    "str",
                    description="material id, or * for all",
                    check="material_or_star",
                ),
                Column("region", "str", check="region"),
                Column("stage", "str", check="stage"),
                Column("months_of_use", "float", "months", min=0, max=120),
            ),
            ("material", "region", "stage"),
        ),
        Table(
            "governance",
            "World Governance Indicators estimates (about -2.5 weak to +2.5 strong).",
            (
                Column("country_iso3", "str", check="country"),
                Column("year", "int", "year", min=1990, max=2100),
                Column(
                    "indicator",
                    "str",
                    description="VA PV GE RQ RL CC",
                    choices=("VA", "PV", "GE", "RQ", "RL", "CC"),
                ),
                Column("estimate", "float", "index", min=-5, max=5),
            ),
            ("country_iso3", "year", "indicator"),
        ),
        Table(
            "trade",
            "Bilateral trade flows (tonnes) used for import reliance.",
            (
                Column("material", "str", check="material"),
                Column("stage", "str", description="a producing stage (not end_use)", check="producing_stage"),
                Column("exporter_iso3", "str", check="country"),
                Column(
                    "importer_iso3",
                    "str",
                    description="ISO3, EU, or WLD for the exporter's total",
                    check="region_or_world",
                ),
                Column("year", "int", "year", min=1900, max=2100),
                Column("quantity_t", "float", "t", min=0),
                Column("basis", "str"),
            ),
            ("material", "stage", "exporter_iso3", "importer_iso3", "year"),
        ),
        Table(
            "parameters",
            "Scalar model parameters (conversion factors, contents, yields, utilisation).",
            (
                Column("parameter", "str", description="parameter name"),
                Column(
                    "material",
                    "str",
                    description="material id or * for all",
                    check="material_or_star",
                ),
                Column("stage", "str", description="stage or *", check="stage_or_star"),
                Column("region", "str", description="region or *"),
                Column("value", "float"),
                Column("unit", "str"),
            ),
            ("parameter", "material", "stage", "region"),
        ),
        Table(
            "facilities",
            "Mines, separation plants, metal and magnet works: operating, under construction and "
            "planned (the pack's facilities.csv). Scenarios name them by id (`critmin scenarios "
            "facilities`): the name in lower case with every run of other characters replaced by '-'.",
            (
                Column("facility", "str", description="facility name (its id is derived from it)"),
                Column("operator", "str", required=False),
                Column("country_iso3", "str", description="where the facility is", check="country"),
                Column("country", "str", required=False, description="country name"),
                Column("location", "str", required=False),
                Column(
                    "stage",
                    "str",
                    description="stage as the source states it (mine, separation, metal, magnet, or a "
                    "combination such as 'separation+metal')",
                ),
                Column("product", "str", required=False),
                Column("capacity", "float", "see unit column", required=False, min=0),
                Column(
                    "unit",
                    "str",
                    required=False,
                    description="unit of capacity (t/yr NdFeB, t/yr NdPr oxide, t/yr NdPr-equivalent, ...)",
                ),
                Column("capacity_basis", "str", required=False, description="what the capacity figure is"),
                Column(
                    "status",
                    "str",
                    description="operating, operating (ramping), construction, planned, ... (operating "
                    "facilities share a country's capacity in facility outages)",
                ),
                Column("start_year", "int", "year", required=False, min=1900, max=2100),
                Column("public_support", "str", required=False),
            ),
            ("facility",),
        ),
        Table(
            "export_controls",
            "Export-control events (the pack's export_controls.csv): the basis of the criticality "
            "methods' trade-restriction factors.",
            (
                Column("event_id", "str"),
                Column("date_announced", "str", "YYYY-MM[-DD]", required=False),
                Column("date_effective", "str", "YYYY-MM[-DD]", required=False),
                Column("date_end", "str", "YYYY-MM[-DD]", required=False),
                Column("country", "str", description="restricting country ISO3 codes, separated by ';'"),
                Column("instrument", "str", required=False),
                Column("items", "str", required=False),
                Column(
                    "minerals",
                    "str",
                    description="minerals covered, separated by ';' (e.g. 'rare_earths (Sm,Gd,Tb,Dy)')",
                ),
                Column("supply_chain_stage", "str", required=False),
                Column("measure", "str", description="export licensing, ban, quota, technology export ban, ..."),
                Column("target", "str", description="'all' or ISO3 codes of the targeted countries"),
                Column(
                    "status",
                    "str",
                    description="'in force', 'suspended ...', 'historical', ... (the pack's status_as_of_2025-11: "
                    "a snapshot; `critmin monitor controls` computes the status as of any date)",
                ),
                Column(
                    "suspends",
                    "str",
                    required=False,
                    description="the event ids this event suspends, separated by ';', each with an optional "
                    "'(part)' when only part of it is suspended (e.g. 'CN-2024-046 (clause 2)')",
                ),
            ),
            ("event_id",),
        ),
        Table(
            "framework_commitments",
            "Commitments of the October 2025 critical-minerals frameworks and related measures, with "
            "due dates and the evidence of progress (the pack's framework_commitments.csv).",
            (
                Column("commitment_id", "str"),
                Column("instrument", "str"),
                Column("signed", "str", "YYYY-MM-DD", required=False),
                Column("parties", "str", description="ISO3 codes separated by ';'"),
                Column("commitment", "str"),
                Column("due", "str", "YYYY-MM-DD", required=False),
                Column("due_rule", "str", required=False),
                Column(
                    "due_kind",
                    "str",
                    required=False,
                    choices=("deliverable", "term_end"),
                    description="deliverable: something is owed by the due date; term_end: the date ends a "
                    "term (a suspension), nothing falls due",
                ),
                Column("owner", "str", required=False),
                Column("status_evidence", "str", required=False),
            ),
            ("commitment_id",),
        ),
        Table(
            "framework_evidence",
            "Dated events bearing on the framework commitments (the pack's framework_evidence.csv, and "
            "the user's rows): `critmin monitor framework` dates each commitment's status from them. "
            "The commitment ids and dates are checked against framework_commitments when read.",
            (
                Column("evidence_id", "str", description="a unique id of the event row"),
                Column("commitment_id", "str", description="the commitment it bears on (framework_commitments)"),
                Column("date", "str", "YYYY-MM-DD", description="when it happened (announcement, enactment, meeting)"),
                Column(
                    "effect",
                    "str",
                    description="met: the commitment is fulfilled; progress: a step toward it; missed: its due "
                    "date passed without it; related: context that changes neither",
                    choices=("met", "progress", "missed", "related"),
                ),
                Column("text", "str", description="what happened, in a sentence"),
            ),
            ("evidence_id",),
        ),
        Table(
            "framework_goals",
            "Stated quantitative goals that the monitor reads the model's indicators against (the pack's "
            "framework_goals.csv): a measure, a comparison and a value, to hold by a year.",
            (
                Column("goal_id", "str"),
                Column("instrument", "str", description="the instrument that states the goal"),
                Column("goal", "str", description="the goal in words"),
                Column(
                    "measure",
                    "str",
                    description="the model measure it is read against (shares of world capacity)",
                    choices=("top1_share", "china_share"),
                ),
                Column("comparison", "str", choices=("<", "<=", ">", ">=")),
                Column("value", "float", "fraction", min=0, max=1),
                Column("material", "str", description="material id or * for every material", check="material_or_star"),
                Column("stage", "str", description="stage or * for every stage", check="stage_or_star"),
                Column("year", "int", "year", description="the year by which it is to hold", min=1900, max=2100),
                Column("basis", "str", required=False, description="what the goal counts (the model may proxy it)"),
            ),
            ("goal_id",),
        ),
        Table(
            "japan_defense_budget",
            "Japan's defence budgets by fiscal year (the pack's japan_defense_budget.csv): MoD budgets, "
            "defence-and-related totals, shares of GDP, the accelerated 2% goal, and the exchange rate that "
            "converts them to dollars. Claims checks (`critmin monitor claims`) look rows up here.",
            (
                Column("fiscal_year", "str", description="FY2025 (April 2025 to March 2026), or a span: FY2023-FY2027"),
                Column("fy_start", "str", "YYYY-MM-DD"),
                Column("fy_end", "str", "YYYY-MM-DD"),
                Column("item", "str", description="what the row counts"),
                Column("value", "float", "see unit column"),
                Column("unit", "str", description="JPY tn, % of GDP, JPY/USD, ..."),
                Column("basis", "str", required=False),
            ),
            ("fiscal_year", "item"),
        ),
        Table(
            "criticality_inputs",
            "Inputs of the criticality methods that are not elsewhere in the store (the shipped "
            "data/criticality.csv): one row per parameter and key; '*' matches anything, a blank key "
            "column is 'not applicable'. `critmin criticality --inputs FILE` overrides rows per run.",
            (
                Column("parameter", "str", description="one of the parameters in docs/criticality.md"),
                Column("perspective", "str", description="EU, a country, a bloc, or *", blank=True),
                Column("material", "str", description="material id or *", blank=True),
                Column("stage", "str", description="stage or *", blank=True),
                Column("sector", "str", description="end-use sector or *", blank=True),
                Column("country", "str", description="ISO3 or *", blank=True),
                Column("value", "float", "see unit column"),
                Column("unit", "str", blank=True),
            ),
            ("parameter", "perspective", "material", "stage", "sector", "country"),
            row_check="criticality",
        ),
        Table(
            "meta",
            "Build metadata: base year, package version, data fingerprint.",
            (Column("key", "str"), Column("value", "str")),
            ("key",),
            provenance=False,
            kind="meta",
        ),
        Table(
            "runs",
            "Stored scenario runs (`critmin run`): what identifies each run and reproduces it.",
            (
                Column("run_id", "str", description="<scenario slug>-<12 hex>"),
                Column("scenario", "str"),
                Column("scenario_sha256", "str", description="SHA-256 of the scenario's canonical JSON"),
                Column("engine", "str", choices=("compiled", "fast", "lp")),
                Column("mode", "str", choices=("market", "coordinated")),
                Column("seed", "int"),
                Column("critmin_version", "str"),
                Column("data_sha256", "str", description="fingerprint of the data and blocs the run used"),
                Column("created_utc", "str"),
                Column("start_month", "str", "YYYY-MM"),
                Column("months", "int", "months"),
                Column("notes", "str", required=False),
                Column("scenario_json", "str", description="the validated scenario, to rerun it"),
            ),
            ("run_id",),
            provenance=False,
            kind="run",
        ),
        Table(
            "run_results",
            "End-use results of stored runs: month x material x region x sector.",
            (
                Column("run_id", "str"),
                Column("month", "str", "YYYY-MM"),
                Column("material", "str"),
                Column("region", "str"),
                Column("sector", "str"),
                Column("demand_t", "float", "t per month"),
                Column("delivered_t", "float", "t per month"),
                Column("shortfall_t", "float", "t per month"),
                Column("price_index", "float", "index (base year = 1)"),
            ),
            ("run_id", "month", "material", "region", "sector"),
            provenance=False,
            kind="run",
        ),
        Table(
            "run_states",
            "Stage states of stored runs: month x material x stage x region.",
            (
                Column("run_id", "str"),
                Column("month", "str", "YYYY-MM"),
                Column("material", "str"),
                Column("stage", "str"),
                Column("region", "str"),
                Column("production_t", "float", "t per month", required=False),
                Column("capacity_t", "float", "t per month", required=False),
                Column("utilisation", "float", "fraction", required=False),
                Column("inventory_t", "float", "t (end of month)", required=False),
                Column("unsold_t", "float", "t (end of month)", required=False),
                Column("stockpile_t", "float", "t (end of month)", required=False),
                Column("received_t", "float", "t per month", required=False),
                Column("exporter_flow_t", "float", "t per month", required=False),
            ),
            ("run_id", "month", "material", "stage", "region"),
            provenance=False,
            kind="run",
        ),
        Table(
            "mc_runs",
            "Stored Monte Carlo runs (`critmin mc`); per-draw summaries are in the Parquet file named.",
            (
                Column("run_id", "str", description="mc-<scenario slug>-<12 hex of everything that sets the result>"),
                Column("scenario", "str"),
                Column("scenario_sha256", "str"),
                Column("data_sha256", "str", description="fingerprint of the data and blocs the run used"),
                Column("engine", "str", choices=("compiled", "fast", "lp")),
                Column("mode", "str", choices=("market", "coordinated")),
                Column("seed", "int"),
                Column("draws", "int"),
                Column("critmin_version", "str"),
                Column("seconds", "float", "s"),
                Column("created_utc", "str"),
                Column("per_draw_parquet", "str", description="path of the per-draw summaries"),
                Column("scenario_json", "str", description="the validated scenario, to rerun it"),
            ),
            ("run_id",),
            provenance=False,
            kind="run",
        ),
    )
}
#: tables a user may import tidy rows into
IMPORTABLE: tuple[str, ...] = tuple(n for n, t in TABLES.items() if t.kind == "data")
#: tables written by runs (kept across rebuilds)
RUN_TABLES: tuple[str, ...] = tuple(n for n, t in TABLES.items() if t.kind == "run")


def table(name: str) -> Table:
    """Look up a table by name, with a suggestion for typos."""
    if name not in TABLES:
        raise UnknownNameError("table", name, TABLES)
    return TABLES[name]


def create_table_sql(t: Table, if_not_exists: bool = False) -> str:
    """``CREATE TABLE`` statement for a table definition."""
    cols = []
    for c in t.all_columns:
        null = " NOT NULL" if c.required or c.blank else ""
        cols.append(f'"{c.name}" {_DUCKDB_TYPES[c.dtype]}{null}')
    keys = ", ".join(f'"{k}"' for k in t.key)
    exists = "IF NOT EXISTS " if if_not_exists else ""
    return f'CREATE TABLE {exists}"{t.name}" ({", ".join(cols)}, PRIMARY KEY ({keys}))'


def schema_markdown() -> str:
    """The schema documentation page, generated from :data:`TABLES`."""
    lines = [
        "# critmin store schema",
        "",
        "Generated from `src/critmin/schema.py` (`critmin data schema`). Do not edit by hand.",
        "",
        "Data tables are built by `critmin data build` from the shipped files, overridable with "
        "`--overrides DIR/<table>.csv` and importable (`critmin data import csv TABLE FILE`). Every data "
        "row has a `source`, a `confidence` and a `layer`: `shipped`, `overrides` (the last build's "
        "overrides) or `import` (the user layer: kept across rebuilds until `critmin data build "
        "--discard-imports`). Run tables are written by runs and kept across rebuilds.",
        "",
    ]
    for t in TABLES.values():
        kind = {"data": "data table", "meta": "build metadata", "run": "run table"}[t.kind]
        lines += [f"## `{t.name}`", "", t.description, "", f"Kind: {kind}. Key: {', '.join(t.key)}", ""]
        lines += ["| column | type | unit | required | description |", "|---|---|---|---|---|"]
        for c in t.all_columns:
            desc = c.description
            if c.choices and c.name != "confidence":
                desc = (desc + "; " if desc else "") + "one of " + ", ".join(c.choices)
            req = "blank = n/a" if c.blank else ("yes" if c.required else "no")
            if c.managed:
                req = "set by the store"
            lines.append(f"| `{c.name}` | {c.dtype} | {c.unit} | {req} | {desc} |")
        lines.append("")
        if t.row_check == "criticality":
            lines += ["Parameters, the key columns each uses (the others blank) and the values allowed:", ""]
            lines += ["| parameter | key columns | value range |", "|---|---|---|"]
            for name, (keys, (lo, hi)) in CRITICALITY_PARAMETERS.items():
                item = f" (one row per {CRITICALITY_ITEM[name]})" if name in CRITICALITY_ITEM else ""
                lines.append(f"| `{name}` | {', '.join(keys) or '(none)'}{item} | [{lo:g}, {hi:g}] |")
            lines.append("")
    return "\n".join(lines)


#: criticality_inputs: parameter -> (key columns it uses, allowed value range). A key column a
#: parameter does not use is blank in the store.
CRITICALITY_PARAMETERS: dict[str, tuple[tuple[str, ...], tuple[float, float]]] = {
    "eol_rir": (("material",), (0.0, 1.0)),
    "si_sr": (("material",), (0.0, 1.0)),
    "si_ei": (("material",), (0.0, 1.0)),
    "value_added": (("sector",), (0.0, float("inf"))),
    "sector_share": (("material", "sector"), (0.0, 1.0)),
    "import_reliance": (("perspective", "material", "stage"), (-float("inf"), 1.0)),
    "sourcing_share": (("perspective", "material", "stage", "country"), (0.0, 1.0)),
    "import_share": (("perspective", "material", "stage", "country"), (0.0, 1.0)),
    "wgi_scaled": (("country",), (0.0, 10.0)),
    "supply_share": (("material", "stage", "country"), (0.0, 1.0)),
    "hhi_wgi_t_global": (("material", "stage"), (0.0, 10.0)),
    "hhi_wgi_t_sourcing": (("perspective", "material", "stage"), (0.0, 10.0)),
    "trade_factor": (("perspective", "material", "country"), (0.0, 10.0)),
    "agreement_partner": (("perspective", "country"), (0.0, 1.0)),
    "agreement_factor": ((), (0.0, 10.0)),
    "restriction_factor": ((), (0.0, 10.0)),
    "ban_factor": ((), (0.0, 10.0)),
    "cost_share": (("material",), (0.0, 1.0)),
    "margin": (("material",), (1e-9, 1.0)),
    "sr_threshold": ((), (0.0, float("inf"))),
    "ei_threshold": ((), (0.0, float("inf"))),
    "usgs_threshold": ((), (0.0, float("inf"))),
    "ensemble_threshold": ((), (0.0, 1.0)),
}
#: criticality parameters that list items (several rows per key): the column naming the item (it may
#: not be ``*``)
CRITICALITY_ITEM: dict[str, str] = {
    "sourcing_share": "country",
    "import_share": "country",
    "supply_share": "country",
    "sector_share": "sector",
    "trade_factor": "country",
    "agreement_partner": "country",
    "wgi_scaled": "country",
}
#: the key columns of criticality_inputs besides ``parameter``
CRITICALITY_KEYS: tuple[str, ...] = ("perspective", "material", "stage", "sector", "country")
