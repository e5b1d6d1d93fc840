"""The EU's own published assessments, and critmin's EU method run on their inputs.

``src/critmin/data/eu_crm_2017_results.csv`` holds, for the 78 materials of the EU 2017
assessment, every input its supply risk needs as the report prints it (Tables 3, 18 and 19 of the
2017 criticality-assessments report): the stage assessed, the global and EU-sourcing
``HHI_WGI,t`` terms, import reliance, EoL-RIR, SI(SR), SI(EI), and the published SR and EI.

:func:`eu_2017_inputs` turns those rows into a criticality input file (the ``--inputs`` layout),
so ``critmin criticality --method eu --inputs FILE --by-stage`` runs critmin's own code on the
EU's inputs; :func:`reproduce_eu_2017` does the same for every row and says whether the published
SR lies within what the printed (rounded) inputs allow. The report prints its inputs to one
decimal (SI to 0.1, so 0.94 prints as 0.9) and IR and EoL-RIR to whole percent: a point estimate
from the printed inputs can differ from the published SR by a few tenths, so the check is an
interval: every input ranges over its rounding half-unit, and the published SR (itself rounded to
0.1) must fall inside the range of results.

Only the supply terms are published, not the shares and WGI behind them, and the report gives
no sector data for EI, so EI is compared only as published (``ei``), not recomputed; the 2023
use shares (``eu_crm_2023_use_shares.csv``) recompute the 2023 EI (:func:`reproduce_eu_2023`).

Example
-------
>>> rep = reproduce_eu_2017()
>>> len(rep), bool(rep["within_rounding"].all())
(78, True)
>>> rep.set_index("eu_material").loc["Dysprosium", ["sr_published", "sr_point", "sr_low", "sr_high"]].round(2).tolist()
[5.2, 4.95, 4.59, 5.27]
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pandas as pd

from critmin import eu_crm
from critmin.criticality.eu import SHARE_SUM_TOLERANCE, supply_risk
from critmin.dataset import data_dir

#: the report's stage assessed -> critmin's stage
STAGE = {"extraction": "mine", "processing": "separation"}


def eu_2017_results() -> pd.DataFrame:
    """The shipped 2017 table: text columns as read, numbers as floats (NaN where the report
    prints N/A); ``material`` is critmin's id ('' for materials critmin does not model)."""
    t = pd.read_csv(data_dir() / "eu_crm_2017_results.csv", dtype=str, keep_default_na=False)
    for c in ("sr", "ei", "import_reliance_pct", "eol_rir_pct", "si_ei", "si_sr", "hhi_wgi_t_global",
              "hhi_wgi_t_eu", "sr_global_only", "sr_eu_only", "sr_global_and_eu"):  # fmt: skip
        t[c] = pd.to_numeric(t[c].replace("", float("nan")))
    return t


def _terms(r: pd.Series) -> tuple[float, float]:
    """(global, sourcing) terms as the report's supply data used them: where only one was used
    (``GS only`` / ``EUS only``) both are that one, so the formula gives it whatever the IR."""
    g, e = r["hhi_wgi_t_global"], r["hhi_wgi_t_eu"]
    if r["supply_used"] == "GS only":
        return g, g
    if r["supply_used"] == "EUS only":
        return e, e
    return g, e


