"""Reports: the figures and text of a run, as one self-contained HTML file (``critmin report``)
and as the dashboard's figures (``critmin serve``).

* :mod:`~critmin.report.figures`: one plotly figure per function, from runs, ensembles, the chain
  and the levers' outcomes;
* :mod:`~critmin.report.content`: what a report says (:func:`report_content`), computed by the
  library's jobs;
* :mod:`~critmin.report.html`: the self-contained page (:func:`render_html`).
"""

from critmin.report.content import (
    Figure,
    ReportContent,
    Section,
    Table,
    describe_scenario,
    overview_figures,
    portfolio_section,
    report_content,
    stockpile_section,
)
from critmin.report.html import geo_assets_js, plotly_js, render_html, write_report

__all__ = [
    "Figure",
    "ReportContent",
    "Section",
    "Table",
    "describe_scenario",
    "geo_assets_js",
    "overview_figures",
    "plotly_js",
    "portfolio_section",
    "render_html",
    "report_content",
    "stockpile_section",
    "write_report",
]
