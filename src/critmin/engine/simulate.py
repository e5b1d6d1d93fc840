"""Monthly time stepping shared by both engines.

Each month, for each material group and each stage boundary (product of stage k offered to the
buyers of stage k+1, or to end use after the last stage): producers offer this month's output
plus what they could not sell before; buyers order what they need to run plus a sixth of their
inventory gap; the market clears (:mod:`critmin.engine.clearing` or :mod:`critmin.engine.lp`);
buyers use receipts and inventory, then their government stockpile; stage k+1's output follows
through its conversion factor. After the last boundary the price index is set from the world fill
rate and feeds the next month's demand and capacity ramp-up. The model is written out in
``docs/engine.md``.

Example
-------
>>> from critmin.jobs import load_chain, open_store
>>> from critmin.engine import build_network, compile_scenario
>>> from critmin.scenario import load_scenario
>>> chain = load_chain(open_store())
>>> net = build_network(chain)
>>> lv = compile_scenario(load_scenario("lynas-malaysia-outage-6m"), net, chain.blocs, chain)
>>> groups = simulate(net, lv, "fast")
>>> len(groups) == len(net.groups), groups[0].demand.shape[:2]
(True, (1, 24))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from critmin.engine import clearing, lp
from critmin.engine.arrays import rowsum
from critmin.engine.arrays import safe_div as _div
from critmin.engine.compiled import CompiledScenario, StockpileSpec
from critmin.engine.network import Group, Network
from critmin.options import choice

Array = NDArray[np.float64]


@dataclass(frozen=True)
class Kernels:
    """The three allocation kernels an engine provides."""

    clear: Callable[..., Array]
    sales: Callable[..., tuple[Array, Array]]
    priority: Callable[..., Array]


ENGINES: dict[str, Kernels] = {
    "fast": Kernels(clearing.clear_market, clearing.restricted_sales, clearing.priority_fill),
    "lp": Kernels(lp.clear_market_lp, lp.restricted_sales_lp, lp.priority_fill_lp),
}


@dataclass(frozen=True)
class GroupResult:
    """Arrays of one material group: batch B, months T, materials M, stages K, regions R, sectors S."""

    demand: Array  # (B, T, M, R, S) end-use demand after demand response
    delivered: Array  # (B, T, M, R, S)
    production: Array  # (B, T, M, K, R) output of each stage
    capacity: Array  # (B, T, M, K, R) effective capacity
    inventory: Array  # (B, T, M, K, R) commercial stock of product k held by its buyers (end of month)
    unsold: Array  # (B, T, M, K, R) producers' unsold stock of product k (end of month)
    stockpile: Array  # (B, T, M, K, R) government stockpile of product k by holder (end of month)
    received: Array  # (B, T, M, K, R) product k delivered to buyers in each region
    ordered: Array  # (B, T, M, K, R) product k ordered by buyers in each region
    exporter_flow: Array  # (B, T, M, K, R) product k received from the restricted pool
    price: Array  # (B, T, M) price index (1 = base year)
    summary: GroupSummary  # horizon totals per batch member (what Monte Carlo keeps)


@dataclass(frozen=True)
class GroupSummary:
    """Per batch member, over the horizon: end-use totals and first month short, (B, M, R);
    defence alone; the price peak (B, M); and, for the (material, region) cells asked for, the
    monthly end-use shortfall (B, T, C), recorded even with ``full=False``."""

    demand: Array
    delivered: Array
    defence_demand: Array
    defence_delivered: Array
    first_short: NDArray[np.int_]  # month index of the first shortfall, -1 if none
    peak_price: Array
    #: (B, T, C) t per month: need - delivered, summed over sectors, of the cells asked for that
    #: belong to this group (in the order asked)
    monthly_shortfall: Array = field(default_factory=lambda: np.zeros((0, 0, 0)))


def _active(start: Array, months: Array, t: int) -> Array:
    return ((start <= t) & (t < start + months)).astype(float)


def simulate(
    net: Network,
    lv: CompiledScenario,
    engine: str = "fast",
    full: bool = True,
    monthly: Sequence[tuple[str, str]] = (),
) -> tuple[GroupResult, ...]:
    """Run every material group of ``net`` under the batch of levers ``lv``.

    With ``full=False`` the month-by-month arrays keep only the last month (their month axis has
    length 1) and the horizon summary is what matters: memory does not grow with the horizon.
    ``monthly`` names (material, region) cells whose monthly end-use shortfall (need − delivered,
    summed over sectors, t per month) each group's summary records in ``monthly_shortfall``
    (B, T, C), whatever ``full``: a group records the cells of its own materials, in the order
    given. Cells outside the network are ignored.
    """
    kern = ENGINES[choice("engine", engine, tuple(ENGINES))]
    return tuple(_simulate_group(net, gi, g, lv, kern, full, monthly) for gi, g in enumerate(net.groups))


def _simulate_group(
    net: Network,
    gi: int,
    g: Group,
    lv: CompiledScenario,
    kern: Kernels,
    full: bool = True,
    monthly: Sequence[tuple[str, str]] = (),
) -> GroupResult:
    M, K, R = g.base_out.shape
    S = len(net.sectors)
    B, T = lv.batch, lv.months
    coordinated = lv.mode == "coordinated"
    part = np.flatnonzero(lv.coalition)
    merge = coordinated and part.size >= 1
    others_mask = np.ones(R, dtype=bool)
    others_mask[lv.exporter] = False
    inv_target = lv.inv_months[gi] * g.need0  # (M, K, R)
    stock = np.broadcast_to(inv_target, (B, M, K, R)).copy()
    unsold = np.zeros((B, M, K, R))
    ramp_extra = np.zeros((B, M, K, R))
    price = np.ones((B, M))
    specs = [s for s in lv.stockpiles if s.group == gi]
    levels = [s.tonnes.astype(float).copy() for s in specs]
    dem0_total = g.demand0.sum((1, 2))  # (M,)
    dem0_sector = g.demand0.sum(1)  # (M, S)
    el_bar = _div(rowsum(lv.elasticity[:, None, :] * dem0_sector[None]), dem0_total[None])  # (B, M)
    projects = [p for p in lv.projects if p.group == gi]

    T_out = T if full else 1
    out = {
        name: np.zeros(shape)
        for name, shape in (
            ("demand", (B, T_out, M, R, S)),
            ("delivered", (B, T_out, M, R, S)),
            ("production", (B, T_out, M, K, R)),
            ("capacity", (B, T_out, M, K, R)),
            ("inventory", (B, T_out, M, K, R)),
            ("unsold", (B, T_out, M, K, R)),
            ("stockpile", (B, T_out, M, K, R)),
            ("received", (B, T_out, M, K, R)),
            ("ordered", (B, T_out, M, K, R)),
            ("exporter_flow", (B, T_out, M, K, R)),
            ("price", (B, T_out, M)),
        )
    }

    defence = net.sectors.index("defence") if "defence" in net.sectors else -1
    acc_dem = np.zeros((B, M, R))
    acc_del = np.zeros((B, M, R))
    acc_ddem = np.zeros((B, M, R))
    acc_ddel = np.zeros((B, M, R))
    first_short = np.full((B, M, R), -1, dtype=np.int64)
    peak = np.ones((B, M))
    cells = [(g.materials.index(m), net.regions.index(r)) for m, r in monthly if m in g.materials and r in net.regions]
    cell_m = np.array([m for m, _ in cells], dtype=np.intp)
    cell_r = np.array([r for _, r in cells], dtype=np.intp)
    kept = np.zeros((B, T, len(cells)))

    sectoral = full or coordinated
    # events that touch this group at all; constant arrays computed once
    outages = [ev for ev in lv.outages if ev.group_mask[gi].any()]
    disruptions = [ev for ev in lv.disruptions if ev.group_mask[gi].any()]
    zero_sev: Array = np.zeros((B, M, K, R))
    rho0 = np.zeros((B, M, R))  # share of each producer's supply in the restricted pool
    rho0[..., lv.exporter] = 1.0
    step = lv.ramp_share[gi][:, None] * g.capacity[None]  # (B, M, K, R) ramp-up per month
    ramp_on = False
    for t in range(T):
        ti = t if full else 0
        # demand after last month's price, growth, substitution and recycling
        growth = (1 + lv.growth) ** (t / 12)  # (B,)
        mult = price[:, :, None] ** lv.elasticity[:, None, :] * (1 - lv.substitution - lv.recycling)[:, None, :]
        if sectoral:
            dem = g.demand0[None] * growth[:, None, None, None] * mult[:, :, None, :]  # (B, M, R, S)
            need_end = rowsum(dem)
        else:  # totals only (Monte Carlo in market mode): no (B, M, R, S) arrays
            need_end = np.einsum("mrs,bms->bmr", g.demand0, mult) * growth[:, None, None]
        dem_def = (
            g.demand0[None, :, :, defence] * mult[:, :, None, defence] * growth[:, None, None]
            if defence >= 0
            else np.zeros(need_end.shape)
        )
        level = _div(rowsum(need_end), dem0_total[None])  # (B, M)

        # capacity: outages, projects; target output follows demand plus ramp-up
        cap_t: Array = np.broadcast_to(g.capacity[None], (B, M, K, R))
        proj: Array | float = 0.0
        for ev in outages:
            act = _active(ev.start, ev.months, t) * ev.size
            if act.any():
                cap_t = np.minimum(cap_t, g.capacity[None] * (1 - act[:, None, None, None] * ev.group_mask[gi]))
        for p in projects:
            frac = np.where(
                t >= p.start,
                np.minimum(1.0, _div(t - p.start + 1, np.maximum(p.ramp_months, 0)) + (p.ramp_months <= 0)),
                0.0,
            )
            proj = proj + (frac * p.capacity)[:, None, None, None] * p.mask
        if projects:
            cap_t = cap_t + proj
        # producers holding unsold output sell from it first: they cut their runs by a
        # restock period's share of it
        planned = g.base_out[None] * level[:, :, None, None] + ramp_extra + proj - unsold / lv.restock_months
        target = np.clip(planned, 0.0, cap_t)

        # restrictions in force this month: severity per (material, stage, target region)
        sev = zero_sev
        foreign: NDArray[np.bool_] = np.zeros((B, M, K), dtype=bool)
        for ev in disruptions:
            act = _active(ev.start, ev.months, t)
            if not act.any():
                continue
            sev = np.maximum(sev, (act * ev.size)[:, None, None, None] * ev.group_mask[gi])
            if ev.foreign_content:
                touched: NDArray[np.bool_] = np.any(ev.group_mask[gi], axis=-1)
                foreign |= (act[:, None, None] > 0) & touched[None]

        produced = target[:, :, 0, :]
        content = np.zeros((B, M, R))
        stage_short = np.zeros((B, M, K), dtype=bool)
        for k in range(K):
            last = k == K - 1
            supply = produced + unsold[:, :, k]
            need = need_end if last else _div(target[:, :, k + 1], g.yield_[None, :, k + 1, None])
            restock = np.maximum(0.0, inv_target[None, :, k] - stock[:, :, k]) / lv.restock_months
            orders = need + restock
            sev_k = sev[:, :, k]
            targeted = sev_k > 0
            rho = rho0
            if k > 0 and foreign[:, :, k].any():
                rho = np.where(foreign[:, :, k, None] & others_mask, content, rho0)
            supply_e = rho * supply  # what each producer offers through the restricted pool
            supply_o = supply - supply_e
            se = rowsum(supply_e)
            so = rowsum(supply_o)
            # a target may buy (1 - severity) of its pro-rata share of the restricted pool
            if targeted.any():
                cap_u = (1 - sev_k) * se[..., None] * _div(orders, rowsum(orders, keepdims=True))
            else:  # no quota anywhere this month (ignored for untargeted buyers)
                cap_u = orders
            if merge:
                d_m, u_m, tg_m = _merge(orders, cap_u, targeted, part)
                y_m = kern.clear(se, so, d_m, u_m, tg_m)
                e_m, _ = kern.sales(se, so, y_m, u_m, tg_m)
                y = _unmerge(y_m, orders, part)
                e = _unmerge(e_m, orders, part)
            else:
                y = kern.clear(se, so, orders, cap_u, targeted)
                e, _ = kern.sales(se, so, y, cap_u, targeted)
            o = y - e
            if k + 1 < K and foreign[:, :, k + 1].any():
                # share of restricted-origin content in what each region received (foreign-content rule)
                content = _div(e, y)
            sold = supply_e * _div(rowsum(e), se)[..., None] + supply_o * _div(rowsum(o), so)[..., None]
            unsold[:, :, k] = np.maximum(supply - sold, 0.0)
            if full:
                out["production"][:, ti, :, k] = produced
                out["received"][:, ti, :, k] = y
                out["ordered"][:, ti, :, k] = orders
                out["exporter_flow"][:, ti, :, k] = e

            avail = y + stock[:, :, k]
            if last and coordinated:
                delivered = _end_use_coordinated(dem, need_end, avail, stock, k, specs, levels, lv, kern)
                del_tot = rowsum(delivered)
                del_def = delivered[..., defence] if defence >= 0 else np.zeros(del_tot.shape)
            else:
                use = np.minimum(need, avail)
                stock[:, :, k] = avail - use
                use = use + _release(specs, levels, k, need - use, lv.coalition if coordinated else None)
                if not last:
                    # the buyers of product k could not get what they ordered: its producers bring
                    # spare capacity on
                    stage_short[:, :, k] = rowsum(orders - y) > 1e-9 * rowsum(orders)
                if last:
                    del_tot = use
                    del_def = dem_def * _div(use, need_end)
                    if full:
                        delivered = dem * _div(use, need_end)[..., None]
                else:
                    produced = use * g.yield_[None, :, k + 1, None]
        acc_dem += need_end
        acc_del += del_tot
        acc_ddem += dem_def
        acc_ddel += del_def
        first_short = np.where((first_short < 0) & (need_end - del_tot > 1e-9 * need_end), t, first_short)
        if cells:
            kept[:, t] = np.maximum(need_end[:, cell_m, cell_r] - del_tot[:, cell_m, cell_r], 0.0)
        if full:
            out["demand"][:, ti] = dem
            out["delivered"][:, ti] = delivered
            out["capacity"][:, ti] = cap_t
            out["inventory"][:, ti] = stock
            out["unsold"][:, ti] = unsold
            for s, lvl in zip(specs, levels, strict=True):
                out["stockpile"][:, ti, s.material, s.stage, s.holder] += lvl

        # price index from the world fill rate; it moves demand and ramp-up next month
        fill = _div(rowsum(del_tot), rowsum(need_end))
        fill = np.where(rowsum(need_end) > 0, fill, 1.0)
        short = fill < 1 - 1e-9
        with np.errstate(divide="ignore", over="ignore"):
            inv_el = 1.0 / np.minimum(el_bar, -1e-12)
            elastic = np.where(fill > 0, np.power(np.maximum(fill, 1e-300), inv_el), np.inf)
        p_new = np.where(el_bar < -1e-12, elastic, np.where(short, np.inf, 1.0))
        price = np.minimum(np.where(short, p_new, 1.0), lv.price_cap[:, None])
        if full:
            out["price"][:, ti] = price
        peak = np.maximum(peak, price)
        # spare capacity comes on where the product's buyers were short, and everywhere when the
        # end-use market is short (price index above 1)
        signal = stage_short | (price > 1 + 1e-9)[:, :, None]
        if ramp_on or signal.any():  # (nothing to do in the many months with no shortage and no ramp)
            headroom = np.maximum(g.capacity[None] - g.base_out[None] * level[:, :, None, None], 0.0)
            # ... and take it off at the same pace once their buyers are served
            ramp_extra = np.clip(ramp_extra + np.where(signal[..., None], step, -step), 0.0, headroom)
            ramp_on = bool(ramp_extra.any())

    summary = GroupSummary(acc_dem, acc_del, acc_ddem, acc_ddel, first_short, peak, kept)
    return GroupResult(**out, summary=summary)


def _merge(
    orders: Array, cap_u: Array, targeted: NDArray[np.bool_], part: NDArray[np.int_]
) -> tuple[Array, Array, NDArray[np.bool_]]:
    """The coalition as one buyer (in its first member's column): orders summed; restricted only
    if every member is a target, with the members' quotas summed."""
    lead, rest = part[0], part[1:]
    d = orders.copy()
    d[..., lead] = rowsum(orders[..., part])
    d[..., rest] = 0.0
    all_t = targeted[..., part].all(-1)
    u = cap_u.copy()
    u[..., lead] = np.where(all_t, rowsum(cap_u[..., part]), np.inf)
    tg = targeted.copy()
    tg[..., lead] = all_t
    tg[..., rest] = False
    return d, u, tg


def _unmerge(x: Array, orders: Array, part: NDArray[np.int_]) -> Array:
    """Split the coalition's column back to members in proportion to their orders."""
    out = x.copy()
    share = _div(orders[..., part], rowsum(orders[..., part], keepdims=True))
    out[..., part] = x[..., part[0], None] * share
    return out


def _releasable(specs: list[StockpileSpec], levels: list[Array], k: int) -> list[tuple[int, StockpileSpec, Array]]:
    return [(i, s, np.minimum(levels[i], s.max_release)) for i, s in enumerate(specs) if s.stage == k]


def _release(
    specs: list[StockpileSpec], levels: list[Array], k: int, short: Array, pooled: NDArray[np.bool_] | None
) -> Array:
    """Stockpile releases covering ``short`` (B, M, R) at boundary k; updates ``levels``.

    Each holder's stockpiles serve only the holder, pro rata to what each may release; with
    ``pooled`` (the coalition mask, coordinated mode) the coalition's stockpiles serve every
    member, pro rata to the members' shortfalls.
    """
    rel = np.zeros(short.shape)
    avail = _releasable(specs, levels, k)
    if not avail:
        return rel
    M = short.shape[1]
    for m in range(M):
        mine = [(i, s, r) for i, s, r in avail if s.material == m]
        groups: dict[tuple[int, ...], list[tuple[int, StockpileSpec, Array]]] = {}
        for i, s, r in mine:
            key = (
                tuple(int(x) for x in np.flatnonzero(pooled))
                if pooled is not None and pooled[s.holder]
                else (s.holder,)
            )
            groups.setdefault(key, []).append((i, s, r))
        for members, items in groups.items():
            idx = list(members)
            total = np.sum([r for _, _, r in items], axis=0)  # (B,)
            need = rowsum(short[:, m, idx])
            give = np.minimum(total, np.maximum(need, 0.0))
            rel[:, m, idx] += _div(short[:, m, idx], need[:, None]) * give[:, None]
            for i, _, r in items:
                levels[i] = levels[i] - _div(r, total) * give
    return rel


def _end_use_coordinated(
    dem: Array,
    need_end: Array,
    avail: Array,
    stock: Array,
    k: int,
    specs: list[StockpileSpec],
    levels: list[Array],
    lv: CompiledScenario,
    kern: Kernels,
) -> Array:
    """End use in coordinated mode: the coalition pools its receipts and inventory and serves its
    members' sectors by priority (defence first), then does the same with its stockpiles;
    everyone else as in market mode."""
    B, M, _, S = dem.shape
    part = np.flatnonzero(lv.coalition)
    others = ~lv.coalition
    delivered = np.zeros(dem.shape)
    # non-members: pro rata across sectors, own stockpiles only
    use = np.minimum(need_end, avail)
    short_o = np.where(others, need_end - use, 0.0)
    rel_o = _release_subset(specs, levels, k, short_o, lambda s: not lv.coalition[s.holder])
    delivered += np.where(others[:, None], dem * _div(use + rel_o, need_end)[..., None], 0.0)
    new_stock = np.where(others, avail - use, 0.0)
    # members: pooled receipts and inventory, routed by priority across all members' sectors
    prio = np.tile(lv.priority, part.size)
    need_ps = dem[:, :, part, :].reshape(B, M, part.size * S)
    pool = rowsum(avail[:, :, part])
    given = kern.priority(pool, need_ps, prio)
    left = np.maximum(pool - rowsum(given), 0.0)
    new_stock[:, :, part] = left[..., None] * _div(avail[:, :, part], pool[..., None])
    stock[:, :, k] = new_stock
    # then the coalition's stockpiles, by priority
    short_ps = need_ps - given
    total = np.zeros((B, M))
    items = [(i, s) for i, s in enumerate(specs) if s.stage == k and lv.coalition[s.holder]]
    for i, s in items:
        total[:, s.material] += np.minimum(levels[i], s.max_release)
    rel_ps = kern.priority(total, short_ps, prio) if items else np.zeros(short_ps.shape)
    released = rowsum(rel_ps)  # (B, M)
    for i, s in items:
        r = np.minimum(levels[i], s.max_release)
        levels[i] = levels[i] - _div(r, total[:, s.material]) * released[:, s.material]
    delivered[:, :, part, :] = (given + rel_ps).reshape(B, M, part.size, S)
    return delivered


def _release_subset(
    specs: list[StockpileSpec], levels: list[Array], k: int, short: Array, keep: Callable[[StockpileSpec], bool]
) -> Array:
    idx = [i for i, s in enumerate(specs) if keep(s)]
    sub_levels = [levels[i] for i in idx]
    rel = _release([specs[i] for i in idx], sub_levels, k, short, None)
    for j, i in enumerate(idx):
        levels[i] = sub_levels[j]
    return rel
