"""Monte Carlo risk ensembles: sample a scenario's ``[[uncertain]]`` fields, run the batched
engine chunk by chunk, keep per-draw summaries, and compute risk metrics with standard errors.

Sampling lives in :mod:`critmin.sampling` (draw ``k`` has its own seed stream, so results do not
depend on chunks, threads or workers).
"""

from __future__ import annotations

import math
import os
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from critmin import __version__
from critmin.chain import SupplyChain
from critmin.engine import build_network, compile_scenario
from critmin.engine.compiled import CompiledScenario, with_mode
from critmin.engine.network import Network
from critmin.engine.simulate import simulate
from critmin.errors import UserError
from critmin.sampling import apply_draws, sample
from critmin.scenario import Scenario

Array = NDArray[np.float64]


@dataclass(frozen=True)
class Ensemble:
    """Per-draw summaries of a Monte Carlo run, for the (material, region) pairs with demand:
    arrays (N, pair) in float32 (18 bytes per draw and pair), and the price peak (N, material)."""

    materials: tuple[str, ...]
    regions: tuple[str, ...]
    pairs: tuple[tuple[str, str], ...]
    months: int
    demand: NDArray[np.float32]
    shortfall: NDArray[np.float32]
    defence_demand: NDArray[np.float32]
    defence_shortfall: NDArray[np.float32]
    first_short: NDArray[np.int16]  # months from the start to the first shortfall, -1 if none
    peak_price: NDArray[np.float32]  # (N, material)

    @property
    def draws(self) -> int:
        return int(self.shortfall.shape[0])

    def pair(self, material: str, region: str) -> int:
        """Column of a (material, region) pair in the arrays."""
        return self.pairs.index((material, region))

    def to_frame(self, first: int = 0, count: int | None = None) -> pd.DataFrame:
        """Tidy per-draw table (draws ``first .. first + count - 1``): draw, material, region and
        the summaries."""
        stop = self.draws if count is None else min(self.draws, first + count)
        n, p = stop - first, len(self.pairs)
        mats = pd.Categorical([m for m, _ in self.pairs], categories=list(self.materials))
        regs = pd.Categorical([r for _, r in self.pairs], categories=list(self.regions))
        mat_idx = np.array([self.materials.index(m) for m, _ in self.pairs])
        sl = slice(first, stop)
        return pd.DataFrame(
            {
                "draw": np.repeat(np.arange(first, stop, dtype=np.int64), p),
                "material": pd.Categorical.from_codes(np.tile(mats.codes, n), categories=mats.categories),
                "region": pd.Categorical.from_codes(np.tile(regs.codes, n), categories=regs.categories),
                "demand_t": self.demand[sl].reshape(-1),
                "shortfall_t": self.shortfall[sl].reshape(-1),
                "defence_demand_t": self.defence_demand[sl].reshape(-1),
                "defence_shortfall_t": self.defence_shortfall[sl].reshape(-1),
                "first_short_month": self.first_short[sl].reshape(-1),
                "peak_price_index": self.peak_price[sl][:, mat_idx].reshape(-1),
            }
        )

    def write_parquet(self, path: Any, rows_per_piece: int = 2_000_000) -> None:
        """Write the per-draw table to Parquet in pieces (memory stays bounded)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        step = max(rows_per_piece // max(len(self.pairs), 1), 1)
        writer = None
        try:
            for first in range(0, self.draws, step):
                table = pa.Table.from_pandas(self.to_frame(first, step), preserve_index=False)
                if writer is None:
                    writer = pq.ParquetWriter(str(path), table.schema)
                writer.write_table(table)
        finally:
            if writer is not None:
                writer.close()


def _pair_mask(net: Network) -> NDArray[np.bool_]:
    """(material, region) pairs with base-year demand, in network order."""
    return np.concatenate([g.demand0.sum(-1) > 0 for g in net.groups], axis=0)


def _summaries(net: Network, lv: CompiledScenario, engine: str) -> tuple[Array, ...]:
    groups = simulate(net, lv, engine, full=False)
    dem = np.concatenate([g.summary.demand for g in groups], axis=1)
    dlv = np.concatenate([g.summary.delivered for g in groups], axis=1)
    ddem = np.concatenate([g.summary.defence_demand for g in groups], axis=1)
    ddel = np.concatenate([g.summary.defence_delivered for g in groups], axis=1)
    first = np.concatenate([g.summary.first_short for g in groups], axis=1)
    peak = np.concatenate([g.summary.peak_price for g in groups], axis=1)
    short = np.maximum(dem - dlv, 0.0)
    dshort = np.maximum(ddem - ddel, 0.0)
    return dem, short, ddem, dshort, first, peak


_NETWORKS: list[tuple[SupplyChain, tuple[str, ...], Network]] = []


def _network(chain: SupplyChain, regions: tuple[str, ...]) -> Network:
    """The network of a chain on a region set, built once per process (chains are immutable)."""
    for c, r, net in _NETWORKS:
        if c is chain and r == regions:
            return net
    net = build_network(chain, regions)
    _NETWORKS.insert(0, (chain, regions, net))
    del _NETWORKS[2:]
    return net


def run_chunk(
    chain: SupplyChain, scenario: Scenario, first: int, count: int, engine: str, mode: str | None
) -> tuple[Array, ...]:
    """Draws ``first .. first + count - 1``: sample, build the batch, run, summarise (a pure
    function of its arguments: what a Dask worker runs)."""
    net = _network(chain, scenario.regions)
    base = compile_scenario(scenario, net, chain.blocs)
    if mode is not None:
        base = with_mode(base, mode)
    lv = apply_draws(base, scenario, sample(scenario, first, count))
    dem, short, ddem, dshort, first_short, peak = _summaries(net, lv, engine)
    mask = _pair_mask(net)
    return (
        dem[:, mask].astype(np.float32),
        short[:, mask].astype(np.float32),
        ddem[:, mask].astype(np.float32),
        dshort[:, mask].astype(np.float32),
        first_short[:, mask].astype(np.int16),
        peak.astype(np.float32),
    )


#: in-process threads used by default (beyond two, the GIL-held Python part of each month dominates)
MAX_THREADS = 2


def default_threads() -> int:
    """Threads for an in-process run: the cores this process may use, at most :data:`MAX_THREADS`."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_THREADS))


