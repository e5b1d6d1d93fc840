"""The ``lp`` engine against the ``fast`` one on the reference problem of ``bench_mc.py``, in one process.

Reference problem: the built-in ``china-embargo-framework-12m`` with the uncertainty of
``bench_mc.UNCERTAIN``. Runs ``run_ensemble`` on one thread (a chunk of all the draws, so each
kernel call batches every draw's rows) for: the ``fast`` engine; the ``lp`` engine with HiGHS
presolve off and on (:data:`critmin.engine.lp._PRESOLVE`); and, if a copy of the earlier lp module
(one LP per row, two LPs per row for the sales range, one LP per priority class) exists at
``--old`` (default ``/tmp/lp_old.py``), that module's kernels in place of the ``lp`` engine's. Every
lp run is checked against the fast run on the same draws (per-draw shortfalls, demand and price
peaks; see ``_agree``). Prints draws/s of each and the fast/lp ratios: fast timings are the best of
``--repeat`` runs, lp timings the median of ``--repeat`` (presolve off and on interleaved, so that
both see the same background load); the earlier module runs once.

Run: ``.venv/bin/python benchmarks/bench_lp.py [--draws 20] [--old-draws 5] [--fast-draws 400] [--repeat 5]``
(``--old PATH`` for another copy of the earlier module).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
from bench_mc import reference_problem

from critmin.chain import SupplyChain
from critmin.engine import lp
from critmin.risk import default_threads, run_ensemble

# the module, not the function that critmin.engine re-exports under the same name
sim = importlib.import_module("critmin.engine.simulate")


def _load_old(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location("lp_old", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _agree(fast: Any, other: Any) -> bool:
    """Per draw and pair, shortfall, defence shortfall and demand within ``1e-6`` relative plus
    ``1e-7`` of the pair's demand (the results are float32); the price peaks within ``1e-6``."""
    common = fast.isel(draw=slice(0, other.sizes["draw"]))
    scale = common["demand_t"].values.astype(float)
    ok = True
    for v in ("shortfall_t", "defence_shortfall_t", "demand_t"):
        a, b = common[v].values.astype(float), other[v].values.astype(float)
        ok &= bool(np.all(np.abs(a - b) <= 1e-6 * np.abs(a) + 1e-7 * scale))
    a, b = common["peak_price_index"].values.astype(float), other["peak_price_index"].values.astype(float)
    return ok and bool(np.all(np.abs(a - b) <= 1e-6 * np.abs(a)))


def _timed(s: Any, chain: SupplyChain, draws: int, engine: str, threads: int = 1) -> tuple[float, Any]:
    t = time.perf_counter()
    out = run_ensemble(s, chain, draws, seed=1, engine=engine, threads=threads)
    return time.perf_counter() - t, out


def _rate(times: list[float], draws: int) -> str:
    return f"{draws / statistics.median(times):8.2f} draws/s (median of {len(times)}; best {draws / min(times):.2f})"


def _fresh_highs(presolve: str) -> None:
    """Use ``presolve`` from now on (this thread's kept HiGHS instance is rebuilt)."""
    lp._PRESOLVE = presolve
    lp._LOCAL.__dict__.pop("model", None)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--draws", type=int, default=20, help="draws of each lp run")
    ap.add_argument("--old-draws", type=int, default=5, help="draws of the earlier lp module's run")
    ap.add_argument("--fast-draws", type=int, default=400)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--old", type=Path, default=Path("/tmp/lp_old.py"))
    args = ap.parse_args()
    chain, s = reference_problem()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; cores: {os.cpu_count()}")
    run_ensemble(s, chain, 10, seed=1, engine="fast")  # warm-up: network cache, imports
    run_ensemble(s, chain, 2, seed=1, engine="lp", threads=1)

    n = args.fast_draws
    f_one = n / min(_timed(s, chain, n, "fast")[0] for _ in range(args.repeat))
    f_def = n / min(_timed(s, chain, n, "fast", default_threads("fast"))[0] for _ in range(args.repeat))
    runs = [_timed(s, chain, args.draws, "fast") for _ in range(args.repeat)]
    f_same, fast = args.draws / min(t for t, _ in runs), runs[0][1]
    print(f"fast, 1 thread:  {f_one:8,.0f} draws/s ({n} draws); {f_same:,.0f} draws/s on the lp's {args.draws} draws")
    print(f"fast, {default_threads('fast')} threads: {f_def:8,.0f} draws/s ({n} draws)")
    # presolve off and on, interleaved so that both see the same background load
    default = lp._PRESOLVE
    times: dict[str, list[float]] = {"off": [], "on": []}
    agree = {}
    for _ in range(args.repeat):
        for presolve in times:
            _fresh_highs(presolve)
            dt, res = _timed(s, chain, args.draws, "lp")
            times[presolve].append(dt)
            agree[presolve] = _agree(fast, res)
    for presolve, ts in times.items():
        print(
            f"lp, presolve {presolve:3s}: {_rate(ts, args.draws)} ({args.draws} draws, 1 thread); "
            f"agrees: {agree[presolve]}"
        )
    _fresh_highs(default)
    l_rate = args.draws / statistics.median(times[default])
    print(
        f"fast/lp (presolve {default}, medians): {f_one / l_rate:,.0f}x fast on 1 thread, {f_def / l_rate:,.0f}x fast "
        f"on {default_threads('fast')} threads, {f_same / l_rate:,.0f}x on the same {args.draws} draws"
    )
    if args.old.exists():
        old = _load_old(args.old)
        kept = sim.ENGINES["lp"]
        sim.ENGINES["lp"] = sim.Kernels(old.clear_market_lp, old.restricted_sales_lp, old.priority_fill_lp)
        try:
            t_old, res = _timed(s, chain, args.old_draws, "lp")
        finally:
            sim.ENGINES["lp"] = kept
        o_rate = args.old_draws / t_old
        print(
            f"earlier lp ({args.old}): {o_rate:8.2f} draws/s ({args.old_draws} draws, 1 thread); "
            f"agrees: {_agree(fast, res)}"
        )
        t_new = [_timed(s, chain, args.old_draws, "lp")[0] for _ in range(args.repeat)]
        n_rate = args.old_draws / statistics.median(t_new)
        print(
            f"lp on the same {args.old_draws} draws: {_rate(t_new, args.old_draws)} "
            f"= {n_rate / o_rate:,.1f}x the earlier lp"
        )
        print(f"fast/earlier lp: {f_one / o_rate:,.0f}x fast on 1 thread, {f_def / o_rate:,.0f}x fast threaded")


if __name__ == "__main__":
    main()
