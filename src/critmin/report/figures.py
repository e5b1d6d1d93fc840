"""The report's figures: one function per figure, each from a run, an ensemble, the chain or a
lever's outcome, each returning a :class:`plotly.graph_objects.Figure`.

Figures that cover several materials (or pairs) carry one set of traces per material and a
drop-down that shows one set at a time, so that a report stays one page per topic. Nothing here
computes a model quantity: the numbers come from :class:`~critmin.results.RunResult`,
:class:`~critmin.risk.Ensemble`, :mod:`critmin.metrics` and the levers' outcomes.

>>> import pandas as pd
>>> shares = pd.DataFrame({"material": ["Dy", "Dy"], "stage": ["mine", "mine"], "year": [2024, 2024],
...                        "country_iso3": ["CHN", "MMR"], "share": [0.6, 0.4]})
>>> fig = share_map_figure(shares)
>>> fig.data[0].locations.tolist()
['CHN', 'MMR']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from critmin.names import STAGES

#: qualitative colours, one per region (stable: a region keeps its colour across figures)
PALETTE = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#393b79",
    "#637939",
    "#8c6d31",
    "#843c39",
    "#7b4173",
)
#: a link whose flow fell by more than this share of its base is drawn as disrupted
DISRUPTED_SHARE = 0.05
LAYOUT: dict[str, Any] = {"template": "plotly_white", "margin": {"l": 60, "r": 30, "t": 70, "b": 50}, "height": 460}


def _colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _region_colours(regions: Sequence[str]) -> dict[str, str]:
    return {r: _colour(i) for i, r in enumerate(regions)}


def _say_if_empty(fig: go.Figure, why: str) -> go.Figure:
    """A figure with no trace says why in its middle instead of showing bare axes."""
    if not fig.data:
        fig.add_annotation(text=why, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper", font={"size": 14})
        # hidden axes keep no title: plotly cannot place the title of an axis it does not draw
        fig.update_xaxes(visible=False, title_text="")
        fig.update_yaxes(visible=False, title_text="")
        fig.update_layout(height=240)
    return fig


def _dropdown(fig: go.Figure, labels: Sequence[str], groups: Sequence[Sequence[int]], title: str = "") -> None:
    """Show one group of traces at a time, chosen from a drop-down (the first shown)."""
    n = len(fig.data)
    for k, group in enumerate(groups):
        for i in group:
            fig.data[i].visible = k == 0
    if len(labels) < 2:
        return
    buttons = []
    for label, group in zip(labels, groups, strict=True):
        vis = [False] * n
        for i in group:
            vis[i] = True
        buttons.append({"label": label, "method": "update", "args": [{"visible": vis}]})
    fig.update_layout(
        updatemenus=[
            {
                "buttons": buttons,
                "direction": "down",
                "x": 1.0,
                "xanchor": "right",
                "y": 1.16,
                "yanchor": "top",
                "showactive": True,
            }
        ],
        annotations=[
            *fig.layout.annotations,
            {
                "text": title,
                "x": 1.0,
                "xref": "paper",
                "xanchor": "right",
                "y": 1.2,
                "yref": "paper",
                "yanchor": "bottom",
                "showarrow": False,
                "font": {"size": 11, "color": "#555"},
            },
        ],
    )


# -- the chain ---------------------------------------------------------------------------------
def chain_stages(ds: Any, material: str) -> list[str]:
    """The stages a material has in a run (those with base production), in chain order."""
    prod = ds["production_t"].sel(material=material)
    have = [str(s) for s in ds.stage.values if np.isfinite(prod.sel(stage=s).values).any()]
    return [s for s in STAGES if s in have]


def stage_flows(trade_t: Any, material: str, stages: Sequence[str]) -> pd.DataFrame:
    """Tonnes over the horizon from each (stage, exporter) to each buyer: the producer of the next
    stage in the importing region, or end use after the last stage. Columns ``source_stage,
    exporter, target_stage, importer, t``; domestic flows included."""
    t = trade_t.sel(material=material).sum("month")
    rows = []
    for k, st in enumerate(stages):
        nxt = stages[k + 1] if k + 1 < len(stages) else "end use"
        m = t.sel(stage=st).to_pandas()  # exporter x importer
        for exp in m.index:
            for imp in m.columns:
                v = float(m.loc[exp, imp])
                if np.isfinite(v) and v > 1e-9:
                    rows.append(
                        {"source_stage": st, "exporter": str(exp), "target_stage": nxt, "importer": str(imp), "t": v}
                    )
    return pd.DataFrame(rows, columns=["source_stage", "exporter", "target_stage", "importer", "t"])


def sankey_links(run: Any, baseline: Any, material: str, min_share: float = 0.002) -> pd.DataFrame:
    """The Sankey's links: tonnes over the horizon of each flow in the ``baseline`` run
    (``t_base``) and in ``run`` (``t_run``), its relative ``change`` (inf for a new flow) and
    ``status``: ``cut`` (fell by more than :data:`DISRUPTED_SHARE`), ``grown`` (rose by more, or
    new) or ``same``. Flows under ``min_share`` of their stage's base flow in both runs are left
    out."""
    if run.trade_t is None or baseline.trade_t is None:
        raise ValueError("the runs carry no trade (trade_t)")
    stages = chain_stages(run.dataset, material)
    base = stage_flows(baseline.trade_t, material, stages)
    scen = stage_flows(run.trade_t, material, stages)
    key = ["source_stage", "exporter", "target_stage", "importer"]
    df = base.merge(scen, on=key, how="outer", suffixes=("_base", "_run")).fillna({"t_base": 0.0, "t_run": 0.0})
    stage_total = df.groupby("source_stage")["t_base"].transform("sum")
    df = df[(df["t_base"] >= min_share * stage_total) | (df["t_run"] >= min_share * stage_total)].copy()
    base_t = df["t_base"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        df["change"] = np.where(base_t > 0, (df["t_run"].to_numpy() - base_t) / base_t, np.inf)
    df["status"] = np.select(
        [df["change"] < -DISRUPTED_SHARE, df["change"] > DISRUPTED_SHARE], ["cut", "grown"], "same"
    )
    rank = {st: i for i, st in enumerate([*stages, "end use"])}
    df = df.assign(_k=df["source_stage"].map(rank)).sort_values(["_k", "exporter", "importer"]).drop(columns="_k")
    return df.reset_index(drop=True)


def sankey_figure(run: Any, baseline: Any, material: str, min_share: float = 0.002) -> go.Figure:
    """The chain of ``material`` as a Sankey, region by region and stage by stage (mine →
    separation → metal → magnet → end use), over the run's horizon (:func:`sankey_links`).

    Link widths are the tonnes of the undisturbed ``baseline`` run (the same scenario without its
    disruptions and outages; a new flow: its tonnes in the run); a cut link is red (darker = more
    lost), a grown one (trade diverted to it) blue, others grey."""
    df = sankey_links(run, baseline, material, min_share)
    stages = chain_stages(run.dataset, material)
    nodes: dict[tuple[str, str], int] = {}
    order = [*stages, "end use"]
    for st in order:
        for r in sorted(
            set(df.loc[df["source_stage"] == st, "exporter"]) | set(df.loc[df["target_stage"] == st, "importer"])
        ):
            nodes[(st, r)] = len(nodes)
    src, dst, val, col, hover = [], [], [], [], []
    for row in df.itertuples(index=False):
        a, b = nodes[(row.source_stage, row.exporter)], nodes[(row.target_stage, row.importer)]
        width = row.t_base if row.t_base > 0 else row.t_run
        change = row.change
        if row.status == "cut":
            col.append(f"rgba(214,39,40,{0.35 + 0.6 * min(1.0, -change):.2f})")
        elif row.status == "grown":
            col.append("rgba(31,119,180,0.55)")
        else:
            col.append("rgba(150,150,150,0.35)")
        src.append(a)
        dst.append(b)
        val.append(width)
        pct = "new" if not np.isfinite(change) else f"{change:+.0%}"
        hover.append(
            f"{row.exporter} {row.source_stage} → {row.importer} {row.target_stage}<br>"
            f"undisturbed {row.t_base:,.1f} t, this scenario {row.t_run:,.1f} t ({pct})"
        )
    depth = {st: i for i, st in enumerate(order)}
    labels = [f"{r} · {st}" for (st, r) in nodes]
    xs = [0.01 + 0.98 * depth[st] / max(1, len(order) - 1) for (st, _r) in nodes]
    fig = go.Figure(
        go.Sankey(
            arrangement="snap",
            node={
                "label": labels,
                "pad": 10,
                "thickness": 14,
                "x": xs,
                "color": [_colour(sorted({r for _s, r in nodes}).index(r)) for (_s, r) in nodes],
            },
            link={
                "source": src,
                "target": dst,
                "value": val,
                "color": col,
                "customdata": hover,
                "hovertemplate": "%{customdata}<extra></extra>",
            },
        )
    )
    fig.update_layout(
        title=f"{material}: the chain by region, {' → '.join(order)} (t over the horizon; red = flow cut, "
        "blue = flow grown)",
        **{**LAYOUT, "height": 520},
    )
    return fig


def concentration_figure(conc: pd.DataFrame, materials: Sequence[str]) -> go.Figure:
    """Top-country share, top-3 share and China's share of each material's stages (latest year of
    each), with the Herfindahl index in the hover."""
    df = conc[conc["material"].isin(materials)]
    df = df.loc[df.groupby(["material", "stage"])["year"].idxmax()]
    rank = {s: i for i, s in enumerate(STAGES)}
    df = df.assign(_m=df["material"].map({m: i for i, m in enumerate(materials)}), _s=df["stage"].map(rank))
    df = df.sort_values(["_m", "_s"])
    x = [f"{m} · {s}" for m, s in zip(df["material"], df["stage"], strict=True)]
    fig = go.Figure()
    hover = [
        f"{m} {s} ({y}): HHI {h:,.0f}, top country {c}"
        for m, s, y, h, c in zip(df["material"], df["stage"], df["year"], df["hhi"], df["top1_country"], strict=True)
    ]
    for col, name, colour in (
        ("top1_share", "top country", "#1f77b4"),
        ("top3_share", "top three", "#9ecae1"),
        ("china_share", "China", "#d62728"),
    ):
        fig.add_trace(
            go.Bar(
                x=x,
                y=df[col],
                name=name,
                marker_color=colour,
                customdata=hover,
                hovertemplate="%{customdata}<br>" + name + " %{y:.0%}<extra></extra>",
            )
        )
    fig.update_layout(
        title="Concentration by material and stage (share of world output, latest year)",
        barmode="group",
        yaxis={"tickformat": ".0%", "range": [0, 1.05]},
        **LAYOUT,
    )
    return fig


def share_map_figure(shares: pd.DataFrame, materials: Sequence[str] = ()) -> go.Figure:
    """A world map of each country's share of world output, one map per material and stage
    (latest year of each) behind a drop-down, materials in the order of ``materials`` (the first
    shown first; others after, alphabetically). ``shares``: rows of
    :func:`critmin.metrics.production_shares` (``material, stage, year, country_iso3, share``)."""
    df = shares[shares["country_iso3"].str.len() == 3]
    df = df[~df["country_iso3"].isin(["OTH", "WLD"])]
    latest = df.groupby(["material", "stage"])["year"].transform("max")
    df = df[df["year"] == latest]
    rank = {s: i for i, s in enumerate(STAGES)}
    first = {m: i for i, m in enumerate(materials)}
    keys = sorted(
        {(m, s) for m, s in zip(df["material"], df["stage"], strict=True)},
        key=lambda k: (first.get(k[0], len(first)), k[0], rank[k[1]]),
    )
    fig = go.Figure()
    labels, groups = [], []
    for m, s in keys:
        d = df[(df["material"] == m) & (df["stage"] == s)]
        year = int(d["year"].iloc[0])
        fig.add_trace(
            go.Choropleth(
                locations=d["country_iso3"],
                z=d["share"],
                locationmode="ISO-3",
                zmin=0,
                zmax=1,
                colorscale="Reds",
                colorbar={"title": "share", "tickformat": ".0%"},
                name=f"{m} {s}",
                hovertemplate="%{location}: %{z:.1%}<extra>" + f"{m} {s} {year}</extra>",
            )
        )
        labels.append(f"{m} · {s} ({year})")
        groups.append([len(fig.data) - 1])
    _dropdown(fig, labels, groups, "material · stage")
    fig.update_layout(
        title="Where each stage is made: share of world output by country",
        geo={
            "showframe": False,
            "showcoastlines": True,
            "projection": {"type": "natural earth", "rotation": {"lon": 0}},
            "center": {"lon": 0, "lat": 15},
            "lonaxis": {"range": [-180, 180]},
            "lataxis": {"range": [-58, 85]},
        },
        **{**LAYOUT, "height": 500},
    )
    return fig


# -- a run ---------------------------------------------------------------------------------------
def _materials_short(run: Any) -> list[str]:
    """Materials with demand, those that ran short first (by shortfall), then the others."""
    ds = run.dataset
    short = ds["shortfall_t"].sum(("month", "region", "sector")).to_series()
    demand = ds["demand_t"].sum(("month", "region", "sector")).to_series()
    mats = [str(m) for m in demand.index if demand[m] > 0]
    return sorted(mats, key=lambda m: -float(short.get(m, 0.0)))


def _shortfall_split(run: Any, split: str, trace: Any) -> go.Figure:
    """Shortfall per month split by ``split`` (``region`` or ``sector``; the other summed), one
    material at a time: ``trace(material, label, k, y)`` makes each series' trace."""
    ds = run.dataset
    months = [str(m) for m in ds.month.values]
    other = "sector" if split == "region" else "region"
    fig = go.Figure()
    labels, groups = [], []
    for m in _materials_short(run):
        s = ds["shortfall_t"].sel(material=m).sum(other)
        group = []
        for k, label in enumerate(str(v) for v in ds[split].values):
            y = s.sel({split: label}).values
            if (y > 1e-9).any():
                fig.add_trace(trace(m, label, k, months, y))
                group.append(len(fig.data) - 1)
        if group:
            labels.append(m)
            groups.append(group)
    _dropdown(fig, labels, groups, "material")
    return fig


