"""Monte Carlo benchmark: the reference problem of the risk issue, fast vs lp in one process.

Reference problem: the built-in ``china-embargo-framework-12m`` (36 monthly steps, every simulated
material, the default region set) with uncertainty on severity (uniform 0.5-1) and duration
(triangular 3/9/18 months). Both engines run the same draws; the script checks that the per-draw
summaries agree and prints draws per second for each and their ratio (fast on one thread and on
the default threads, both in this one process), then how time and peak memory grow with the
number of draws (fast engine). The lp side keeps one HiGHS model per LP structure and changes
only costs, bounds and the demand coefficients between solves, warm-starting from the last basis.

Run: ``.venv/bin/python benchmarks/bench_mc.py [--fast-draws 2000] [--lp-draws 10] [--scale 1000 4000 16000]``
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from critmin.chain import SupplyChain
from critmin.risk import default_threads, run_ensemble
from critmin.scenario import load_scenario
from critmin.store import Store, default_db_path

UNCERTAIN = [
    {"field": "disruption[0].severity", "dist": "uniform", "low": 0.5, "high": 1.0},
    {"field": "disruption[0].months", "dist": "triangular", "low": 3, "mode": 9, "high": 18},
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fast-draws", type=int, default=2000)
    ap.add_argument("--lp-draws", type=int, default=10)
    ap.add_argument("--scale", type=int, nargs="*", default=[1000, 4000, 16000])
    args = ap.parse_args()
    store = Store(default_db_path())
    store.ensure_built()
    chain = SupplyChain.from_store(store)
    s = load_scenario("china-embargo-framework-12m").with_changes(uncertain=UNCERTAIN)
    run_ensemble(s, chain, 10, seed=1)  # warm-up: network cache, imports

    t = time.perf_counter()
    run_ensemble(s, chain, args.fast_draws, seed=1, engine="fast", threads=1)
    t_one = time.perf_counter() - t
    t = time.perf_counter()
    fast = run_ensemble(s, chain, args.fast_draws, seed=1, engine="fast")
    t_fast = time.perf_counter() - t
    t = time.perf_counter()
    lp = run_ensemble(s, chain, args.lp_draws, seed=1, engine="lp")
    t_lp = time.perf_counter() - t
    common = fast.isel(draw=slice(0, args.lp_draws))
    a, b = common["shortfall_t"].values.astype(float), lp["shortfall_t"].values.astype(float)
    scale = common["demand_t"].values.astype(float).sum(-1, keepdims=True)
    agree = bool(np.all(np.abs(a - b) <= 1e-5 * np.abs(a) + 1e-7 * scale))
    f_rate, l_rate = args.fast_draws / t_fast, args.lp_draws / t_lp
    print(f"fast, 1 thread: {args.fast_draws} draws in {t_one:.1f} s = {args.fast_draws / t_one:,.0f} draws/s")
    print(f"fast, {default_threads()} threads: {args.fast_draws} draws in {t_fast:.1f} s = {f_rate:,.0f} draws/s")
    print(f"lp:   {args.lp_draws} draws in {t_lp:.1f} s = {l_rate:,.2f} draws/s")
    print(f"fast/lp: {f_rate / l_rate:,.0f}x; per-draw shortfalls agree on the {args.lp_draws} common draws: {agree}")
    print(f"{'draws':>8s} {'seconds':>8s} {'draws/s':>8s} {'peak RSS MB':>12s}")
    for n in args.scale:
        t = time.perf_counter()
        run_ensemble(s, chain, n, seed=2, engine="fast")
        dt = time.perf_counter() - t
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{n:8d} {dt:8.1f} {n / dt:8.0f} {rss:12.0f}")


if __name__ == "__main__":
    main()
