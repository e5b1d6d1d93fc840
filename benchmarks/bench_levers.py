"""Levers benchmark: the README's stockpile example, step by step, and the price floor.

Stockpile: ``examples/heavy-ree-licensing-risk.toml`` (24 months, uncertain approval share,
duration and processing time of a heavy-rare-earth licensing squeeze), holders USA and JPN,
materials Dy, Tb and NdFeB, target ``defence_p_shortfall<=0.05`` (tolerance 1 %), both regimes.
Prints the wall time of each step (in-sample ensembles, each solve with its size, binaries and
MIP gap, each out-of-sample check, the loss and benchmark runs) and the total. Price floor: the
DoD–MP terms (110 USD/kg, 10 years, 30 % upside) on 1,300 t/yr, 10,000 and 100,000 price paths.

Run: ``.venv/bin/python benchmarks/bench_levers.py [--draws 200] [--verify-draws 2000]``
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

from critmin.chain import SupplyChain
from critmin.engine.month_loop import warm_up
from critmin.jobs import open_store, resolve_scenario
from critmin.levers.price_floor import price_floor
from critmin.levers.stockpile import StockpileOptions, optimize_stockpile

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "heavy-ree-licensing-risk.toml"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--draws", type=int, default=200)
    ap.add_argument("--verify-draws", type=int, default=2000)
    args = ap.parse_args()
    warm_up()
    chain = SupplyChain.from_store(open_store())
    scenario = resolve_scenario(EXAMPLE, chain.blocs)
    opts = StockpileOptions(
        ("USA", "JPN"), ("Dy", "Tb", "NdFeB"), ("defence_p_shortfall<=0.05",), regime="both", draws=args.draws,
        seed=1, verify_draws=args.verify_draws, tolerance=0.01, time_limit_s=60.0,
    )  # fmt: skip
    t0 = time.perf_counter()
    marks: list[tuple[float, str]] = []
    out = optimize_stockpile(scenario, chain, opts, progress=lambda msg: marks.append((time.perf_counter(), msg)))
    total = time.perf_counter() - t0
    marks.append((t0 + total, "done"))
    print(f"stockpile optimisation, {args.draws} in-sample draws, {args.verify_draws} out-of-sample draws")
    for (t_a, msg), (t_b, _) in itertools.pairwise(marks):
        print(f"  {t_b - t_a:7.1f} s  {msg}")
    print(f"  {total:7.1f} s  total")
    for r in out.results:
        for s in r.solver:
            print(f"  {r.regime} round {s['round']}: {s['variables']:,} variables, {s['binaries']:,} binaries, "
                  f"{s['constraints']:,} constraints, {s['seconds']:.1f} s, status {s['status']}, MIP gap "
                  f"{s['mip_gap'] if s['mip_gap'] is not None else '-'}")  # fmt: skip
        print(f"  {r.regime}: total cost ${r.total_cost_usd:,.0f}, met {r.met}, rounds {r.rounds} ({r.stopped})")
    for paths in (10_000, 100_000):
        t = time.perf_counter()
        res = price_floor("NdPr", 110, 1300, 10, upside_share=0.3, draws=paths, seed=0)
        print(f"price floor, {paths:,} paths x 120 months: {time.perf_counter() - t:.2f} s, "
              f"expected cost ${res.expected_cost_usd:,.0f} ± {res.expected_cost_stderr_usd:,.0f}")  # fmt: skip


if __name__ == "__main__":
    main()