def shortfall_region_figure(run: Any) -> go.Figure:
    """Shortfall per month by region (t; sectors summed), one material at a time."""

    def line(m: str, r: str, k: int, months: list[str], y: Any) -> go.Scatter:
        return go.Scatter(x=months, y=y, name=r, mode="lines+markers", line={"color": _colour(k)}, legendgroup=r,
                          hovertemplate=f"{m} {r} %{{x}}: %{{y:,.1f}} t<extra></extra>")  # fmt: skip

    fig = _shortfall_split(run, "region", line)
    fig.update_layout(title="Shortfall by region (t per month)", yaxis_title="t", **LAYOUT)
    return _say_if_empty(fig, "no region ran short of any material in any month")


def shortfall_sector_figure(run: Any) -> go.Figure:
    """Shortfall per month by sector (t; regions summed), stacked, one material at a time."""

    def bar(m: str, sec: str, k: int, months: list[str], y: Any) -> go.Bar:
        return go.Bar(x=months, y=y, name=sec, marker_color=_colour(k), legendgroup=sec,
                      hovertemplate=f"{m} {sec} %{{x}}: %{{y:,.1f}} t<extra></extra>")  # fmt: skip

    fig = _shortfall_split(run, "sector", bar)
    fig.update_layout(title="Shortfall by sector (t per month, all regions)", barmode="stack", yaxis_title="t",
                      **LAYOUT)  # fmt: skip
    return _say_if_empty(fig, "no sector ran short of any material in any month")


