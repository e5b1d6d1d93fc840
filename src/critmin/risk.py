"""Monte Carlo risk ensembles: sample a scenario's ``[[uncertain]]`` fields, run the batched
engine chunk by chunk (in threads or on Dask workers), keep per-draw summaries in a labelled
:class:`Ensemble` (an ``xarray.Dataset``), and compute risk metrics with standard errors.

Sampling lives in :mod:`critmin.sampling` (draw ``k`` is a pure function of the seed and ``k``, from
a counter-based generator, so results do not depend on chunks, threads or workers). Chunks run the
``compiled`` engine by default (:mod:`critmin.engine.month_loop`, which releases the GIL, so two
threads use two cores). The layout of the result, its memory per draw and the
metrics are written out in ``docs/risk.md``.

Example
-------
Metrics of a hand-made ensemble of four draws (a real one comes from :func:`run_ensemble`):

>>> import numpy as np
>>> ens = Ensemble.from_arrays(
...     pairs=[("Nd", "JPN"), ("Nd", "USA")], price_materials=["Nd"],
...     demand_t=np.full((4, 2), 100.0), shortfall_t=np.array([[0, 0], [10, 5], [20, 0], [30, 5]]),
...     defence_demand_t=np.full((4, 2), 5.0), defence_shortfall_t=np.zeros((4, 2)),
...     first_short_month=np.array([[-1, -1], [3, 4], [2, -1], [1, 4]]),
...     peak_price_index=np.array([[1.0], [1.1], [1.2], [1.3]]))
>>> m = risk_metrics(ens, quantiles=(0.5, 0.95))
>>> float(m["expected_shortfall_t"].sel(material="Nd", region="JPN"))
15.0
>>> m["var_t"].sel(material="Nd", region="JPN").values.tolist()  # VaR at 50 % and 95 %
[20.0, 30.0]
>>> metrics_table(m)[["material", "region", "quantile", "var_t", "cvar_t"]].head(2)
  material region  quantile  var_t  cvar_t
0       Nd    JPN      0.50   20.0    25.0
1       Nd    JPN      0.95   30.0    30.0
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import xarray as xr
from numpy.typing import ArrayLike, NDArray

from critmin import __version__, options
from critmin.chain import SupplyChain
from critmin.engine import build_network, compile_scenario
from critmin.engine.compiled import with_mode
from critmin.engine.network import Network
from critmin.engine.simulate import simulate
from critmin.errors import UserError
from critmin.options import choice
from critmin.outputs import atomic_write, remove_stale
from critmin.sampling import SAMPLER, apply_draws, sample
from critmin.scenario import Scenario

Array = NDArray[np.float64]

#: units of the per-draw variables (every quantity is over the scenario's horizon unless said)
_UNITS = {
    "demand_t": ("t", "end-use demand over the horizon, all sectors"),
    "shortfall_t": ("t", "end-use shortfall (demand - delivered) over the horizon, all sectors"),
    "defence_demand_t": ("t", "defence demand over the horizon"),
    "defence_shortfall_t": ("t", "defence shortfall over the horizon"),
    "first_short_month": ("months from the start (0 = first month; -1 = never short)", "first month short"),
    "peak_price_index": ("1 (base year = 1)", "highest monthly world price index over the horizon"),
    "monthly_shortfall_t": ("t per month", "end-use shortfall in each month, all sectors"),
}


class Ensemble(xr.Dataset):
    """Per-draw results of a Monte Carlo run: an ``xarray.Dataset`` (a subclass with a few
    conveniences; every xarray operation works on it).

    Dimensions: ``draw`` (coordinate: the draw number k), ``pair`` (the (material, region) pairs
    with base-year demand; a MultiIndex with levels ``material`` and ``region``, so
    ``ens.sel(material="Nd", region="JPN")`` picks one pair and ``ens.unstack("pair")`` gives
    (material, region) arrays), ``price_material`` (materials, for the world price), and, when
    monthly series were kept, ``kept_pair`` (levels ``kept_material``, ``kept_region``) and
    ``month`` (labels ``YYYY-MM``).

    Variables (units in ``attrs["units"]``; over the horizon unless the name says monthly):
    ``demand_t``, ``shortfall_t``, ``defence_demand_t``, ``defence_shortfall_t`` (draw, pair;
    float32, t), ``first_short_month`` (draw, pair; int16, -1 = never short),
    ``peak_price_index`` (draw, price_material; float32) and, if asked for,
    ``monthly_shortfall_t`` (draw, kept_pair, month; float32, t per month).

    ``attrs``: scenario, scenario_sha256, scenario_json, data_sha256 (the chain's fingerprint:
    data and blocs), seed, engine, mode, draws (done), draws_requested, chunk, target_stderr
    (when given), stopped_early, start, months, critmin_version, created_utc, seconds, run_id.
    """

    __slots__ = ()

    @classmethod
    def from_arrays(
        cls,
        pairs: Sequence[tuple[str, str]],
        price_materials: Sequence[str],
        demand_t: ArrayLike,
        shortfall_t: ArrayLike,
        defence_demand_t: ArrayLike,
        defence_shortfall_t: ArrayLike,
        first_short_month: ArrayLike,
        peak_price_index: ArrayLike,
        attrs: dict[str, Any] | None = None,
        monthly_shortfall_t: ArrayLike | None = None,
        kept_pairs: Sequence[tuple[str, str]] = (),
        month_labels: Sequence[str] = (),
    ) -> Ensemble:
        """The labelled result from its arrays (draw first; no copy where the dtype already
        matches: float32, int16 for ``first_short_month``)."""
        arrays: dict[str, NDArray[Any]] = {
            "demand_t": np.asarray(demand_t, np.float32),
            "shortfall_t": np.asarray(shortfall_t, np.float32),
            "defence_demand_t": np.asarray(defence_demand_t, np.float32),
            "defence_shortfall_t": np.asarray(defence_shortfall_t, np.float32),
            "first_short_month": np.asarray(first_short_month, np.int16),
        }
        n = arrays["demand_t"].shape[0]
        data: dict[str, Any] = {k: (("draw", "pair"), a) for k, a in arrays.items()}
        data["peak_price_index"] = (("draw", "price_material"), np.asarray(peak_price_index, np.float32))
        coords = _pair_index(pairs)
        extra: dict[str, Any] = {"draw": np.arange(n, dtype=np.int64), "price_material": list(price_materials)}
        if monthly_shortfall_t is not None:
            data["monthly_shortfall_t"] = (("draw", "kept_pair", "month"), np.asarray(monthly_shortfall_t, np.float32))
            kept = _pair_index(kept_pairs, "kept_pair", ("kept_material", "kept_region"))
            coords = coords.merge(kept).coords
            extra["month"] = list(month_labels)
        ds = cls(data, coords=coords, attrs=dict(attrs or {}))
        ds = ds.assign_coords(extra)
        for name, (units, what) in _UNITS.items():
            if name in ds:
                ds[name].attrs.update(units=units, period="month" if "monthly" in name else "horizon", description=what)
        return ds

    # -- conveniences ---------------------------------------------------------------------------
    @property
    def draws(self) -> int:
        """Number of draws."""
        return int(self.sizes["draw"])

    @property
    def pairs(self) -> tuple[tuple[str, str], ...]:
        """The (material, region) pairs in ``pair`` order."""
        return tuple((str(m), str(r)) for m, r in self.indexes["pair"])

    @property
    def shortfall(self) -> NDArray[np.float32]:
        """``shortfall_t`` as a plain (draw, pair) array (for numpy code)."""
        return np.asarray(self["shortfall_t"].values)

    @property
    def demand(self) -> NDArray[np.float32]:
        """``demand_t`` as a plain (draw, pair) array (for numpy code)."""
        return np.asarray(self["demand_t"].values)

    def monthly_shortfall(self) -> xr.DataArray:
        """The kept monthly shortfall (draw, pair, month), t per month, with ``pair`` labelled by
        ``material`` and ``region`` (so ``.sel(material="Nd", region="JPN")`` works)."""
        if "monthly_shortfall_t" not in self:
            raise UserError("no monthly shortfall was kept: run the ensemble with keep_monthly=[(material, region)]")
        return self["monthly_shortfall_t"].rename(kept_pair="pair", kept_material="material", kept_region="region")

    def per_draw_frame(self, first: int = 0, count: int | None = None) -> pd.DataFrame:
        """Tidy per-draw table of draws ``first .. first + count - 1``: draw, material, region,
        demand_t, shortfall_t, defence_demand_t, defence_shortfall_t, first_short_month and
        peak_price_index (of the pair's material)."""
        stop = self.draws if count is None else min(self.draws, first + count)
        pairs = self.pairs
        n, p = max(stop - first, 0), len(pairs)
        materials = [str(m) for m in self["price_material"].values]
        regions = list(dict.fromkeys(r for _, r in pairs))
        mat_codes = np.array([materials.index(m) for m, _ in pairs], dtype=np.int32)
        reg_codes = np.array([regions.index(r) for _, r in pairs], dtype=np.int32)
        sl = slice(first, stop)
        out: dict[str, Any] = {
            "draw": np.repeat(self["draw"].values[sl], p),
            "material": pd.Categorical.from_codes(np.tile(mat_codes, n), categories=materials),
            "region": pd.Categorical.from_codes(np.tile(reg_codes, n), categories=regions),
        }
        for name in ("demand_t", "shortfall_t", "defence_demand_t", "defence_shortfall_t", "first_short_month"):
            out[name] = self[name].values[sl].reshape(-1)
        out["peak_price_index"] = self["peak_price_index"].values[sl][:, mat_codes].reshape(-1)
        return pd.DataFrame(out)


def _pair_index(
    pairs: Sequence[tuple[str, str]], dim: str = "pair", levels: tuple[str, str] = ("material", "region")
) -> xr.Coordinates:
    """A (material, region) MultiIndex coordinate on ``dim`` (empty allowed)."""
    mats, regs = [str(m) for m, _ in pairs], [str(r) for _, r in pairs]
    return xr.Coordinates.from_pandas_multiindex(pd.MultiIndex.from_arrays([mats, regs], names=list(levels)), dim)


# -- running ------------------------------------------------------------------------------------
_NETWORKS: list[tuple[str, tuple[str, ...], Network]] = []
_NETWORKS_LOCK = threading.Lock()


def _network(chain: SupplyChain, regions: tuple[str, ...]) -> Network:
    """The network of a chain on a region set, built once per process and kept by the chain's
    fingerprint (data and blocs), so that a chain unpickled again on a Dask worker finds it."""
    key = chain.fingerprint
    with _NETWORKS_LOCK:
        for k, r, net in _NETWORKS:
            if k == key and r == regions:
                return net
        net = build_network(chain, regions)
        _NETWORKS.insert(0, (key, regions, net))
        del _NETWORKS[2:]
        return net


def _pair_mask(net: Network) -> NDArray[np.bool_]:
    """(material, region) pairs with base-year demand, in network order (material-major)."""
    return np.concatenate([g.demand0.sum(-1) > 0 for g in net.groups], axis=0)


def _pairs(net: Network) -> tuple[tuple[str, str], ...]:
    mats = net.materials
    return tuple((mats[m], net.regions[r]) for m, r in zip(*np.nonzero(_pair_mask(net)), strict=True))


ChunkResult = tuple[NDArray[Any], ...]


def _repeat(one: ChunkResult, n: int) -> ChunkResult:
    """A chunk result of one draw repeated ``n`` times (a scenario without uncertainty)."""
    return tuple(np.repeat(a, n, axis=0) for a in one)


#: the largest seed a run stores (DuckDB BIGINT)
MAX_SEED = 2**63 - 1


def check_run_options(
    draws: int,
    seed: int | None = None,
    engine: str = "compiled",
    mode: str | None = None,
    chunk: int = 2000,
    threads: int | None = None,
    target_stderr: float | None = None,
) -> None:
    """The checks :func:`run_ensemble` makes of its options, for callers that want them before
    doing anything costly (starting a cluster); a :class:`UserError` naming the option.

    >>> check_run_options(0)
    Traceback (most recent call last):
    ...
    critmin.errors.UserError: --draws must be at least 1 (got 0)
    """
    if draws < 1:
        raise UserError(f"--draws must be at least 1 (got {draws})")
    if chunk < 1:
        raise UserError(f"--chunk must be at least 1 (got {chunk})")
    if threads is not None and threads < 1:
        raise UserError(f"--threads must be at least 1 (got {threads})")
    if target_stderr is not None and not target_stderr > 0:
        raise UserError(f"--target-stderr must be positive (got {target_stderr})")
    choice("engine", engine, options.ENGINES)
    if mode is not None:
        choice("mode", mode, options.MODES)
    if seed is not None and not 0 <= seed <= MAX_SEED:
        raise UserError(f"--seed must be an integer from 0 to {MAX_SEED} (got {seed})")


def _check_memory(draws: int, pairs: int, materials: int, kept_cells: int) -> None:
    """Refuse a run whose per-draw results alone would not fit in this machine's memory."""
    need = draws * (18 * pairs + 4 * materials + 8 + 4 * kept_cells)
    try:
        have = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # not on Linux: let numpy say so
        return
    if need > have:
        raise UserError(
            f"{draws:,} draws need {need / 2**30:,.1f} GiB for their per-draw results alone, more than this "
            f"machine's {have / 2**30:,.1f} GiB: run fewer draws (or several runs with other seeds)"
        )


def run_chunk(
    chain: SupplyChain,
    scenario: Scenario,
    first: int,
    count: int,
    engine: str,
    mode: str | None,
    keep_monthly: Sequence[tuple[str, str]] = (),
    monthly_sector: str = "all",
) -> ChunkResult:
    """Draws ``first .. first + count - 1``: sample, build the batch, run, summarise. A pure
    function of its arguments (what a Dask worker runs).

    Returns (demand, shortfall, defence demand, defence shortfall: (count, pair) float32; first
    month short: (count, pair) int16; price peak: (count, material) float32; monthly shortfall
    of the kept pairs, all sectors or ``monthly_sector="defence"`` alone: (count, kept pair,
    month) float32). A scenario without ``[[uncertain]]``
    entries is run once and its result repeated ``count`` times.
    """
    net = _network(chain, scenario.regions)
    base = compile_scenario(scenario, net, chain.blocs, chain)
    if mode is not None:
        base = with_mode(base, mode)
    runs = count if scenario.uncertain else 1
    lv = apply_draws(base, scenario, sample(scenario, first, runs) if scenario.uncertain else {}, runs)
    groups = simulate(net, lv, engine, full=False, monthly=keep_monthly, monthly_sector=monthly_sector)
    mask = _pair_mask(net)

    def cat(name: str) -> NDArray[Any]:
        return np.concatenate([getattr(g.summary, name) for g in groups], axis=1)

    dem, dlv, ddem, ddel = cat("demand"), cat("delivered"), cat("defence_demand"), cat("defence_delivered")
    # monthly: each group gives its own cells in the order asked; put them back in that order
    order = [i for g in net.groups for i, (m, _) in enumerate(keep_monthly) if m in g.materials]
    monthly = np.concatenate([g.summary.monthly_shortfall for g in groups], axis=2)
    monthly = monthly[:, :, np.argsort(order)] if order else np.zeros((runs, scenario.months, 0))
    out: ChunkResult = (
        dem[:, mask].astype(np.float32),
        np.maximum(dem - dlv, 0.0)[:, mask].astype(np.float32),
        ddem[:, mask].astype(np.float32),
        np.maximum(ddem - ddel, 0.0)[:, mask].astype(np.float32),
        cat("first_short")[:, mask].astype(np.int16),
        cat("peak_price").astype(np.float32),
        monthly.transpose(0, 2, 1).astype(np.float32),
    )
    if runs != count:
        out = tuple(np.repeat(a, count, axis=0) for a in out)
    return out


#: in-process threads used by default with the numpy engines (beyond two, the GIL-held Python part
#: of each month dominates); the compiled engine releases the GIL and uses every core it may
MAX_THREADS = 2


def default_threads(engine: str = "compiled") -> int:
    """Threads for an in-process run: the cores this process may use (at most :data:`MAX_THREADS`
    with the ``fast`` and ``lp`` engines, whose month loop holds the GIL).

    >>> 1 <= default_threads("fast") <= MAX_THREADS
    True
    >>> default_threads("compiled") >= default_threads("fast")
    True
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores if engine == "compiled" else min(cores, MAX_THREADS))


def chunks(draws: int, chunk: int) -> Iterator[tuple[int, int]]:
    """(first, count) pairs covering ``draws`` in pieces of ``chunk``.

    >>> list(chunks(5, 2))
    [(0, 2), (2, 2), (4, 1)]
    """
    for first in range(0, draws, chunk):
        yield first, min(chunk, draws - first)


def mc_run_id(
    scenario: Scenario,
    data_sha256: str,
    draws: int,
    seed: int | None = None,
    engine: str = "compiled",
    mode: str | None = None,
    target_stderr: float | None = None,
    chunk: int = 2000,
) -> str:
    """``mc-<scenario>-<12 hex>``: the id of a Monte Carlo result, a hash of everything that
    changes it: the scenario (its SHA-256 with the seed in force), the seed, the draws (and, for an
    early stop, the target and the chunk size, where the stop can fall), engine, mode (the
    scenario's when ``None``), the chain's fingerprint (data and blocs: ``chain.fingerprint``) and
    the critmin version. The same inputs give the same id, so a rerun replaces an identical result.

    >>> from critmin.scenario import load_scenario
    >>> s = load_scenario("ga-ge-ban-us")
    >>> a = mc_run_id(s, "data", 100, seed=1, mode="market")
    >>> a.startswith("mc-ga-ge-ban-us-"), a == mc_run_id(s, "data", 100, seed=1)  # market is its mode
    (True, True)
    >>> len({a, mc_run_id(s, "data", 100, seed=1, mode="coordinated"), mc_run_id(s, "data", 100, seed=2)})
    3
    """
    seed = scenario.seed if seed is None else seed
    key = {
        "scenario_sha256": scenario.with_changes(seed=seed).digest(),
        "seed": seed,
        "draws": draws,
        "target_stderr": target_stderr,
        "chunk": chunk if target_stderr is not None else None,
        "engine": engine,
        "mode": mode or scenario.mode,
        "sampler": SAMPLER,
        "data_sha256": data_sha256,
        "critmin_version": __version__,
    }
    h = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    slug = "".join(c if c.isalnum() else "-" for c in scenario.name.lower()).strip("-")[:40]
    return f"mc-{slug}-{h}"


class _Pending(Protocol):
    def result(self) -> ChunkResult: ...

    def cancel(self) -> Any: ...


class _Done:
    """An already computed result, shaped like a future (sequential runs)."""

    def __init__(self, value: ChunkResult) -> None:
        self.value = value

    def result(self) -> ChunkResult:
        return self.value

    def cancel(self) -> bool:
        return False


def _in_order(
    pieces: Iterable[tuple[int, int]], window: int, submit: Callable[[int, int], _Pending]
) -> Generator[tuple[int, ChunkResult], None, None]:
    """``(first, result)`` for each piece, in order, with at most ``window`` pieces in flight: memory
    stays bounded and an early stop falls on the same chunk boundary whatever the threads or
    workers. Closing the generator cancels what is still queued."""
    pending: deque[tuple[int, _Pending]] = deque()
    try:
        for f, c in pieces:
            pending.append((f, submit(f, c)))
            if len(pending) >= window:
                first, fut = pending.popleft()
                yield first, fut.result()
        while pending:
            first, fut = pending.popleft()
            yield first, fut.result()
    finally:
        for _, fut in pending:
            fut.cancel()


def _converged(shortfall: NDArray[np.float32], target: float) -> bool:
    short = shortfall.astype(float).sum(-1)
    n = short.size
    if n < 100 or short.mean() <= 0:
        return False
    return bool(short.std(ddof=1) / math.sqrt(n) / short.mean() < target)


def _check_keep(keep: Iterable[tuple[str, str]], pairs: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    for item in keep:
        if not (isinstance(item, (tuple, list)) and len(item) == 2):
            raise UserError(f"keep_monthly: {item!r} is not a (material, region) pair")
        pair = (str(item[0]), str(item[1]))
        if pair not in pairs:
            valid = ", ".join(f"{m}/{r}" for m, r in pairs)
            raise UserError(f"keep_monthly: {pair[0]}/{pair[1]} has no demand in the simulation (pairs: {valid})")
        if pair not in out:
            out.append(pair)
    return tuple(out)


def run_ensemble(
    scenario: Scenario,
    chain: SupplyChain,
    draws: int,
    seed: int | None = None,
    engine: str = "compiled",
    mode: str | None = None,
    chunk: int = 2000,
    progress: Callable[[int], None] | None = None,
    client: Any = None,
    target_stderr: float | None = None,
    threads: int | None = None,
    keep_monthly: Iterable[tuple[str, str]] = (),
    monthly_sector: str = "all",
) -> Ensemble:
    """Run ``draws`` Monte Carlo draws of ``scenario`` on ``chain`` and return the labelled
    per-draw results (see :class:`Ensemble`; provenance and the run id in ``attrs``).

    Parameters
    ----------
    scenario, chain
        What to run, and on which data.
    draws
        Number of draws (the most, with ``target_stderr``).
    seed
        Seed of the draws (default: the scenario's). Draw k is a function of ``(seed, k)`` alone
        (Philox4x32-10, see :mod:`critmin.sampling`), so the result does not depend on ``chunk``,
        ``threads`` or workers.
    engine, mode
        ``compiled`` (default), ``fast`` or ``lp``; ``market`` or ``coordinated`` (default: the
        scenario's).
    chunk
        Draws per batch: memory is one chunk per thread (or worker) plus the per-draw results.
    progress
        Called with the number of draws just finished, chunk by chunk.
    client
        A ``dask.distributed.Client`` (see :func:`dask_client`): chunks then run on its workers;
        the chain is sent to every worker once.
    target_stderr
        Stop at the first chunk boundary where the relative standard error of the world expected
        shortfall is below this (the same boundary in process or on Dask, whatever the threads).
    threads
        In-process threads (default: :func:`default_threads`); ignored with ``client``.
    keep_monthly
        (material, region) pairs whose monthly shortfall to keep per draw
        (``monthly_shortfall_t``, 4 bytes per draw, pair and month; nothing when empty).
    monthly_sector
        ``all`` (default: the kept monthly shortfall sums every sector) or ``defence`` (the
        defence shortfall alone); recorded in ``attrs["monthly_sector"]``.

    Examples
    --------
    >>> import critmin
    >>> chain = critmin.SupplyChain.from_store(critmin.open_store())
    >>> s = critmin.load_scenario("ga-ge-ban-us").with_changes(uncertain=[
    ...     {"field": "disruption[0].severity", "dist": "uniform", "low": 0.2, "high": 1.0}])
    >>> ens = run_ensemble(s, chain, 200, seed=1, chunk=100, keep_monthly=[("Ga", "USA")])
    >>> ens.sizes["draw"], ens.attrs["mode"], ens.attrs["run_id"].startswith("mc-ga-ge-ban-us-")
    (200, 'market', True)
    >>> ga = ens.sel(material="Ga", region="USA")
    >>> bool(0 < ga["shortfall_t"].mean() < ga["demand_t"].mean())
    True
    >>> monthly = ens.monthly_shortfall().sel(material="Ga", region="USA")  # (draw, month), t per month
    >>> bool(np.allclose(monthly.sum("month"), ga["shortfall_t"], rtol=1e-5))
    True
    """
    check_run_options(draws, seed, engine, mode, chunk, threads, target_stderr)
    choice("monthly sector", monthly_sector, ("all", "defence"))
    t0 = time.perf_counter()
    used_seed = scenario.seed if seed is None else seed
    scenario = scenario.with_changes(seed=used_seed)
    used_mode = mode or scenario.mode
    net = _network(chain, scenario.regions)
    pairs = _pairs(net)
    kept = _check_keep(keep_monthly, pairs)
    materials = net.materials
    p, n_kept, months = len(pairs), len(kept), scenario.months
    _check_memory(draws, p, len(materials), n_kept * months)
    notes = compile_scenario(scenario, net, chain.blocs, chain).notes
    # preallocated: memory is these per-draw results plus one chunk per thread or worker
    arrays = [np.zeros((draws, p), np.float32) for _ in range(4)]
    first_short = np.full((draws, p), -1, np.int16)
    peak = np.ones((draws, len(materials)), np.float32)
    monthly = np.zeros((draws, n_kept, months), np.float32) if n_kept else None
    done = 0

    def keep(first: int, res: ChunkResult) -> None:
        nonlocal done
        c = res[0].shape[0]
        for arr, part in zip(arrays, res[:4], strict=True):
            arr[first : first + c] = part
        first_short[first : first + c] = res[4]
        peak[first : first + c] = res[5]
        if monthly is not None:
            monthly[first : first + c] = res[6]
        done = first + c
        if progress:
            progress(c)

    pieces = list(chunks(draws, chunk))
    pool: ThreadPoolExecutor | None = None
    chain_ref: Any = None
    results: Iterator[tuple[int, ChunkResult]]
    if not scenario.uncertain:
        # every draw is the same run: simulate it once, in process, and repeat it
        one = run_chunk(chain, scenario, 0, 1, engine, mode, kept, monthly_sector)
        results = iter([(0, _repeat(one, draws))])
    elif client is not None:
        chain_ref = client.scatter(chain, broadcast=True, hash=False)
        window = max(2, 2 * sum(client.nthreads().values()))

        def submit(f: int, c: int) -> _Pending:
            fut: _Pending = client.submit(
                run_chunk, chain_ref, scenario, f, c, engine, mode, kept, monthly_sector, pure=False
            )
            return fut

        results = _in_order(pieces, window, submit)
    else:
        n_threads = max(1, min(threads if threads is not None else default_threads(engine), len(pieces)))
        pool = ThreadPoolExecutor(n_threads) if n_threads > 1 else None

        def submit(f: int, c: int) -> _Pending:
            if pool is None:
                return _Done(run_chunk(chain, scenario, f, c, engine, mode, kept, monthly_sector))
            return pool.submit(run_chunk, chain, scenario, f, c, engine, mode, kept, monthly_sector)

        results = _in_order(pieces, n_threads, submit)
    stopped = False
    try:
        for f, res in results:
            keep(f, res)
            if target_stderr is not None and done < draws and _converged(arrays[1][:done], target_stderr):
                stopped = True
                break
    finally:
        if isinstance(results, Generator):
            results.close()  # cancels the chunks still queued
        if chain_ref is not None:
            chain_ref.release()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    attrs: dict[str, Any] = {
        "scenario": scenario.name,
        "scenario_sha256": scenario.digest(),
        "scenario_json": json.dumps(scenario.model_dump(mode="json"), sort_keys=True),
        "data_sha256": chain.fingerprint,
        "seed": used_seed,
        "engine": engine,
        "mode": used_mode,
        "draws": done,
        "draws_requested": draws,
        "chunk": chunk,
        **({"monthly_sector": monthly_sector} if kept else {}),
        **({"target_stderr": float(target_stderr)} if target_stderr is not None else {}),
        "stopped_early": int(stopped),
        "start": scenario.start,
        "months": months,
        "critmin_version": __version__,
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seconds": round(time.perf_counter() - t0, 3),
        "run_id": mc_run_id(scenario, chain.fingerprint, draws, used_seed, engine, used_mode, target_stderr, chunk),
        "notes": "\n".join(notes),
    }
    return Ensemble.from_arrays(
        pairs,
        materials,
        arrays[0][:done],
        arrays[1][:done],
        arrays[2][:done],
        arrays[3][:done],
        first_short[:done],
        peak[:done],
        attrs,
        monthly[:done] if monthly is not None else None,
        kept,
        scenario.month_labels,
    )


# -- metrics ------------------------------------------------------------------------------------
def risk_metrics(
    ens: Ensemble,
    quantiles: Sequence[float] = (0.95,),
    threshold_share: float = 0.05,
    sector: str | None = None,
) -> xr.Dataset:
    """Risk metrics per (material, region) pair with demand, each with its Monte Carlo standard
    error, labelled by ``pair`` (levels ``material``, ``region``) and ``quantile``.

    ``sector="defence"`` uses the defence demand and shortfall alone. Variables (t over the
    horizon unless said): ``expected_demand_t``; ``expected_shortfall_t`` and
    ``stderr_expected_shortfall_t``; ``expected_shortfall_share`` (of expected demand);
    ``p_shortfall`` (any shortfall above 1e-9 of demand) and ``stderr_p_shortfall``;
    ``p_shortfall_above_threshold`` (above ``threshold_share`` of demand); ``var_t``, ``cvar_t``
    and ``stderr_cvar_t`` over ``quantile`` (VaR: the quantile of the draws, the next higher
    draw; CVaR: the mean of the draws at or above it); ``first_short_month_p10/p50/p90``
    (months from the start, among draws that run short); ``expected_peak_price_index`` and
    ``stderr_peak_price_index`` (of the pair's material). ``attrs``: sector, draws,
    threshold_share and the ensemble's provenance. :func:`metrics_table` gives the tidy frame.
    """
    qs = tuple(float(q) for q in quantiles)
    if not qs or not all(0 < q < 1 for q in qs):
        raise UserError(f"quantiles (--alpha) must be between 0 and 1 (got {', '.join(map(str, qs)) or 'none'})")
    if sector not in (None, "all", "defence"):
        raise UserError(f"risk metrics by sector: only 'defence' is kept per draw (got {sector!r})")
    defence = sector == "defence"
    short_all = ens["defence_shortfall_t" if defence else "shortfall_t"].values
    dem_all = ens["defence_demand_t" if defence else "demand_t"].values
    first_all = ens["first_short_month"].values
    peak_all = ens["peak_price_index"].values
    price_mats = [str(m) for m in ens["price_material"].values]
    n = ens.draws
    root_n = math.sqrt(n)
    rows: list[dict[str, Any]] = []
    tails: list[list[tuple[float, float, float]]] = []
    keep: list[tuple[str, str]] = []
    for pi, (mat, reg) in enumerate(ens.pairs):
        d = dem_all[:, pi].astype(float)
        if n == 0 or d.max() <= 0:
            continue
        x = short_all[:, pi].astype(float)
        hit = x > 1e-9 * d
        mean, dmean = float(x.mean()), float(d.mean())
        p = float(hit.mean())
        fs = first_all[:, pi][hit].astype(float)
        pk = peak_all[:, price_mats.index(mat)].astype(float)
        per_q = []
        for q in qs:
            var = float(np.quantile(x, q, method="higher"))
            tail = x[x >= var]
            per_q.append(
                (var, float(tail.mean()), float(tail.std(ddof=1)) / math.sqrt(tail.size) if tail.size > 1 else 0.0)
            )
        keep.append((mat, reg))
        tails.append(per_q)
        rows.append(
            {
                "expected_demand_t": dmean,
                "expected_shortfall_t": mean,
                "stderr_expected_shortfall_t": float(x.std(ddof=1)) / root_n if n > 1 else 0.0,
                "expected_shortfall_share": mean / dmean,
                "p_shortfall": p,
                "stderr_p_shortfall": math.sqrt(p * (1 - p) / n),
                "p_shortfall_above_threshold": float((x > threshold_share * d).mean()),
                "first_short_month_p10": float(np.quantile(fs, 0.1)) if fs.size else math.nan,
                "first_short_month_p50": float(np.quantile(fs, 0.5)) if fs.size else math.nan,
                "first_short_month_p90": float(np.quantile(fs, 0.9)) if fs.size else math.nan,
                "expected_peak_price_index": float(pk.mean()),
                "stderr_peak_price_index": float(pk.std(ddof=1)) / root_n if n > 1 else 0.0,
            }
        )
    names = [
        "expected_demand_t", "expected_shortfall_t", "stderr_expected_shortfall_t", "expected_shortfall_share",
        "p_shortfall", "stderr_p_shortfall", "p_shortfall_above_threshold", "first_short_month_p10",
        "first_short_month_p50", "first_short_month_p90", "expected_peak_price_index", "stderr_peak_price_index",
    ]  # fmt: skip
    data: dict[str, Any] = {k: ("pair", np.array([r[k] for r in rows], dtype=float)) for k in names}
    tail_arr = np.array(tails, dtype=float).reshape(len(rows), len(qs), 3)
    for j, k in enumerate(("var_t", "cvar_t", "stderr_cvar_t")):
        data[k] = (("pair", "quantile"), tail_arr[:, :, j])
    provenance = {k: v for k, v in ens.attrs.items() if k != "scenario_json"}
    ds = xr.Dataset(
        data,
        coords=_pair_index(keep).assign(quantile=list(qs)),
        attrs={**provenance, "sector": sector or "all", "draws": n, "threshold_share": threshold_share},
    )
    units = {
        "expected_demand_t": "t",
        "expected_shortfall_t": "t",
        "stderr_expected_shortfall_t": "t",
        "var_t": "t",
        "cvar_t": "t",
        "stderr_cvar_t": "t",
        "first_short_month_p10": "months from the start",
        "first_short_month_p50": "months from the start",
        "first_short_month_p90": "months from the start",
    }
    for da in ds.data_vars.values():
        da.attrs.update(units=units.get(str(da.name), "1"), period="horizon")
    ds["p_shortfall_above_threshold"].attrs["threshold_share"] = threshold_share
    return ds


def metrics_table(metrics: xr.Dataset) -> pd.DataFrame:
    """Tidy view of :func:`risk_metrics`: one row per material, region and quantile, with the
    sector and the number of draws, sorted by expected shortfall (largest first)."""
    df = metrics.to_dataframe().reset_index()
    df = df.drop(columns=[c for c in ("pair",) if c in df.columns])
    df.insert(2, "sector", metrics.attrs.get("sector", "all"))
    df.insert(3, "draws", int(metrics.attrs.get("draws", 0)))
    df.insert(4, "threshold_share", float(metrics.attrs.get("threshold_share", math.nan)))
    front = ["material", "region", "sector", "draws", "quantile"]
    df = df[front + [c for c in df.columns if c not in front]]
    df = df.sort_values(
        ["expected_shortfall_t", "material", "region", "quantile"], ascending=[False, True, True, True], kind="stable"
    )
    return df.reset_index(drop=True)


def convergence(ens: Ensemble, points: int = 6) -> xr.Dataset:
    """World expected shortfall (t over the horizon, all pairs summed) and its standard error after
    the first 1/2^k of the draws (k = points-1 .. 0), on dimension ``draws``.

    The standard error falls as 1/sqrt(draws). :func:`convergence_table` gives the tidy frame.
    """
    total = ens["shortfall_t"].values.astype(float).sum(-1)
    counts = sorted({max(ens.draws >> k, 1) for k in range(points - 1, -1, -1)}) if ens.draws else []
    mean = [float(total[:n].mean()) for n in counts]
    se = [float(total[:n].std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan for n in counts]
    ds = xr.Dataset(
        {"expected_world_shortfall_t": ("draws", mean), "stderr_t": ("draws", se)},
        coords={"draws": counts},
        attrs={k: v for k, v in ens.attrs.items() if k != "scenario_json"},
    )
    for k in ds.data_vars:
        ds[k].attrs.update(units="t", period="horizon")
    return ds


def convergence_table(conv: xr.Dataset) -> pd.DataFrame:
    """Tidy view of :func:`convergence`: draws, expected_world_shortfall_t, stderr_t."""
    return conv.to_dataframe().reset_index()


# -- storing ------------------------------------------------------------------------------------
def write_per_draw(ens: Ensemble, path: str | Path, rows_per_piece: int = 2_000_000) -> None:
    """Write the per-draw table (:meth:`Ensemble.per_draw_frame`) to Parquet at ``path``, in
    pieces (memory stays bounded); the ensemble's ``attrs`` go in the file's metadata. Not atomic:
    :func:`save_ensemble` writes to a temporary name and moves it into place."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    step = max(rows_per_piece // max(len(ens.pairs), 1), 1)
    meta = {b"critmin": json.dumps(ens.attrs, default=str, sort_keys=True).encode()}
    writer = None
    try:
        for first in range(0, max(ens.draws, 1), step):
            table = pa.Table.from_pandas(ens.per_draw_frame(first, step), preserve_index=False)
            if writer is None:
                schema = table.schema.with_metadata({**(table.schema.metadata or {}), **meta})
                writer = pq.ParquetWriter(str(path), schema)
            writer.write_table(table.replace_schema_metadata(writer.schema.metadata))
    finally:
        if writer is not None:
            writer.close()


def mc_folder(store: Any) -> Path:
    """Where the per-draw Parquet files of a store's Monte Carlo runs go (``mc/`` next to it)."""
    return Path(store.path).parent / "mc"


def save_ensemble(store: Any, ens: Ensemble, folder: str | Path | None = None) -> Path:
    """Store a Monte Carlo result: its per-draw table as ``<run_id>.parquet`` (in ``folder``,
    default :func:`mc_folder`) and its row in the ``mc_runs`` table; returns the Parquet path.

    All or nothing: the Parquet file is written under a hidden temporary name in the same folder
    and moved into place (``os.replace``) only when complete, so a failed or killed write leaves
    no file under the final name; if storing the row fails afterwards, a file this call created
    is removed again (one it replaced came from the same run id, hence the same inputs, and its
    row still points to it).
    """
    if not store.exists():
        raise UserError(f"no database at {store.path}; run `critmin data build` first")
    run_id = str(ens.attrs["run_id"])
    folder = Path(folder) if folder is not None else mc_folder(store)
    final = (folder / f"{run_id}.parquet").resolve()
    existed = final.exists()
    remove_stale(final.parent)  # temporaries of killed saves of any run
    atomic_write(final, lambda tmp: write_per_draw(ens, tmp), protect=[store.path])
    a = ens.attrs
    row = pd.DataFrame(
        [
            {
                "run_id": run_id,
                "scenario": a["scenario"],
                "scenario_sha256": a["scenario_sha256"],
                "data_sha256": a["data_sha256"],
                "engine": a["engine"],
                "mode": a["mode"],
                "seed": int(a["seed"]),
                "draws": int(a["draws"]),
                "critmin_version": a["critmin_version"],
                "seconds": float(a["seconds"]),
                "created_utc": a["created_utc"],
                "per_draw_parquet": str(final),
                "scenario_json": a["scenario_json"],
            }
        ]
    )
    try:
        store.write_run(run_id, {"mc_runs": row})
    except BaseException:
        if not existed:
            final.unlink(missing_ok=True)
        raise
    return final


# -- Dask ---------------------------------------------------------------------------------------
#: a Dask scheduler address: [protocol://]host:port
_ADDRESS = re.compile(r"^(?:tcp://)?(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):\d{1,5}$")

#: worker environment of the local clusters critmin starts (``None``: not set, even if this process
#: has it). Dask's default sets MALLOC_TRIM_THRESHOLD_=65536 before spawning workers; setting it
#: also fixes glibc's mmap threshold at 128 KiB, so every multi-MB temporary of the engine became
#: a fresh memory mapping (page faults and system time on every allocation). Without it, workers
#: allocate as the in-process run does.
WORKER_ENV: dict[str, str | None] = {"MALLOC_TRIM_THRESHOLD_": None}


def dask_client(workers: int = 0, scheduler: str | None = None, timeout_s: float = 5.0) -> Any:
    """A ``dask.distributed.Client`` for :func:`run_ensemble`, or ``None`` for an in-process run.

    ``workers`` starts a local cluster of that many processes (one thread each, with
    :data:`WORKER_ENV`); closing the client closes the cluster. ``scheduler`` connects to a
    running cluster (``tcp://host:8786``). A malformed address or a scheduler that does not answer
    within ``timeout_s`` is a :class:`~critmin.errors.UserError`.

    >>> dask_client(0, None) is None
    True
    >>> dask_client(scheduler="notaurl")
    Traceback (most recent call last):
    ...
    critmin.errors.UserError: --scheduler 'notaurl' is not a Dask scheduler address (expected tcp://HOST:PORT)
    """
    if workers and scheduler is not None:
        raise UserError("give --workers or --scheduler, not both")
    if workers < 0:
        raise UserError(f"--workers must be at least 1 (got {workers})")
    if not workers and scheduler is None:
        return None
    if scheduler is not None and not _ADDRESS.match(scheduler.strip()):
        raise UserError(f"--scheduler {scheduler!r} is not a Dask scheduler address (expected tcp://HOST:PORT)")
    try:
        import dask
        from dask.distributed import Client
    except ImportError as exc:
        raise UserError("--workers/--scheduler need Dask: pip install 'critmin[dist]'") from exc
    if scheduler is not None:
        try:
            return Client(scheduler.strip(), timeout=f"{timeout_s}s", set_as_default=False)
        except Exception as exc:  # any failure to connect is about the address the user gave
            why = " ".join(str(exc).split()) or type(exc).__name__
            raise UserError(f"cannot reach the Dask scheduler at {scheduler} (waited {timeout_s:g} s): {why}") from exc
    # the workers are spawned inside Client(): set their environment for that moment only (a
    # variable already in this process's environment would otherwise win over the config)
    env = {f"distributed.nanny.pre-spawn-environ.{k}": v for k, v in WORKER_ENV.items()}
    saved = {k: os.environ.pop(k) for k, v in WORKER_ENV.items() if v is None and k in os.environ}
    try:
        with dask.config.set(env):
            # the dashboard on a free port (":0"): Dask's default 8787 warns when two clusters run
            return Client(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0", set_as_default=False
            )
    finally:
        os.environ.update(saved)
