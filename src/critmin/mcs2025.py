"""End-use shares from the USGS Mineral Commodity Summaries 2025 (shipped defaults).

``usgs_end_use_shares.csv``: end-use shares of lithium, tellurium (world), niobium and nickel
(United States), read in a text conversion of the official chapters (``read-secondary``), each application
assigned to one NACE Rev. 2 sector (an ``assumption`` stated per row); they become
``sector_share`` rows (``derived``) for the materials the EU 2023 use shares lack. The US trade
figures of the same publication are in :mod:`critmin.national_trade`.

Example
-------
>>> rows = criticality_rows()
>>> sorted(rows.loc[(rows["parameter"] == "sector_share") & (rows["material"] == "Li"), "sector"])
['C19', 'C21', 'C23', 'C24', 'C27', 'C28']
"""

from __future__ import annotations

from functools import cache

import pandas as pd

from critmin.dataset import data_dir
from critmin.eu_crm import fmt_value, input_frame

END_USE_FILE = "usgs_end_use_shares.csv"


@cache
def _rows() -> pd.DataFrame:
    out: list[dict[str, str]] = []
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
