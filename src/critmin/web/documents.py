"""The JSON the dashboard's API returns for what the library computes: figures, tables, report
content, job results. Plain JSON only (NaN and infinities as null, numpy scalars unwrapped).

A figure is ``{"key", "caption", "figure": {"data", "layout"}}`` (drawn with
``Plotly.newPlot(div, figure.data, figure.layout, config)``); a table is ``{"key", "caption",
"columns", "rows", "total_rows"}`` with at most :data:`MAX_ROWS` rows (the rest counted).

>>> import pandas as pd
>>> table_doc("t", "A table", pd.DataFrame({"x": [1.5, float("inf")]}))["rows"]
[{'x': 1.5}, {'x': None}]
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from critmin.report import Figure, ReportContent, Table
from critmin.tabular import plain, records

#: the most rows of a table sent to the page
MAX_ROWS = 500


def plotly_doc(fig: Any) -> dict[str, Any]:
    """A plotly figure as ``{"data", "layout"}`` (plotly's own encoder; NaN as null)."""
    doc = json.loads(fig.to_json())
    return {"data": plain(doc.get("data", [])), "layout": plain(doc.get("layout", {}))}


def figure_doc(f: Figure) -> dict[str, Any]:
    """A report figure for the page."""
    return {"key": f.key, "caption": f.caption, "figure": plotly_doc(f.figure)}


def table_doc(key: str, caption: str, frame: pd.DataFrame, max_rows: int = MAX_ROWS) -> dict[str, Any]:
    """A table for the page: its columns and its first ``max_rows`` rows as plain records."""
    return {
        "key": key,
        "caption": caption,
        "columns": [str(c) for c in frame.columns],
        "rows": records(frame.head(max_rows)),
        "total_rows": len(frame),
    }


def report_table_doc(t: Table) -> dict[str, Any]:
    """A report table for the page."""
    return table_doc(t.key, t.caption, t.frame)


def content_doc(content: ReportContent) -> dict[str, Any]:
    """A report's content (:func:`critmin.report.report_content`) for the page: its sections with
    their paragraphs, figures and tables, in order."""
    return {
        "title": content.title,
        "subtitle": content.subtitle,
        "run_ids": list(content.run_ids),
        "sections": [
            {
                "key": s.key,
                "heading": s.heading,
                "paragraphs": list(s.paragraphs),
                "figures": [figure_doc(f) for f in s.figures],
                "tables": [report_table_doc(t) for t in s.tables],
            }
            for s in content.sections
        ],
    }