def eu_2017_inputs(materials: list[str] | None = None) -> pd.DataFrame:
    """The 2017 inputs of critmin's materials (all of them by default) as criticality input rows
    for the EU perspective at the stage assessed: ``hhi_wgi_t_global``, ``hhi_wgi_t_sourcing``,
    ``import_reliance`` (negative IR printed as 0, as in the report), ``eol_rir``, ``si_sr`` and
    ``si_ei``, each citing the report.

    >>> rows = eu_2017_inputs(["Ga"])
    >>> rows[["parameter", "value"]].values.tolist()[:3]
    [['hhi_wgi_t_global', 3.5], ['hhi_wgi_t_sourcing', 1.1], ['import_reliance', 0.34]]
    """
    t = eu_2017_results()
    t = t[t["material"] != ""]
    if materials is not None:
        t = t[t["material"].isin(materials)]
    out = []
    for _, r in t.iterrows():
        stage, g, e = STAGE[r["stage_assessed"]], *_terms(r)
        src = f"{r['source']}; {r['eu_material']}"
        ir = 0.0 if pd.isna(r["import_reliance_pct"]) else r["import_reliance_pct"] / 100
        for p, persp, st, v in (("hhi_wgi_t_global", "", stage, g), ("hhi_wgi_t_sourcing", "EU", stage, e),
                                ("import_reliance", "EU", stage, ir), ("eol_rir", "", "", r["eol_rir_pct"] / 100),
                                ("si_sr", "", "", r["si_sr"]), ("si_ei", "", "", r["si_ei"])):  # fmt: skip
            out.append({"parameter": p, "perspective": persp, "material": r["material"], "stage": st, "sector": "",
                        "country": "", "value": round(float(v), 6), "unit": "", "source": src, "confidence": "read",
                        "notes": f"EU 2017, supply data used: {r['supply_used']}"})  # fmt: skip
    return pd.DataFrame(out)


def write_eu_2017_inputs(path: str | Path, materials: list[str] | None = None) -> Path:
    """Write :func:`eu_2017_inputs` as a criticality input file (CSV)."""
    path = Path(path)
    eu_2017_inputs(materials).to_csv(path, index=False, lineterminator="\n")
    return path


def _sr_range(r: pd.Series) -> tuple[float, float, float]:
    """(point, low, high) SR from the printed inputs, each input over its rounding half-unit."""
    g0, e0 = _terms(r)
    ir0 = 0.0 if pd.isna(r["import_reliance_pct"]) else r["import_reliance_pct"] / 100
    eol0, si0 = r["eol_rir_pct"] / 100, r["si_sr"]

    def sr(g: float, e: float, ir: float, eol: float, si: float) -> float:
        return supply_risk(g, e, min(max(ir, 0.0), 1.0), min(max(eol, 0.0), 1.0), min(max(si, 0.0), 1.0))

    point = sr(g0, e0, ir0, eol0, si0)
    vals = [sr(max(g0 + dg, 0.0), max(e0 + de, 0.0), ir0 + di, eol0 + dl, si0 + ds)
            for dg, de, di, dl, ds in itertools.product((-0.05, 0.05), (-0.05, 0.05), (-0.005, 0.005),
                                                         (-0.005, 0.005), (-0.05, 0.05))]  # fmt: skip
    return point, min(vals), max(vals)


def reproduce_eu_2017() -> pd.DataFrame:
    """critmin's EU supply-risk formula (:func:`critmin.criticality.eu.supply_risk`) on the 2017
    report's printed inputs for each of its 78 materials: the point estimate, the range the
    rounding of the inputs allows, and whether the published SR (to its own rounding, +-0.05)
    lies in it."""
    t = eu_2017_results()
    rows = []
    for _, r in t.iterrows():
        point, lo, hi = _sr_range(r)
        rows.append({"eu_material": r["eu_material"], "material": r["material"], "stage": r["stage_assessed"],
                     "supply_used": r["supply_used"], "sr_published": r["sr"], "sr_point": point, "sr_low": lo,
                     "sr_high": hi, "within_rounding": bool(lo - 0.05 <= r["sr"] <= hi + 0.05)})  # fmt: skip
    return pd.DataFrame(rows)


def _printed_halfunit(text: str) -> float:
    """Half a unit of the last printed digit of a percentage, as a fraction ('43' -> 0.005,
    '0.1' -> 0.0005, '<0.1' -> 0.0005)."""
    t = text.strip().lstrip("<>")
    decimals = len(t.split(".")[1]) if "." in t else 0
    return 0.5 * 10.0 ** (-decimals) / 100


def _given(inp: pd.DataFrame, material: str, parameter: str, stage: str = "") -> float | None:
    r = inp[(inp["material"] == material) & (inp["parameter"] == parameter) & (inp["stage"] == stage)]
    return None if r.empty else float(r["value"].iloc[0])


