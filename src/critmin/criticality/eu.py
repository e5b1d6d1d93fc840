"""The EU CRM method (JRC 2017, used for the 2020 and 2023 lists), per stage and per perspective.

Supply risk of a stage::

    SR = [HHI_WGI,t(global) x IR/2 + HHI_WGI,t(sourcing) x (1 - IR/2)] x (1 - EoL_RIR) x SI_SR

with ``IR`` the perspective's import reliance clipped to [0, 1]; where only one supply term
exists (no import reliance, so no sourcing mix) it is used alone. A material's SR is that of its
bottleneck stage (the largest). Economic importance ``EI = sum_s A_s x Q_s x SI_EI`` with ``Q_s``
scaled so the largest sector value added is 10. Critical when ``SR >= sr_threshold`` and
``EI >= ei_threshold`` (1.0 and 2.8 by default).

Example: the first reference case of the method (one supplier, WGI_scaled 5, IR 100 %)

>>> supply_risk(5.0, 5.0, 1.0, 0.0, 1.0)
5.0
>>> round(supply_risk(5.0, 1.6, 1.0, 0.0, 1.0), 6)  # sourced from a partner (WGI 2, t 0.8)
3.3
"""

from __future__ import annotations

from datetime import date
from typing import Any

from critmin.chain import SupplyChain
from critmin.criticality.inputs import Inputs, MissingInput, cite
from critmin.criticality.supply import (
    Perspective,
    default_as_of,
    hhi_wgi_t,
    import_reliance,
    partners,
    sourcing,
    stages_with_data,
    supply_shares,
    trade_factors,
    wgi_of,
)

#: sector shares summing to at most this are fractions of all use (the EU's printed shares sum to
#: up to 1.02 by rounding), used as given; a larger sum is normalised to 1
SHARE_SUM_TOLERANCE = 1.05


def supply_risk(global_term: float | None, sourcing_term: float | None, ir: float | None, eol_rir: float,
                si_sr: float) -> float:  # fmt: skip
    """The JRC formula; one term alone where the other does not exist."""
    if global_term is None and sourcing_term is None:
        raise ValueError("no supply term")
    if ir is None or sourcing_term is None:
        base = global_term if global_term is not None else sourcing_term
    elif global_term is None:
        base = sourcing_term
    else:
        w = min(max(ir, 0.0), 1.0) / 2
        base = global_term * w + sourcing_term * (1 - w)
    assert base is not None
    return base * (1 - eol_rir) * si_sr


def stage_supply_risk(
    chain: SupplyChain, inputs: Inputs, persp: Perspective, material: str, stage: str, as_of: date | None = None
) -> dict[str, Any]:
    """SR of one stage with every input used, the trade-restriction factors those in force on
    ``as_of`` (default :func:`~critmin.criticality.supply.default_as_of`); raises
    :class:`MissingInput` naming what is missing."""
    world, year, shares_basis = supply_shares(chain, inputs, material, stage)
    given_g = inputs.row("hhi_wgi_t_global", material=material, stage=stage)
    given_s = inputs.row("hhi_wgi_t_sourcing", perspective=persp.name, material=material, stage=stage)
    if not world and given_g is None:
        raise MissingInput(f"{material}: no production shares at {stage}")
    ir, ir_basis = import_reliance(chain, inputs, persp, material, stage)
    mix, mix_basis = (
        ({}, "input: hhi_wgi_t_sourcing")
        if given_s is not None
        else sourcing(inputs, persp, material, stage, world, ir)
    )
    countries = sorted(set(world) | set(mix))
    wgi = wgi_of(chain, inputs, material, stage, world, mix)
    as_of = as_of or default_as_of(chain)
    tf = trade_factors(inputs, persp, material, chain, as_of)
    t_global = {c: v for c, (v, _) in tf.items()}
    part = partners(inputs, persp)
    agree = float(inputs.require("agreement_factor", material)["value"])

    def t_source(c: str) -> float:
        # in the sourcing term: the perspective's own output has no export restriction, a partner
        # gets the agreement factor, other suppliers keep theirs
        if c in persp.members:
            return 1.0
        return agree if c in part else t_global.get(c, 1.0)

    t_src = {c: t_source(c) for c in mix}
    # a published term (e.g. the EU's own HHI_WGI,t) replaces the one computed from the shares
    g = float(given_g["value"]) if given_g is not None else hhi_wgi_t(world, wgi, t_global)
    s = float(given_s["value"]) if given_s is not None else (hhi_wgi_t(mix, wgi, t_src) if mix else None)
    warnings = []
    if ir is None and mix_basis in ("input", "import shares without import reliance"):
        kind = "sourcing_share" if mix_basis == "input" else "import_share"
        warnings.append(f"{material}: {kind} given for {persp.name} at {stage} but import_reliance "
                        "missing, so the global term is used alone")  # fmt: skip
    eol_row = inputs.require("eol_rir", material, material=material)
    si_row = inputs.require("si_sr", material, material=material)
    sr = supply_risk(g, s, ir, float(eol_row["value"]), float(si_row["value"]))
    return {
        "stage": stage,
        "sr": sr,
        "year": year,
        "hhi_wgi_t_global": g,
        "hhi_wgi_t_sourcing": s,
        "import_reliance": ir,
        "import_reliance_basis": ir_basis,
        "sourcing_basis": mix_basis,
        "terms": "both" if ir is not None and s is not None else "global only",
        "hhi_wgi_t_basis": {
            "global": "input" if given_g is not None else "computed",
            "sourcing": "input" if given_s is not None else ("computed" if s is not None else "none"),
        },
        "supply_shares_basis": shares_basis,
        "supply_shares": {c: round(v, 6) for c, v in sorted(world.items(), key=lambda kv: -kv[1])},
        "sourcing_shares": {c: round(v, 6) for c, v in sorted(mix.items(), key=lambda kv: -kv[1])},
        "wgi_scaled": {c: round(wgi[c], 4) for c in countries if c in wgi},
        "trade_factors": {c: {"t": v, "why": why} for c, (v, why) in sorted(tf.items())},
        "trade_factors_as_of": as_of.isoformat(),
        "agreement_partners": sorted(part),
        "eol_rir": cite(eol_row),
        "si_sr": cite(si_row),
        "warnings": warnings,
    }


