"""Monte Carlo sampling: draw a scenario's ``[[uncertain]]`` fields and apply the draws to a
compiled scenario (a batch of variants). Used by :mod:`critmin.risk` and by anything that needs
the same draws (the levers' optimisers reuse them).

Reproducibility: draw ``k`` uses its own generator, ``SeedSequence(seed, spawn_key=(k,))``, so it
is the same number whatever the chunk size, the number of workers or the machine.

Example
-------
>>> from critmin.scenario import load_scenario
>>> s = load_scenario("china-embargo-framework-12m").with_changes(uncertain=[
...     {"field": "disruption[0].severity", "dist": "uniform", "low": 0.5, "high": 1.0}])
>>> a = sample(s, 0, 3)["disruption[0].severity"]
>>> bool((a == sample(s, 0, 3)["disruption[0].severity"]).all()), bool(((0.5 <= a) & (a <= 1.0)).all())
(True, True)
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from critmin.engine.compiled import CompiledScenario, Event, replicate
from critmin.errors import UserError
from critmin.names import SECTORS
from critmin.scenario import UNCERTAIN_FIELD, Scenario, Uncertain

Array = NDArray[np.float64]


def _f(x: float | None) -> float:
    assert x is not None  # the scenario's validation guarantees every parameter a distribution needs
    return float(x)


def _draw_one(u: Uncertain, rng: np.random.Generator) -> float:
    lo = -math.inf if u.low is None else u.low
    hi = math.inf if u.high is None else u.high
    if u.dist == "fixed":
        return _f(u.value)
    if u.dist == "uniform":
        return float(rng.uniform(lo, hi))
    if u.dist == "triangular":
        if lo == hi:
            return float(lo)
        return float(rng.triangular(lo, _f(u.mode), hi))
    if u.dist == "normal":
        for _ in range(1000):  # truncation by rejection (bounded: a clear error rather than a hang)
            x = float(rng.normal(_f(u.mean), _f(u.sd)))
            if lo <= x <= hi:
                return x
        raise UserError(f"normal({u.mean}, {u.sd}) truncated to [{lo}, {hi}] has almost no mass there")
    if u.dist == "lognormal":
        for _ in range(1000):
            x = float(rng.lognormal(math.log(_f(u.median)), _f(u.sigma)))
            if lo <= x <= hi:
                return x
        raise UserError(f"lognormal(median {u.median}, sigma {u.sigma}) truncated to [{lo}, {hi}] has almost no mass")
    if u.dist == "beta":
        x = float(rng.beta(_f(u.a), _f(u.b)))
        b_lo = 0.0 if u.low is None else u.low
        b_hi = 1.0 if u.high is None else u.high
        return b_lo + (b_hi - b_lo) * x
    if u.dist == "bernoulli":
        return float(rng.random() < _f(u.p))
    # choice
    w = np.asarray(u.weights or [1.0] * len(u.values), dtype=float)
    return float(u.values[int(rng.choice(len(u.values), p=w / w.sum()))])


#: disruption fields drawn as shares, and the compiled event's field each one sets
_EVENT_SHARES = {
    "compliance": "compliance",
    "covered_share": "covered",
    "approval_share": "approve0",
    "approval_share_final": "approve1",
}


def sample(scenario: Scenario, first: int, count: int, seed: int | None = None) -> dict[str, Array]:
    """Draws ``first .. first + count - 1`` of every uncertain field: ``{field: (count,) array}``.

    Draw ``k`` comes from ``SeedSequence(seed, spawn_key=(k,))`` alone, entries in file order.
    """
    seed = scenario.seed if seed is None else seed
    out = {f: np.empty(count) for u in scenario.uncertain for f in u.targets}
    for i in range(count):
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(first + i,)))
        for u in scenario.uncertain:
            x = _draw_one(u, rng)
            for f in u.targets:
                out[f][i] = x
    return out


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