def reproduce_eu_2023(wgi_scaled: dict[str, float] | None = None) -> pd.DataFrame:
    """critmin's EU formulas on the 2023 assessment's own inputs, per material and stage.

    SR: the report's global and EU-sourcing shares with its ``t`` (Appendix 7), WGI_scaled
    (``wgi_scaled``, default the pack's WGI, 2022 data: the year the EU used is not in the
    sources found), the EU's IR per stage, EoL-RIR and SI(SR) (``eu_crm_2023_inputs.csv``); the
    heavy rare earths use their group's EU mix. The range lets every printed share, IR and
    EoL-RIR move by half its last printed digit and SI by 0.005; ``within_rounding`` says whether
    the published SR (+-0.05) falls in it.

    EI: ``sum_s A_s x Q_s / max Q x 10 x SI(EI)`` from the Appendix 6 use shares (those with a
    sector, as fractions of all use: shares with no sector stay in the
    denominator: it adds nothing, as in the EU's own figures) and each sector's value added, with
    the range from the shares' rounding.

    >>> rep = reproduce_eu_2023()
    >>> row = rep[(rep["material"] == "Co") & (rep["stage"] == "mine")].iloc[0]
    >>> float(row["published"]), round(float(row["point"]), 2), bool(row["within_rounding"])
    (2.8, 2.77, True)
    """
    from critmin.chain import wgi_scaled as scale
    from critmin.dataset import read_pack

    w = wgi_scaled if wgi_scaled is not None else scale(read_pack("wgi")).to_dict()
    inp, sup, use = (eu_crm.read_file(f) for f in (eu_crm.INPUTS_FILE, eu_crm.SUPPLY_FILE, eu_crm.USE_FILE))
    sup = sup[sup["country_iso3"] != ""]
    inp = inp.assign(stage=inp["stage"].map(lambda s: STAGE.get(s, s)))
    named = use[use["nace_code"] != ""]
    va = eu_crm.value_added_by_sector(use)
    top = float(va.max())
    rows = []
    for (mat, stage), grp in sup[sup["material"] != "HREE"].groupby(["material", "stage"], sort=True):
        pub = _given(inp, str(mat), "sr", str(stage))
        ir = _given(inp, str(mat), "import_reliance", str(stage))
        eol, si = _given(inp, str(mat), "eol_rir"), _given(inp, str(mat), "si_sr")
        gl = grp[grp["scope"] == "global"]
        eu = grp[grp["scope"] == "eu_sourcing"]
        if eu.empty and mat in eu_crm.HREE_GROUP:
            eu = sup[(sup["material"] == "HREE") & (sup["stage"] == stage)]
        if pub is None or ir is None or eol is None or si is None or gl.empty:
            continue

        def term(d: pd.DataFrame, k: int) -> float | None:
            if d.empty:
                return None
            tot = 0.0
            for r in d.itertuples():
                s = max(eu_crm.pct_fraction(str(r.share_pct)) + k * _printed_halfunit(str(r.share_pct)), 0.0)
                tot += s * s * w.get(str(r.country_iso3), float("nan")) * float(r.t)
            return tot

        def sr(k: int, di: float, dl: float, ds: float, ir: float = ir, eol: float = eol, si: float = si,
               gl: pd.DataFrame = gl, eu: pd.DataFrame = eu) -> float:  # fmt: skip
            g, e = term(gl, k), term(eu, k)
            return supply_risk(g, e, min(max(ir / 100 + di, 0.0), 1.0), min(max(eol / 100 + dl, 0.0), 1.0),
                               min(max(si + ds, 0.0), 1.0))  # fmt: skip

        point = sr(0, 0.0, 0.0, 0.0)
        if point != point:  # a country without WGI
            continue
        vals = [sr(k, di, dl, ds) for k in (-1, 1) for di in (-0.005, 0.005) for dl in (-0.005, 0.005)
                for ds in (-0.005, 0.005)]  # fmt: skip
        lo, hi = min(vals), max(vals)
        rows.append({"material": mat, "stage": stage, "kind": "sr", "published": pub, "point": point, "low": lo,
                     "high": hi, "within_rounding": bool(lo - 0.05 <= pub <= hi + 0.05),
                     "terms": "both" if not eu.empty else "global only"})  # fmt: skip
    for mat, grp in named[named["material"] != ""].groupby("material", sort=True):
        pub, si_ei = _given(inp, str(mat), "ei"), _given(inp, str(mat), "si_ei")
        if pub is None or si_ei is None:
            continue
        a = grp["share_pct"].map(eu_crm.pct_fraction)
        q = grp["nace_code"].map(va) / top * 10
        every = use[use["material"] == mat]["share_pct"].map(eu_crm.pct_fraction)
        # critmin's rule (critmin.criticality.eu.economic_importance): shares as given unless they
        # sum to more than SHARE_SUM_TOLERANCE; use with no sector adds nothing
        norm = float(a.sum()) if float(a.sum()) > SHARE_SUM_TOLERANCE else 1.0
        hu = 0.005
        point = float((a * q).sum()) / norm * si_ei
        lo = float(((a - hu).clip(lower=0) * q).sum()) / norm * (si_ei - 0.005)
        hi = float(((a + hu) * q).sum()) / norm * (si_ei + 0.005)
        rows.append({"material": mat, "stage": "", "kind": "ei", "published": pub, "point": point, "low": lo,
                     "high": hi, "within_rounding": bool(lo - 0.05 <= pub <= hi + 0.05), "terms": "",
                     "share_without_sector": round(float(every.sum()) - float(a.sum()), 6)})  # fmt: skip
    return pd.DataFrame(rows)


