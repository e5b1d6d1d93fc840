"""Sampling of ``[[uncertain]]`` entries: the counter-based generator (known answers, uniformity),
the reproducibility contract (draw k whatever the chunk; only seed, k and the entry's position),
and each distribution's draws against its bounds, moments and CDF.

Every statistical check has a fixed seed and a tolerance that a correct sampler exceeds with
probability below 1e-6: means and variances within 5.5 standard errors (normal tails 4e-8),
frequencies likewise, Kolmogorov-Smirnov distances under the Dvoretzky-Kiefer-Wolfowitz bound
``P(D > e) <= 2 exp(-2 n e**2)`` (Massart's constant, exact for every n) set to 1e-6, chi-square
statistics below their 1 - 1e-6 quantile (the regularised incomplete gamma function below).
"""

from __future__ import annotations

import itertools
import math
import statistics
from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from critmin.errors import UserError
from critmin.sampling import MIN_MASS, _ppf, philox4x32, sample, uniforms
from critmin.scenario import Uncertain, load_scenario

N = 200_000
Z = 5.5  # standard errors: two-sided normal tail 3.8e-8
P_FAIL = 1e-6

#: one entry of each distribution, on fields of the embargo scenario that accept them
EIGHT = [
    {"field": "demand.growth_pct_per_yr", "dist": "fixed", "value": 2.0},
    {"field": "disruption[0].severity", "dist": "uniform", "low": 0.5, "high": 1.0},
    {"field": "disruption[0].months", "dist": "triangular", "low": 3, "mode": 9, "high": 18},
    {"field": "disruption[0].compliance", "dist": "normal", "mean": 0.8, "sd": 0.1, "low": 0, "high": 1},
    {"field": "ramp_up.scale", "dist": "lognormal", "median": 1.0, "sigma": 0.3},
    {"field": "disruption[0].covered_share", "dist": "beta", "a": 0.7, "b": 5},
    {"field": "disruption[0].happens", "dist": "bernoulli", "p": 0.6},
    {"field": "demand.elasticity.other", "dist": "choice", "values": [-0.1, -0.2, -0.3], "weights": [1, 2, 1]},
]


@pytest.fixture(scope="module")
def eight():
    return load_scenario("china-embargo-framework-12m").with_changes(uncertain=EIGHT)


@dataclass
class Entries:
    """What :func:`sample` reads of a scenario (its entries and seed), without the scenario's
    check that draws fit the field's range: here the distributions themselves are tested."""

    uncertain: list[Uncertain] = field(default_factory=list)
    seed: int = 0


def draws(n: int = N, seed: int = 1, **spec: object) -> np.ndarray:
    u = Uncertain(field="demand.growth_pct_per_yr", **spec)
    return sample(Entries([u]), 0, n, seed=seed)["demand.growth_pct_per_yr"]


def phi(x: np.ndarray) -> np.ndarray:
    """The standard normal CDF, elementwise."""
    return np.frompyfunc(lambda v: 0.5 * math.erfc(-v / math.sqrt(2)), 1, 1)(x).astype(float)


def pdf(x: float) -> float:
    return math.exp(-x * x / 2) / math.sqrt(2 * math.pi) if math.isfinite(x) else 0.0


def chi2_sf(x: float, df: int) -> float:
    """P(chi-square with ``df`` degrees of freedom > x): 1 - the regularised lower incomplete
    gamma function P(df/2, x/2), by its series (Abramowitz and Stegun 6.5.29)."""
    s, t = df / 2, x / 2
    term = math.exp(s * math.log(t) - t - math.lgamma(s + 1))
    total, n = term, 1
    while term > 1e-17 * total:
        term *= t / (s + n)
        total += term
        n += 1
    return 1.0 - total


def assert_moments(x: np.ndarray, mean: float, var: float) -> None:
    n = len(x)
    assert abs(x.mean() - mean) <= Z * math.sqrt(var / n), (x.mean(), mean)
    m4 = float(((x - mean) ** 4).mean())
    s2 = float(((x - mean) ** 2).mean())  # about the true mean: its standard error is sqrt((m4 - var^2) / n)
    assert abs(s2 - var) <= Z * math.sqrt(max(m4 - var**2, 0.0) / n), (s2, var)


