"""The ``compiled`` engine: the month loop of :mod:`critmin.engine.simulate`, compiled with numba.

Same model, same inputs, same outputs as the numpy loop with the ``fast`` kernels (which stays the
readable reference); the difference is how the work is laid out. The numpy loop steps every draw
of a batch through a month together, which makes about a thousand temporary arrays per month; here
each draw runs its whole horizon alone, in arrays of one material group (about 30 KB: they stay in
the processor's cache), with the closed forms of :mod:`critmin.engine.rows` written as loops. A
draw therefore gives the same numbers whatever else is in its batch, and a batch can be split
across threads (the loop releases the GIL) or processes freely.

``tests/test_compiled.py`` checks the two engines agree to 1e-9 relative on random networks and on
every built-in, in both modes and with every kind of event. Compilation (about a minute) happens
once per machine: numba caches the machine code on disk (``cache=True``) next to this file.

Example
-------
>>> from critmin.jobs import load_chain, open_store
>>> from critmin.engine import build_network, compile_scenario
>>> from critmin.scenario import load_scenario
>>> chain = load_chain(open_store())
>>> net = build_network(chain)
>>> lv = compile_scenario(load_scenario("lynas-malaysia-outage-6m"), net, chain.blocs, chain)
>>> groups = simulate_compiled(net, lv)
>>> len(groups) == len(net.groups), groups[0].demand.shape[:2]
(True, (1, 24))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numba import njit
from numpy.typing import NDArray

from critmin.engine.arrays import rowsum
from critmin.engine.arrays import safe_div as _div
from critmin.engine.compiled import CompiledScenario
from critmin.engine.network import Group, Network
from critmin.engine.rows import clear_row, couple_row, priority_row, sales_row, sdiv, spot_index

Array = NDArray[np.float64]
#: output arrays of a group, in the order the kernel takes them (GroupResult's fields)
_OUTPUTS = (
    "demand",
    "delivered",
    "production",
    "capacity",
    "inventory",
    "unsold",
    "stockpile",
    "received",
    "ordered",
    "exporter_flow",
    "contract",
    "spot_price",
    "paid_price",
    "trade",
    "price",
)


def simulate_compiled(
    net: Network,
    lv: CompiledScenario,
    full: bool = True,
    monthly: Sequence[tuple[str, str]] = (),
    monthly_sector: str = "all",
) -> tuple[Any, ...]:
    """Every material group of ``net`` under the batch ``lv``, as :func:`critmin.engine.simulate`
    with ``engine="compiled"`` (same arguments, same :class:`GroupResult` per group)."""
    from critmin.engine.simulate import GroupResult, GroupSummary

    results = []
    for gi, g in enumerate(net.groups):
        M, K, R = g.base_out.shape
        cells = [
            (g.materials.index(m), net.regions.index(r)) for m, r in monthly if m in g.materials and r in net.regions
        ]
        spec = _pack(net, gi, g, lv, full, cells, monthly_sector == "defence")
        args = [v for v, _ in spec]
        # draws whose numbers for this group are all equal give equal results: run each once
        # (a group that a disruption does not touch then runs once for the whole batch)
        keys = np.concatenate(
            [np.moveaxis(v, ax, 0).reshape(lv.batch, -1).astype(float) for v, ax in spec if ax is not None], 1
        ).view(np.int64)  # compared bit for bit (-0.0 is not 0.0, a NaN is itself)
        keys = keys[:, (keys != keys[:1]).any(axis=0)]  # only the numbers that differ between draws
        if keys.shape[1] == 0:
            first, inverse = np.zeros(1, dtype=np.int64), np.zeros(lv.batch, dtype=np.int64)
        else:
            _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
            inverse = inverse.reshape(-1)
        n = first.size
        if n < lv.batch:
            args = [v if ax is None else np.ascontiguousarray(np.take(v, first, axis=ax)) for v, ax in spec]
            args[0] = n
        out, summary = _outputs(n, lv.months, M, K, R, len(net.sectors), len(cells), full)
        _run(*args, *[out[name] for name in _OUTPUTS], *summary)
        if n < lv.batch:
            out = {name: a[inverse] for name, a in out.items()}
            summary = [a[inverse] for a in summary]
        results.append(GroupResult(**out, summary=GroupSummary(*summary)))
    return tuple(results)


def _batched(x: Any, b: int) -> Array:
    return np.ascontiguousarray(np.broadcast_to(np.asarray(x, dtype=float), (b,)))


def _pack(
    net: Network,
    gi: int,
    g: Group,
    lv: CompiledScenario,
    full: bool,
    cells: list[tuple[int, int]],
    monthly_defence: bool = False,
) -> list[tuple[Any, int | None]]:
    """The kernel's arguments for group ``gi`` (the network's arrays, the batch's numbers, the
    events that touch the group as stacked arrays), each with its batch axis."""
    M, K, R = g.base_out.shape
    B, T = lv.batch, lv.months
    coordinated = lv.mode == "coordinated"
    part = np.flatnonzero(lv.coalition).astype(np.int64)
    home = np.zeros((M, K, R), dtype=bool)
    np.put_along_axis(home, lv.exporters[gi][..., None], True, axis=-1)
    share0 = _div(g.base_out, rowsum(g.base_out, keepdims=True))  # (M, K, R)
    dem0_total = g.demand0.sum((1, 2))
    dem0_region = g.demand0.sum(-1)
    dem0_sector = g.demand0.sum(1)
    el_world = _div(rowsum(lv.elasticity[:, None, :] * dem0_sector[None]), dem0_total[None])
    el_region = np.where(
        dem0_region[None] > 0,
        _div(np.einsum("bs,mrs->bmr", lv.elasticity, g.demand0), dem0_region[None]),
        el_world[..., None],
    )
    defence = net.sectors.index("defence") if "defence" in net.sectors else -1
    defence_share = _div(g.demand0[..., defence], dem0_region) if defence >= 0 else np.zeros((M, R))
    coupling = lv.coupling[gi]
    if coupling is not None:
        light, heavy = coupling[0].astype(np.int64), coupling[1].astype(np.int64)
        h = _batched(coupling[2], B)
    else:
        light = heavy = np.zeros(0, dtype=np.int64)
        h = np.zeros(B)
    cell_m = np.array([m for m, _ in cells], dtype=np.int64)
    cell_r = np.array([r for _, r in cells], dtype=np.int64)

    dis = [ev for ev in lv.disruptions if ev.group_mask[gi].any()]
    ev_mask = np.array([ev.group_mask[gi] for ev in dis], dtype=bool).reshape(len(dis), M, K, R)
    ev_f = np.array(
        [[_batched(getattr(ev, f), B) for f in ("start", "months", "size", "covered", "compliance", "lag",
                                                "approve0", "approve1", "approve_ramp")] for ev in dis]
    ).reshape(len(dis), 9, B).transpose(0, 2, 1).copy()  # fmt: skip
    ev_i = np.array(
        [[ev.kind == "licensing", ev.military_denied, ev.foreign_content] for ev in dis], dtype=np.int64
    ).reshape(len(dis), 3)
    outs = [ev for ev in lv.outages if ev.group_mask[gi].any()]
    out_mask = np.array([ev.group_mask[gi] for ev in outs], dtype=bool).reshape(len(outs), M, K, R)
    out_f = np.array([[_batched(getattr(ev, f), B) for f in ("start", "months", "size")] for ev in outs])
    out_f = out_f.reshape(len(outs), 3, B).transpose(0, 2, 1).copy()
    prj = [p for p in lv.projects if p.group == gi]
    pj_mask = np.array([p.mask for p in prj], dtype=bool).reshape(len(prj), M, K, R)
    pj_f = np.array([[_batched(getattr(p, f), B) for f in ("start", "ramp_months", "capacity")] for p in prj])
    pj_f = pj_f.reshape(len(prj), 3, B).transpose(0, 2, 1).copy()
    sps = [s for s in lv.stockpiles if s.group == gi]
    sp_i = np.array([[s.material, s.stage, s.holder] for s in sps], dtype=np.int64).reshape(len(sps), 3)
    sp_f = np.array([[_batched(s.tonnes, B), _batched(s.max_release, B)] for s in sps]).reshape(len(sps), 2, B)
    sp_f = sp_f.transpose(0, 2, 1).copy()

    # who can sell and who can buy product k: a region without capacity (or a project) at stage k
    # never offers it, and one without capacity at the next stage, end use or an inventory target
    # never orders it; the trade loops skip them (their flows are exactly zero)
    can_make = (g.capacity > 0) | (g.base_out > 0)
    for p in prj:
        can_make |= p.mask
    can_buy = np.zeros((M, K, R), dtype=bool)
    can_buy[:, :-1] = can_make[:, 1:]
    can_buy[:, -1] = g.demand0.sum(-1) > 0
    can_buy |= lv.inv_months[gi] * g.need0 > 0
    # the regions of each row (those that can sell or buy; in coordinated mode the coalition's
    # members too, whose merged column needs them), and the sellers', buyers', members' and
    # reference market's positions among them
    active = can_make | can_buy
    if coordinated:
        active |= lv.coalition[None, None, :]
    act, n_act = _index_sets(active)
    pos = np.cumsum(active, axis=-1) - 1  # position of each active region in its row
    s_pos, n_sellers = _index_sets(can_make, pos)
    b_pos, n_buyers = _index_sets(can_buy, pos)
    # for each seller, the buyer (index) that is the same region, or -1
    same_b = np.full((M, K, R), -1, dtype=np.int64)
    for m, k in np.ndindex(M, K):
        sel, buy = np.flatnonzero(can_make[m, k]), list(np.flatnonzero(can_buy[m, k]))
        for ii, r in enumerate(sel):
            same_b[m, k, ii] = buy.index(r) if r in buy else -1
    ref_region = np.argmax(g.base_out, axis=-1)
    ref_pos = np.take_along_axis(pos, ref_region[..., None], -1)[..., 0].astype(np.int64)
    # (a stage nobody makes has no reference market: its index is then 1, as everywhere there)
    ref_pos = np.where(np.take_along_axis(active, ref_region[..., None], -1)[..., 0], ref_pos, -1)
    p_pos = np.ascontiguousarray(pos[:, :, part]).astype(np.int64)
    # sectors sharing an elasticity share its power of the price
    el = np.asarray(lv.elasticity, dtype=float)
    el_first = np.argmax(el[:, :, None] == el[:, None, :], axis=-1).astype(np.int64)  # (B, S)
    with np.errstate(divide="ignore"):
        inv_el = 1.0 / np.minimum(el_region, -1e-12)
    prio = np.asarray(lv.priority, dtype=np.int64)
    # the kernel's arguments, each with its batch axis (None: shared by the batch)
    spec: list[tuple[Any, int | None]] = [
        (B, None), (T, None), (full, None), (coordinated, None),
        (g.base_out, None), (g.capacity, None), (g.yield_, None), (g.demand0, None),
        (lv.inv_months[gi] * g.need0, None), (home, None), (share0, None),
        (defence, None), (defence_share, None),
        (dem0_total, None), (light, None), (heavy, None), (coupling is not None, None),
        (lv.coalition.astype(bool), None), (part, None), (prio, None), (np.unique(prio), None),
        (float(lv.restock_months), None), (cell_m, None), (cell_r, None), (monthly_defence, None),
        (el_region, 0), (np.asarray(lv.elasticity, dtype=float), 0),
        (np.asarray(1 - lv.substitution - lv.recycling, dtype=float), 0), (_batched(lv.growth, B), 0),
        (_batched(lv.price_cap, B), 0), (np.asarray(lv.contract_share[gi], dtype=float), 0),
        (np.maximum(lv.qualification[gi], 1.0).astype(float), 0),
        (np.broadcast_to(lv.ramp_share[gi][:, None] * g.capacity[None], (B, M, K, R)), 0),
        (h, 0), (_batched(lv.thrift_max, B), 0), (_batched(lv.thrift_max / lv.thrift_months, B), 0),
        (ev_mask, None), (ev_f, 1), (ev_i, None), (out_mask, None), (out_f, 1), (pj_mask, None), (pj_f, 1),
        (sp_i, None), (sp_f, 1),
        (act, None), (n_act, None), (s_pos, None), (n_sellers, None), (b_pos, None), (n_buyers, None),
        (p_pos, None), (ref_pos, None), (same_b, None), (el_first, 0), (inv_el, 0),
    ]  # fmt: skip
    # one machine-code version serves every call: the same types, all arrays C-contiguous
    return [(np.ascontiguousarray(v) if isinstance(v, np.ndarray) else v, ax) for v, ax in spec]


def _outputs(
    B: int, T: int, M: int, K: int, R: int, S: int, cells: int, full: bool
) -> tuple[dict[str, Array], list[NDArray[Any]]]:
    """Zeroed output arrays of a group (as the numpy loop shapes them) and its summary's."""
    T_out = T if full else 1
    shapes = {
        "demand": (B, T_out, M, R, S),
        "delivered": (B, T_out, M, R, S),
        "trade": (B, T_out, M, K, R, R) if full else (B, 1, M, K, 1, 1),
        "price": (B, T_out, M),
    }
    out = {n: np.zeros(shapes.get(n, (B, T_out, M, K, R))) for n in _OUTPUTS}
    summary: list[NDArray[Any]] = [
        np.zeros((B, M, R)),
        np.zeros((B, M, R)),
        np.zeros((B, M, R)),
        np.zeros((B, M, R)),
        np.full((B, M, R), -1, dtype=np.int64),
        np.ones((B, M)),
        np.zeros((B, T, cells)),
    ]
    return out, summary


