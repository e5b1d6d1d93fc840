"""Array helpers for the engine's hot path.

numpy's ``x.sum(-1)`` over a short last axis (13 regions) is several times slower than an
element-wise operation on the same array; :func:`rowsum` uses ``einsum``, which is about 3.5x
faster there and, checked on shifted and re-aligned buffers, gives each row the same bits whatever
the batch size or memory alignment, so Monte Carlo draws stay byte-identical across chunk sizes.

>>> import numpy as np
>>> rowsum(np.array([[1.0, 2.0], [3.0, 4.0]])).tolist()
[3.0, 7.0]
>>> rowany(np.array([[True, False], [False, False]])).tolist()
[True, False]
>>> safe_div(np.array([1.0, 1.0]), np.array([2.0, 0.0])).tolist()
[0.5, 0.0]
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]


def rowsum(x: Array, keepdims: bool = False) -> Array:
    """Sum over the last axis (``keepdims`` keeps it with length 1)."""
    s = np.einsum("...r->...", x)
    return s[..., None] if keepdims else s


def rowany(x: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """``x.any(-1)`` for a boolean array, about 4x faster on a short last axis."""
    if x.shape[-1] > 255:  # the uint8 sum could wrap
        return np.asarray(np.any(x, axis=-1))
    return np.asarray(np.einsum("...r->...", np.ascontiguousarray(x).view(np.uint8)) > 0)


def safe_div(a: Array | float, b: Array | float) -> Array:
    """``a / b`` where ``b > 0``, else 0, broadcast."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    shape = a.shape if a.shape == b.shape else np.broadcast_shapes(a.shape, b.shape)
    return np.divide(a, b, out=np.zeros(shape), where=b > 0)