def usgs_2021_scores() -> pd.DataFrame:
    """The USGS 2021 supply-risk scores (OFR 2021-1045, Fig. 3) of the materials critmin models,
    as shipped in ``usgs_ofr2021_1045_scores.csv`` (a third party's two-decimal reading of the
    figure): columns material, usgs_commodity, supply_risk (float), source, locator, confidence."""
    t = pd.read_csv(data_dir() / "usgs_ofr2021_1045_scores.csv", dtype=str, keep_default_na=False)
    t["supply_risk"] = pd.to_numeric(t["supply_risk"])
    return t


def compare_usgs_2021(results: pd.DataFrame) -> tuple[pd.DataFrame, float]:
    """critmin's USGS-method results (a frame with ``material`` and ``sr``, as
    ``critmin criticality --method usgs`` gives them) against the USGS 2021 scores: one row per
    material both score, with each side's rank (1 = highest risk, ties share the best rank), and
    the Spearman rank correlation of the two scores.

    critmin takes the product of DP, TE and EV; a public model of Nassar et al. (2020) gives USGS's
    combination as their geometric mean (not read in the report). The cube root is monotone, so the
    ranks compare either way.

    >>> ours = pd.DataFrame({"material": ["Ga", "Mo", "Nb"], "sr": [0.5, 0.0, 0.4]})
    >>> table, rho = compare_usgs_2021(ours)
    >>> table[["material", "rank_usgs_2021", "rank_critmin"]].values.tolist(), round(rho, 3)
    ([['Ga', 1, 1], ['Nb', 2, 2], ['Mo', 3, 3]], 1.0)
    """
    pub = usgs_2021_scores()[["material", "supply_risk"]].rename(columns={"supply_risk": "usgs_2021"})
    ours = results[["material", "sr"]].dropna().rename(columns={"sr": "critmin"})
    t = pub.merge(ours, on="material", how="inner")
    t["rank_usgs_2021"] = t["usgs_2021"].rank(ascending=False, method="min").astype(int)
    t["rank_critmin"] = t["critmin"].rank(ascending=False, method="min").astype(int)
    rho = float(t["usgs_2021"].corr(t["critmin"], method="spearman")) if len(t) > 2 else float("nan")
    return t.sort_values(["rank_usgs_2021", "material"]).reset_index(drop=True), rho
