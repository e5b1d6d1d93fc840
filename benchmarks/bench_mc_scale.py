"""Monte Carlo scaling: one number of draws per process, so that peak memory is that run's alone.

Run: ``for n in 1000 10000 100000 1000000; do .venv/bin/python benchmarks/bench_mc_scale.py $n; done``
(an optional second argument names the engine: ``compiled``, the default, or ``fast``).
Prints draws, seconds (the ensemble and its risk metrics, timed together, after a warm-up run),
draws per second, peak RSS, the bytes per draw of the result (the per-draw summaries: 18 bytes per
(material, region) pair and 4 per material) and one metric with its standard error.
"""

from __future__ import annotations

import resource
import sys
import time

from bench_mc import reference_problem

from critmin.risk import metrics_table, risk_metrics, run_ensemble


def main() -> None:
    n = int(sys.argv[1])
    engine = sys.argv[2] if len(sys.argv) > 2 else "compiled"
    chain, s = reference_problem()
    run_ensemble(s, chain, 4, seed=2, engine=engine)  # warm-up: imports, network cache, compiled code
    t = time.perf_counter()
    ens = run_ensemble(s, chain, n, seed=2, chunk=2000, engine=engine)
    m = metrics_table(risk_metrics(ens)).iloc[0]
    dt = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    per_draw = sum(ens[v].nbytes for v in ens.data_vars) / ens.draws
    print(
        f"{n:9d} draws {dt:8.1f} s {n / dt:7.0f} draws/s peak RSS {rss:6.0f} MB, {per_draw:.0f} B/draw; "
        f"{m.material} {m.region} expected shortfall {m.expected_shortfall_t:.3f}"
        f" +- {m.stderr_expected_shortfall_t:.3f}"
    )


if __name__ == "__main__":
    main()
