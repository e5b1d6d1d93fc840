"""Monte Carlo sampling: draw a scenario's ``[[uncertain]]`` fields and apply the draws to a
compiled scenario (a batch of variants). Used by :mod:`critmin.risk` and by anything that needs
the same draws (the levers' optimisers reuse them).

Reproducibility
---------------
Every number drawn is a pure function of four integers: the seed, the draw index ``k``, the
entry's position ``j`` in the scenario's ``[[uncertain]]`` list (0 for the first) and a block
number ``b``. The generator is counter-based, Philox4x32-10 (J. K. Salmon, M. A. Moraes, R. O.
Dror and D. E. Shaw, "Parallel random numbers: as easy as 1, 2, 3", SC'11, 2011; the Random123
library's known-answer vectors are checked in ``tests/test_sampling.py``): it maps the counter
``(k mod 2**32, k div 2**32, j, b)`` under the key ``(seed mod 2**32, seed div 2**32)`` to four
32-bit words, which give two uniforms ``(m + 0.5) / 2**52`` (``m`` a 52-bit integer made of two
words), in (0, 1) with neither end. So draw ``k`` of entry ``j`` depends only on the seed, ``k``,
``j`` and that entry's own distribution: not on ``first`` and ``count`` (the chunk), threads,
Dask workers or the process, nor on the other entries (adding one at the end, or changing
another's distribution, leaves it as it was; moving the entry in the file changes it). The
uniforms, and so the uniform, triangular, bernoulli and choice draws, are the same bits on every
machine (integer arithmetic, IEEE ``sqrt``); normal, lognormal and beta draws also go through
``log`` and ``exp``, which two math libraries may round differently in the last bit. All the
fields of a chunk are drawn at once, by one loop compiled with numba (``cache=True``: compiled
once per machine, about 2 s, then loaded from the cache; ``nogil``, so threads draw side by
side), about 40 to 60 ns a field per draw. :data:`SAMPLER` names this scheme.

How each distribution uses its uniforms (those of block 0 unless said; ``u`` is block 0's first):

* ``fixed``: the value (nothing drawn); ``uniform``: ``low + (high - low) u``;
* ``triangular``: the inverse of its CDF at ``u``;
* ``normal``: ``mean + sd z`` with ``z`` the inverse standard normal CDF (Wichura's algorithm
  AS241, Applied Statistics 37, 1988, accurate to about 1e-16, the one Python's
  ``statistics.NormalDist`` uses) at ``u`` mapped onto ``[F(low), F(high)]``: truncation is exact,
  without rejection. A range wholly above the mean is drawn mirrored below it, where the CDF keeps
  its precision, so a range far in a tail is drawn as accurately as one near the mean; a range
  that keeps less than :data:`MIN_MASS` of the distribution is refused (a :class:`UserError`: such
  bounds are almost surely in the wrong units);
* ``lognormal``: ``exp`` of the normal of ``log(median)`` and ``sigma``, truncated in logs alike;
* ``beta(a, b)``: ``X / (X + Y)`` scaled to ``[low, high]``, ``X`` and ``Y`` gamma variates of
  shapes ``a`` and ``b`` by G. Marsaglia and W. W. Tsang's method ("A simple method for generating
  gamma variables", ACM TOMS 26, 2000): attempt ``t`` of ``X`` uses block ``1 + 2t``, of ``Y``
  block ``2 + 2t`` (the normal from the block's first uniform, by the inverse CDF, the acceptance
  test with its second); a shape below 1 is boosted, ``Gamma(a) = Gamma(a + 1) U**(1/a)``, with
  block 0's first (``X``) and second (``Y``) uniform; all in logs, so small shapes do not
  underflow. An attempt is accepted with probability above 0.95; after :data:`MAX_ATTEMPTS` the
  draw fails loudly (it never does in practice);
* ``bernoulli``: 1 if ``u < p``, else 0; ``choice``: the first value whose cumulative normalised
  weight exceeds ``u`` (a value of weight 0 is never drawn).

A draw that several ``fields`` share is one number, given to each of them.

Example
-------
>>> from critmin.scenario import load_scenario
>>> s = load_scenario("china-embargo-framework-12m").with_changes(uncertain=[
...     {"field": "disruption[0].severity", "dist": "uniform", "low": 0.5, "high": 1.0},
...     {"field": "disruption[0].months", "dist": "normal", "mean": 9, "sd": 4, "low": 3, "high": 18}])
>>> d = sample(s, 0, 1000, seed=7)
>>> a = d["disruption[0].severity"]
>>> bool((a == sample(s, 0, 1000, seed=7)["disruption[0].severity"]).all())  # same seed, same draws
True
>>> m = d["disruption[0].months"]
>>> bool(((0.5 <= a) & (a <= 1.0)).all()), bool(((3 <= m) & (m <= 18)).all())
(True, True)
>>> bool((sample(s, 600, 400, seed=7)["disruption[0].severity"] == a[600:]).all())  # draw k, whatever the chunk
True
>>> [hex(w) for w in philox4x32((0, 0, 0, 0), (0, 0))]  # Random123's first known answer
['0x6627e8d5', '0xe169c58d', '0xbc57ac4c', '0x9b00dbd8']
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
from numba import njit
from numpy.typing import NDArray

from critmin.engine.compiled import CompiledScenario, Event, replicate
from critmin.errors import UserError
from critmin.names import SECTORS
from critmin.scenario import UNCERTAIN_FIELD, Scenario, Uncertain

Array = NDArray[np.float64]

#: names the generator and the methods above: it changes whenever a seed's draws change (for a
#: Monte Carlo run's id, so that results drawn differently are never taken for one another)
SAMPLER = "philox4x32-10/1"
#: a truncated normal or lognormal must keep at least this share of the untruncated one
MIN_MASS = 1e-6
#: attempts of a gamma variate (for beta) before a draw fails (each is accepted with p > 0.95)
MAX_ATTEMPTS = 1000

# -- the generator: Philox4x32-10 on 32-bit words held in uint64 (no product or sum overflows) --

_MASK = np.uint64(0xFFFFFFFF)
_M0, _M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)  # Philox's multipliers
_W0, _W1 = np.uint64(0x9E3779B9), np.uint64(0xBB67AE85)  # its key schedule (Weyl sequence)
_S12, _S20, _S32 = np.uint64(12), np.uint64(20), np.uint64(32)
_ULP52 = 2.0**-52


@njit(cache=True, nogil=True)
def _philox(
    c0: np.uint64, c1: np.uint64, c2: np.uint64, c3: np.uint64, k0: np.uint64, k1: np.uint64
) -> tuple[np.uint64, np.uint64, np.uint64, np.uint64]:
    """Philox4x32-10: ten rounds of two 32 x 32 -> 64-bit products, the key bumped between rounds."""
    for _ in range(10):
        p0 = _M0 * c0
        p1 = _M1 * c2
        c0, c1, c2, c3 = (p1 >> _S32) ^ c1 ^ k0, p1 & _MASK, (p0 >> _S32) ^ c3 ^ k1, p0 & _MASK
        k0 = (k0 + _W0) & _MASK
        k1 = (k1 + _W1) & _MASK
    return c0, c1, c2, c3


@njit(cache=True, nogil=True)
def _block(key0: np.uint64, key1: np.uint64, k: np.uint64, j: np.uint64, b: np.uint64) -> tuple[float, float]:
    """The two uniforms in (0, 1) of block ``b`` of entry ``j`` in draw ``k``."""
    w0, w1, w2, w3 = _philox(k & _MASK, k >> _S32, j, b, key0, key1)
    u0 = (float((w0 << _S20) | (w1 >> _S12)) + 0.5) * _ULP52
    u1 = (float((w2 << _S20) | (w3 >> _S12)) + 0.5) * _ULP52
    return u0, u1


@njit(cache=True, nogil=True)
def _ppf(p: float) -> float:
    """The inverse standard normal CDF at ``p`` in (0, 1): Wichura's AS241 (PPND16)."""
    q = p - 0.5
    if abs(q) <= 0.425:
        r = 0.180625 - q * q
        num = (((((((2509.0809287301226727 * r + 33430.575583588128105) * r + 67265.770927008700853) * r
                   + 45921.953931549871457) * r + 13731.693765509461125) * r + 1971.5909503065514427) * r
                 + 133.14166789178437745) * r + 3.387132872796366608) * q  # fmt: skip
        den = (((((((5226.495278852854561 * r + 28729.085735721942674) * r + 39307.89580009271061) * r
                   + 21213.794301586595867) * r + 5394.1960214247511077) * r + 687.1870074920579083) * r
                 + 42.313330701600911252) * r + 1.0)  # fmt: skip
        return num / den
    r = math.sqrt(-math.log(p if q < 0.0 else 1.0 - p))
    if r <= 5.0:
        r -= 1.6
        num = (((((((7.7454501427834140764e-4 * r + 0.0227238449892691845833) * r + 0.24178072517745061177) * r
                   + 1.27045825245236838258) * r + 3.64784832476320460504) * r + 5.7694972214606914055) * r
                 + 4.6303378461565452959) * r + 1.42343711074968357734)  # fmt: skip
        den = (((((((1.05075007164441684324e-9 * r + 5.475938084995344946e-4) * r + 0.0151986665636164571966) * r
                   + 0.14810397642748007459) * r + 0.68976733498510000455) * r + 1.6763848301838038494) * r
                 + 2.05319162663775882187) * r + 1.0)  # fmt: skip
    else:
        r -= 5.0
        num = (((((((2.01033439929228813265e-7 * r + 2.71155556874348757815e-5) * r + 0.0012426609473880784386) * r
                   + 0.026532189526576123093) * r + 0.29656057182850489123) * r + 1.7848265399172913358) * r
                 + 5.4637849111641143699) * r + 6.6579046435011037772)  # fmt: skip
        den = (((((((2.04426310338993978564e-15 * r + 1.4215117583164458887e-7) * r + 1.8463183175100546818e-5) * r
                   + 7.868691311456132591e-4) * r + 0.0148753612908506148525) * r + 0.13692988092273580531) * r
                 + 0.59983220655588793769) * r + 1.0)  # fmt: skip
    return -num / den if q < 0.0 else num / den