def chunks(draws: int, chunk: int) -> Iterator[tuple[int, int]]:
    """(first, count) pairs covering ``draws`` in pieces of ``chunk``."""
    for first in range(0, draws, chunk):
        yield first, min(chunk, draws - first)


def run_ensemble(
    scenario: Scenario,
    chain: SupplyChain,
    draws: int,
    seed: int | None = None,
    engine: str = "fast",
    mode: str | None = None,
    chunk: int = 2000,
    progress: Callable[[int], None] | None = None,
    client: Any = None,
    target_stderr: float | None = None,
    threads: int | None = None,
) -> Ensemble:
    """Run ``draws`` Monte Carlo draws (the scenario's own seed unless ``seed`` is given).

    ``client`` is a ``dask.distributed.Client``: chunks are then computed on its workers (results
    are identical to the in-process run). ``target_stderr`` stops an in-process run early (not a
    Dask one), at a chunk boundary, once the relative standard error of the world expected
    shortfall is below it. In process, chunks
    run on ``threads`` threads (default: the cores this process may use, at most
    :data:`MAX_THREADS`); numpy releases the GIL inside its array operations, and each chunk is a
    pure function of its draws, so results do not depend on the thread count.
    """
    if draws < 1:
        raise UserError(f"--draws must be at least 1 (got {draws})")
    if chunk < 1:
        raise UserError(f"chunk must be at least 1 (got {chunk})")
    if seed is not None:
        scenario = scenario.with_changes(seed=seed)
    net = _network(chain, scenario.regions)
    mask = _pair_mask(net)
    materials = net.materials
    pairs = tuple((materials[m], net.regions[r]) for m, r in zip(*np.nonzero(mask), strict=True))
    p = len(pairs)
    # preallocated: memory is the per-draw summaries plus one chunk
    arrays = [np.zeros((draws, p), np.float32) for _ in range(4)]
    first_short = np.full((draws, p), -1, np.int16)
    peak = np.ones((draws, len(materials)), np.float32)
    done = 0

    def keep(first: int, res: tuple[NDArray[Any], ...]) -> None:
        nonlocal done
        c = res[0].shape[0]
        for arr, part in zip(arrays, res[:4], strict=True):
            arr[first : first + c] = part
        first_short[first : first + c] = res[4]
        peak[first : first + c] = res[5]
        done = max(done, first + c)
        if progress:
            progress(c)

    pieces = list(chunks(draws, chunk))
    if client is not None:
        futures = [client.submit(run_chunk, chain, scenario, f, c, engine, mode, pure=False) for f, c in pieces]
        for (f, _), fut in zip(pieces, futures, strict=True):
            keep(f, fut.result())
    else:
        n_threads = max(1, min(threads if threads is not None else default_threads(), len(pieces)))
        results = _in_order(pieces, n_threads, lambda f, c: run_chunk(chain, scenario, f, c, engine, mode))
        for f, res in results:
            keep(f, res)
            if target_stderr is not None and _converged(arrays[1][:done], target_stderr):
                results.close()  # cancels the chunks still queued
                break
    return Ensemble(
        materials=materials,
        regions=net.regions,
        pairs=pairs,
        months=scenario.months,
        demand=arrays[0][:done],
        shortfall=arrays[1][:done],
        defence_demand=arrays[2][:done],
        defence_shortfall=arrays[3][:done],
        first_short=first_short[:done],
        peak_price=peak[:done],
    )