def stocks_figure(run: Any) -> go.Figure:
    """Stocks drawn down: end users' inventory in months of demand by region (solid) and, where
    the scenario holds any, government stockpiles in t (dotted, right axis), one material at a
    time."""
    ds = run.dataset
    months = [str(m) for m in ds.month.values]
    regions = [str(r) for r in ds.region.values]
    colours = _region_colours(regions)
    cover = run.end_use_cover()
    gov = ds["stockpile_t"].sum("stage", skipna=True)
    held = bool((gov.fillna(0.0) > 1e-9).any())
    # a right axis only with a stockpile to draw on it (plotly cannot place the title of an empty one)
    fig = make_subplots(specs=[[{"secondary_y": held}]])
    labels, groups = [], []
    for m in _materials_short(run):
        group = []
        for r in regions:
            y = cover.sel(material=m, region=r).values
            if not np.isfinite(y).any():
                continue
            fig.add_trace(
                go.Scatter(
                    x=months,
                    y=y,
                    name=f"{r} cover",
                    line={"color": colours[r]},
                    legendgroup=r,
                    hovertemplate=f"{m} {r} %{{x}}: %{{y:.2f}} months of demand<extra></extra>",
                ),
                secondary_y=False,
            )
            group.append(len(fig.data) - 1)
            g = gov.sel(material=m, region=r).values
            if (g > 1e-9).any():
                fig.add_trace(
                    go.Scatter(
                        x=months,
                        y=g,
                        name=f"{r} stockpile, t (right)",
                        line={"color": colours[r], "dash": "dot"},
                        legendgroup=r,
                        hovertemplate=f"{m} {r} stockpile %{{x}}: %{{y:,.1f}} t<extra></extra>",
                    ),
                    secondary_y=True,
                )
                group.append(len(fig.data) - 1)
        if group:
            labels.append(m)
            groups.append(group)
    _dropdown(fig, labels, groups, "material")
    fig.update_layout(
        title="Stocks drawn down: end users' cover (months of demand) and government stockpiles (t)", **LAYOUT
    )
    # from zero: cover that stays flat (equal to rounding) would otherwise get a degenerate range
    if held:
        fig.update_yaxes(title_text="months of demand", secondary_y=False, rangemode="tozero")
        # no title on the right axis: plotly cannot place it while the material shown has no stockpile
        fig.update_yaxes(secondary_y=True, showgrid=False, rangemode="tozero")
    else:
        fig.update_yaxes(title_text="months of demand", rangemode="tozero")
    return fig


