"""Criticality inputs derived from the USGS Mineral Commodity Summaries 2025 (shipped defaults).

Two shipped files, read in a text conversion of the official chapters (``read-secondary``):

* ``usgs_mcs2025_us_trade.csv``: the United States' net import reliance (2024e, % of apparent
  consumption) and its import sources (2020-23, % of imports) per material and stage. They become
  ``import_reliance`` and ``sourcing_share`` rows for the USA perspective; the rare-earth figures
  for compounds and metals also stand for each rare-earth element at separation and metal
  (``derived``, said in the notes; the concentrates' "net exporter" is not applied to elements).
  Printed bounds are used as the bound (">50" as 0.5, "<25" as 0.25) and "E" (net exporter) as 0;
  the "other" share of imports is no named supplier and is left out.
* ``usgs_end_use_shares.csv``: end-use shares of lithium, tellurium (world) and niobium (United
  States), each application assigned to one NACE Rev. 2 sector (an ``assumption`` stated per row);
  they become ``sector_share`` rows (``derived``) for the materials the EU 2023 use shares lack.

Example
-------
>>> rows = criticality_rows()
>>> ir = rows[(rows["parameter"] == "import_reliance") & (rows["material"] == "Ga")]
>>> ir[["perspective", "stage", "value"]].values.tolist()
[['USA', 'separation', '1']]
>>> sorted(rows.loc[(rows["parameter"] == "sector_share") & (rows["material"] == "Li"), "sector"])
['C19', 'C21', 'C23', 'C24', 'C27', 'C28']
"""

from __future__ import annotations

from functools import cache

import pandas as pd

from critmin.dataset import data_dir
from critmin.eu_crm import fmt_value, input_frame
from critmin.names import REE_ELEMENTS

TRADE_FILE = "usgs_mcs2025_us_trade.csv"
END_USE_FILE = "usgs_end_use_shares.csv"


def printed_fraction(text: str) -> float:
    """A USGS printed percentage as a fraction: a bound ('>50', '<25') is the bound, 'E' (net
    exporter) is 0.

    >>> printed_fraction(">50"), printed_fraction("E"), printed_fraction("85")
    (0.5, 0.0, 0.85)
    """
    t = text.strip()
    return 0.0 if t == "E" else float(t.lstrip("<>")) / 100


@cache
def _rows() -> pd.DataFrame:
    trade = pd.read_csv(data_dir() / TRADE_FILE, dtype=str, keep_default_na=False)
    out: list[dict[str, str]] = []
    for r in trade.itertuples():
        base = {"perspective": "USA", "stage": r.stage, "value": fmt_value(printed_fraction(r.value_printed)),
                "unit": "fraction", "source": f"{r.source}; {r.locator}"}  # fmt: skip
        if r.item == "net_import_reliance":
            base.update(
                parameter="import_reliance", notes=f"US net import reliance {r.value_printed}% ({r.year}); {r.notes}"
            )
        else:
            base.update(parameter="sourcing_share", country=r.country_iso3,
                        notes=f"US imports from {r.country_iso3} {r.value_printed}% ({r.year}); {r.notes}")  # fmt: skip
        out.append({**base, "material": r.material, "confidence": r.confidence})
        if r.material == "rare_earths" and r.stage != "mine":  # compounds and metals, not concentrates
            for el in REE_ELEMENTS:
                note = f"{base['notes']}; the rare-earth figure applied to {el} (USGS gives none per element)"
                out.append({**base, "material": el, "confidence": "derived", "notes": note})
    use = pd.read_csv(data_dir() / END_USE_FILE, dtype=str, keep_default_na=False)
    named = use[use["nace_code"] != ""]
    for (mat, code), grp in named.groupby(["material", "nace_code"], sort=True):
        apps = "; ".join(f"{a} {p}% ({b})" for a, p, b in zip(grp["application"], grp["share_pct"], grp["nace_basis"],
                                                               strict=True))  # fmt: skip
        first = grp.iloc[0]
        where = f"{first['geography']}, {first['year']}"
        out.append({"parameter": "sector_share", "material": str(mat), "sector": str(code),
                    "value": fmt_value(sum(float(p) for p in grp["share_pct"]) / 100), "unit": "fraction",
                    "source": f"{first['source']}; {first['locator']}", "confidence": "derived",
                    "notes": f"USGS MCS 2025 end uses ({where}) in {code}: {apps}"})  # fmt: skip
    return input_frame(out)


def criticality_rows() -> pd.DataFrame:
    """The derived ``criticality_inputs`` rows, every cell as text (a copy)."""
    return _rows().copy()
