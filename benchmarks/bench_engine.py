"""Disruption-engine benchmark: one run of each built-in scenario with the fast (numpy), compiled
(numba, after its warm-up) and lp engines, and the fast engine's throughput on a batch of variants
(all in one process).

Run: ``.venv/bin/python benchmarks/bench_engine.py [--batch 2000]``. Prints seconds per run, the
lp/fast ratio, and batched variants per second; checks that the batch reproduces the single run.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from critmin.chain import SupplyChain
from critmin.engine import build_network, compile_scenario, simulate
from critmin.engine.compiled import replicate, with_mode
from critmin.engine.month_loop import warm_up
from critmin.scenario import builtin_names, load_scenario
from critmin.store import Store, default_db_path


def _time(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=2000)
    args = ap.parse_args()
    store = Store(default_db_path())
    store.ensure_built()
    chain = SupplyChain.from_store(store)
    warm_up()
    head = f"{'scenario':30s} {'mode':12s} {'months':>6s} {'fast s':>8s} {'compiled s':>10s} {'lp s':>8s}"
    print(f"{head} {'lp/fast':>8s}")
    for name in builtin_names():
        s = load_scenario(name)
        net = build_network(chain, s.regions)
        for mode in ("market", "coordinated"):
            lv = with_mode(compile_scenario(s, net, chain.blocs), mode)
            tf = _time(lambda lv=lv, net=net: simulate(net, lv, "fast"))
            tc = _time(lambda lv=lv, net=net: simulate(net, lv, "compiled"))
            tl = _time(lambda lv=lv, net=net: simulate(net, lv, "lp"), repeat=1)
            print(f"{name:30s} {mode:12s} {s.months:6d} {tf:8.3f} {tc:10.4f} {tl:8.3f} {tl / tf:8.1f}")
    s = load_scenario("china-embargo-framework-12m")
    net = build_network(chain, s.regions)
    lv = compile_scenario(s, net, chain.blocs)
    single = simulate(net, lv, "fast")
    batch = replicate(lv, args.batch)
    t = _time(lambda: simulate(net, batch, "fast"), repeat=1)
    res = simulate(net, batch, "fast")
    same = all(
        np.allclose(r.delivered[-1], s1.delivered[0], rtol=1e-12, atol=0) for r, s1 in zip(res, single, strict=True)
    )
    print(
        f"fast batch: {args.batch} variants of china-embargo-framework-12m ({s.months} months, "
        f"{len(net.materials)} materials, {len(net.regions)} regions) in {t:.2f} s = "
        f"{args.batch / t:,.0f} variants/s; last variant equals the single run: {same}"
    )


if __name__ == "__main__":
    main()