def prices_figure(run: Any) -> go.Figure:
    """Each element's price to each region's buyers: spot (solid) and paid (dashed), USD/kg where
    the data has a base price, else the index, one material at a time."""
    pr = run.element_prices()
    regions = list(dict.fromkeys(pr["region"]))
    colours = _region_colours([str(r) for r in run.dataset.region.values])
    fig = go.Figure()
    labels, groups = [], []
    for m in _materials_short(run):
        d = pr[pr["material"] == m]
        usd = bool(d["usd_per_kg"].notna().all())
        scale = (d["usd_per_kg"] / d["spot_index"]).iloc[0] if usd else 1.0
        unit = "USD/kg" if usd else "index"
        group = []
        for r in regions:
            dr = d[d["region"] == r]
            for col, dash, what in (("spot_index", "solid", "spot"), ("paid_index", "dash", "paid")):
                fig.add_trace(
                    go.Scatter(
                        x=dr["month"],
                        y=(dr[col] * scale).round(6),  # equal-to-rounding values: one flat line
                        name=f"{r} {what}",
                        legendgroup=r,
                        line={"color": colours.get(r, "#333"), "dash": dash},
                        hovertemplate=f"{m} {r} {what} %{{x}}: %{{y:,.1f}} {unit}<extra></extra>",
                    )
                )
                group.append(len(fig.data) - 1)
        labels.append(f"{m} ({unit})")
        groups.append(group)
    _dropdown(fig, labels, groups, "material")
    fig.update_layout(title="Prices by region: spot (solid) and paid (dashed)", yaxis_title="USD/kg or index", **LAYOUT)
    return fig


