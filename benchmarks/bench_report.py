"""Report benchmark: the flagship's report (``apr2025-heavy-ree``), step by step, and a report with
an ensemble section.

Prints the wall time of each step (the two deterministic runs, each section's figures, the
hindcast, the HTML page) and the page's size; then the same for
``examples/heavy-ree-licensing-risk.toml`` with ``--draws`` draws (compiled engine, monthly series
kept for the fan charts).

Run: ``.venv/bin/python benchmarks/bench_report.py [--draws 1000]``
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from critmin.engine.month_loop import warm_up
from critmin.jobs import load_chain, open_store, run_job
from critmin.report import render_html, report_content
from critmin.report.content import _baseline
from critmin.scenario import load_scenario

T = TypeVar("T")
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "heavy-ree-licensing-risk.toml"


def _timed(label: str, fn: Callable[[], T]) -> T:
    t = time.perf_counter()
    out = fn()
    print(f"{label:<52} {time.perf_counter() - t:7.2f} s")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--draws", type=int, default=1000)
    args = ap.parse_args()
    warm_up()
    store = open_store()
    chain = _timed("load the chain", lambda: load_chain(store))
    s = load_scenario("apr2025-heavy-ree")
    _timed("run apr2025-heavy-ree (fast engine)", lambda: run_job(s, chain))
    _timed("run its undisturbed baseline", lambda: run_job(_baseline(s), chain))
    content = _timed("report content, apr2025-heavy-ree (all sections)", lambda: report_content(s, chain, store))
    page = _timed("render the page", lambda: render_html(content))
    print(f"{'page size':<52} {len(page.encode()) / 1e6:7.2f} MB ({len(content.figures())} figures)")
    ex = load_scenario(str(EXAMPLE))
    content = _timed(
        f"report content, {EXAMPLE.stem}, {args.draws:,} draws",
        lambda: report_content(ex, chain, store, draws=args.draws, seed=1),
    )
    page = _timed("render the page", lambda: render_html(content))
    print(f"{'page size':<52} {len(page.encode()) / 1e6:7.2f} MB ({len(content.figures())} figures)")


if __name__ == "__main__":
    main()