@njit(cache=True, nogil=True)
def _log_gamma(
    shape: float, boost: float, key0: np.uint64, key1: np.uint64, k: np.uint64, j: np.uint64, stream: int
) -> float:
    """The log of a gamma variate of ``shape`` (Marsaglia and Tsang), attempt ``t`` from block
    ``stream + 2t``, boosted with the uniform ``boost`` when ``shape < 1``; NaN if no attempt
    of :data:`MAX_ATTEMPTS` is accepted."""
    alpha = shape + 1.0 if shape < 1.0 else shape
    d = alpha - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    for t in range(MAX_ATTEMPTS):
        uz, ua = _block(key0, key1, k, j, np.uint64(stream + 2 * t))
        z = _ppf(uz)
        v = 1.0 + c * z
        if v <= 0.0:
            continue
        v = v * v * v
        z2 = z * z
        if ua < 1.0 - 0.0331 * z2 * z2 or math.log(ua) < 0.5 * z2 + d * (1.0 - v + math.log(v)):
            lg = math.log(d) + math.log(v)
            if shape < 1.0:
                lg += math.log(boost) / shape
            return lg
    return math.nan


# entry kinds in the compiled loop, and the layout of their parameters (one row of ``par`` each)
_FIXED, _UNIFORM, _TRIANGULAR, _NORMAL, _LOGNORMAL, _BETA, _BERNOULLI, _CHOICE = range(8)
_CODE = {
    "fixed": _FIXED, "uniform": _UNIFORM, "triangular": _TRIANGULAR, "normal": _NORMAL,
    "lognormal": _LOGNORMAL, "beta": _BETA, "bernoulli": _BERNOULLI, "choice": _CHOICE,
}  # fmt: skip
_NPAR = 7
_P_BELOW_ONE = 1.0 - 2.0**-53  # the largest double below 1


