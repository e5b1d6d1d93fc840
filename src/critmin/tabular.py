"""Tables to plain Python: what every JSON output of the CLI and the library goes through.

>>> import numpy as np, pandas as pd
>>> records(pd.DataFrame({"a": [np.float32(1.5), np.nan], "b": [np.bool_(True), np.bool_(False)]}))
[{'a': 1.5, 'b': True}, {'a': None, 'b': False}]
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts of plain Python values (numpy scalars unwrapped, NaN as None)."""
    out = []
    for row in df.to_dict("records"):
        clean: dict[str, Any] = {}
        for k, v in row.items():
            if hasattr(v, "item"):
                v = v.item()
            if isinstance(v, float) and math.isnan(v):
                v = None
            clean[str(k)] = v
        out.append(clean)
    return out
