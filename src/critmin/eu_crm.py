"""Criticality inputs derived from the EU 2023 CRM assessment's appendices (shipped defaults).

Two shipped files, transcriptions of the EU 2023 report (``read-secondary``; how they were made:
``scripts/eu_crm_2023_extract.py``):

* ``eu_crm_2023_use_shares.csv`` (Appendix 6): each material's use shares by application, with
  the application's NACE Rev. 2 two-digit sector and that sector's value added (million EUR,
  Eurostat, as the report prints it);
* ``eu_crm_2023_supply_shares.csv`` (Appendix 7): global supply and EU sourcing shares by stage
  and country, with the report's trade-restriction factor ``t``.

:func:`criticality_rows` turns them into rows of the ``criticality_inputs`` table:

* ``value_added`` per NACE sector (one value per sector: where a transcription row disagrees with
  every other row of its sector, the row was shifted and the sector's value is kept; the file's
  ``notes`` say so);
* ``sector_share`` per material and NACE sector: the application shares summed by sector; shares
  with no sector ("Other") are left out, so the economic importance normalises the named ones;
* ``sourcing_share`` for the EU perspective per material and stage: the EU sourcing mix (the
  heavy rare earths' group mix applies to Dy, Tb, Gd and Lu, which the report does not split);
* ``supply_share`` per material and stage: global supply shares, which the EU method uses only
  where the store has no production for that material and stage (Lu, Gd at mine...): store
  production wins over these shipped rows, a user's rows win over both.

The report's own ``t`` is not used: critmin dates its trade-restriction factors from the export
controls (:func:`critmin.criticality.supply.trade_factors`).

Example
-------
>>> rows = criticality_rows()
>>> va = rows[rows["parameter"] == "value_added"].set_index("sector")["value"]
>>> float(va["C28"]), float(va["C29"])
(204200.0, 194448.0)
>>> nd = rows[(rows["parameter"] == "sector_share") & (rows["material"] == "Nd")]
>>> dict(zip(nd["sector"], nd["value"]))["C25"]
'0.8'
"""

from __future__ import annotations

from functools import cache

import pandas as pd

from critmin.dataset import data_dir

USE_FILE = "eu_crm_2023_use_shares.csv"
INPUTS_FILE = "eu_crm_2023_inputs.csv"
#: the report's stage names -> critmin's
STAGES = {"extraction": "mine", "processing": "separation"}
SUPPLY_FILE = "eu_crm_2023_supply_shares.csv"
#: the EU's heavy-rare-earth group, whose EU sourcing mix the report gives only for the group
HREE_GROUP = ("Dy", "Tb", "Gd", "Lu")
_COLS = ("parameter", "perspective", "material", "stage", "sector", "country", "value", "unit", "source",
         "confidence", "notes")  # fmt: skip


def pct_fraction(text: str) -> float:
    """A printed percentage as a fraction; '<0.1' and '>0' count as 0.

    >>> pct_fraction("43"), pct_fraction("<0.1")
    (0.43, 0.0)
    """
    t = str(text).strip()
    return 0.0 if t.startswith(("<", ">")) or t == "" else float(t) / 100


def fmt_value(x: float) -> str:
    """A value as the text cell of a criticality input row (6 significant digits).

    >>> fmt_value(0.80000000001)
    '0.8'
    """
    return f"{x:.6g}"


@cache
def _read(name: str) -> pd.DataFrame:
    return pd.read_csv(data_dir() / name, dtype=str, keep_default_na=False)


def read_file(name: str) -> pd.DataFrame:
    """One of the shipped EU files (:data:`USE_FILE`, :data:`SUPPLY_FILE`, :data:`INPUTS_FILE`),
    every cell as text (a copy)."""
    return _read(name).copy()


def value_added_by_sector(use: pd.DataFrame | None = None) -> pd.Series:
    """Value added (million EUR) per NACE code of the use-shares file: the value most rows of the
    sector give (a shifted transcription row does not count).

    >>> float(value_added_by_sector()["C26"])
    77000.0
    """
    use = read_file(USE_FILE) if use is None else use
    named = use[use["nace_code"] != ""]
    return named.groupby("nace_code")["value_added_meur"].agg(lambda s: float(s.mode().iloc[0]))


