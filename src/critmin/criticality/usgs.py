"""The USGS supply-risk method (2022 list, Open-File Report 2021-1045), as far as the data allow.

``supply risk = DP x TE x EV``, each on 0-1:

* disruption potential ``DP = sum_c share_c^2 x WGI_scaled_c / 10``: governance-weighted
  production concentration (approximated: USGS builds its own country weights from the WGI; critmin
  reuses the EU scaling divided by its maximum, so DP is the EU ``HHI_WGI`` on a 0-1 scale);
* trade exposure ``TE = max(0, net import reliance)`` of the perspective (USA by default), from the
  same sources as the EU method's IR;
* economic vulnerability ``EV = min(1, cost_share / margin)``: the share of downstream operating
  margin a doubling of the material's price would take (approximated: USGS uses industry-level
  expenditure and net operating income; critmin takes one cost share and one margin per material
  from the inputs table, the margin an ``assumption`` unless you supply yours). Where a material has
  no cost share the risk is ``DP x TE`` alone, with a warning, and ``economic_vulnerability`` is
  None: a supply-exposure ranking, never a silent 1).

Evaluated per stage; a material's risk is its bottleneck stage's. Every approximated input is
marked ``approximated`` in the result's ``inputs``.

>>> round(usgs_risk(0.5, 1.0, 1.0), 6)
0.5
"""

from __future__ import annotations

from typing import Any

from critmin.chain import SupplyChain
from critmin.criticality.inputs import Inputs, MissingInput, cite
from critmin.criticality.supply import (
    Perspective,
    hhi_wgi_t,
    import_reliance,
    stages_with_data,
    supply_shares,
    wgi_of,
)


def usgs_risk(dp: float, te: float, ev: float) -> float:
    """DP x TE x EV with TE floored at 0."""
    return dp * max(te, 0.0) * ev


def assess_material(chain: SupplyChain, inputs: Inputs, persp: Perspective, material: str) -> dict[str, Any]:
    """One row of the USGS method for ``material``."""
    cost = inputs.row("cost_share", material=material)
    margin = inputs.row("margin", material=material)
    ev_missing = cost is None or margin is None
    # without a cost share (or margin) the risk is DP x TE alone, said in a warning: a supply-exposure
    # ranking, not the full USGS product
    ev = 1.0 if cost is None or margin is None else min(1.0, float(cost["value"]) / float(margin["value"]))
    stages = stages_with_data(chain, material, inputs)
    rows: list[dict[str, Any]] = []
    missing_ir: list[str] = []
    for st in stages:
        world, year, _ = supply_shares(chain, inputs, material, st)
        if not world:
            continue
        wgi = wgi_of(chain, inputs, material, st, world)
        dp = hhi_wgi_t(world, wgi, {}) / 10.0
        ir, basis = import_reliance(chain, inputs, persp, material, st)
        if ir is None:
            missing_ir.append(st)
            continue
        te = max(ir, 0.0)
        rows.append({"stage": st, "year": year, "sr": usgs_risk(dp, te, ev), "disruption_potential": dp,
                     "trade_exposure": te, "net_import_reliance": ir, "import_reliance_basis": basis})  # fmt: skip
    if not rows:
        raise MissingInput(
            f"{material}: import_reliance missing for {persp.name} at {', '.join(missing_ir) or 'every stage'}"
        )
    warnings = (
        [
            f"{material}: import_reliance missing for {persp.name} at {', '.join(missing_ir)}, so its USGS risk "
            f"uses {', '.join(r['stage'] for r in rows)} only"
        ]
        if missing_ir
        else []
    )
    if ev_missing:
        warnings.append(f"{material}: {'cost_share' if cost is None else 'margin'} missing, so no economic "
                        "vulnerability: its USGS risk is disruption potential x trade exposure alone")  # fmt: skip
    worst = max(rows, key=lambda r: r["sr"])
    thr = float(inputs.require("usgs_threshold", material)["value"])
    return {
        "material": material,
        "method": "usgs",
        "perspective": persp.name,
        "sr": worst["sr"],
        "ei": None,
        "bottleneck_stage": worst["stage"],
        "critical": bool(worst["sr"] >= thr),
        "inputs": {
            "warnings": warnings,
            "threshold": thr,
            "economic_vulnerability": None if ev_missing else ev,
            "cost_share": cite(cost),
            "margin": cite(margin),
            "stages": {r["stage"]: r for r in rows},
            "stages_without_import_reliance": missing_ir,
            "approximated": [
                "disruption_potential (EU WGI scaling / 10)",
                "economic_vulnerability (cost share / margin)",
            ],
        },
    }
