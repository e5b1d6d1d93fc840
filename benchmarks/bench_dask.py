"""Dask scale-out against the in-process run, on the reference problem of ``bench_mc.py``.

In process: ``run_ensemble`` on two threads. On Dask: a local cluster of two worker processes with
one thread each, started by :func:`critmin.risk.dask_client` (the worker environment of
:data:`critmin.risk.WORKER_ENV`). Both after a warm-up run of a few draws (imports, the network
cache); the cluster's start-up and the workers' warm-up are timed separately. The in-process and
Dask runs alternate (``--repeat`` times each), so that both see the same background load. Prints
both times (median and each run), their ratio, the workers' system time, and whether the per-draw
results are identical. ``--dask-default-env`` starts the cluster
with Dask's default worker environment instead (``MALLOC_TRIM_THRESHOLD_=65536``), for comparison.

Run: ``.venv/bin/python benchmarks/bench_dask.py [--draws 20000] [--workers 2] [--repeat 1] [--dask-default-env]``
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import time

import numpy as np
from bench_mc import reference_problem

from critmin.risk import dask_client, run_ensemble


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--draws", type=int, default=20_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2, help="in-process threads")
    ap.add_argument("--chunk", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--dask-default-env", action="store_true")
    args = ap.parse_args()
    chain, s = reference_problem()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; cores: {os.cpu_count()}")

    t = time.perf_counter()
    if args.dask_default_env:
        from dask.distributed import Client

        client = Client(n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=":0")
    else:
        client = dask_client(args.workers)
    t_start = time.perf_counter() - t
    try:
        run_ensemble(s, chain, 10, seed=1, threads=args.threads)  # warm-up in process
        t = time.perf_counter()
        run_ensemble(s, chain, 10, seed=1, client=client)  # warm-up: imports and the network on the workers
        t_warm = time.perf_counter() - t
        local_times, dask_times = [], []
        for _ in range(args.repeat):  # interleaved, so that both see the same background load
            t = time.perf_counter()
            local = run_ensemble(s, chain, args.draws, seed=1, chunk=args.chunk, threads=args.threads)
            local_times.append(time.perf_counter() - t)
            t = time.perf_counter()
            remote = run_ensemble(s, chain, args.draws, seed=1, chunk=args.chunk, client=client)
            dask_times.append(time.perf_counter() - t)
        worker_sys = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_stime)
    finally:
        client.close()
    same = all(np.array_equal(local[v].values, remote[v].values) for v in local.data_vars)
    t_local, t_dask = statistics.median(local_times), statistics.median(dask_times)
    env = " (Dask's default worker environment)" if args.dask_default_env else ""
    print(f"in process, {args.threads} threads: {args.draws:,} draws, median {t_local:.2f} s"
          f" (runs: {', '.join(f'{x:.2f}' for x in local_times)})")  # fmt: skip
    print(f"dask, {args.workers} workers x 1 thread{env}: {args.draws:,} draws, median {t_dask:.2f} s"
          f" (runs: {', '.join(f'{x:.2f}' for x in dask_times)})")  # fmt: skip
    print(f"ratio dask / in process: {t_dask / t_local:.2f} (medians), {min(dask_times) / min(local_times):.2f} (best)")
    print(f"cluster start-up: {t_start:.2f} s; first run on the workers (10 draws): {t_warm:.2f} s")
    print(f"worker system time (warm-up and all runs): {', '.join(f'{v:.1f} s' for v in worker_sys.values())}")
    print(f"identical per-draw results: {same}")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
