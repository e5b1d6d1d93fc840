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
    """Rows as dicts of plain Python values (numpy scalars unwrapped, NaN and infinities as None)."""
    return [{str(k): plain(v) for k, v in row.items()} for row in df.to_dict("records")]


def plain(value: Any) -> Any:
    """``value`` with numpy scalars unwrapped and NaN and infinities as None (JSON has neither),
    through nested dicts and lists.

    >>> import numpy as np
    >>> plain({"a": [np.float64(0.5), float("nan"), float("inf")]})
    {'a': [0.5, None, None]}
    """
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