@njit(cache=True, nogil=True)
def _draw(
    key0: np.uint64,
    key1: np.uint64,
    first: np.uint64,
    count: int,
    code: NDArray[np.int64],
    par: Array,
    cum: Array,
    vals: Array,
    off: NDArray[np.int64],
) -> Array:
    """Draws ``first .. first + count - 1`` of every entry: ``(entry, draw)``. ``par`` rows:
    fixed (value), uniform (low, high), triangular (low, mode, high), normal and lognormal
    (location, scale, F(low), F(high) - F(low), +1 or -1 if mirrored, low, high), beta (a, b,
    low, high), bernoulli (p); choice: ``cum[off[j]:off[j + 1]]`` and ``vals`` alike."""
    n_entries = code.shape[0]
    out = np.empty((n_entries, count))
    zero = np.uint64(0)
    for j in range(n_entries):
        c = code[j]
        q = par[j]
        jj = np.uint64(j)
        for i in range(count):
            if c == _FIXED:
                out[j, i] = q[0]
                continue
            k = first + np.uint64(i)
            u, u1 = _block(key0, key1, k, jj, zero)
            if c == _UNIFORM:
                x = min(max(q[0] + (q[1] - q[0]) * u, q[0]), q[1])
            elif c == _TRIANGULAR:
                lo, mode, hi = q[0], q[1], q[2]
                w = hi - lo
                if w <= 0.0:
                    x = lo
                elif u * w < mode - lo:
                    x = min(lo + math.sqrt(u * w * (mode - lo)), hi)
                else:
                    x = max(hi - math.sqrt((1.0 - u) * w * (hi - mode)), lo)
            elif _NORMAL <= c <= _LOGNORMAL:
                p = min(max(q[2] + u * q[3], 5e-324), _P_BELOW_ONE)
                y = q[0] + q[1] * (q[4] * _ppf(p))
                if c == _LOGNORMAL:
                    y = math.exp(y)
                x = min(max(y, q[5]), q[6])
            elif c == _BETA:
                lx = _log_gamma(q[0], u, key0, key1, k, jj, 1)
                ly = _log_gamma(q[1], u1, key0, key1, k, jj, 2)
                dl = ly - lx  # B = X / (X + Y) = 1 / (1 + exp(dl)), without overflow
                e = math.exp(-abs(dl)) if dl == dl else math.nan
                b = 1.0 / (1.0 + e) if dl <= 0.0 else e / (1.0 + e)
                x = min(max(q[2] + (q[3] - q[2]) * b, q[2]), q[3]) if b == b else math.nan
            elif c == _BERNOULLI:
                x = 1.0 if u < q[0] else 0.0
            else:  # choice
                m = off[j]
                while m < off[j + 1] - 1 and not u < cum[m]:
                    m += 1
                x = vals[m]
            out[j, i] = x
    return out