@cache
def _rows() -> pd.DataFrame:
    use = read_file(USE_FILE)
    sup = read_file(SUPPLY_FILE)
    out: list[dict[str, str]] = []
    named = use[use["nace_code"] != ""]
    va = value_added_by_sector(use)
    sector_name = named.groupby("nace_code")["nace_sector"].first()
    src_use = str(use["source"].iloc[0])
    for code, v in va.items():
        out.append({"parameter": "value_added", "sector": str(code), "value": fmt_value(v), "unit": "million EUR",
                    "source": src_use, "confidence": "read-secondary",
                    "notes": f"{code} {sector_name[code]}: value added as the EU 2023 report prints it"})  # fmt: skip
    mine = named[named["material"] != ""].assign(share=lambda d: d["share_pct"].map(pct_fraction))
    for (mat, code), grp in mine.groupby(["material", "nace_code"], sort=True):
        apps = "; ".join(f"{a} {p}%" for a, p in zip(grp["application"], grp["share_pct"], strict=True))
        out.append({"parameter": "sector_share", "material": str(mat), "sector": str(code),
                    "value": fmt_value(float(grp["share"].sum())), "unit": "fraction", "source": src_use,
                    "confidence": "read-secondary",
                    "notes": f"EU 2023 use shares of {grp['eu_material'].iloc[0]} in {code}: {apps}"})  # fmt: skip
    sup = sup[sup["country_iso3"] != ""].assign(share=lambda d: d["share_pct"].map(pct_fraction))
    # one row per country (a country printed twice in a stage's table counts once, summed)
    keys = ["material", "scope", "stage", "country_iso3"]
    sup = sup.groupby(keys, as_index=False, sort=True).agg(
        share=("share", "sum"),
        eu_material=("eu_material", "first"),
        stage_eu=("stage_eu", "first"),
        country=("country", "first"),
        t=("t", "first"),
        source=("source", "first"),
    )
    for (mat, scope, stage), grp in sup.groupby(["material", "scope", "stage"], sort=True):
        mats = HREE_GROUP if mat == "HREE" else (str(mat),)
        param = "sourcing_share" if scope == "eu_sourcing" else "supply_share"
        for m in mats:
            if param == "sourcing_share" and mat == "HREE" and ((sup["material"] == m) & (sup["scope"] == scope)).any():
                continue  # an element's own EU mix wins over its group's
            for r in grp.itertuples():
                if r.share <= 0:
                    continue
                note = (
                    f"EU 2023 {'EU sourcing' if param == 'sourcing_share' else 'global supply'} share of "
                    f"{r.eu_material} ({r.stage_eu}) from {r.country}, t = {r.t} in the report (not used)"
                )
                if mat == "HREE":
                    note += f"; the group's mix applied to {m}"
                out.append({"parameter": param, "perspective": "EU" if param == "sourcing_share" else "",
                            "material": m, "stage": str(stage), "country": str(r.country_iso3),
                            "value": fmt_value(r.share), "unit": "fraction", "source": str(r.source),
                            "confidence": "read-secondary", "notes": note})  # fmt: skip
    out.extend(_material_rows())
    return input_frame(out)


def input_frame(rows: list[dict[str, str]]) -> pd.DataFrame:
    """Criticality input rows (dicts of text cells, unused keys left out) as a frame with every
    column of the ``criticality_inputs`` layout, blanks as ''."""
    frame = pd.DataFrame(rows)
    for c in _COLS:
        if c not in frame.columns:
            frame[c] = ""
    return frame[list(_COLS)].fillna("")


def _material_rows() -> list[dict[str, str]]:
    """EoL-RIR, SI(SR), SI(EI) per material and the EU's import reliance per stage, as the 2023
    assessment gives them (``eu_crm_2023_inputs.csv``; percentages become fractions)."""
    t = read_file(INPUTS_FILE)
    t = t[(t["material"] != "") & t["parameter"].isin(["eol_rir", "si_sr", "si_ei", "import_reliance"])]
    out = []
    for r in t.itertuples():
        v = float(r.value) / 100 if r.unit == "pct" else float(r.value)
        row = {"parameter": r.parameter, "material": r.material, "value": fmt_value(v),
               "unit": "fraction" if r.parameter != "si_ei" and r.parameter != "si_sr" else "index",
               "source": f"{r.source}; {r.locator}", "confidence": r.confidence,
               "notes": f"EU 2023 assessment, {r.eu_material}" + (f"; {r.notes}" if r.notes else "")}  # fmt: skip
        if r.parameter == "import_reliance":
            row.update(perspective="EU", stage=STAGES[r.stage])
        out.append(row)
    return out


def criticality_rows() -> pd.DataFrame:
    """The derived ``criticality_inputs`` rows, every cell as text (a copy)."""
    return _rows().copy()
