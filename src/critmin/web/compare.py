"""Two stored runs side by side: each one's summary over the horizon, read back from the store
(no re-run), and the difference of their shortfall per material and region.

The summary is :meth:`critmin.results.RunResult.summary`'s first columns computed from the stored
end-use rows (``run_results``: month x material x region x sector), so a stored run and the run
itself give the same numbers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from critmin.errors import UserError
from critmin.results import SHORT_TOL
from critmin.store import Store

#: the columns of a stored run's summary
SUMMARY_COLUMNS = ("material", "region", "demand_t", "delivered_t", "shortfall_t", "shortfall_share", "months_short",
                   "first_month_short")  # fmt: skip


def stored_summary(store: Store, run_id: str) -> pd.DataFrame:
    """Material x region over the horizon of a stored deterministic run: demand, delivered,
    shortfall (t), shortfall share, months short and the first month short; sorted by shortfall."""
    rows = store.read_runs("run_results")
    rows = rows[rows["run_id"] == run_id]
    if rows.empty:
        raise UserError(f"run {run_id} has no stored results")
    return summarise(rows)


def summarise(rows: pd.DataFrame) -> pd.DataFrame:
    """The summary of one run's end-use rows (month, material, region, sector, demand_t,
    delivered_t, shortfall_t), as :meth:`critmin.results.RunResult.summary` counts it.

    >>> rows = pd.DataFrame({"month": ["2026-01", "2026-01", "2026-02"], "material": ["Dy"] * 3,
    ...                      "region": ["USA"] * 3, "sector": ["a", "b", "a"], "demand_t": [2.0, 2.0, 4.0],
    ...                      "delivered_t": [1.0, 2.0, 4.0], "shortfall_t": [1.0, 0.0, 0.0]})
    >>> from critmin.tabular import records
    >>> row = records(summarise(rows))[0]
    >>> row["shortfall_t"], row["shortfall_share"], row["months_short"], row["first_month_short"]
    (1.0, 0.125, 1, '2026-01')
    """
    monthly = rows.groupby(["month", "material", "region"], as_index=False, sort=False)[
        ["demand_t", "delivered_t", "shortfall_t"]
    ].sum()
    monthly = monthly[monthly["demand_t"] > 0]
    monthly = monthly.assign(short=monthly["shortfall_t"] > SHORT_TOL * monthly["demand_t"])
    out = monthly.groupby(["material", "region"], as_index=False, sort=False).agg(
        demand_t=("demand_t", "sum"),
        delivered_t=("delivered_t", "sum"),
        shortfall_t=("shortfall_t", "sum"),
        months_short=("short", "sum"),
    )
    first = monthly[monthly["short"]].groupby(["material", "region"])["month"].min()
    out["first_month_short"] = [first.get((m, r), "") for m, r in zip(out["material"], out["region"], strict=True)]
    out["shortfall_share"] = np.where(out["demand_t"] > 0, out["shortfall_t"] / out["demand_t"], 0.0)
    out["months_short"] = out["months_short"].astype(int)
    return (
        out[list(SUMMARY_COLUMNS)]
        .sort_values(["shortfall_t", "material", "region"], ascending=[False, True, True])
        .reset_index(drop=True)
    )


def shortfall_difference(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """Per material and region, the shortfall of run A and of run B (t and share of demand) and
    B - A (negative: B is short of less); pairs short in neither left out; largest change first.

    >>> a = pd.DataFrame({"material": ["Dy"], "region": ["USA"], "shortfall_t": [5.0], "shortfall_share": [0.5]})
    >>> b = pd.DataFrame({"material": ["Dy"], "region": ["USA"], "shortfall_t": [2.0], "shortfall_share": [0.2]})
    >>> shortfall_difference(a, b)[["shortfall_a_t", "shortfall_b_t", "difference_t"]].iloc[0].tolist()
    [5.0, 2.0, -3.0]
    """
    keys = ["material", "region"]
    cols = ["shortfall_t", "shortfall_share"]
    both = a[keys + cols].merge(b[keys + cols], on=keys, how="outer", suffixes=("_a", "_b"))
    both = both.fillna({c: 0.0 for c in ("shortfall_t_a", "shortfall_t_b", "shortfall_share_a", "shortfall_share_b")})
    out = pd.DataFrame(
        {
            "material": both["material"],
            "region": both["region"],
            "shortfall_a_t": both["shortfall_t_a"],
            "shortfall_b_t": both["shortfall_t_b"],
            "difference_t": both["shortfall_t_b"] - both["shortfall_t_a"],
            "shortfall_share_a": both["shortfall_share_a"],
            "shortfall_share_b": both["shortfall_share_b"],
            "difference_share": both["shortfall_share_b"] - both["shortfall_share_a"],
        }
    )
    out = out[(out["shortfall_a_t"] > 0) | (out["shortfall_b_t"] > 0)]
    order = out["difference_t"].abs().sort_values(ascending=False, kind="stable").index
    return out.loc[order].reset_index(drop=True)


def compare_runs(store: Store, run_a: str, run_b: str) -> dict[str, Any]:
    """Both runs' summaries and their difference, as frames keyed ``a``, ``b`` and ``difference``."""
    sa, sb = stored_summary(store, run_a), stored_summary(store, run_b)
    return {"a": sa, "b": sb, "difference": shortfall_difference(sa, sb)}