@njit(cache=True, nogil=True)
def _uniforms(key0: np.uint64, key1: np.uint64, first: np.uint64, count: int, j: np.uint64, b: np.uint64) -> Array:
    out = np.empty((count, 2))
    for i in range(count):
        out[i, 0], out[i, 1] = _block(key0, key1, first + np.uint64(i), j, b)
    return out


def _key(seed: int) -> tuple[np.uint64, np.uint64]:
    if not 0 <= seed < 2**64:
        raise ValueError(f"seed must be an integer from 0 to 2**64 - 1 (got {seed})")
    return np.uint64(seed & 0xFFFFFFFF), np.uint64(seed >> 32)


def _check_range(first: int, count: int) -> None:
    if first < 0 or count < 0 or first + count > 2**64:
        raise ValueError(f"draws {first} .. {first + count - 1} are not all in 0 .. 2**64 - 1")


def philox4x32(counter: tuple[int, int, int, int], key: tuple[int, int]) -> tuple[int, int, int, int]:
    """Philox4x32-10 of a counter of four 32-bit words under a key of two (the generator itself).

    >>> [hex(w) for w in philox4x32((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0))]
    ['0xd16cfe09', '0x94fdcceb', '0x5001e420', '0x24126ea1']
    """
    words = [np.uint64(w & 0xFFFFFFFF) for w in (*counter, *key)]
    return tuple(int(w) for w in _philox(*words))  # type: ignore[return-value]


def uniforms(seed: int, first: int, count: int, entry: int = 0, block: int = 0) -> Array:
    """The generator's uniforms: ``(count, 2)``, row ``i`` the two of block ``block`` of entry
    ``entry`` in draw ``first + i`` (what :func:`sample` transforms).

    >>> u = uniforms(1, 0, 100_000)
    >>> bool(((0 < u) & (u < 1)).all()), round(float(u.mean()), 2)
    (True, 0.5)
    """
    _check_range(first, count)
    key0, key1 = _key(seed)
    return _uniforms(key0, key1, np.uint64(first), count, np.uint64(entry), np.uint64(block))


def _phi(x: float) -> float:
    """The standard normal CDF."""
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def _f(x: float | None) -> float:
    assert x is not None  # the scenario's validation guarantees every parameter a distribution needs
    return float(x)