def _index_sets(
    mask: NDArray[np.bool_], pos: NDArray[Any] | None = None
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """For a (M, K, R) mask: the regions where it holds (or their ``pos`` (M, K, R)), first in
    each (M, K) row of an (M, K, R) index array, and their counts (M, K)."""
    idx = np.zeros(mask.shape, dtype=np.int64)
    count = mask.sum(-1).astype(np.int64)
    for m, k in np.ndindex(*mask.shape[:2]):
        where = np.flatnonzero(mask[m, k])
        idx[m, k, : where.size] = where if pos is None else pos[m, k, where]
    return idx, count


@njit(cache=True, nogil=True, error_model="numpy")
def _release(
    levels: Array, left: Array, sp_i: NDArray[np.int64], sp_f: Array, b: int, k: int, short: Array,
    pooled: bool, coalition: NDArray[np.bool_], part: NDArray[np.int64], only_others: bool, rel: Array,
) -> None:  # fmt: skip
    """Stockpile releases ``rel`` (M, R) covering ``short`` at boundary k (``simulate._release``;
    with ``only_others`` the stockpiles of holders outside the coalition alone)."""
    M, R = short.shape
    Q = sp_i.shape[0]
    for m in range(M):
        for r in range(R):
            rel[m, r] = 0.0
    for q in range(Q):
        left[q] = min(levels[q], sp_f[q, b, 1])
    for m in range(M):
        for q in range(Q):
            if sp_i[q, 0] != m or sp_i[q, 1] != k or (only_others and coalition[sp_i[q, 2]]):
                continue
            holder = sp_i[q, 2]
            seen = False
            for q2 in range(q):
                if sp_i[q2, 0] == m and sp_i[q2, 1] == k and sp_i[q2, 2] == holder:
                    seen = True
            if seen:
                continue
            # the holder first, pro rata to what each of its stockpiles may release
            total = 0.0
            for q2 in range(q, Q):
                if sp_i[q2, 0] == m and sp_i[q2, 1] == k and sp_i[q2, 2] == holder:
                    total += left[q2]
            need = max(short[m, holder] - rel[m, holder], 0.0)
            give = min(total, need)
            rel[m, holder] += sdiv(need, need) * give
            for q2 in range(q, Q):
                if sp_i[q2, 0] == m and sp_i[q2, 1] == k and sp_i[q2, 2] == holder:
                    taken = sdiv(left[q2], total) * give
                    levels[q2] -= taken
                    left[q2] -= taken
        if pooled:
            # then what the coalition's stockpiles may still release serves its members pro rata
            total = 0.0
            any_item = False
            for q in range(Q):
                if sp_i[q, 0] == m and sp_i[q, 1] == k and coalition[sp_i[q, 2]]:
                    total += left[q]
                    any_item = True
            if not any_item:
                continue
            need = 0.0
            for r in part:
                need += max(short[m, r] - rel[m, r], 0.0)
            give = min(total, need)
            for r in part:
                rel[m, r] += sdiv(max(short[m, r] - rel[m, r], 0.0), need) * give
            for q in range(Q):
                if sp_i[q, 0] == m and sp_i[q, 1] == k and coalition[sp_i[q, 2]]:
                    taken = sdiv(left[q], total) * give
                    levels[q] -= taken
                    left[q] -= taken


@njit(cache=True, nogil=True, error_model="numpy")
def _route(
    supply: Array, need: Array, prio: NDArray[np.int64], classes: NDArray[np.int64], coupled: bool,
    light: NDArray[np.int64], heavy: NDArray[np.int64], h: float, out: Array, left: Array, n_c: Array,
    req: Array, take: Array,
) -> None:  # fmt: skip
    """Priority routing of ``supply`` (M,) to ``need`` (M, N): per material
    (:func:`~critmin.engine.rows.priority_row`), or by grade where magnets couple the elements
    (``simulate.priority_fill_grades``)."""
    M, N = need.shape
    is_c = np.zeros(M, dtype=np.bool_)
    if coupled:
        for m in light:
            is_c[m] = True
        for m in heavy:
            is_c[m] = True
    for m in range(M):
        if not is_c[m]:
            priority_row(supply[m], need[m], prio, classes, out[m])
        else:
            for j in range(N):
                out[m, j] = 0.0
    if not coupled:
        return
    for m in range(M):
        left[m] = max(supply[m], 0.0)
    for c in classes:
        for m in range(M):
            s = 0.0
            for j in range(N):
                if prio[j] == c:
                    s += need[m, j]
            n_c[m] = s
            req[m] = 0.0
            take[m] = 0.0
        for m in light:
            req[m] = h * n_c[m]
        for m in heavy:
            req[m] = n_c[m]
        g_h = np.inf
        for m in range(M):
            if is_c[m] and req[m] > 0:
                g_h = min(g_h, left[m] / req[m])
        g_h = min(1.0, g_h)
        for m in range(M):
            take[m] = req[m] * g_h
            left[m] = max(left[m] - take[m], 0.0)
            req[m] = 0.0
        for m in light:
            req[m] = (1 - h) * n_c[m]
        g_l = np.inf
        for m in light:
            if req[m] > 0:
                g_l = min(g_l, left[m] / req[m])
        g_l = min(1.0, g_l)
        for m in range(M):
            t_l = req[m] * g_l
            left[m] = max(left[m] - t_l, 0.0)
            if is_c[m]:
                share = sdiv(take[m] + t_l, n_c[m])
                for j in range(N):
                    if prio[j] == c:
                        out[m, j] = need[m, j] * share


@njit(cache=True, nogil=True, error_model="numpy")
def _run(  # type: ignore[no-untyped-def]  # (numba infers the types)
    B, T, full, coordinated,
    base_out, capacity, yld, demand0, inv_target, home, share0, defence, defence_share, dem0_total,
    light, heavy, has_coupling, coalition, part, prio, classes, restock, cell_m, cell_r, monthly_defence,
    el_region, elasticity, sub_rec, growth, price_cap, csh, qual, step, h_grade, thrift_max, thrift_step,
    ev_mask, ev_f, ev_i, out_mask, out_f, pj_mask, pj_f, sp_i, sp_f,
    act, n_act, s_pos, n_sellers, b_pos, n_buyers, p_pos, ref_pos, same_b, el_first, inv_el,
    o_demand, o_delivered, o_production, o_capacity, o_inventory, o_unsold, o_stockpile, o_received, o_ordered,
    o_exporter, o_contract, o_spot, o_paid, o_trade, o_price,
    acc_dem, acc_del, acc_ddem, acc_ddel, first_short, peak, kept,
):  # fmt: skip
    M, K, R = base_out.shape
    S = demand0.shape[2]
    E = ev_mask.shape[0]
    Q = sp_i.shape[0]
    P = part.shape[0]
    sectoral = full or coordinated
    merge = coordinated and P >= 1
    # per-draw state
    stock = np.empty((M, K, R))
    unsold = np.empty((M, K, R))
    ramp_extra = np.empty((M, K, R))
    rel = np.empty((K, M, R, R))
    ref_hist = np.empty((M, K, 3))
    paid_end = np.empty((M, R))
    thrift = np.empty(R)
    levels = np.empty(Q)
    # per-month scratch
    mult = np.empty((M, R, S))
    pw_s = np.empty(S)
    dem = np.zeros((M, R, S))
    need_end = np.empty((M, R))
    dem_def = np.empty((M, R))
    level = np.empty(M)
    cap_t = np.empty((M, K, R))
    proj = np.zeros((M, K, R))
    target = np.empty((M, K, R))
    sev = np.empty((M, K, R))
    sev_a = np.empty(R)
    foreign = np.empty((M, K), dtype=np.bool_)
    comp = np.empty((M, K))
    stage_short = np.empty((M, K), dtype=np.bool_)
    spot_end = np.empty((M, R))
    produced = np.empty((M, R))
    earmark = np.empty((M, R))
    # per boundary: never written where a region cannot sell or buy the product, so zero there
    need = np.zeros((M, K, R))
    all_orders = np.zeros((M, K, R))
    own = np.zeros((M, K, R))
    y = np.zeros((M, K, R))
    avail = np.zeros((M, K, R))
    content = np.zeros((M, K, R))
    use = np.empty((M, R))
    released = np.empty((M, R))
    short = np.empty((M, R))
    coupled_c = np.empty(M)
    col_use = np.empty(M)
    col_need = np.empty(M)
    del_tot = np.empty((M, R))
    del_def = np.empty((M, R))
    delivered = np.zeros((M, R, S))
    left_q = np.empty(max(Q, 1))
    x = np.empty((R, R))
    supply = np.empty(R)
    orders = np.empty(R)
    rho = np.empty(R)
    x_in = np.empty(R)
    x_out = np.empty(R)
    xe_in = np.empty(R)
    d_sp = np.empty(R)
    supply_e = np.empty(R)
    supply_o = np.empty(R)
    cap_u = np.empty(R)
    tgt = np.empty(R, dtype=np.bool_)
    y_sp = np.empty(R)
    e = np.empty(R)
    o = np.empty(R)
    spot = np.empty(R)
    d_m = np.empty(R)
    u_m = np.empty(R)
    tg_m = np.empty(R, dtype=np.bool_)
    y_m = np.empty(R)
    e_m = np.empty(R)
    col = np.empty((R, R))
    c_j = np.empty(R)
    free_j = np.empty(R)
    x_in_b = np.empty(R)
    xe_in_b = np.empty(R)
    e_b = np.empty(R)
    o_b = np.empty(R)
    got_b = np.empty(R)
    upd_b = np.empty(R)
    w = np.empty((8, R))
    order = np.empty(R, dtype=np.int64)
    # coordinated end use
    N = P * S
    prio_t = np.empty(N, dtype=np.int64)
    for p in range(P):
        for s in range(S):
            prio_t[p * S + s] = prio[s]
    need_ps = np.empty((M, N))
    given = np.empty((M, N))
    short_ps = np.empty((M, N))
    extra = np.empty((M, N))
    pool = np.empty(M)
    left_m = np.empty(M)
    total_m = np.empty(M)
    r_left = np.empty(M)
    r_nc = np.empty(M)
    r_req = np.empty(M)
    r_take = np.empty(M)

    for b in range(B):
        for m in range(M):
            for k in range(K):
                for r in range(R):
                    stock[m, k, r] = inv_target[m, k, r]
                    unsold[m, k, r] = 0.0
                    ramp_extra[m, k, r] = 0.0
                    for j in range(R):
                        rel[k, m, r, j] = share0[m, k, act[m, k, s_pos[m, k, r]]] if r < n_sellers[m, k] else 0.0
                for i in range(3):
                    ref_hist[m, k, i] = 1.0
            for r in range(R):
                paid_end[m, r] = 1.0
        for r in range(R):
            thrift[r] = 0.0
        for q in range(Q):
            levels[q] = sp_f[q, b, 0]
        ramp_on = False

        for t in range(T):
            ti = t if full else 0
            # demand after last month's paid price in each region, growth, substitution, recycling
            g_t = (1 + growth[b]) ** (t / 12)
            any_thrift = False
            if has_coupling:
                for r in range(R):
                    if thrift[r] != 0:
                        any_thrift = True
            for m in range(M):
                for r in range(R):
                    p_end = paid_end[m, r]
                    if p_end == 1.0:
                        for s in range(S):
                            mult[m, r, s] = sub_rec[b, s]
                        continue
                    log_p = np.log(p_end)
                    for s in range(S):
                        s0 = el_first[b, s]
                        if s0 == s:
                            el_s = elasticity[b, s]
                            pw_s[s] = np.exp(el_s * log_p) if el_s != 0 else 1.0
                        else:
                            pw_s[s] = pw_s[s0]
                        mult[m, r, s] = pw_s[s] * sub_rec[b, s]
            if any_thrift:
                for m in heavy:
                    for r in range(R):
                        for s in range(S):
                            mult[m, r, s] *= 1 - thrift[r]
            for m in range(M):
                tot = 0.0
                for r in range(R):
                    if sectoral:
                        acc = 0.0
                        for s in range(S):
                            dem[m, r, s] = demand0[m, r, s] * mult[m, r, s] * g_t
                            acc += dem[m, r, s]
                        need_end[m, r] = acc
                    else:
                        acc = 0.0
                        for s in range(S):
                            acc += demand0[m, r, s] * mult[m, r, s]
                        need_end[m, r] = acc * g_t
                    dem_def[m, r] = demand0[m, r, defence] * mult[m, r, defence] * g_t if defence >= 0 else 0.0
                    tot += need_end[m, r]
                level[m] = sdiv(tot, dem0_total[m])

            # capacity: outages, projects; target output follows demand plus ramp-up
            for m in range(M):
                for k in range(K):
                    for r in range(R):
                        cap_t[m, k, r] = capacity[m, k, r]
            for oi in range(out_mask.shape[0]):
                if out_f[oi, b, 0] <= t < out_f[oi, b, 0] + out_f[oi, b, 1]:
                    lost = out_f[oi, b, 2]
                    if lost != 0:
                        for m in range(M):
                            for k in range(K):
                                for r in range(R):
                                    if out_mask[oi, m, k, r]:
                                        cap_t[m, k, r] = min(cap_t[m, k, r], capacity[m, k, r] * (1 - lost))
            n_proj = pj_mask.shape[0]
            if n_proj > 0:
                for m in range(M):
                    for k in range(K):
                        for r in range(R):
                            proj[m, k, r] = 0.0
                for p in range(n_proj):
                    p_start, p_ramp, p_cap = pj_f[p, b, 0], pj_f[p, b, 1], pj_f[p, b, 2]
                    frac = 0.0
                    if t >= p_start:
                        frac = min(1.0, sdiv(t - p_start + 1, max(p_ramp, 0.0)) + (1.0 if p_ramp <= 0 else 0.0))
                    for m in range(M):
                        for k in range(K):
                            for r in range(R):
                                if pj_mask[p, m, k, r]:
                                    proj[m, k, r] += frac * p_cap
                for m in range(M):
                    for k in range(K):
                        for r in range(R):
                            cap_t[m, k, r] += proj[m, k, r]
            for m in range(M):
                for k in range(K):
                    for r in range(R):
                        planned = (
                            base_out[m, k, r] * level[m] + ramp_extra[m, k, r] + proj[m, k, r]
                            - unsold[m, k, r] / restock
                        )  # fmt: skip
                        target[m, k, r] = min(max(planned, 0.0), cap_t[m, k, r])

            # restrictions in force (simulate._severity)
            for m in range(M):
                for k in range(K):
                    foreign[m, k] = False
                    comp[m, k] = 0.0
                    for r in range(R):
                        sev[m, k, r] = 0.0
            for ei in range(E):
                start, months, size = ev_f[ei, b, 0], ev_f[ei, b, 1], ev_f[ei, b, 2]
                if not (start <= t < start + months and size > 0):
                    continue
                s_ev = size * ev_f[ei, b, 3]
                if ev_i[ei, 0]:
                    # licensing: the share of the covered volume licensed this month flows
                    tau = t - start
                    frac = min(max(tau + 1 - ev_f[ei, b, 5], 0.0), 1.0)
                    ramp_m = ev_f[ei, b, 8]
                    pos = min(max(sdiv(tau + 1 - ev_f[ei, b, 5], ramp_m), 0.0), 1.0) if ramp_m > 0 else 0.0
                    s_ev = s_ev * (1 - frac * (ev_f[ei, b, 6] + (ev_f[ei, b, 7] - ev_f[ei, b, 6]) * pos))
                for m in range(M):
                    for k in range(K):
                        touched = False
                        for r in range(R):
                            if ev_mask[ei, m, k, r]:
                                touched = True
                                s = s_ev
                                if ev_i[ei, 1]:
                                    s = 1 - (1 - s) * (1 - defence_share[m, r])
                                sev[m, k, r] = max(sev[m, k, r], s)
                        if ev_i[ei, 2] and touched:
                            foreign[m, k] = True
                            comp[m, k] = max(comp[m, k], ev_f[ei, b, 4])

            for m in range(M):
                for r in range(R):
                    produced[m, r] = target[m, 0, r]
                    spot_end[m, r] = 1.0
                    earmark[m, r] = 0.0
                for k in range(K):
                    stage_short[m, k] = False
            for k in range(K):
                last = k == K - 1
                for m in range(M):
                    # the row of (material m, boundary k), over the regions that can sell or buy
                    # product k (position a: region act[m, k, a]); the others' flows are zero
                    n_a = n_act[m, k]
                    for a in range(n_a):
                        r = act[m, k, a]
                        # orders and offers; output made from a release goes to its holder first
                        offered = produced[m, r] + unsold[m, k, r]
                        nd = need_end[m, r] if last else sdiv(target[m, k + 1, r], yld[m, k + 1])
                        need[m, k, r] = nd
                        ao = nd + max(0.0, inv_target[m, k, r] - stock[m, k, r]) / restock
                        all_orders[m, k, r] = ao
                        ow = min(earmark[m, r], min(offered, ao))
                        own[m, k, r] = ow
                        supply[a] = offered - ow
                        orders[a] = ao - ow
                        sev_a[a] = sev[m, k, r]
                        tgt[a] = sev_a[a] > 0
                        rho[a] = 1.0 if home[m, k, r] else 0.0
                        if k > 0 and foreign[m, k] and not home[m, k, r]:
                            # re-export rule: restricted in proportion to restricted-origin content
                            rho[a] = comp[m, k] * content[m, k - 1, r]
                        x_in[a] = 0.0
                        x_out[a] = 0.0
                        xe_in[a] = 0.0
                    # 1. contracts (trade.contracts), from the regions that can sell to those that
                    # buy; each row's relationships are a dense (sellers x buyers) block
                    c_sh = csh[b, k]
                    n_s = n_sellers[m, k]
                    n_b = n_buyers[m, k]
                    for jj in range(n_b):
                        j = b_pos[m, k, jj]
                        c_j[jj] = c_sh * orders[j]
                        free_j[jj] = 1.0 - sev_a[j]
                        x_in_b[jj] = 0.0
                        xe_in_b[jj] = 0.0
                    for ii in range(n_s):
                        i = s_pos[m, k, ii]
                        rho_i = rho[i]
                        keep_i = 1.0 - rho_i
                        called = 0.0
                        for jj in range(n_b):
                            v = c_j[jj] * rel[k, m, ii, jj] * (keep_i + rho_i * free_j[jj])
                            x[ii, jj] = v
                            called += v
                        scale = 1.0
                        if called > supply[i]:
                            scale = supply[i] / called if called > 0 else 0.0
                        x_o = 0.0
                        for jj in range(n_b):
                            v = x[ii, jj] * scale
                            x[ii, jj] = v
                            x_in_b[jj] += v
                            x_o += v
                            xe_in_b[jj] += c_j[jj] * rel[k, m, ii, jj] * rho_i * free_j[jj] * scale
                        x_out[i] = x_o
                    for jj in range(n_b):
                        j = b_pos[m, k, jj]
                        x_in[j] = x_in_b[jj]
                        xe_in[j] = xe_in_b[jj]
                    # 2. spot
                    se = 0.0
                    so = 0.0
                    e_tot = 0.0
                    o_tot = 0.0
                    ord_tot = 0.0
                    rho_sup = 0.0
                    for a in range(n_a):
                        s_sp = max(supply[a] - x_out[a], 0.0)
                        d_sp[a] = max(orders[a] - x_in[a], 0.0)
                        supply_e[a] = rho[a] * s_sp
                        supply_o[a] = s_sp - supply_e[a]
                        se += supply_e[a]
                        so += supply_o[a]
                        ord_tot += orders[a]
                        rho_sup += rho[a] * supply[a]
                    for a in range(n_a):
                        cap_u[a] = max((1 - sev_a[a]) * rho_sup * sdiv(orders[a], ord_tot) - xe_in[a], 0.0)
                    if merge:
                        lead = p_pos[m, k, 0]
                        all_t = True
                        dsum = 0.0
                        usum = 0.0
                        for a in range(n_a):
                            d_m[a] = d_sp[a]
                            u_m[a] = cap_u[a]
                            tg_m[a] = tgt[a]
                        for p in range(P):
                            pa = p_pos[m, k, p]
                            dsum += d_sp[pa]
                            usum += cap_u[pa]
                            all_t = all_t and tgt[pa]
                            d_m[pa] = 0.0
                            tg_m[pa] = False
                        d_m[lead] = dsum
                        u_m[lead] = usum if all_t else np.inf
                        tg_m[lead] = all_t
                        clear_row(se, so, d_m, u_m, tg_m, y_m, w, order, n_a)
                        sales_row(se, so, y_m, u_m, tg_m, e_m, n_a)
                        for a in range(n_a):
                            y_sp[a] = y_m[a]
                            e[a] = e_m[a]
                        for p in range(P):
                            pa = p_pos[m, k, p]
                            share = sdiv(d_sp[pa], dsum)
                            y_sp[pa] = y_m[lead] * share
                            e[pa] = e_m[lead] * share
                    else:
                        clear_row(se, so, d_sp, cap_u, tgt, y_sp, w, order, n_a)
                        sales_row(se, so, y_sp, cap_u, tgt, e, n_a)
                    for a in range(n_a):
                        r = act[m, k, a]
                        o[a] = y_sp[a] - e[a]
                        y[m, k, r] = own[m, k, r] + x_in[a] + y_sp[a]
                        e_tot += e[a]
                        o_tot += o[a]
                    sold_e = sdiv(e_tot, se)
                    sold_o = sdiv(o_tot, so)
                    for a in range(n_a):
                        r = act[m, k, a]
                        unsold[m, k, r] = max(supply[a] - x_out[a] - supply_e[a] * sold_e - supply_o[a] * sold_o, 0.0)
                    # shipments and relationships (trade.ship): within a pool every producer
                    # sells the same fraction of its spot offer
                    inv_q = 1.0 / qual[b, k]
                    for jj in range(n_b):
                        j = b_pos[m, k, jj]
                        e_b[jj] = e[j]
                        o_b[jj] = o[j]
                        got_b[jj] = 0.0
                    for ii in range(n_s):
                        i = s_pos[m, k, ii]
                        ae = supply_e[i] / se if se > 0 else 0.0
                        ao = supply_o[i] / so if so > 0 else 0.0
                        for jj in range(n_b):
                            col[ii, jj] = x[ii, jj] + e_b[jj] * ae + o_b[jj] * ao
                        sb = same_b[m, k, ii]
                        if sb >= 0:  # a region's own earmarked output
                            col[ii, sb] += own[m, k, act[m, k, i]]
                        for jj in range(n_b):
                            got_b[jj] += col[ii, jj]
                    for jj in range(n_b):
                        # buyers that received nothing keep their relationships
                        upd_b[jj] = inv_q if got_b[jj] > 0 else 0.0
                        got_b[jj] = 1.0 / got_b[jj] if got_b[jj] > 0 else 0.0
                    for ii in range(n_s):
                        for jj in range(n_b):
                            rel[k, m, ii, jj] += (col[ii, jj] * got_b[jj] - rel[k, m, ii, jj]) * upd_b[jj]
                    if full:
                        for ii in range(n_s):
                            ri = act[m, k, s_pos[m, k, ii]]
                            for jj in range(n_b):
                                o_trade[b, ti, m, k, ri, act[m, k, b_pos[m, k, jj]]] = col[ii, jj]
                    # 3. prices: spot from the fill of each region's orders (1 where a region
                    # orders nothing); paid as the mix of contract terms, quota sales at the
                    # reference spot and free spot
                    for a in range(n_a):
                        r = act[m, k, a]
                        ao = all_orders[m, k, r]
                        fill = y[m, k, r] / ao if ao > 0 else 1.0
                        spot[a] = spot_index(fill, el_region[b, m, r], inv_el[b, m, r], price_cap[b])
                    ref_spot = spot[ref_pos[m, k]] if ref_pos[m, k] >= 0 else 1.0
                    contract_px = (ref_hist[m, k, 0] + ref_hist[m, k, 1] + ref_hist[m, k, 2]) / 3
                    ref_hist[m, k, 0] = ref_hist[m, k, 1]
                    ref_hist[m, k, 1] = ref_hist[m, k, 2]
                    ref_hist[m, k, 2] = ref_spot
                    if full:
                        for r in range(R):
                            o_spot[b, ti, m, k, r] = 1.0
                            o_paid[b, ti, m, k, r] = 1.0
                    for a in range(n_a):
                        r = act[m, k, a]
                        yy = y[m, k, r]
                        if yy > 0:
                            paid = ((own[m, k, r] + x_in[a]) * contract_px + e[a] * ref_spot + o[a] * spot[a]) / yy
                        else:
                            paid = spot[a]
                        if last:
                            spot_end[m, r] = spot[a]
                            paid_end[m, r] = paid
                        if full:
                            o_production[b, ti, m, k, r] = produced[m, r]
                            o_received[b, ti, m, k, r] = yy
                            o_ordered[b, ti, m, k, r] = all_orders[m, k, r]
                            o_exporter[b, ti, m, k, r] = xe_in[a] + e[a]
                            o_contract[b, ti, m, k, r] = x_in[a]
                            o_spot[b, ti, m, k, r] = spot[a]
                            o_paid[b, ti, m, k, r] = paid
                        if k + 1 < K:
                            content[m, k, r] = sdiv(xe_in[a] + e[a], yy)
                        avail[m, k, r] = yy + stock[m, k, r]

                if last and coordinated:
                    _end_use_coordinated(
                        dem, need_end, avail[:, k], stock, k, levels, left_q, sp_i, sp_f, b, coalition, part, prio_t,
                        classes, has_coupling, light, heavy, h_grade[b], delivered, use, short, released,
                        need_ps, given, short_ps, extra, pool, left_m, total_m, r_left, r_nc, r_req, r_take,
                    )  # fmt: skip
                    if has_coupling:
                        # the coalition's members got whole magnets by grade; the others' are coupled
                        for r in range(R):
                            if coalition[r]:
                                continue
                            for s in range(S):
                                for m in range(M):
                                    col_use[m] = delivered[m, r, s]
                                    col_need[m] = dem[m, r, s]
                                couple_row(col_use, col_need, light, heavy, h_grade[b], coupled_c)
                                for m in range(M):
                                    stock[m, k, r] += delivered[m, r, s] - coupled_c[m]
                                    delivered[m, r, s] = coupled_c[m]
                    for m in range(M):
                        for r in range(R):
                            acc = 0.0
                            for s in range(S):
                                acc += delivered[m, r, s]
                            del_tot[m, r] = acc
                            del_def[m, r] = delivered[m, r, defence] if defence >= 0 else 0.0
                else:
                    for m in range(M):
                        for r in range(R):
                            use[m, r] = min(need[m, k, r], avail[m, k, r])
                            stock[m, k, r] = avail[m, k, r] - use[m, r]
                            short[m, r] = need[m, k, r] - use[m, r]
                    _release(levels, left_q, sp_i, sp_f, b, k, short, coordinated, coalition, part, False, released)
                    for m in range(M):
                        for r in range(R):
                            kept_own = min(own[m, k, r], use[m, r])
                            use[m, r] += released[m, r]
                            if not last:
                                earmark[m, r] = (released[m, r] + kept_own) * yld[m, k + 1]
                    if last and has_coupling:
                        # magnets couple the elements: what a grade cannot use stays in stock
                        for r in range(R):
                            for m in range(M):
                                col_use[m] = use[m, r]
                                col_need[m] = need[m, k, r]
                            couple_row(col_use, col_need, light, heavy, h_grade[b], coupled_c)
                            for m in range(M):
                                stock[m, k, r] += use[m, r] - coupled_c[m]
                                use[m, r] = coupled_c[m]
                    if not last:
                        for m in range(M):
                            o_sum = 0.0
                            y_sum = 0.0
                            for r in range(R):
                                o_sum += all_orders[m, k, r]
                                y_sum += y[m, k, r]
                                produced[m, r] = use[m, r] * yld[m, k + 1]
                            # its buyers could not get what they ordered: spare capacity comes on
                            stage_short[m, k] = o_sum - y_sum > 1e-9 * o_sum
                    else:
                        for m in range(M):
                            for r in range(R):
                                del_tot[m, r] = use[m, r]
                                del_def[m, r] = dem_def[m, r] * sdiv(use[m, r], need_end[m, r])
                                if full:
                                    fr = sdiv(use[m, r], need_end[m, r])
                                    for s in range(S):
                                        delivered[m, r, s] = dem[m, r, s] * fr

            # horizon totals, the first month short, the kept cells, the world paid price
            for m in range(M):
                p_num = 0.0
                p_den = 0.0
                for r in range(R):
                    acc_dem[b, m, r] += need_end[m, r]
                    acc_del[b, m, r] += del_tot[m, r]
                    acc_ddem[b, m, r] += dem_def[m, r]
                    acc_ddel[b, m, r] += del_def[m, r]
                    if first_short[b, m, r] < 0 and need_end[m, r] - del_tot[m, r] > 1e-9 * need_end[m, r]:
                        first_short[b, m, r] = t
                    p_num += paid_end[m, r] * del_tot[m, r]
                    p_den += del_tot[m, r]
                price = p_num / p_den if p_den > 0 else 1.0
                peak[b, m] = max(peak[b, m], price)
                if full:
                    o_price[b, ti, m] = price
            for c in range(cell_m.shape[0]):
                if monthly_defence:
                    kept[b, t, c] = max(dem_def[cell_m[c], cell_r[c]] - del_def[cell_m[c], cell_r[c]], 0.0)
                else:
                    kept[b, t, c] = max(need_end[cell_m[c], cell_r[c]] - del_tot[cell_m[c], cell_r[c]], 0.0)
            if full:
                for m in range(M):
                    for r in range(R):
                        for s in range(S):
                            o_demand[b, ti, m, r, s] = dem[m, r, s]
                            o_delivered[b, ti, m, r, s] = delivered[m, r, s]
                        for k in range(K):
                            o_capacity[b, ti, m, k, r] = cap_t[m, k, r]
                            o_inventory[b, ti, m, k, r] = stock[m, k, r]
                            o_unsold[b, ti, m, k, r] = unsold[m, k, r]
                for q in range(Q):
                    o_stockpile[b, ti, sp_i[q, 0], sp_i[q, 1], sp_i[q, 2]] += levels[q]
            if has_coupling:
                # grade substitution where the heavy elements' end-use spot is above 1
                for r in range(R):
                    dear = False
                    for m in heavy:
                        if spot_end[m, r] > 1 + 1e-9:
                            dear = True
                    if dear:
                        thrift[r] = min(thrift[r] + thrift_step[b], thrift_max[b])
                    else:
                        thrift[r] = min(thrift[r], thrift_max[b])
            # spare capacity comes on where buyers were short or an end-use market is short
            signal_any = False
            for m in range(M):
                end_short = False
                for r in range(R):
                    if spot_end[m, r] > 1 + 1e-9:
                        end_short = True
                for k in range(K):
                    stage_short[m, k] = stage_short[m, k] or end_short
                    signal_any = signal_any or stage_short[m, k]
            if ramp_on or signal_any:
                ramp_on = False
                for m in range(M):
                    for k in range(K):
                        for r in range(R):
                            headroom = max(capacity[m, k, r] - base_out[m, k, r] * level[m], 0.0)
                            st = step[b, m, k, r] if stage_short[m, k] else -step[b, m, k, r]
                            v = min(max(ramp_extra[m, k, r] + st, 0.0), headroom)
                            ramp_extra[m, k, r] = v
                            if v != 0:
                                ramp_on = True


@njit(cache=True, nogil=True, error_model="numpy")
def _end_use_coordinated(  # type: ignore[no-untyped-def]
    dem, need_end, avail, stock, k, levels, left_q, sp_i, sp_f, b, coalition, part, prio_t, classes,
    has_coupling, light, heavy, h, delivered, use, short, rel_o, need_ps, given, short_ps, extra, pool,
    left_m, total_m, r_left, r_nc, r_req, r_take,
):  # fmt: skip
    """``simulate._end_use_coordinated`` for one draw: non-members pro rata from their own
    stockpiles; members pooled and served by priority, then from the coalition's stockpiles."""
    M, R, S = dem.shape
    P = part.shape[0]
    N = P * S
    Q = sp_i.shape[0]
    for m in range(M):
        for r in range(R):
            use[m, r] = min(need_end[m, r], avail[m, r])
            short[m, r] = 0.0 if coalition[r] else need_end[m, r] - use[m, r]
    _release(levels, left_q, sp_i, sp_f, b, k, short, False, coalition, part, True, rel_o)
    for m in range(M):
        for r in range(R):
            if coalition[r]:
                stock[m, k, r] = 0.0
                continue
            fr = sdiv(use[m, r] + rel_o[m, r], need_end[m, r])
            for s in range(S):
                delivered[m, r, s] = dem[m, r, s] * fr
            stock[m, k, r] = avail[m, r] - use[m, r]
        pool[m] = 0.0
        for p in range(P):
            pool[m] += avail[m, part[p]]
            for s in range(S):
                need_ps[m, p * S + s] = dem[m, part[p], s]
    _route(pool, need_ps, prio_t, classes, has_coupling, light, heavy, h, given, r_left, r_nc, r_req, r_take)
    any_item = False
    for m in range(M):
        g_sum = 0.0
        for j in range(N):
            g_sum += given[m, j]
            short_ps[m, j] = need_ps[m, j] - given[m, j]
        left_m[m] = max(pool[m] - g_sum, 0.0)
        total_m[m] = 0.0
    for q in range(Q):
        if sp_i[q, 1] == k and coalition[sp_i[q, 2]]:
            total_m[sp_i[q, 0]] += min(levels[q], sp_f[q, b, 1])
            any_item = True
    if any_item:
        for m in range(M):
            pool[m] = left_m[m] + total_m[m]  # (pool is free again: reused for the supply)
        _route(pool, short_ps, prio_t, classes, has_coupling, light, heavy, h, extra, r_left, r_nc, r_req, r_take)
    else:
        for m in range(M):
            for j in range(N):
                extra[m, j] = 0.0
    for m in range(M):
        drawn = 0.0
        for j in range(N):
            drawn += extra[m, j]
        from_pool = min(drawn, left_m[m])
        r_take[m] = max(drawn - from_pool, 0.0)  # released from the stockpiles
        left_m[m] = left_m[m] - from_pool
    for q in range(Q):
        if sp_i[q, 1] == k and coalition[sp_i[q, 2]]:
            mm = sp_i[q, 0]
            rr = min(levels[q], sp_f[q, b, 1])
            levels[q] = levels[q] - sdiv(rr, total_m[mm]) * r_take[mm]
    for m in range(M):
        p_sum = 0.0
        for p in range(P):
            p_sum += avail[m, part[p]]
        for p in range(P):
            stock[m, k, part[p]] = left_m[m] * sdiv(avail[m, part[p]], p_sum)
            for s in range(S):
                delivered[m, part[p], s] = given[m, p * S + s] + extra[m, p * S + s]


_WARM_SCENARIO = """
name = "warm-up"
start = "2024-01"
months = 2
[[disruption]]
exporter = "CHN"
materials = ["Dy"]
stages = ["magnet"]
targets = ["USA"]
start = "2024-01"
months = 1
"""


def warm_up() -> None:
    """Load the compiled engine's machine code from numba's disk cache, compiling it first where
    the cache has none (once per machine and source version: about a minute on a 2-core laptop),
    by running a two-month problem on a two-country chain.

    >>> warm_up()  # quick once compiled
    """
    import pandas as pd

    from critmin.chain import SupplyChain
    from critmin.engine.compiled import compile_scenario
    from critmin.engine.network import build_network
    from critmin.scenario import parse_scenario

    prod = pd.DataFrame(
        [("Dy", st, c, 2024, q, "t", "metal") for st in ("metal", "magnet") for c, q in (("CHN", 90.0), ("JPN", 10.0))],
        columns=["material", "stage", "country_iso3", "year", "quantity", "unit", "basis"],
    )
    dem = pd.DataFrame(
        [("Dy", r, "automotive", 2024, 50.0, "metal") for r in ("CHN", "USA")],
        columns=["material", "region", "sector", "year", "demand_t_per_yr", "basis"],
    )
    chain = SupplyChain.from_frames(prod, demand=dem)
    net = build_network(chain)
    lv = compile_scenario(parse_scenario(_WARM_SCENARIO), net, chain.blocs, chain)
    simulate_compiled(net, lv, full=False)
