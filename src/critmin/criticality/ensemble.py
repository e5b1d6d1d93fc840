"""The USGS 2025 idea in its simplest honest form: rank materials by probability-weighted loss.

For each scenario of a set (by default every built-in), the engine's Monte Carlo gives the
perspective's expected shortfall over the horizon (a scenario without ``[[uncertain]]`` entries is
one certain run). The scenarios are weighted equally unless weights are given (an ``assumption``:
critmin has no probabilities for them), and the risk is

    sr = sum_scenarios w x E[shortfall of the perspective] / E[demand of the perspective]

per material: the expected share of the perspective's demand lost. Only simulated materials have
one; EI, for the criticality matrix, is the EU method's.

Example
-------
>>> weights_for(["a", "b"], None)
{'a': 0.5, 'b': 0.5}
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from critmin.chain import SupplyChain
from critmin.criticality.inputs import MissingInput
from critmin.criticality.supply import Perspective
from critmin.errors import UserError


def weights_for(scenarios: Sequence[str], weights: Sequence[float] | None) -> dict[str, float]:
    """Normalised scenario weights (equal by default); each scenario once, finite weights.

    >>> weights_for(["a", "a"], [1, 3])
    Traceback (most recent call last):
    ...
    critmin.errors.UserError: scenario 'a' is named twice: name each scenario once (give it the summed weight)
    """
    seen: set[str] = set()
    for s in scenarios:
        if s in seen:
            raise UserError(f"scenario {s!r} is named twice: name each scenario once (give it the summed weight)")
        seen.add(s)
    if weights is None:
        return {s: 1.0 / len(scenarios) for s in scenarios}
    if len(weights) != len(scenarios):
        raise UserError(f"{len(weights)} weights for {len(scenarios)} scenarios")
    if not all(math.isfinite(w) and w >= 0 for w in weights) or sum(weights) <= 0:
        raise UserError("scenario weights must be finite, non-negative and not all zero")
    total = float(sum(weights))
    return {s: float(w) / total for s, w in zip(scenarios, weights, strict=True)}


def expected_losses(
    chain: SupplyChain,
    persp: Perspective,
    scenarios: Sequence[str],
    draws: int,
    seed: int | None,
    weights: Sequence[float] | None = None,
) -> dict[str, dict[str, Any]]:
    """Per material: probability-weighted expected shortfall share of the perspective's demand,
    with each scenario's contribution and standard error."""
    from critmin.risk import run_ensemble
    from critmin.scenario import load_scenario

    if not persp.regions:
        raise MissingInput(f"{persp.name}: not a region or a union of regions of the engine (ensemble method)")
    w = weights_for(scenarios, weights)
    out: dict[str, dict[str, Any]] = {}
    for name in scenarios:
        s = load_scenario(name, blocs=chain.blocs)
        n = draws if s.uncertain else 1
        ens = run_ensemble(s, chain, n, seed=seed)
        pairs = ens.pairs
        for mat in (str(m) for m in ens["price_material"].values):
            idx = [i for i, (m, r) in enumerate(pairs) if m == mat and r in persp.regions]
            if not idx:
                continue
            short = ens["shortfall_t"].isel(pair=idx).values.astype(float).sum(-1)
            dem = ens["demand_t"].isel(pair=idx).values.astype(float).sum(-1)
            if dem.mean() <= 0:
                continue
            share = float(short.mean() / dem.mean())
            se = float(short.std(ddof=1) / np.sqrt(n) / dem.mean()) if n > 1 else 0.0
            rec = out.setdefault(mat, {"sr": 0.0, "stderr": 0.0, "scenarios": {}})
            rec["sr"] += w[name] * share
            rec["stderr"] = float(np.hypot(rec["stderr"], w[name] * se))
            rec["scenarios"][s.name] = {"weight": w[name], "expected_shortfall_share": share, "stderr": se,
                                        "draws": n, "expected_shortfall_t": float(short.mean())}  # fmt: skip
    return out