def economic_importance(chain: SupplyChain, inputs: Inputs, material: str) -> dict[str, Any]:
    """EI with its inputs; raises :class:`MissingInput` where sector shares, value added or SI_EI
    are missing."""
    user = inputs.items("sector_share", material=material)
    if user:
        total = sum(float(r["value"]) for r in user.values())
        if total <= 0:
            raise MissingInput(f"{material}: sector_share rows sum to zero")
        if total > SHARE_SUM_TOLERANCE:
            shares = {sec: float(r["value"]) / total for sec, r in user.items()}
            share_basis = f"input (sum {total:.3g} > {SHARE_SUM_TOLERANCE:g}: normalised to sum to 1)"
        else:
            # fractions of all use, as the EU gives them: use with no sector ("Other") adds nothing
            shares = {sec: float(r["value"]) for sec, r in user.items()}
            share_basis = f"input (fractions of all use, sum {total:.3g}; the rest has no sector and adds nothing)"
    else:
        d = chain.demand
        d = d[d["material"] == material] if "material" in d.columns else d.iloc[0:0]
        if d.empty or d["demand_t_per_yr"].sum() <= 0:
            raise MissingInput(f"{material}: sector_share missing (no demand by sector in the store)")
        by = d.groupby("sector")["demand_t_per_yr"].sum()
        shares = {str(sec): float(v / by.sum()) for sec, v in by.items()}
        share_basis = "demand table (base year, all regions): " + "; ".join(sorted(set(d["confidence"])))
    va_rows = inputs.rows("value_added")
    if va_rows.empty:
        raise MissingInput(f"{material}: value_added missing")
    named = {str(x) for x in va_rows["sector"] if x != "*"}
    top = float(va_rows["value"].max())
    q: dict[str, float] = {}
    # once any sector has its own value added, the wildcard no longer stands in for the others
    missing = [sec for sec in shares if named and sec not in named]
    if missing:
        raise MissingInput(f"{material}: value_added missing for sector(s) {', '.join(missing)}")
    if named:
        top = float(va_rows.loc[va_rows["sector"] != "*", "value"].max())
    for sector in shares:
        v = inputs.value("value_added", sector=sector)
        if v is None:
            raise MissingInput(f"{material}: value_added missing for sector {sector}")
        q[sector] = 10.0 * v / top if top > 0 else 0.0
    si_row = inputs.require("si_ei", material, material=material)
    ei = sum(shares[s] * q[s] for s in shares) * float(si_row["value"])
    return {
        "ei": ei,
        # value-added rows for sectors this material does not use (a typo shows up here)
        "value_added_unused": sorted(named - set(shares)),
        "sector_shares": dict(sorted(shares.items(), key=lambda kv: -kv[1])),
        "sector_share_basis": share_basis,
        "value_added_scaled": q,
        "value_added_basis": sorted({str(r) for r in va_rows["confidence"]}),
        "si_ei": cite(si_row),
    }


def assess_material(
    chain: SupplyChain, inputs: Inputs, persp: Perspective, material: str, as_of: date | None = None
) -> dict[str, Any]:
    """One row of the EU method for ``material``: per-stage SR, bottleneck, EI, critical; the
    trade-restriction factors are those in force on ``as_of`` (default: 31 December of the
    production data's latest year)."""
    stages = stages_with_data(chain, material, inputs)
    if not stages:
        raise MissingInput(f"{material}: no production data at any stage")
    per_stage = [stage_supply_risk(chain, inputs, persp, material, s, as_of) for s in stages]
    worst = max(per_stage, key=lambda r: r["sr"])
    ei = economic_importance(chain, inputs, material)
    sr_t = float(inputs.require("sr_threshold", material)["value"])
    ei_t = float(inputs.require("ei_threshold", material)["value"])
    return {
        "material": material,
        "method": "eu",
        "perspective": persp.name,
        "sr": worst["sr"],
        "ei": ei["ei"],
        "bottleneck_stage": worst["stage"],
        "critical": bool(worst["sr"] >= sr_t and ei["ei"] >= ei_t),
        "inputs": {
            "warnings": [w for r in per_stage for w in r["warnings"]],
            "thresholds": {"sr": sr_t, "ei": ei_t},
            "stages": {r["stage"]: r for r in per_stage},
            "economic_importance": ei,
        },
    }