def assert_ks(x: np.ndarray, cdf) -> None:
    """Kolmogorov-Smirnov distance of ``x`` from ``cdf`` under the DKW bound at 1e-6."""
    n = len(x)
    f = cdf(np.sort(x))
    i = np.arange(1, n + 1)
    d = max(float((i / n - f).max()), float((f - (i - 1) / n).max()))
    assert d <= math.sqrt(math.log(2 / P_FAIL) / (2 * n)), d


def assert_frequency(hits: int, n: int, p: float) -> None:
    assert abs(hits - n * p) <= Z * math.sqrt(n * p * (1 - p)), (hits, n * p)


# -- the generator --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("counter", "key", "expected"),
    [  # Random123's tests/kat_vectors, "philox4x32 10" lines: counter, key -> output
        ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
        ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
        (
            (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
            (0xA4093822, 0x299F31D0),
            (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
        ),
    ],
)
def test_philox_gives_the_known_answers(counter, key, expected):
    assert philox4x32(counter, key) == expected


def test_uniforms_are_in_the_open_interval_on_the_52_bit_grid():
    u = uniforms(3, 0, 500_000)
    assert ((u > 0) & (u < 1)).all()
    m = u * 2.0**52 - 0.5  # (m + 0.5) / 2**52, m an integer
    assert np.array_equal(m, np.floor(m))


def test_uniforms_are_uniform_chi_square():
    u = uniforms(5, 10**12, N, entry=3, block=7)
    for col in (u[:, 0], u[:, 1]):  # each of the two uniforms of a block, on 100 bins
        counts = np.bincount((col * 100).astype(int), minlength=100)
        stat = float(((counts - len(col) / 100) ** 2).sum() / (len(col) / 100))
        assert chi2_sf(stat, 99) > P_FAIL, stat
    # pairs: the two of a block, and one draw with the next, on 20 x 20 cells
    for a, b in ((u[:, 0], u[:, 1]), (u[:-1, 0], u[1:, 0])):
        counts = np.bincount((a * 20).astype(int) * 20 + (b * 20).astype(int), minlength=400)
        expected = len(a) / 400
        stat = float(((counts - expected) ** 2).sum() / expected)
        assert chi2_sf(stat, 399) > P_FAIL, stat


def test_entries_blocks_and_seeds_give_other_uniforms():
    base = uniforms(1, 0, 1000)
    for other in (uniforms(2, 0, 1000), uniforms(1 + 2**32, 0, 1000), uniforms(1, 0, 1000, entry=1)):
        assert not np.isin(other, base).any()
    assert not np.isin(uniforms(1, 0, 1000, block=1), base).any()
    assert not np.isin(uniforms(1, 2**32, 1000), base).any()  # the draw index's high word counts


def test_inverse_normal_cdf_is_exact_to_double_precision():
    nd = statistics.NormalDist()
    ps = np.concatenate([np.geomspace(1e-300, 0.5, 3000), 1 - np.geomspace(2**-53, 0.5, 3000), np.linspace(0, 1, 3001)])
    for p in ps[(ps > 0) & (ps < 1)]:
        x = _ppf(float(p))
        assert x == pytest.approx(nd.inv_cdf(float(p)), rel=1e-15, abs=1e-15)
        if p < 0.5:  # and the CDF at x is p again (relative precision in the lower tail)
            assert 0.5 * math.erfc(-x / math.sqrt(2)) == pytest.approx(p, rel=1e-12 * max(1.0, x * x))


# -- reproducibility ------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, 2**62),
    st.integers(1, 120),
    st.lists(st.integers(1, 119), max_size=6),
    st.integers(0, 2**63 - 1),
)
def test_draw_k_is_the_same_whatever_the_split(eight, first, n, cuts, seed):
    whole = sample(eight, first, n, seed=seed)
    bounds = [0, *sorted({c for c in cuts if c < n}), n]
    pieces = [sample(eight, first + a, b - a, seed=seed) for a, b in itertools.pairwise(bounds)]
    for f, x in whole.items():
        assert np.array_equal(np.concatenate([p[f] for p in pieces]), x), f


