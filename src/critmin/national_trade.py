"""Import reliance and import sources of national perspectives (shipped defaults).

One file per perspective, each row a published figure with its source, read in secondary copies
(``read-secondary``) unless marked ``derived``:

* ``usgs_mcs2025_us_trade.csv`` (USA): net import reliance (2024e, % of apparent consumption) and
  import sources (2020-23, % of imports) from the USGS Mineral Commodity Summaries 2025, read in a
  text conversion of the official chapters.
* ``japan_trade.csv`` (JPN): shares of Japan's imports by supplier from Japanese customs statistics
  as quoted by the trade press (rare earths, cerium and yttrium oxide, antimony: H1 2024), JOGMEC's
  2021 gallium balance, and a press figure for graphite; Japan's gallium import reliance is an upper
  bound derived from the same balance (imports / consumption).

Net import reliance becomes ``import_reliance``; import sources become ``import_share`` rows,
shares of the perspective's *imports*: the methods add the domestic output for ``1 - IR`` and take
the share of imports no named supplier covers ("other") from the world market as it is
(:func:`critmin.criticality.supply.sourcing`). The rare-earth figures for compounds (and, for the
USA, metals) also stand for the elements at those stages (``derived``, said in the notes): the net
import reliance for every element, the import shares for the light ones only (see
``BASKET_ELEMENTS``), unless the file has the element's own line (Japan's Ce and Y oxide). Printed
bounds are used as the bound (">50" as 0.5, "<25" as 0.25) and "E" (net exporter) as 0.

Example
-------
>>> rows = criticality_rows()
>>> ir = rows[(rows["parameter"] == "import_reliance") & (rows["material"] == "Ga")]
>>> sorted(ir[["perspective", "stage", "value"]].values.tolist())
[['JPN', 'separation', '0.581'], ['USA', 'separation', '1']]
>>> y = rows[(rows["parameter"] == "import_share") & (rows["material"] == "Y") & (rows["perspective"] == "JPN")]
>>> y[["country", "value", "confidence"]].values.tolist()
[['CHN', '0.987', 'read-secondary']]
"""

from __future__ import annotations

from functools import cache

import pandas as pd

from critmin.dataset import data_dir
from critmin.eu_crm import fmt_value, input_frame
from critmin.names import REE_ELEMENTS

#: perspective -> its shipped trade file (columns material, stage, item, country_iso3,
#: value_printed, year, source, locator, confidence, notes)
TRADE_FILES: dict[str, str] = {"USA": "usgs_mcs2025_us_trade.csv", "JPN": "japan_trade.csv"}
#: the stages a perspective's rare-earth basket figure stands for (compounds, and for the USA also
#: metals, as USGS prints "compounds and metals"); a perspective not listed: separation only
_RE_STAGES: dict[str, tuple[str, ...]] = {"USA": ("separation", "metal"), "JPN": ("separation",)}
#: the elements a rare-earth basket's import shares stand for: the light ones only (its net import
#: reliance stands for every element). The baskets' non-Chinese supply is mostly light oxides (US
#: imports: Malaysia, Japan, Estonia; Japan's: Malaysia), so the basket's mix would lend the heavy
#: elements (Sm to Lu, Y) a diversification they do not have; they keep the pro-rata default (China
#: about all of their separation) unless a line of their own exists.
BASKET_ELEMENTS: tuple[str, ...] = ("La", "Ce", "Pr", "Nd")


def printed_fraction(text: str) -> float:
    """A printed percentage as a fraction: a bound ('>50', '<25') is the bound, 'E' (net
    exporter) is 0.

    >>> printed_fraction(">50"), printed_fraction("E"), printed_fraction("85")
    (0.5, 0.0, 0.85)
    """
    t = text.strip()
    return 0.0 if t == "E" else float(t.lstrip("<>")) / 100


def _perspective_rows(persp: str, file: str) -> list[dict[str, str]]:
    trade = pd.read_csv(data_dir() / file, dtype=str, keep_default_na=False)
    own = {(r.material, r.stage, r.item) for r in trade.itertuples()}
    out: list[dict[str, str]] = []
    for r in trade.itertuples():
        base = {"perspective": persp, "stage": r.stage, "value": fmt_value(printed_fraction(r.value_printed)),
                "unit": "fraction", "source": f"{r.source}; {r.locator}"}  # fmt: skip
        if r.item == "net_import_reliance":
            base.update(parameter="import_reliance",
                        notes=f"{persp} net import reliance {r.value_printed}% ({r.year}); {r.notes}")  # fmt: skip
        else:
            note = f"{persp} imports from {r.country_iso3} {r.value_printed}% ({r.year}); {r.notes}"
            base.update(parameter="import_share", country=r.country_iso3, notes=note)
        out.append({**base, "material": r.material, "confidence": r.confidence})
        if r.material == "rare_earths" and r.stage in _RE_STAGES.get(persp, ("separation",)):
            for el in REE_ELEMENTS if r.item == "net_import_reliance" else BASKET_ELEMENTS:
                if (el, r.stage, r.item) in own:  # the element's own line wins
                    continue
                note = f"{base['notes']}; the rare-earth figure applied to {el} (no figure per element)"
                out.append({**base, "material": el, "confidence": "derived", "notes": note})
    return out


@cache
def _rows() -> pd.DataFrame:
    return input_frame([row for persp, file in TRADE_FILES.items() for row in _perspective_rows(persp, file)])


def criticality_rows() -> pd.DataFrame:
    """The derived ``criticality_inputs`` rows, every cell as text (a copy)."""
    return _rows().copy()
