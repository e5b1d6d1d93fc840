"""Bilateral trade at one stage boundary: contract calls and the region-to-region shipments, with
each buyer's supplier relationships moving towards what it actually bought.

These are the only parts of a month that work on (region x region) arrays, which makes them the
costliest in numpy (about 20 temporaries of B x M x 13 x 13 per boundary and month). They are
written as plain loops over one row (one batch member and material) and compiled with numba
(``cache=True``: compiled once per machine, about 5 s, then loaded from the cache); each row is
computed alone, so a draw gives the same bits whatever other draws share its batch. The plain
Python functions stay available as ``contracts.py_func`` and ``ship.py_func`` (the readable
reference; ``tests/test_market.py`` checks that both agree).

Example
-------
>>> import numpy as np
>>> orders = np.array([[10.0, 10.0]]); supply = np.array([[15.0, 5.0]])
>>> rho = np.array([[1.0, 0.0]]); sev = np.array([[0.0, 1.0]])
>>> rel = np.array([[[0.75, 0.75], [0.25, 0.25]]]); c = np.array([0.5])
>>> x, x_in, x_out, xe_in = contracts(orders, supply, rho, sev, rel, c)
>>> x[0].tolist(), x_in[0].tolist(), xe_in[0].tolist()
([[3.75, 0.0], [1.25, 1.25]], [5.0, 1.25], [3.75, 0.0])
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

Array = NDArray[np.float64]


@njit(cache=True, nogil=True)
def contracts(
    orders: Array, supply: Array, rho: Array, sev: Array, rel: Array, share: Array
) -> tuple[Array, Array, Array, Array]:
    """Contract deliveries ``x[n, i, j]`` from supplier region i to buyer region j, with what each
    buyer received under contract ``x_in[n, j]``, what each supplier delivered ``x_out[n, i]`` and
    the restricted-origin part of each buyer's receipts ``xe_in[n, j]``.

    Row n (a batch member and material): buyer j calls ``share[n] * orders[n, j] * rel[n, i, j]``
    from supplier i; the restricted part of the call (``rho[n, i]`` of it) to a target is cut by
    its severity ``sev[n, j]``; a supplier whose calls exceed its ``supply[n, i]`` serves them pro
    rata.
    """
    N, R = orders.shape
    x = np.zeros((N, R, R))
    x_in = np.zeros((N, R))
    x_out = np.zeros((N, R))
    xe_in = np.zeros((N, R))
    for n in range(N):
        for i in range(R):
            called = 0.0
            for j in range(R):
                call = share[n] * orders[n, j] * rel[n, i, j]
                x[n, i, j] = call * ((1.0 - rho[n, i]) + rho[n, i] * (1.0 - sev[n, j]))
                called += x[n, i, j]
            scale = 1.0
            if called > supply[n, i]:
                scale = supply[n, i] / called if called > 0 else 0.0
            for j in range(R):
                x[n, i, j] *= scale
                x_in[n, j] += x[n, i, j]
                x_out[n, i] += x[n, i, j]
                xe_in[n, j] += share[n] * orders[n, j] * rel[n, i, j] * rho[n, i] * (1.0 - sev[n, j]) * scale
    return x, x_in, x_out, xe_in


@njit(cache=True, nogil=True)
def ship(
    x: Array,
    own: Array,
    e: Array,
    o: Array,
    supply_e: Array,
    supply_o: Array,
    rel: Array,
    qualification: Array,
    keep: bool,
) -> Array:
    """Shipments ``flow[n, i, j]`` (when ``keep``; else an empty array) and the relationships
    ``rel`` moved in place.

    Region j receives its contracts ``x[n, :, j]``, its own earmarked output ``own[n, j]`` and its
    spot purchases from the restricted pool ``e[n, j]`` and the free pool ``o[n, j]``; within a
    pool every producer sells the same fraction of its spot offer, so producer i's part of a
    pool's sales is its share of the pool's offer (``supply_e`` or ``supply_o``). Each buyer's
    relationship mix ``rel[n, :, j]`` then moves towards this month's mix by
    ``1 / qualification[n]`` of the gap (buyers that received nothing keep theirs).
    """
    N, R = own.shape
    flow = np.zeros((N, R, R)) if keep else np.zeros((0, R, R))
    col = np.zeros(R)
    for n in range(N):
        se = 0.0
        so = 0.0
        for i in range(R):
            se += supply_e[n, i]
            so += supply_o[n, i]
        for j in range(R):
            got = 0.0
            for i in range(R):
                f = x[n, i, j]
                if i == j:
                    f += own[n, j]
                if se > 0:
                    f += e[n, j] * (supply_e[n, i] / se)
                if so > 0:
                    f += o[n, j] * (supply_o[n, i] / so)
                col[i] = f
                got += f
            if keep:
                for i in range(R):
                    flow[n, i, j] = col[i]
            if got > 0:
                for i in range(R):
                    rel[n, i, j] += (col[i] / got - rel[n, i, j]) / qualification[n]
    return flow