def stoppage_figure(run: Any) -> go.Figure:
    """Line-stoppage months: for each material × sector (rows) and region (columns), the months in
    which the sector got less than its stoppage threshold of its need."""
    st = run.stoppage()
    st = st[st["months_stopped"] > 0]
    if st.empty:
        fig = go.Figure()
        fig.add_annotation(
            text="no sector fell below its stoppage threshold in any month",
            showarrow=False,
            x=0.5,
            y=0.5,
            xref="paper",
            yref="paper",
        )
        fig.update_layout(title="Line-stoppage months by sector", **{**LAYOUT, "height": 240})
        return fig
    rows = list(dict.fromkeys(f"{m} · {s}" for m, s in zip(st["material"], st["sector"], strict=True)))
    cols = list(dict.fromkeys(st["region"]))
    z = np.zeros((len(rows), len(cols)))
    for r in st.itertuples(index=False):
        z[rows.index(f"{r.material} · {r.sector}"), cols.index(r.region)] = r.months_stopped
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=cols,
            y=rows,
            colorscale="OrRd",
            zmin=0,
            colorbar={"title": "months"},
            hovertemplate="%{y} in %{x}: %{z:.0f} months stopped<extra></extra>",
        )
    )
    fig.update_layout(
        title="Line-stoppage months by sector (months a sector got less than its threshold of its need)",
        **{**LAYOUT, "height": max(320, 60 + 22 * len(rows))},
    )
    fig.update_yaxes(autorange="reversed")
    return fig