def test_same_seed_same_draws_other_seed_other_draws(eight):
    a, b = sample(eight, 0, 500, seed=9), sample(eight, 0, 500, seed=9)
    assert all(np.array_equal(a[f], b[f]) for f in a)
    assert (
        sample(eight, 0, 500)["disruption[0].severity"].tolist()
        == sample(eight, 0, 500, seed=eight.seed)["disruption[0].severity"].tolist()
    )
    for other in (10, 9 + 2**32):
        c = sample(eight, 0, 500, seed=other)
        for f in a:
            if f == "demand.growth_pct_per_yr":  # fixed
                assert np.array_equal(a[f], c[f])
            elif f in ("disruption[0].happens", "demand.elasticity.other"):  # discrete: most differ
                assert (a[f] != c[f]).mean() > 0.2
            else:
                assert not np.isin(a[f], c[f]).any(), f


def test_a_draw_depends_only_on_its_entry_and_its_position():
    s = load_scenario("china-embargo-framework-12m")
    sev = {"field": "disruption[0].severity", "dist": "uniform", "low": 0.5, "high": 1.0}
    months = {"field": "disruption[0].months", "dist": "triangular", "low": 3, "mode": 9, "high": 18}
    a = sample(s.with_changes(uncertain=[sev, months]), 0, 300, seed=4)
    # another distribution for the second entry and a third entry: the first's draws stay
    other = {"field": "disruption[0].months", "dist": "choice", "values": [3, 6]}
    grow = {"field": "demand.growth_pct_per_yr", "dist": "uniform", "low": 0, "high": 5}
    b = sample(s.with_changes(uncertain=[sev, other, grow]), 0, 300, seed=4)
    assert np.array_equal(a["disruption[0].severity"], b["disruption[0].severity"])
    # moved to second place, it is drawn from other numbers
    c = sample(s.with_changes(uncertain=[months, sev]), 0, 300, seed=4)
    assert not np.isin(a["disruption[0].severity"], c["disruption[0].severity"]).any()


def test_fields_of_one_entry_share_one_draw():
    s = load_scenario("china-embargo-framework-12m").with_changes(
        uncertain=[
            {
                "fields": ["disruption[0].severity", "disruption[0].compliance"],
                "dist": "beta",
                "a": 2,
                "b": 2,
            }
        ]
    )
    d = sample(s, 0, 100)
    assert list(d) == ["disruption[0].severity", "disruption[0].compliance"]
    assert np.array_equal(d["disruption[0].severity"], d["disruption[0].compliance"])
    d["disruption[0].severity"][:] = -1  # two arrays, not one
    assert (d["disruption[0].compliance"] >= 0).all()


def test_bad_seeds_and_draw_ranges_are_refused(eight):
    assert {f: len(x) for f, x in sample(eight, 7, 0).items()} == {u["field"]: 0 for u in EIGHT}
    for seed in (-1, 2**64):
        with pytest.raises(ValueError, match="seed must be"):
            sample(eight, 0, 3, seed=seed)
    with pytest.raises(ValueError, match="not all in"):
        sample(eight, 2**64 - 2, 3)
    assert len(sample(eight, 2**64 - 3, 3)["disruption[0].severity"]) == 3


# -- distributions --------------------------------------------------------------------------------


def test_fixed():
    assert (draws(1000, value=2.5, dist="fixed") == 2.5).all()


@pytest.mark.parametrize(("lo", "hi"), [(0.2, 1.7), (-50.0, 100.0)])
def test_uniform(lo, hi):
    x = draws(dist="uniform", low=lo, high=hi)
    assert ((lo <= x) & (x <= hi)).all()
    assert_moments(x, (lo + hi) / 2, (hi - lo) ** 2 / 12)
    assert_ks(x, lambda v: (v - lo) / (hi - lo))
    assert (draws(10, dist="uniform", low=3.0, high=3.0) == 3.0).all()