def _truncated(loc: float, scale: float, lo: float, hi: float, zlo: float, zhi: float, what: str) -> list[float]:
    """The ``par`` row of a normal of ``loc`` and ``scale`` truncated to standard scores
    ``[zlo, zhi]`` (``lo`` and ``hi`` the bounds of the value drawn)."""
    sign = 1.0
    if zlo > 0.0:  # wholly above the mean: draw the mirror image, in the lower tail
        sign, zlo, zhi = -1.0, -zhi, -zlo
    plo, phi = _phi(zlo), _phi(zhi)
    if not phi - plo >= MIN_MASS:
        raise UserError(what)
    return [loc, scale, plo, phi - plo, sign, lo, hi]


def _row(u: Uncertain) -> list[float]:
    lo = -math.inf if u.low is None else u.low
    hi = math.inf if u.high is None else u.high
    if u.dist == "fixed":
        return [_f(u.value)]
    if u.dist == "uniform":
        return [lo, hi]
    if u.dist == "triangular":
        return [lo, _f(u.mode), hi]
    if u.dist == "normal":
        mean, sd = _f(u.mean), _f(u.sd)
        what = f"normal({u.mean}, {u.sd}) truncated to [{lo}, {hi}] has almost no mass there"
        return _truncated(mean, sd, lo, hi, (lo - mean) / sd, (hi - mean) / sd, what)
    if u.dist == "lognormal":
        mu, sigma = math.log(_f(u.median)), _f(u.sigma)
        zlo = (math.log(lo) - mu) / sigma if lo > 0 else -math.inf
        zhi = (math.log(hi) - mu) / sigma if hi < math.inf else math.inf
        what = f"lognormal(median {u.median}, sigma {u.sigma}) truncated to [{lo}, {hi}] has almost no mass"
        return _truncated(mu, sigma, lo, hi, zlo, zhi, what)
    if u.dist == "beta":
        return [_f(u.a), _f(u.b), *u.support]
    if u.dist == "bernoulli":
        return [_f(u.p)]
    return []  # choice: its values and weights go to ``vals`` and ``cum``


def sample(scenario: Scenario, first: int, count: int, seed: int | None = None) -> dict[str, Array]:
    """Draws ``first .. first + count - 1`` of every uncertain field: ``{field: (count,) array}``
    (fields in file order; the fields of one entry get the same numbers).

    Draw ``k`` of the entry at position ``j`` depends only on ``seed`` (default: the scenario's),
    ``k``, ``j`` and the entry (see the module's notes); all fields are drawn in one compiled loop.
    """
    seed = scenario.seed if seed is None else seed
    _check_range(first, count)
    key0, key1 = _key(seed)
    entries = scenario.uncertain
    if not entries:
        return {}
    par = np.zeros((len(entries), _NPAR))
    cum: list[float] = []
    vals: list[float] = []
    off = [0]
    for j, u in enumerate(entries):
        row = _row(u)
        par[j, : len(row)] = row
        if u.dist == "choice":
            w = np.asarray(u.weights or [1.0] * len(u.values), dtype=float)
            c = np.cumsum(w) / w.sum()
            c[int(np.flatnonzero(w > 0)[-1]) :] = 1.0  # past the last value drawn: never below u
            cum += c.tolist()
            vals += [float(v) for v in u.values]
        off.append(len(cum))
    code = np.array([_CODE[u.dist] for u in entries], dtype=np.int64)
    drawn = _draw(
        key0, key1, np.uint64(first), count, code, par, np.array(cum), np.array(vals), np.array(off, dtype=np.int64)
    )
    if np.isnan(drawn).any():  # pragma: no cover - a gamma variate rejected MAX_ATTEMPTS times
        raise RuntimeError(f"a beta draw was rejected {MAX_ATTEMPTS} times (seed {seed}, draws from {first})")
    out: dict[str, Array] = {}
    for j, u in enumerate(entries):
        for n, f in enumerate(u.targets):
            out[f] = drawn[j] if n == 0 else drawn[j].copy()
    return out


#: disruption fields drawn as shares, and the compiled event's field each one sets
_EVENT_SHARES = {
    "compliance": "compliance",
    "covered_share": "covered",
    "approval_share": "approve0",
    "approval_share_final": "approve1",
}