# -- an ensemble ---------------------------------------------------------------------------------
FAN_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def fan_figure(ens: Any) -> go.Figure:
    """Fan chart of the monthly shortfall of each kept (material, region) pair: the median line,
    the 25–75 % band and the 5–95 % band over the ensemble's draws."""
    if "monthly_shortfall_t" not in ens:
        raise ValueError("the ensemble kept no monthly series (run_ensemble(keep_monthly=...))")
    x = ens["monthly_shortfall_t"]
    months = [str(m) for m in x.month.values]
    q = np.quantile(x.values.astype(np.float64), FAN_QUANTILES, axis=0)  # (q, kept_pair, month)
    fig = go.Figure()
    labels, groups = [], []
    pairs = [(str(a), str(b)) for a, b in x.indexes["kept_pair"]]
    for p, (m, r) in enumerate(pairs):
        lo, q25, med, q75, hi = (q[i, p] for i in range(5))
        start = len(fig.data)
        for upper, lower, alpha, name in ((hi, lo, 0.15, "5–95 %"), (q75, q25, 0.35, "25–75 %")):
            edge = {"x": months, "mode": "lines", "line": {"width": 0}, "hoverinfo": "skip"}
            fig.add_trace(go.Scatter(y=upper, showlegend=False, **edge))
            fig.add_trace(go.Scatter(y=lower, fill="tonexty", fillcolor=f"rgba(214,39,40,{alpha})", name=name, **edge))
        fig.add_trace(
            go.Scatter(
                x=months,
                y=med,
                name="median",
                line={"color": "#a50f15"},
                hovertemplate=f"{m} {r} %{{x}}: median %{{y:,.1f}} t<extra></extra>",
            )
        )
        labels.append(f"{m} · {r}")
        groups.append(list(range(start, len(fig.data))))
    _dropdown(fig, labels, groups, "material · region")
    n = int(ens.sizes["draw"])
    fig.update_layout(
        title=f"Shortfall per month over {n:,} draws: median, 25–75 % and 5–95 %", yaxis_title="t", **LAYOUT
    )
    return fig


def risk_bars_figure(metrics: pd.DataFrame, top: int = 15) -> go.Figure:
    """Expected shortfall (bars, with ±2 standard errors) and the probability of any shortfall
    (markers, right axis) of the ensemble's riskiest (material, region) pairs."""
    df = metrics.sort_values("expected_shortfall_t", ascending=False).head(top)
    x = [f"{m} · {r}" for m, r in zip(df["material"], df["region"], strict=True)]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(
        go.Bar(
            x=x,
            y=df["expected_shortfall_t"],
            name="expected shortfall (t)",
            marker_color="#d62728",
            error_y={"type": "data", "array": 2 * df["stderr_expected_shortfall_t"]},
        ),
        secondary_y=False,
    )
    fig.add_trace(
        go.Scatter(
            x=x, y=df["p_shortfall"], name="P(any shortfall)", mode="markers", marker={"size": 10, "color": "#1f77b4"}
        ),
        secondary_y=True,
    )
    fig.update_layout(title="Riskiest pairs over the ensemble", **LAYOUT)
    fig.update_yaxes(title_text="t over the horizon", secondary_y=False)
    fig.update_yaxes(
        title_text="probability",
        tickformat=".0%",
        range=[0, 1.05],
        tickmode="linear",
        tick0=0,
        dtick=0.2,
        secondary_y=True,
        showgrid=False,
    )
    return fig