@pytest.mark.parametrize(("a", "c", "b"), [(0.0, 0.3, 1.0), (3.0, 3.0, 18.0), (-2.0, 5.0, 5.0)])
def test_triangular(a, c, b):
    x = draws(dist="triangular", low=a, mode=c, high=b)
    assert ((a <= x) & (x <= b)).all()
    assert_moments(x, (a + b + c) / 3, (a * a + b * b + c * c - a * b - a * c - b * c) / 18)

    def cdf(v):
        left = (v - a) ** 2 / ((b - a) * (c - a)) if c > a else np.zeros_like(v)
        right = 1 - (b - v) ** 2 / ((b - a) * (b - c)) if b > c else np.ones_like(v)
        return np.where(v <= c, left, right)

    assert_ks(x, cdf)
    assert (draws(10, dist="triangular", low=4.0, mode=4.0, high=4.0) == 4.0).all()


def truncated_normal_moments(mu: float, sd: float, lo: float, hi: float) -> tuple[float, float]:
    a, b = (lo - mu) / sd, (hi - mu) / sd
    mass = float(phi(np.array([b]))[0] - phi(np.array([a]))[0])
    da, db = pdf(a), pdf(b)
    aa = a * da if math.isfinite(a) else 0.0
    bb = b * db if math.isfinite(b) else 0.0
    m = (da - db) / mass
    return mu + sd * m, sd * sd * (1 + (aa - bb) / mass - m * m)


@pytest.mark.parametrize(
    ("mu", "sd", "lo", "hi"),
    [
        (3.0, 2.0, None, None),  # untruncated
        (0.5, 0.3, 0.0, 1.0),
        (0.8, 0.1, None, 1.0),  # one side
        (0.0, 1.0, 4.0, 5.0),  # far in the upper tail (mass 3e-5): drawn mirrored, still exact
        (0.0, 1.0, -6.0, -4.4),  # far in the lower tail (mass 5e-6)
        (10.0, 1.0, 9.9, 10.1),  # a narrow window around the mean
    ],
)
def test_normal_and_its_truncations(mu, sd, lo, hi):
    x = draws(dist="normal", mean=mu, sd=sd, low=lo, high=hi)
    lo_, hi_ = (-math.inf if lo is None else lo), (math.inf if hi is None else hi)
    assert ((lo_ <= x) & (x <= hi_)).all()
    mean, var = truncated_normal_moments(mu, sd, lo_, hi_)
    assert_moments(x, mean, var)
    za, zb = phi(np.array([(lo_ - mu) / sd, (hi_ - mu) / sd]))
    assert_ks(x, lambda v: (phi((v - mu) / sd) - za) / (zb - za))


def test_truncated_normal_has_its_mass_right_up_to_the_bounds():
    mu, sd, lo, hi = 0.5, 0.3, 0.45, 0.56
    x = draws(dist="normal", mean=mu, sd=sd, low=lo, high=hi)
    assert x.min() >= lo and x.max() <= hi
    cdf = lambda v: float(phi(np.array([(v - mu) / sd]))[0])  # noqa: E731
    mass = cdf(hi) - cdf(lo)
    for a, b in ((lo, lo + 1e-3), (hi - 1e-3, hi)):  # the share of draws within 0.001 of each bound
        assert_frequency(int(((a <= x) & (x <= b)).sum()), len(x), (cdf(b) - cdf(a)) / mass)


def test_lognormal_and_its_truncations():
    med, sig = 2.0, 0.25
    mu = math.log(med)
    x = draws(dist="lognormal", median=med, sigma=sig)
    assert (x > 0).all()
    assert_moments(x, math.exp(mu + sig**2 / 2), (math.exp(sig**2) - 1) * math.exp(2 * mu + sig**2))
    assert_ks(np.log(x), lambda v: phi((v - mu) / sig))
    for lo, hi in ((1.5, 2.5), (2.5, 4.0), (0.0, 1.2), (-3.0, 1.0)):  # around, above, below the median
        x = draws(dist="lognormal", median=med, sigma=sig, low=lo, high=hi)
        assert ((lo <= x) & (x <= hi)).all()
        a = (math.log(lo) - mu) / sig if lo > 0 else -math.inf
        b = (math.log(hi) - mu) / sig

        def moment(r: int, a: float = a, b: float = b) -> float:
            p = phi(np.array([b - r * sig, a - r * sig, b, a]))
            return math.exp(r * mu + (r * sig) ** 2 / 2) * (p[0] - p[1]) / (p[2] - p[3])

        assert_moments(x, moment(1), moment(2) - moment(1) ** 2)
        assert (x >= hi - 0.02).any()  # draws reach the upper bound, and the lower one if it truncates
        assert (x <= lo + 0.02).any() if lo > 0 else True


