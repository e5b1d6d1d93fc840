"""Benchmark: building the store from the shipped data, and computing every metric.

Run: ``.venv/bin/python benchmarks/bench_foundation.py [--repeat N]``. Prints wall-clock figures
(median of N runs); nothing is asserted, the README records the latest figures.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import critmin


def _time(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = critmin.Store(Path(tmp) / "bench.duckdb")
        t_build = _time(store.build, args.repeat)
        t_load = _time(lambda: critmin.SupplyChain.from_store(store), args.repeat)
        chain = critmin.SupplyChain.from_store(store)
        t_all = _time(lambda: critmin.metrics.concentration(chain), args.repeat)
        n = len(critmin.metrics.concentration(chain))
        t_one = _time(lambda: critmin.metrics.concentration(chain, material="rare_earths", year=2024), args.repeat)
    print(f"store build (all tables, validated):         {t_build * 1000:8.0f} ms")
    print(f"SupplyChain.from_store:                        {t_load * 1000:8.0f} ms")
    print(f"metrics.concentration, all {n} groups:         {t_all * 1000:8.0f} ms")
    print(f"metrics.concentration, rare_earths 2024:       {t_one * 1000:8.0f} ms")


if __name__ == "__main__":
    main()
