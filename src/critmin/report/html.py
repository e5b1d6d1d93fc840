"""A report as one self-contained HTML file: plotly.js and the world map's geometry inlined, no
request to any other host, readable on a laptop screen and printable.

Each figure is a ``<div class="figure" data-figure="KEY">`` drawn by ``Plotly.newPlot`` from the
figure's JSON; tables are plain HTML; all text is escaped.

>>> from critmin.report.content import ReportContent, Section
>>> page = render_html(ReportContent("critmin report: x", "sub", ("r1",), (Section("a", "A", ("text <b>",)),)))
>>> "text &lt;b&gt;" in page and "cdn.plot.ly" not in page.split("</script>")[-1]
True
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable, Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from critmin.outputs import atomic_write_text, check_file_target
from critmin.report.content import Figure, ReportContent, Table

#: rows shown of a table (the rest counted in its caption)
MAX_TABLE_ROWS = 200
#: plotly's config for every figure: no logo, no link to plotly's cloud, responsive
PLOT_CONFIG = {
    "displaylogo": False,
    "responsive": True,
    "showLink": False,
    "modeBarButtonsToRemove": ["sendDataToCloud"],
}

CSS = """
:root { --ink: #222; --muted: #666; --rule: #ddd; --accent: #a50f15; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: var(--ink);
       margin: 0; background: #fafafa; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 64px; background: #fff; }
header h1 { margin: 0 0 4px; font-size: 26px; }
header p.sub { margin: 0 0 12px; color: var(--muted); }
nav.toc { border: 1px solid var(--rule); border-radius: 6px; padding: 8px 14px; margin: 12px 0 24px; }
nav.toc ol { margin: 4px 0; padding-left: 22px; columns: 2; }
section { border-top: 2px solid var(--rule); padding-top: 8px; margin-top: 28px; }
section h2 { font-size: 20px; margin: 8px 0; color: var(--accent); }
.figure { width: 100%; min-height: 260px; margin: 8px 0 2px; }
p.caption { color: var(--muted); font-size: 13px; margin: 0 0 16px; }
table { border-collapse: collapse; font-size: 12.5px; margin: 6px 0 18px; width: 100%; }
th, td { border-bottom: 1px solid #eee; padding: 3px 6px; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f3f3f3; position: sticky; top: 0; }
.tablewrap { max-height: 420px; overflow: auto; border: 1px solid #eee; }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; }
@media print {
  body { background: #fff; font-size: 11pt; }
  main { max-width: none; padding: 0; }
  nav.toc { display: none; }
  section { break-before: auto; }
  .figure, table { break-inside: avoid; }
  .tablewrap { max-height: none; overflow: visible; border: 0; }
  .modebar-container, .updatemenu-container { display: none !important; }
}
"""


@cache
def plotly_js() -> str:
    """The plotly.js bundle that ships with the ``plotly`` package (no CDN)."""
    return (resources.files("plotly") / "package_data" / "plotly.min.js").read_text(encoding="utf-8")


@cache
def world_topojson() -> str:
    """The ``world_110m`` topojson plotly.js draws world maps with (plotly.js 4.1.1's geo assets,
    MIT licence; shipped so that maps draw offline)."""
    return (resources.files("critmin.report") / "assets" / "world_110m.json").read_text(encoding="utf-8")


def geo_assets_js() -> str:
    """A script that gives plotly.js its world map offline: run it before drawing a map (plotly
    fetches from cdn.plot.ly only what ``window.PlotlyGeoAssets`` lacks)."""
    return (
        "window.PlotlyGeoAssets = window.PlotlyGeoAssets || {topojson: {}};\n"
        f"window.PlotlyGeoAssets.topojson.world_110m = {world_topojson()};\n"
    )


def _script_safe(text: str) -> str:
    """Text that cannot end the ``<script>`` element it sits in."""
    return text.replace("</", "<\\/").replace("<!--", "<\\!--")


def figure_json(fig: Any) -> str:
    """A figure as JSON for ``Plotly.newPlot`` (plotly's own encoder: numpy arrays, NaN as null)."""
    return str(fig.to_json())


def _cell(value: Any, column: str = "") -> tuple[str, bool]:
    if isinstance(value, bool):
        return ("yes" if value else "no"), False
    if isinstance(value, int):
        return (str(value) if "year" in column else f"{value:,}"), True
    if isinstance(value, float):
        if math.isnan(value):
            return "", True
        if math.isinf(value):
            return ("∞" if value > 0 else "−∞"), True
        a = abs(value)
        if a == 0:
            return "0", True
        if a >= 1000:
            return f"{value:,.0f}", True
        if a >= 1:
            return f"{value:,.2f}", True
        return f"{value:.3g}", True
    return html.escape("" if value is None else str(value)), False


def _table(t: Table) -> str:
    df = t.frame
    shown = df.head(MAX_TABLE_ROWS)
    more = f" (first {MAX_TABLE_ROWS:,} of {len(df):,} rows)" if len(df) > MAX_TABLE_ROWS else ""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in shown.columns)
    rows = []
    for rec in shown.itertuples(index=False):
        cells = []
        for col, v in zip(shown.columns, rec, strict=True):
            text, num = _cell(v.item() if hasattr(v, "item") else v, str(col))
            cells.append(f'<td class="num">{text}</td>' if num else f"<td>{text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<p class="caption"><b>{html.escape(t.caption)}</b>{html.escape(more)}</p>'
        f'<div class="tablewrap" data-table="{html.escape(t.key)}"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _figure_div(f: Figure) -> str:
    key = html.escape(f.key)
    return (
        f'<div class="figure" id="fig-{key}" data-figure="{key}"></div><p class="caption">{html.escape(f.caption)}</p>'
    )


def _has_map(content: ReportContent) -> bool:
    return any(
        getattr(tr, "type", "") in ("choropleth", "scattergeo") for f in content.figures() for tr in f.figure.data
    )


def render_html(content: ReportContent) -> str:
    """The report as one HTML page that opens offline (plotly.js inlined)."""
    parts = []
    toc = "".join(f'<li><a href="#{html.escape(s.key)}">{html.escape(s.heading)}</a></li>' for s in content.sections)
    for s in content.sections:
        body = [f'<section id="{html.escape(s.key)}"><h2>{html.escape(s.heading)}</h2>']
        body += [f"<p>{html.escape(p)}</p>" for p in s.paragraphs]
        body += [_figure_div(f) for f in s.figures]
        body += [_table(t) for t in s.tables]
        body.append("</section>")
        parts.append("\n".join(body))
    figures = {f.key: json.loads(figure_json(f.figure)) for f in content.figures()}
    data = _script_safe(json.dumps({"figures": figures, "config": PLOT_CONFIG}, allow_nan=False))
    draw = (
        "(function(){var d=JSON.parse(document.getElementById('critmin-figures').textContent);"
        "Object.keys(d.figures).forEach(function(k){var f=d.figures[k];"
        "Plotly.newPlot('fig-'+k,f.data,f.layout,d.config);});})();"
    )
    geo = f"<script>{_script_safe(geo_assets_js())}</script>" if _has_map(content) else ""
    ids = ", ".join(content.run_ids)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="critmin">
<title>{html.escape(content.title)}</title>
<style>{CSS}</style>
{geo}
<script>{_script_safe(plotly_js())}</script>
</head><body><main>
<header><h1>{html.escape(content.title)}</h1><p class="sub">{html.escape(content.subtitle)}</p>
<p class="sub">run ids: {html.escape(ids)}</p></header>
<nav class="toc"><b>Contents</b><ol>{toc}</ol></nav>
{"".join(parts)}
<footer>Made by critmin. Every number's source and confidence: the last section, and
<code>critmin data sources</code>. This file needs no network.</footer>
</main>
<script type="application/json" id="critmin-figures">{data}</script>
<script>{draw}</script>
</body></html>
"""


def write_report(path: str | Path, content_of: Callable[[], ReportContent], protect: Sequence[str | Path] = ()) -> Path:
    """Check that ``path`` may be written (not a folder or a database, nor one of ``protect``),
    compute the content, then write the page all or nothing (a failed or killed report leaves no
    file, and an older report under the same name stays whole until the new one replaces it)."""
    check_file_target(path, protect)
    content = content_of()
    return atomic_write_text(path, render_html(content), protect)
