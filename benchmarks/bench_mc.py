"""Monte Carlo benchmark: the reference problem, every engine in one process, on the same draws.

Reference problem: the built-in ``china-embargo-framework-12m`` (36 monthly steps, every simulated
material, the default region set, the market model) with uncertainty on severity (uniform 0.5-1)
and duration (triangular 3/9/18 months). The script runs

* the ``compiled`` engine (numba month loop) on 1 and 2 threads,
* the ``fast`` engine (the numpy month loop, the readable reference) on 1 and 2 threads,
* the ``lp`` engine (HiGHS, batched LPs where a solver is needed, closed forms where they exist)
  on one thread,

each ``--repeat`` times in turn (so that all see the same background load), prints draws per
second (median, and the spread over the repeats) and the ratios, and checks that the engines give
the same per-draw summaries on the draws they share. Compilation is done before timing (a warm-up
run of each engine); the first compile on a machine is timed separately by ``warm_up`` and
printed.

Run: ``.venv/bin/python benchmarks/bench_mc.py [--draws 20000] [--numpy-draws 2000] [--lp-draws 10] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from critmin.chain import SupplyChain
from critmin.engine.month_loop import warm_up
from critmin.risk import run_ensemble
from critmin.scenario import Scenario, load_scenario
from critmin.store import Store, default_db_path

UNCERTAIN = [
    {"field": "disruption[0].severity", "dist": "uniform", "low": 0.5, "high": 1.0},
    {"field": "disruption[0].months", "dist": "triangular", "low": 3, "mode": 9, "high": 18},
]


def reference_problem() -> tuple[SupplyChain, Scenario]:
    """The chain of the default store (built if needed) and the reference scenario with its
    uncertainty (what every Monte Carlo benchmark runs)."""
    store = Store(default_db_path())
    store.ensure_built()
    s = load_scenario("china-embargo-framework-12m").with_changes(uncertain=UNCERTAIN)
    return SupplyChain.from_store(store), s


def agree(a, b, rtol: float) -> bool:
    """Per-draw shortfalls agree to ``rtol`` of the draw's demand (float32 summaries)."""
    x, y = a["shortfall_t"].values.astype(float), b["shortfall_t"].values.astype(float)
    scale = a["demand_t"].values.astype(float)
    return bool(np.all(np.abs(x - y) <= rtol * scale + 1e-6))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--draws", type=int, default=20_000, help="draws of the compiled engine")
    ap.add_argument("--numpy-draws", type=int, default=2000, help="draws of the numpy (fast) engine")
    ap.add_argument("--lp-draws", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    t = time.perf_counter()
    warm_up()
    print(f"compiled engine loaded (or compiled) in {time.perf_counter() - t:.1f} s")
    chain, s = reference_problem()
    for engine in ("compiled", "fast", "lp"):
        run_ensemble(s, chain, 4, seed=1, engine=engine)  # warm-up: network cache, imports, compile

    runs = {
        ("compiled", 1): args.draws,
        ("compiled", 2): args.draws,
        ("fast", 1): args.numpy_draws,
        ("fast", 2): args.numpy_draws,
        ("lp", 1): args.lp_draws,
    }
    rates: dict[tuple[str, int], list[float]] = {k: [] for k in runs}
    last = {}
    for _ in range(args.repeat):
        for (engine, threads), n in runs.items():
            t = time.perf_counter()
            last[engine, threads] = run_ensemble(s, chain, n, seed=1, engine=engine, threads=threads)
            rates[engine, threads].append(n / (time.perf_counter() - t))

    def rate(key: tuple[str, int]) -> float:
        return statistics.median(rates[key])

    names = {"compiled": "compiled (numba)", "fast": "fast (numpy)", "lp": "lp (HiGHS)"}
    print(f"{'engine':18s} {'threads':>7s} {'draws':>7s} {'draws/s':>10s}  spread over {args.repeat} runs")
    for (engine, threads), n in runs.items():
        r = rates[engine, threads]
        print(
            f"{names[engine]:18s} {threads:7d} {n:7d} {rate((engine, threads)):10,.1f}  {min(r):,.1f} - {max(r):,.1f}"
        )
    comp, fast, lp = last["compiled", 2], last["fast", 2], last["lp", 1]
    n_np, n_lp = args.numpy_draws, args.lp_draws
    print(f"compiled / numpy, 2 threads: {rate(('compiled', 2)) / rate(('fast', 2)):,.1f}x")
    print(f"compiled 2 threads / compiled 1 thread: {rate(('compiled', 2)) / rate(('compiled', 1)):,.2f}x")
    print(f"compiled (2 threads) / lp (1 thread): {rate(('compiled', 2)) / rate(('lp', 1)):,.0f}x")
    print(f"numpy (1 thread) / lp (1 thread): {rate(('fast', 1)) / rate(('lp', 1)):,.0f}x")
    print(
        f"per-draw shortfalls agree: compiled = numpy on {n_np} draws (1e-6 of demand): "
        f"{agree(comp.isel(draw=slice(0, n_np)), fast, 1e-6)}; "
        f"compiled = lp on {n_lp} draws (1e-5 of demand): {agree(comp.isel(draw=slice(0, n_lp)), lp, 1e-5)}"
    )


if __name__ == "__main__":
    main()