def apply_draws(base: CompiledScenario, scenario: Scenario, draws: dict[str, Array], count: int) -> CompiledScenario:
    """A batch of ``count`` levers (one per draw) from a batch-of-one ``base`` and the drawn
    values (``{field: (count,) array}``, as :func:`sample` gives; empty for a scenario without
    ``[[uncertain]]`` entries, whose ``count`` variants are then all ``base``).

    >>> from critmin.scenario import load_scenario
    >>> sample(load_scenario("ga-ge-ban-us"), 0, 4)  # no [[uncertain]] entries: nothing drawn,
    {}
    >>> # so the batch size comes from ``count``, never from the drawn fields
    """
    if count < 1:
        raise ValueError(f"count must be at least 1 (got {count})")
    for f, x in draws.items():
        if len(x) != count:
            raise ValueError(f"{f}: {len(x)} draws for a batch of {count}")
    n = count
    lv = replicate(base, n)
    dis = list(lv.disruptions)
    out = list(lv.outages)
    sps = list(lv.stockpiles)
    prj = list(lv.projects)
    el = lv.elasticity.copy()
    growth = lv.growth.copy()
    ramp = list(lv.ramp_share)

    # a scenario item may compile to several specs (a project over several materials): map by label
    def items(kind: str, idx: int, seq: list[Any]) -> list[int]:
        return [j for j, x in enumerate(seq) if x.label == f"{kind}[{idx}]"]

    # switches ("happens") last, so that they act on drawn sizes whatever the file order
    ordered = sorted(draws.items(), key=lambda kv: kv[0].endswith(".happens"))
    for f, x in ordered:
        m = UNCERTAIN_FIELD.match(f)
        assert m is not None
        if m.group(1):
            kind, idx, attr = m.group(1), int(m.group(2)), m.group(3)
            if kind in ("disruption", "outage"):
                seq: list[Any] = dis if kind == "disruption" else out
                for j in items(kind, idx, seq):
                    ev: Event = seq[j]
                    if attr == "severity":
                        ev = replace(ev, size=np.clip(x, 0.0, 1.0))
                    elif attr == "capacity_lost":
                        # an outage by facility loses the drawn share of the facility's capacity
                        given = scenario.outage[idx].capacity_lost
                        share = ev.size / given if given > 0 else np.ones(n)
                        ev = replace(ev, size=np.clip(x, 0.0, 1.0) * share)
                    elif attr == "months":
                        ev = replace(ev, months=np.maximum(np.rint(x), 0.0))
                    elif attr == "start_shift":
                        ev = replace(ev, start=ev.start + np.rint(x))
                    elif attr == "happens":
                        ev = replace(ev, size=ev.size * (x > 0.5))
                    elif attr in _EVENT_SHARES:
                        drawn: dict[str, Any] = {_EVENT_SHARES[attr]: np.clip(x, 0.0, 1.0)}
                        if attr == "approval_share" and scenario.disruption[idx].approval_share_final is None:
                            drawn["approve1"] = drawn["approve0"]  # no final share: the approval stays put
                        ev = replace(ev, **drawn)
                    elif attr == "processing_months":
                        ev = replace(ev, lag=np.maximum(x, 0.0))
                    seq[j] = ev
            elif kind == "stockpile":
                for j in items(kind, idx, sps):
                    if attr == "tonnes":
                        sps[j] = replace(sps[j], tonnes=np.maximum(x, 0.0))
                    else:
                        sps[j] = replace(sps[j], max_release=np.maximum(x, 0.0) * np.ones(n))
            else:  # project
                for j in items(kind, idx, prj):
                    p = prj[j]
                    if attr == "capacity_scale":
                        p = replace(p, capacity=p.capacity * np.maximum(x, 0.0))
                    elif attr == "start_shift":
                        p = replace(p, start=np.maximum(p.start + np.rint(x), 0.0))
                    elif attr == "ramp_months":
                        p = replace(p, ramp_months=np.maximum(np.rint(x), 0.0))
                    elif attr == "happens":
                        p = replace(p, capacity=p.capacity * (x > 0.5))
                    prj[j] = p
        else:
            section, attr = m.group(4), m.group(5)
            if section == "demand" and attr == "growth_pct_per_yr":
                growth = x / 100
            elif section == "demand":
                el[:, SECTORS.index(attr.split(".", 1)[1])] = np.minimum(x, 0.0)
            else:  # ramp_up.scale
                ramp = [r * np.maximum(x, 0.0)[:, None, None] for r in ramp]
    return replace(
        lv,
        disruptions=tuple(dis),
        outages=tuple(out),
        stockpiles=tuple(sps),
        projects=tuple(prj),
        elasticity=el,
        growth=growth,
        ramp_share=tuple(ramp),
    )
