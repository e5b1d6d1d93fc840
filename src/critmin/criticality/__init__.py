"""Criticality assessments: the EU CRM method, the USGS supply-risk method and an engine-based
ensemble ranking, per stage and from any perspective. Formulas and limits: ``docs/criticality.md``.

:func:`assess` returns a DataFrame with one row per material (``material, method, perspective, sr,
ei, bottleneck_stage, critical, inputs``) and the list of materials skipped for missing inputs, each
with the input and material named; ``strict=True`` turns the first of those into an error.

Example
-------
>>> from critmin.jobs import load_chain, open_store
>>> chain = load_chain(open_store())
>>> results, skipped = assess(chain, "eu", "EU", ["Dy"])
>>> results.loc[0, ["material", "perspective", "bottleneck_stage"]].tolist(), skipped
(['Dy', 'EU', 'separation'], [])
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from critmin import names
from critmin.chain import SupplyChain
from critmin.criticality import eu, usgs
from critmin.criticality.ensemble import expected_losses
from critmin.criticality.inputs import Inputs, MissingInput
from critmin.criticality.supply import perspective, resolve_as_of
from critmin.errors import UserError, suggest
from critmin.names import MATERIAL_IDS

METHODS = ("eu", "usgs", "ensemble")
DEFAULT_PERSPECTIVE = {"eu": "EU", "usgs": "USA", "ensemble": "framework"}

__all__ = ["METHODS", "RESULT_COLUMNS", "Inputs", "MissingInput", "assess", "factors_text", "result_rows",
           "stage_frame", "summary_frame"]  # fmt: skip


def assess(
    chain: SupplyChain,
    method: str,
    perspective_name: str | None = None,
    materials: Sequence[str] | None = None,
    inputs: Inputs | None = None,
    strict: bool = False,
    scenarios: Sequence[str] | None = None,
    draws: int = 200,
    seed: int | None = None,
    weights: Sequence[float] | None = None,
    as_of: str | int | date | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """The assessment by ``method`` of ``materials`` (default: every material with production data)
    from one perspective, and the skipped materials' reasons.

    The frame has one row per material, sorted by supply risk, with the columns of
    :data:`RESULT_COLUMNS`: ``sr`` and ``ei`` are the method's indices (dimensionless; the
    ensemble's ``sr`` is the expected share of the perspective's demand lost over each scenario's
    horizon), ``critical`` compares them with the thresholds, and ``inputs`` holds every input used
    (value, source, confidence, origin), per stage where the method has stages.

    ``as_of`` (a year, meaning its 31 December, ``YYYY-MM`` or ``YYYY-MM-DD``) is the day whose
    export controls give the EU method's trade-restriction factors; by default 31 December of the
    latest year of the production data, so the result follows the data, not the clock. The EU rows
    record it under ``inputs["trade_factors_as_of"]`` with its basis; the USGS and ensemble methods
    use no trade factors.
    """
    if method not in METHODS:
        hint = suggest(method, METHODS)
        raise UserError(
            f"unknown method {method!r}"
            + (f" (did you mean {hint[0]!r}?)" if hint else f" (valid: {', '.join(METHODS)})")
        )
    inputs = inputs or Inputs.defaults(chain)
    persp = perspective(chain, perspective_name or DEFAULT_PERSPECTIVE[method])
    day, day_basis = resolve_as_of(chain, as_of)
    mats = [_material(chain, inputs, m) for m in materials] if materials else None
    rows: list[dict[str, Any]] = []
    skipped: list[str] = []

    def skip(msg: str) -> None:
        if strict:
            raise UserError(f"missing input: {msg} (--strict)")
        skipped.append(msg)

    if method == "ensemble":
        from critmin.scenario import builtin_names

        losses = expected_losses(chain, persp, list(scenarios or builtin_names()), draws, seed, weights)
        if mats is None:  # by default the materials the engine simulates
            mats = [m for m in chain.materials if m in losses]
        thr = inputs.value("ensemble_threshold")
        if thr is None:
            raise UserError("missing input: ensemble_threshold")
        for m in mats:
            if m not in losses:
                skip(f"{m}: not simulated by the engine (no ensemble loss)")
                continue
            warnings = []
            try:
                ei: Any = eu.economic_importance(chain, inputs, m)
            except MissingInput as exc:
                ei = {"ei": None, "missing": str(exc)}
                warnings.append(f"{exc} (no EI for the matrix)")
            rows.append({"material": m, "method": method, "perspective": persp.name, "sr": losses[m]["sr"],
                         "ei": ei["ei"], "bottleneck_stage": None, "critical": bool(losses[m]["sr"] >= thr),
                         "inputs": {"warnings": warnings, "threshold": thr,
                                    "thresholds": {"sr": thr, "ei": inputs.value("ei_threshold")},
                                    "stderr": losses[m]["stderr"],
                                    "scenarios": losses[m]["scenarios"], "economic_importance": ei,
                                    "draws": draws, "seed": seed,
                                    "scenario_weights": "given" if weights else "equal (assumption)"}})  # fmt: skip
    else:
        if mats is None:
            mats = list(chain.materials)
            # and the materials known only through supply-share inputs (Lu)
            mats += [m for m in _supplied_by_inputs(inputs) if m not in mats]
        for m in mats:
            try:
                if method == "eu":
                    row = eu.assess_material(chain, inputs, persp, m, day)
                    row["inputs"].update(trade_factors_as_of=day.isoformat(), trade_factors_as_of_basis=day_basis)
                else:
                    row = usgs.assess_material(chain, inputs, persp, m)
                rows.append(row)
            except MissingInput as exc:
                skip(str(exc))
    for r in rows:
        for w in r["inputs"].get("warnings", []):
            if strict:
                raise UserError(f"missing input: {w} (--strict)")
    rows.sort(key=lambda r: (-r["sr"], r["material"]))
    return pd.DataFrame(rows, columns=list(RESULT_COLUMNS)), skipped


def _material(chain: SupplyChain, inputs: Inputs, name: str) -> str:
    """The chain's id for ``name``, or a known material the chain has no data for but the inputs
    give supply shares or terms for (Lu: the EU 2023 shares)."""
    try:
        return chain.material(name)
    except UserError:
        mid = names.material(name)
        if mid in _supplied_by_inputs(inputs):
            return mid
        raise


def _supplied_by_inputs(inputs: Inputs) -> list[str]:
    """Materials (in :data:`~critmin.names.MATERIAL_IDS` order) with ``supply_share`` or
    ``hhi_wgi_t_global`` rows: the EU method can score them without production data."""
    t = inputs.table
    have = set(t.loc[t["parameter"].isin(["supply_share", "hhi_wgi_t_global"]), "material"])
    return [m for m in MATERIAL_IDS if m in have]


#: the columns of an assessment (:func:`assess`)
RESULT_COLUMNS = ("material", "method", "perspective", "sr", "ei", "bottleneck_stage", "critical", "inputs")


def result_rows(results: pd.DataFrame | Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """An assessment frame (or its rows) as a list of row dicts."""
    if isinstance(results, pd.DataFrame):
        return [dict(r) for r in results.to_dict("records")]
    return [dict(r) for r in results]


def load_inputs(files: Sequence[Path] | None, use_defaults: bool = True, chain: SupplyChain | None = None) -> Inputs:
    """Defaults (the ``criticality_inputs`` table of ``chain``: the store's, with the user's overrides
    and imports; the shipped file where no chain is given) plus user files (see
    :mod:`critmin.criticality.inputs`)."""
    return Inputs.load(list(files or []), use_defaults=use_defaults, chain=chain)


def material_order(results: pd.DataFrame | Sequence[dict[str, Any]]) -> list[str]:
    """Materials of an assessment in the package's canonical order (for stable figures)."""
    present = {r["material"] for r in result_rows(results)}
    return [m for m in names.MATERIAL_IDS if m in present]