@pytest.mark.parametrize(
    ("dist", "params"),
    [
        ("normal", {"mean": 0.0, "sd": 1.0, "low": 6.0, "high": 7.0}),
        ("normal", {"mean": 0.5, "sd": 0.01, "low": -3.0, "high": 0.44}),
        ("lognormal", {"median": 1.0, "sigma": 0.1, "low": 2.0, "high": 3.0}),
    ],
)
def test_truncation_that_keeps_almost_no_mass_is_refused(dist, params):
    with pytest.raises(UserError, match="almost no mass"):
        draws(10, dist=dist, **params)


def test_truncation_that_keeps_just_over_the_minimum_mass_is_drawn():
    assert 0.5 * math.erfc(4.7 / math.sqrt(2)) > MIN_MASS  # 1.3e-6
    x = draws(10_000, dist="normal", mean=0.0, sd=1.0, low=4.7, high=30.0)
    assert (x >= 4.7).all() and x.max() < 8
    assert_moments(x, *truncated_normal_moments(0.0, 1.0, 4.7, 30.0))


@pytest.mark.parametrize(
    ("a", "b", "lo", "hi"), [(2, 5, None, None), (0.5, 0.5, 2.0, 3.0), (0.3, 3, 0, 1), (40, 15, -1, 1)]
)
def test_beta(a, b, lo, hi):
    x = draws(1_000_000, dist="beta", a=a, b=b, low=lo, high=hi)  # a million: the gamma variates' shapes to 1%
    lo_, hi_ = (0.0 if lo is None else lo), (1.0 if hi is None else hi)
    assert ((lo_ <= x) & (x <= hi_)).all()
    w = hi_ - lo_
    assert_moments(x, lo_ + w * a / (a + b), w * w * a * b / ((a + b) ** 2 * (a + b + 1)))


def test_beta_with_tiny_shapes_does_not_underflow():
    a, b = 0.02, 0.03  # boosted shapes; in logs, X / (X + Y) is not 0 / 0 when both are tiny
    x = draws(dist="beta", a=a, b=b)
    assert np.isfinite(x).all() and ((x >= 0) & (x <= 1)).all()
    assert_moments(x, a / (a + b), a * b / ((a + b) ** 2 * (a + b + 1)))
    assert x.min() < 1e-50 and x.max() > 1 - 1e-15  # the mass piles up at both ends


@pytest.mark.parametrize("p", [0.0, 0.03, 0.6, 1.0])
def test_bernoulli(p):
    x = draws(dist="bernoulli", p=p)
    assert set(np.unique(x)) <= {0.0, 1.0}
    if 0 < p < 1:
        assert_frequency(int(x.sum()), len(x), p)
    else:  # never or always
        assert (x == p).all()


@pytest.mark.parametrize(
    ("values", "weights"),
    [((1.0, 2.0, 3.0), ()), ((5.0, 6.0, 7.0, 8.0), (1.0, 0.0, 3.0, 6.0)), ((-1.0, 4.0, 9.0), (0.2, 0.8, 0.0))],
)
def test_choice_follows_its_weights(values, weights):
    x = draws(dist="choice", values=values, weights=weights)
    w = np.asarray(weights or [1.0] * len(values))
    p = w / w.sum()
    assert set(np.unique(x)) == {v for v, q in zip(values, p, strict=True) if q > 0}
    counts = np.array([(x == v).sum() for v, q in zip(values, p, strict=True) if q > 0])
    expected = len(x) * p[p > 0]
    stat = float(((counts - expected) ** 2 / expected).sum())
    assert chi2_sf(stat, len(counts) - 1) > P_FAIL