# -- the hindcast --------------------------------------------------------------------------------
def hindcast_figure(cmp: pd.DataFrame) -> go.Figure:
    """The model against the observed 2025 series (:func:`critmin.hindcast.compare`): one panel
    per indicator, observed as markers, the model as lines (paid prices dashed)."""
    df = cmp[cmp["month"].str.len() == 7]
    series = list(dict.fromkeys(zip(df["indicator"], df["region"], df["material"], df["unit"], strict=True)))
    indicators = list(dict.fromkeys(s[0] for s in series))
    titles = {
        "exports_t": "China's exports of Dy and Tb oxide (t/month)",
        "magnet_exports_t": "China's NdFeB magnet exports (t/month)",
        "price_usd_per_kg": "Dy and Tb oxide prices (USD/kg)",
    }
    fig = make_subplots(
        rows=len(indicators), cols=1, subplot_titles=[titles.get(i, i) for i in indicators], vertical_spacing=0.09
    )
    for k, (ind, reg, mat, unit) in enumerate(series):
        d = df[(df["indicator"] == ind) & (df["region"] == reg) & (df["material"] == mat)].sort_values("month")
        row = indicators.index(ind) + 1
        c = _colour(k)
        name = f"{mat} {reg}"
        fig.add_trace(
            go.Scatter(
                x=d["month"],
                y=d["observed"],
                mode="markers",
                name=f"{name} observed",
                marker={"color": c, "size": 8, "symbol": "circle-open"},
                legendgroup=name,
                hovertemplate=f"{name} observed %{{x}}: %{{y:,.1f}} {unit}<extra></extra>",
            ),
            row=row,
            col=1,
        )
        for col, what, dash in (("model", "model", "solid"), ("model_paid", "model paid", "dash")):
            if d[col].notna().any():
                fig.add_trace(
                    go.Scatter(x=d["month"], y=d[col], mode="lines", name=f"{name} {what}", legendgroup=name,
                               line={"color": c, "dash": dash},
                               hovertemplate=f"{name} {what} %{{x}}: %{{y:,.1f}} {unit}<extra></extra>"),
                    row=row,
                    col=1,
                )  # fmt: skip
    fig.update_layout(
        title="The 2025 hindcast: model (lines) against observed (circles)",
        **{**LAYOUT, "height": 330 * len(indicators)},
    )
    return fig


# -- levers ----------------------------------------------------------------------------------------
def stockpile_figure(recommendation: pd.DataFrame, out_of_sample: pd.DataFrame) -> go.Figure:
    """The recommended stockpiles (t by holder and item, left) and each target's out-of-sample
    value for each holder (right)."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=["tonnes to hold", "targets on fresh draws"])
    for k, ((reg, holder), d) in enumerate(recommendation.groupby(["regime", "holder"], sort=False)):
        x = [f"{m} {s}" for m, s in zip(d["material"], d["stage"], strict=True)]
        fig.add_trace(
            go.Bar(
                x=x,
                y=d["tonnes"],
                name=f"{holder} ({reg})",
                marker_color=_colour(k),
                hovertemplate="%{x}: %{y:,.1f} t<extra>" + f"{holder} {reg}</extra>",
            ),
            row=1,
            col=1,
        )
    for k, ((reg, holder), d) in enumerate(out_of_sample.groupby(["regime", "holder"], sort=False)):
        fig.add_trace(
            go.Scatter(
                x=d["metric"],
                y=d["value"],
                mode="markers",
                name=f"{holder} ({reg}) check",
                marker={"size": 11, "color": _colour(k), "symbol": ["circle" if m else "x" for m in d["met"]]},
                error_y={"type": "data", "array": 2 * d["stderr"].fillna(0)},
                hovertemplate="%{x}: %{y:.4g}<extra>" + f"{holder} {reg}</extra>",
            ),
            row=1,
            col=2,
        )
    fig.update_layout(title="Stockpile recommendation and its out-of-sample check (x = target missed)", **LAYOUT)
    return fig


def portfolio_figure(ranking: pd.DataFrame) -> go.Figure:
    """Every candidate project's reduction of the objective per $M alone (bars; chosen ones green)."""
    df = ranking.sort_values("per_musd_alone", ascending=False)
    fig = go.Figure(
        go.Bar(
            x=df["candidate"],
            y=df["per_musd_alone"],
            marker_color=["#2ca02c" if c else "#bbbbbb" for c in df["chosen"]],
            customdata=df["why"],
            hovertemplate="%{x}: %{y:.4g} per $M<br>%{customdata}<extra></extra>",
        )
    )
    fig.update_layout(title="Candidate projects: reduction of the objective per $M alone (green = chosen)", **LAYOUT)
    return fig