def _in_order(
    pieces: list[tuple[int, int]], n_threads: int, job: Callable[[int, int], tuple[Array, ...]]
) -> Generator[tuple[int, tuple[Array, ...]], None, None]:
    """``(first, job(first, count))`` for each piece, in order. With several threads at most
    ``n_threads`` pieces are in flight, so memory stays one chunk per thread and an early stop
    falls on the same chunk boundary whatever the thread count."""
    if n_threads == 1:
        for f, c in pieces:
            yield f, job(f, c)
        return
    with ThreadPoolExecutor(n_threads) as pool:
        window: deque[tuple[int, Future[tuple[Array, ...]]]] = deque()
        try:
            for f, c in pieces:
                window.append((f, pool.submit(job, f, c)))
                if len(window) == n_threads:
                    first, fut = window.popleft()
                    yield first, fut.result()
            while window:
                first, fut = window.popleft()
                yield first, fut.result()
        finally:
            for _, fut in window:
                fut.cancel()


def _converged(shortfall: NDArray[np.float32], target: float) -> bool:
    short = shortfall.astype(float).sum(-1)
    n = short.size
    if n < 100 or short.mean() <= 0:
        return False
    return bool(short.std(ddof=1) / math.sqrt(n) / short.mean() < target)


def risk_metrics(
    ens: Ensemble, alpha: float = 0.95, threshold_share: float = 0.05, sector: str | None = None
) -> pd.DataFrame:
    """Risk metrics per material x region, each with its Monte Carlo standard error.

    ``sector="defence"`` uses the defence demand alone. Columns: expected shortfall (t and share of
    expected demand), probability of any shortfall and of a shortfall above ``threshold_share`` of
    demand, VaR and CVaR at ``alpha`` (t), months to the first shortfall (median and 10th/90th
    percentile among draws that run short), expected price peak, and standard errors.
    """
    if not 0 < alpha < 1:
        raise UserError(f"alpha must be between 0 and 1 (got {alpha})")
    short = ens.defence_shortfall if sector == "defence" else ens.shortfall
    dem = ens.defence_demand if sector == "defence" else ens.demand
    n = ens.draws
    rows = []
    for pi, (mat, reg) in enumerate(ens.pairs):
        mi = ens.materials.index(mat)
        d = dem[:, pi].astype(float)
        if d.max() <= 0:
            continue
        x = short[:, pi].astype(float)
        tol = 1e-9 * d
        hit = x > tol
        over = x > threshold_share * d
        mean = float(x.mean())
        sd = float(x.std(ddof=1)) if n > 1 else 0.0
        var = float(np.quantile(x, alpha, method="higher"))
        tail = x[x >= var]
        cvar = float(tail.mean())
        tail_sd = float(tail.std(ddof=1)) if tail.size > 1 else 0.0
        p = float(hit.mean())
        p_over = float(over.mean())
        fs = ens.first_short[:, pi][hit].astype(float)
        rows.append(
            {
                "material": mat,
                "region": reg,
                "sector": sector or "all",
                "draws": n,
                "expected_demand_t": float(d.mean()),
                "expected_shortfall_t": mean,
                "stderr_expected_shortfall_t": sd / math.sqrt(n),
                "expected_shortfall_share": mean / float(d.mean()),
                "p_shortfall": p,
                "stderr_p_shortfall": math.sqrt(p * (1 - p) / n),
                f"p_shortfall_above_{threshold_share:g}": p_over,
                f"var{alpha * 100:g}_t": var,
                f"cvar{alpha * 100:g}_t": cvar,
                f"stderr_cvar{alpha * 100:g}_t": tail_sd / math.sqrt(max(tail.size, 1)),
                "first_short_month_p10": float(np.quantile(fs, 0.1)) if fs.size else math.nan,
                "first_short_month_p50": float(np.quantile(fs, 0.5)) if fs.size else math.nan,
                "first_short_month_p90": float(np.quantile(fs, 0.9)) if fs.size else math.nan,
                "expected_peak_price_index": float(ens.peak_price[:, mi].mean()),
                "stderr_peak_price_index": float(ens.peak_price[:, mi].std(ddof=1)) / math.sqrt(n) if n > 1 else 0.0,
            }
        )
    df = pd.DataFrame(rows)
    return df.sort_values(["expected_shortfall_t", "material", "region"], ascending=[False, True, True]).reset_index(
        drop=True
    )


def convergence(ens: Ensemble, points: int = 6) -> pd.DataFrame:
    """World expected shortfall and its standard error after 1/2^k of the draws (k = points-1..0)."""
    total = ens.shortfall.astype(float).sum(-1)
    rows = []
    for k in range(points - 1, -1, -1):
        n = max(ens.draws >> k, 1)
        x = total[:n]
        rows.append(
            {
                "draws": n,
                "expected_world_shortfall_t": float(x.mean()),
                "stderr_t": float(x.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan,
            }
        )
    return pd.DataFrame(rows).drop_duplicates("draws").reset_index(drop=True)


def mc_metadata(scenario: Scenario, ens: Ensemble, seed: int, engine: str, seconds: float) -> dict[str, Any]:
    return {
        "scenario": scenario.name,
        "scenario_sha256": scenario.digest(),
        "draws": ens.draws,
        "seed": seed,
        "engine": engine,
        "critmin_version": __version__,
        "seconds": round(seconds, 3),
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
