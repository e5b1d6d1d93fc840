"""The criticality matrix: supply risk against economic importance, thresholds drawn.

A plotly figure (the report embeds it; ``critmin criticality --figure FILE.html`` writes it as a
self-contained page with plotly.js inlined, no CDN).

>>> fig = matrix_figure([{"material": "Dy", "method": "eu", "perspective": "EU", "sr": 6.2, "ei": 10.0,
...                        "critical": True}], sr_threshold=1.0, ei_threshold=2.8)
>>> len(fig.data)
1
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from critmin.criticality import result_rows
from critmin.outputs import atomic_write_text


def matrix_figure(
    results: pd.DataFrame | Sequence[dict[str, Any]], sr_threshold: float, ei_threshold: float | None
) -> go.Figure:
    """Scatter of an assessment (EI on x, SR on y) with the threshold lines; rows without EI are
    left out."""
    pts = [r for r in result_rows(results) if r.get("ei") is not None and r["ei"] == r["ei"]]
    method = pts[0]["method"] if pts else ""
    persps = list(dict.fromkeys(r["perspective"] for r in pts))
    persp = ", ".join(persps)
    label = [r["material"] if len(persps) == 1 else f"{r['material']} ({r['perspective']})" for r in pts]
    fig = go.Figure(
        go.Scatter(
            x=[r["ei"] for r in pts],
            y=[r["sr"] for r in pts],
            mode="markers+text",
            text=label,
            textposition="top center",
            marker={"size": 11, "color": ["#c0392b" if r["critical"] else "#2e86c1" for r in pts]},
            customdata=[r.get("bottleneck_stage") or "" for r in pts],
            hovertemplate="%{text}: SR %{y:.2f}, EI %{x:.2f}, bottleneck %{customdata}<extra></extra>",
        )
    )
    fig.add_hline(y=sr_threshold, line_dash="dash", annotation_text=f"SR = {sr_threshold:g}")
    if ei_threshold is not None:
        fig.add_vline(x=ei_threshold, line_dash="dash", annotation_text=f"EI = {ei_threshold:g}")
    fig.update_layout(
        title=f"Criticality matrix ({method} method, perspective {persp}); red = critical",
        xaxis_title="economic importance (EI)",
        yaxis_title="supply risk (SR, bottleneck stage)",
        template="plotly_white",
    )
    return fig


def write_figure(fig: go.Figure, path: str | Path, protect: Sequence[str | Path] = ()) -> None:
    """Write a self-contained HTML page (plotly.js inlined: works offline), all or nothing, never
    over a database (nor over one of ``protect``)."""
    atomic_write_text(path, fig.to_html(include_plotlyjs=True, full_html=True), protect)