def summary_frame(results: pd.DataFrame | Sequence[dict[str, Any]]) -> pd.DataFrame:
    """One row per material and perspective, with the method's main inputs at the bottleneck."""
    out = []
    for r in result_rows(results):
        rec = {k: r[k] for k in ("material", "method", "perspective", "sr", "ei", "bottleneck_stage", "critical")}
        inp = r["inputs"]
        if r["method"] == "eu":
            st = inp["stages"][r["bottleneck_stage"]]
            rec.update(import_reliance=st["import_reliance"], terms=st["terms"], t_as_of=st.get("trade_factors_as_of"),
                       trade_factors=factors_text(st["trade_factors"]))  # fmt: skip
        elif r["method"] == "usgs":
            st = inp["stages"][r["bottleneck_stage"]]
            rec.update(disruption_potential=st["disruption_potential"], trade_exposure=st["trade_exposure"],
                       economic_vulnerability=inp["economic_vulnerability"])  # fmt: skip
        else:
            rec.update(expected_loss_pct=100 * r["sr"], stderr_pct=100 * inp["stderr"])
        out.append(rec)
    return pd.DataFrame(out)


def factors_text(factors: dict[str, dict[str, Any]]) -> str:
    """The trade-restriction factors of a stage in a table cell: each exporter's ``t`` with the
    control behind it and the date it took effect.

    >>> factors_text({"CHN": {"t": 1.1, "why": "export licensing in force since 2025-04-04 (CN-2025-018)"}})
    'CHN 1.1 (CN-2025-018 since 2025-04-04)'
    >>> factors_text({})
    ''
    """
    out = []
    for c, v in factors.items():
        why = str(v.get("why", ""))
        eid = re.search(r"\(([^()]+)\)", why)
        since = re.search(r"since (\S+)", why)
        basis = " since ".join(x for x in (eid.group(1) if eid else "", since.group(1) if since else "") if x)
        flags = [w for w in ("partly suspended", "lapsed") if w in why]
        basis += "".join(f", {w}" for w in flags)
        out.append(f"{c} {float(v['t']):g}" + (f" ({basis})" if basis else ""))
    return "; ".join(out)


def stage_frame(results: pd.DataFrame | Sequence[dict[str, Any]]) -> pd.DataFrame:
    """One row per material, perspective and stage (EU and USGS methods): the per-stage view."""
    out = []
    for r in result_rows(results):
        for stage, st in r["inputs"].get("stages", {}).items():
            rec: dict[str, Any] = {"material": r["material"], "perspective": r["perspective"], "stage": stage,
                                   "sr": st["sr"], "bottleneck": stage == r["bottleneck_stage"]}  # fmt: skip
            if r["method"] == "eu":
                rec.update(hhi_wgi_t_global=st["hhi_wgi_t_global"], hhi_wgi_t_sourcing=st["hhi_wgi_t_sourcing"],
                           import_reliance=st["import_reliance"], top_supplier=next(iter(st["supply_shares"]), None),
                           top_share=next(iter(st["supply_shares"].values()), None),
                           t_max=max((v["t"] for v in st["trade_factors"].values()), default=1.0),
                           terms=st["terms"], t_as_of=st.get("trade_factors_as_of"),
                           trade_factors=factors_text(st["trade_factors"]))  # fmt: skip
            else:
                rec.update(disruption_potential=st["disruption_potential"], trade_exposure=st["trade_exposure"])
            out.append(rec)
    return pd.DataFrame(out)
