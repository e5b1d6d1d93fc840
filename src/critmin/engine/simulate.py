"""Monthly time stepping shared by both engines.

Each month, for each material group and each stage boundary (product of stage k offered to the
buyers of stage k+1, or to end use after the last stage): producers offer this month's output plus
what they could not sell before; buyers order what they need to run plus a sixth of their
inventory gap; output made from a stockpile release goes to its holder's buyers first; contracts
are called through each buyer's supplier relationships (:mod:`critmin.engine.trade`); the rest
clears in the spot market (:mod:`critmin.engine.clearing` or :mod:`critmin.engine.lp`) under the
restrictions in force (severity or licensing, the re-export rule); relationships move towards what
was bought; each region's spot and paid price indices follow. Buyers use receipts and inventory,
then their government stockpile; after the last boundary magnets couple the elements. Prices move
next month's demand, grade substitution and capacity ramp-up. The model is written out in
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

from critmin import options
from critmin.engine import clearing, lp, trade
from critmin.engine.arrays import rowsum
from critmin.engine.arrays import safe_div as _div
from critmin.engine.compiled import CompiledScenario, Event, StockpileSpec
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
    contract: Array  # (B, T, M, K, R) product k received under contract
    spot_price: Array  # (B, T, M, K, R) spot (marginal) price index of product k in each region
    paid_price: Array  # (B, T, M, K, R) paid (volume-weighted) price index of product k
    trade: Array  # (B, T, M, K, R, R) product k shipped from region i (axis -2) to region j (axis -1)
    price: Array  # (B, T, M) world paid price index at end use (1 = base year)
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


def licensed_share(ev: Event, t: int) -> Array:
    """Share of a licensing control's covered volume that flows in month ``t`` (B,): nothing until
    the processing lag has passed (the month in which it ends counts in part), then the approval
    share, moving linearly from ``approve0`` to ``approve1`` over ``approve_ramp`` months.

    >>> import numpy as np
    >>> from critmin.engine.compiled import Event
    >>> ev = Event((), np.zeros(1), np.full(1, 12.0), np.ones(1), kind="licensing", lag=np.full(1, 2.5),
    ...            approve0=np.full(1, 0.2), approve1=np.full(1, 0.6), approve_ramp=np.full(1, 2.0))
    >>> [round(float(licensed_share(ev, t)[0]), 3) for t in range(6)]
    [0.0, 0.0, 0.15, 0.5, 0.6, 0.6]
    """
    tau = t - ev.start
    frac = np.clip(tau + 1 - ev.lag, 0.0, 1.0)
    pos = np.where(ev.approve_ramp > 0, np.clip(_div(tau + 1 - ev.lag, ev.approve_ramp), 0.0, 1.0), 0.0)
    return frac * (ev.approve0 + (ev.approve1 - ev.approve0) * pos)


def simulate(
    net: Network,
    lv: CompiledScenario,
    engine: str = "fast",
    full: bool = True,
    monthly: Sequence[tuple[str, str]] = (),
    monthly_sector: str = "all",
) -> tuple[GroupResult, ...]:
    """Run every material group of ``net`` under the batch of levers ``lv``.

    With ``full=False`` the month-by-month arrays keep only the last month (their month axis has
    length 1) and the horizon summary is what matters: memory does not grow with the horizon.
    ``monthly`` names (material, region) cells whose monthly end-use shortfall (need − delivered,
    summed over sectors, t per month) each group's summary records in ``monthly_shortfall``
    (B, T, C), whatever ``full``: a group records the cells of its own materials, in the order
    given. Cells outside the network are ignored. ``monthly_sector="defence"`` records the defence
    shortfall of those cells instead (defence need − defence delivered).
    """
    choice("monthly sector", monthly_sector, ("all", "defence"))
    if choice("engine", engine, options.ENGINES) == "compiled":
        from critmin.engine.month_loop import simulate_compiled

        return simulate_compiled(net, lv, full, monthly, monthly_sector)
    kern = ENGINES[engine]
    return tuple(
        _simulate_group(net, gi, g, lv, kern, full, monthly, monthly_sector) for gi, g in enumerate(net.groups)
    )


def _severity(
    lv: CompiledScenario, gi: int, t: int, shape: tuple[int, ...], defence_share: Array
) -> tuple[Array, NDArray[np.bool_], Array]:
    """Restrictions in force in month ``t``: severity per (B, M, K, target region), whether the
    foreign-content rule applies per (B, M, K), and its compliance share (B, M, K)."""
    B, M, K, _R = shape
    sev: Array = np.zeros(shape)
    foreign: NDArray[np.bool_] = np.zeros((B, M, K), dtype=bool)
    comp: Array = np.zeros((B, M, K))
    for ev in lv.disruptions:
        mask = ev.group_mask[gi]
        if not mask.any():
            continue
        # in force this month and switched on (a Monte Carlo draw may set its severity to 0)
        act = _active(ev.start, ev.months, t) * (ev.size > 0)
        if not act.any():
            continue
        size = ev.size * ev.covered
        if ev.kind == "licensing":
            size = size * (1 - licensed_share(ev, t))
        s_ev = (act * size)[:, None, None, None] * mask
        if ev.military_denied:
            # licences for military end users are refused: the defence share is withheld whole
            s_ev = np.where(mask & (act[:, None, None, None] > 0), 1 - (1 - s_ev) * (1 - defence_share[:, None]), s_ev)
        sev = np.maximum(sev, s_ev)
        if ev.foreign_content:
            touched: NDArray[np.bool_] = np.any(mask, axis=-1)
            on = (act[:, None, None] > 0) & touched[None]
            foreign |= on
            comp = np.maximum(comp, np.where(on, ev.compliance[:, None, None], 0.0))
    return sev, foreign, comp


def _simulate_group(
    net: Network,
    gi: int,
    g: Group,
    lv: CompiledScenario,
    kern: Kernels,
    full: bool = True,
    monthly: Sequence[tuple[str, str]] = (),
    monthly_sector: str = "all",
) -> GroupResult:
    M, K, R = g.base_out.shape
    S = len(net.sectors)
    B, T = lv.batch, lv.months
    coordinated = lv.mode == "coordinated"
    part = np.flatnonzero(lv.coalition)
    merge = coordinated and part.size >= 1
    # the restricted pool of each (material, stage): its exporter's supply
    home = np.zeros((M, K, R), dtype=bool)
    np.put_along_axis(home, lv.exporters[gi][..., None], True, axis=-1)
    rho0 = home.astype(float)
    inv_target = lv.inv_months[gi] * g.need0  # (M, K, R)
    stock = np.broadcast_to(inv_target, (B, M, K, R)).copy()
    unsold = np.zeros((B, M, K, R))
    ramp_extra = np.zeros((B, M, K, R))
    # trade relationships: each buyer's contract mix over supplier regions, (B, M, K, i, j); in
    # the base year every buyer buys from every producer in proportion to its output
    share0 = _div(g.base_out, rowsum(g.base_out, keepdims=True))
    rel = np.ascontiguousarray(np.broadcast_to(share0.transpose(1, 0, 2)[:, None, :, :, None], (K, B, M, R, R)))
    rel_rows = rel.reshape(K, B * M, R, R)  # one row per batch member and material (views)
    csh_rows = np.repeat(lv.contract_share[gi], M, axis=0)  # (B * M, K)
    qual_rows = np.repeat(np.maximum(lv.qualification[gi], 1.0), M, axis=0)  # (B * M, K)
    ref = np.argmax(g.base_out, axis=-1)  # (M, K): the reference market for contract prices
    ref_hist = np.ones((B, M, K, 3))  # its spot index over the last three months
    paid_end = np.ones((B, M, R))  # last month's paid index at end use (drives demand)
    price = np.ones((B, M))
    specs = [s for s in lv.stockpiles if s.group == gi]
    levels = [s.tonnes.astype(float).copy() for s in specs]
    dem0_total = g.demand0.sum((1, 2))  # (M,)
    dem0_region = g.demand0.sum(-1)  # (M, R)
    dem0_sector = g.demand0.sum(1)  # (M, S)
    el_world = _div(rowsum(lv.elasticity[:, None, :] * dem0_sector[None]), dem0_total[None])  # (B, M)
    # each region's demand-weighted elasticity (the world's where a region has no end use)
    el_region = np.where(
        dem0_region[None] > 0,
        _div(np.einsum("bs,mrs->bmr", lv.elasticity, g.demand0), dem0_region[None]),
        el_world[..., None],
    )  # (B, M, R)
    projects = [p for p in lv.projects if p.group == gi]
    defence = net.sectors.index("defence") if "defence" in net.sectors else -1
    defence_share = _div(g.demand0[..., defence], dem0_region) if defence >= 0 else np.zeros((M, R))

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
            ("contract", (B, T_out, M, K, R)),
            ("spot_price", (B, T_out, M, K, R)),
            ("paid_price", (B, T_out, M, K, R)),
            ("trade", (B, T_out, M, K, R, R) if full else (B, 1, M, K, 1, 1)),
            ("price", (B, T_out, M)),
        )
    }

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

    coupling = lv.coupling[gi]
    # grade substitution: the share of the heavy elements' need that redesign has saved, by region
    thrift = np.zeros((B, R))
    thrift_step = (lv.thrift_max / lv.thrift_months)[:, None]
    sectoral = full or coordinated
    outages = [ev for ev in lv.outages if ev.group_mask[gi].any()]
    step = lv.ramp_share[gi][:, None] * g.capacity[None]  # (B, M, K, R) ramp-up per month
    ramp_on = False
    sub_rec = 1 - lv.substitution - lv.recycling  # (B, S)
    for t in range(T):
        ti = t if full else 0
        # demand after last month's paid price in each region, growth, substitution and recycling
        growth = (1 + lv.growth) ** (t / 12)  # (B,)
        mult = paid_end[..., None] ** lv.elasticity[:, None, None, :] * sub_rec[:, None, None, :]  # (B, M, R, S)
        if coupling is not None and thrift.any():
            mult[:, coupling[1]] *= (1 - thrift)[:, None, :, None]
        if sectoral:
            dem = g.demand0[None] * mult * growth[:, None, None, None]  # (B, M, R, S)
            need_end = rowsum(dem)
        else:  # totals only (Monte Carlo in market mode)
            need_end = np.einsum("mrs,bmrs->bmr", g.demand0, mult) * growth[:, None, None]
        dem_def = (
            g.demand0[None, :, :, defence] * mult[..., defence] * growth[:, None, None]
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

        sev, foreign, comp = _severity(lv, gi, t, (B, M, K, R), defence_share)

        produced = target[:, :, 0, :]
        content = np.zeros((B, M, R))
        stage_short = np.zeros((B, M, K), dtype=bool)
        spot_end = np.ones((B, M, R))
        # output made from a government stockpile's release goes to the holder's own buyers first
        earmark = np.zeros((B, M, R))
        for k in range(K):
            last = k == K - 1
            offered = produced + unsold[:, :, k]
            need = need_end if last else _div(target[:, :, k + 1], g.yield_[None, :, k + 1, None])
            restock = np.maximum(0.0, inv_target[None, :, k] - stock[:, :, k]) / lv.restock_months
            all_orders = need + restock
            own = np.minimum(earmark, np.minimum(offered, all_orders))
            supply = offered - own
            orders = all_orders - own
            sev_k = sev[:, :, k]
            targeted = sev_k > 0
            rho: Array = np.broadcast_to(rho0[None, :, k], (B, M, R))
            if k > 0 and foreign[:, :, k].any():
                # re-export rule: a foreign maker's output counts as restricted in proportion to
                # the restricted-origin content of what it received, times the compliance share
                rho = np.where(foreign[:, :, k, None] & ~home[None, :, k], comp[:, :, k, None] * content, rho)
            # 1. contracts: each buyer calls the contract share of its orders from its suppliers
            # in its relationship mix; the restricted part to a target is cut by the severity;
            # a supplier short of supply serves its contract calls pro rata
            x_rows, x_in_rows, x_out_rows, xe_rows = trade.contracts(
                orders.reshape(B * M, R),
                supply.reshape(B * M, R),
                np.ascontiguousarray(rho).reshape(B * M, R),
                sev_k.reshape(B * M, R),
                rel_rows[k],
                np.ascontiguousarray(csh_rows[:, k]),
            )
            x_in = x_in_rows.reshape(B, M, R)  # received under contract
            x_out = x_out_rows.reshape(B, M, R)  # delivered under contract
            xe_in = xe_rows.reshape(B, M, R)  # its restricted-origin part
            # 2. spot: what is left clears in the market (restricted pool with quotas, free pool)
            s_sp = np.maximum(supply - x_out, 0.0)
            d_sp = np.maximum(orders - x_in, 0.0)
            supply_e = rho * s_sp
            supply_o = s_sp - supply_e
            se = rowsum(supply_e)
            so = rowsum(supply_o)
            if targeted.any():
                # a target may take (1 - severity) of its pro-rata share of the exporter's whole
                # offer (contract and spot), less what its contracts brought
                share = _div(orders, rowsum(orders, keepdims=True))
                cap_u = np.maximum((1 - sev_k) * rowsum(rho * supply)[..., None] * share - xe_in, 0.0)
            else:  # no quota anywhere this month (ignored for untargeted buyers)
                cap_u = d_sp
            if merge:
                d_m, u_m, tg_m = _merge(d_sp, cap_u, targeted, part)
                y_m = kern.clear(se, so, d_m, u_m, tg_m)
                e_m, _ = kern.sales(se, so, y_m, u_m, tg_m)
                y_sp = _unmerge(y_m, d_sp, part)
                e = _unmerge(e_m, d_sp, part)
            else:
                y_sp = kern.clear(se, so, d_sp, cap_u, targeted)
                e, _ = kern.sales(se, so, y_sp, cap_u, targeted)
            o = y_sp - e
            y = own + x_in + y_sp
            e_all = xe_in + e
            # within a pool every producer sells the same fraction of its spot offer
            sold_e = _div(rowsum(e), se)
            sold_o = _div(rowsum(o), so)
            unsold[:, :, k] = np.maximum(
                supply - x_out - supply_e * sold_e[..., None] - supply_o * sold_o[..., None], 0.0
            )
            # shipments from region i to region j, and each buyer's relationships moving towards
            # this month's mix over the qualification lag
            flow = trade.ship(
                x_rows,
                own.reshape(B * M, R),
                np.ascontiguousarray(e).reshape(B * M, R),
                np.ascontiguousarray(o).reshape(B * M, R),
                np.ascontiguousarray(supply_e).reshape(B * M, R),
                np.ascontiguousarray(supply_o).reshape(B * M, R),
                rel_rows[k],
                qual_rows[:, k].copy(),
                full,
            )
            if k + 1 < K and foreign[:, :, k + 1].any():
                content = _div(e_all, y)
            # 3. prices in each region: spot from the fill of its buyers' orders; paid as the
            # volume-weighted mix of contract terms (the reference market's spot, a quarter
            # behind), the restricted pool's spot sales at the reference market's spot (a quota
            # rations them, not the price) and the free pool's spot sales at the region's spot
            fill = np.where(all_orders > 0, _div(y, all_orders), 1.0)
            spot = _spot_index(fill, el_region, lv.price_cap)
            ref_spot = np.take_along_axis(spot, ref[None, :, k, None], -1)  # (B, M, 1)
            contract_px = ref_hist[:, :, k].mean(-1, keepdims=True)  # (B, M, 1)
            paid = np.where(y > 0, _div((own + x_in) * contract_px + e * ref_spot + o * spot, y), spot)
            ref_hist[:, :, k] = np.concatenate([ref_hist[:, :, k, 1:], ref_spot], axis=-1)
            if last:
                spot_end = spot
                paid_end = paid
            if full:
                out["production"][:, ti, :, k] = produced
                out["received"][:, ti, :, k] = y
                out["ordered"][:, ti, :, k] = all_orders
                out["exporter_flow"][:, ti, :, k] = e_all
                out["contract"][:, ti, :, k] = x_in
                out["spot_price"][:, ti, :, k] = spot
                out["paid_price"][:, ti, :, k] = paid
                out["trade"][:, ti, :, k] = flow.reshape(B, M, R, R)

            avail = y + stock[:, :, k]
            if last and coordinated:
                delivered = _end_use_coordinated(dem, need_end, avail, stock, k, specs, levels, lv, kern, coupling)
                if coupling is not None:
                    # the coalition's members were served whole magnets by grade already; the
                    # others' elements are coupled here
                    coupled = couple_grades(delivered, dem, *coupling)
                    coupled = np.where(lv.coalition[None, None, :, None], delivered, coupled)
                    stock[:, :, k] += rowsum(delivered - coupled)
                    delivered = coupled
                del_tot = rowsum(delivered)
                del_def = delivered[..., defence] if defence >= 0 else np.zeros(del_tot.shape)
            else:
                use = np.minimum(need, avail)
                stock[:, :, k] = avail - use
                released = _release(specs, levels, k, need - use, lv.coalition if coordinated else None)
                kept_own = np.minimum(own, use)
                use = use + released
                if last and coupling is not None:
                    # magnets couple the elements: what a grade cannot use stays in stock
                    coupled = couple_grades(use, need, *coupling)
                    stock[:, :, k] += use - coupled
                    use = coupled
                if not last:
                    # the buyers of product k could not get what they ordered: its producers bring
                    # spare capacity on
                    stage_short[:, :, k] = rowsum(all_orders - y) > 1e-9 * rowsum(all_orders)
                    # what the release (and the earmarked product used) makes goes on to the holder
                    earmark = (released + kept_own) * g.yield_[None, :, k + 1, None]
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
        if cells and monthly_sector == "defence":
            kept[:, t] = np.maximum(dem_def[:, cell_m, cell_r] - del_def[:, cell_m, cell_r], 0.0)
        elif cells:
            kept[:, t] = np.maximum(need_end[:, cell_m, cell_r] - del_tot[:, cell_m, cell_r], 0.0)
        # the world price: end-use paid indices weighted by deliveries
        price = np.where(rowsum(del_tot) > 0, _div(rowsum(paid_end * del_tot), rowsum(del_tot)), 1.0)
        if full:
            out["demand"][:, ti] = dem
            out["delivered"][:, ti] = delivered
            out["capacity"][:, ti] = cap_t
            out["inventory"][:, ti] = stock
            out["unsold"][:, ti] = unsold
            out["price"][:, ti] = price
            for s, lvl in zip(specs, levels, strict=True):
                out["stockpile"][:, ti, s.material, s.stage, s.holder] += lvl
        peak = np.maximum(peak, price)
        if coupling is not None:
            # magnet makers redesign grades (grain-boundary diffusion) where the heavy elements'
            # end-use spot is above 1; the saving, once made, stays
            dear = spot_end[:, coupling[1]].max(axis=1) > 1 + 1e-9  # (B, R)
            thrift = np.minimum(thrift + np.where(dear, thrift_step, 0.0), lv.thrift_max[:, None])
        # spare capacity comes on where the product's buyers were short, and everywhere when an
        # end-use market is short (a spot index above 1)
        signal = stage_short | (spot_end.max(-1) > 1 + 1e-9)[:, :, None]
        if ramp_on or signal.any():  # (nothing to do in the many months with no shortage and no ramp)
            headroom = np.maximum(g.capacity[None] - g.base_out[None] * level[:, :, None, None], 0.0)
            # ... and take it off at the same pace once their buyers are served
            ramp_extra = np.clip(ramp_extra + np.where(signal[..., None], step, -step), 0.0, headroom)
            ramp_on = bool(ramp_extra.any())

    summary = GroupSummary(acc_dem, acc_del, acc_ddem, acc_ddel, first_short, peak, kept)
    return GroupResult(**out, summary=summary)


def couple_grades(use: Array, need: Array, light: NDArray[np.int_], heavy: NDArray[np.int_], h: Array) -> Array:
    """What end users can use of the elements they received when magnets couple them.

    ``use`` and ``need`` are (B, M, ...) over the group's materials; ``light`` indexes Nd and Pr,
    ``heavy`` Dy and Tb; ``h`` (B,) is the share of NdFeB made in grades that contain Dy or Tb (the
    rest are Dy-free). Every grade needs the light elements; only the heavy grades need the heavy
    ones. With element fill rates ``f_e = use_e / need_e``, the heavy grades are filled at
    ``g_H = min over all four f_e``, the Dy-free grades at
    ``g_L = min(1, (min over light f_e - h g_H) / (1 - h))`` (the light elements the heavy grades
    could not use go to them); a light element is then used at ``h g_H + (1 - h) g_L`` of its
    need, a heavy one at ``g_H``.

    >>> import numpy as np
    >>> use = np.array([[[10.0], [1.0]]]); need = np.array([[[10.0], [2.0]]])
    >>> couple_grades(use, need, np.array([0]), np.array([1]), np.array([0.75]))[0, :, 0].tolist()
    [6.25, 1.0]
    """
    fill = np.where(need > 0, _div(use, need), 1.0)
    f_light = fill[:, light].min(axis=1)
    f_heavy = np.minimum(f_light, fill[:, heavy].min(axis=1))
    hh = h.reshape((-1,) + (1,) * (f_light.ndim - 1))
    g_low = np.where(hh < 1, np.minimum(1.0, _div(f_light - hh * f_heavy, 1 - hh)), 1.0)
    out = use.copy()
    out[:, light] = need[:, light] * (hh * f_heavy + (1 - hh) * g_low)[:, None]
    out[:, heavy] = need[:, heavy] * f_heavy[:, None]
    return np.minimum(out, use)


def priority_fill_grades(
    supply: Array,
    need: Array,
    priority: NDArray[np.int_],
    light: NDArray[np.int_],
    heavy: NDArray[np.int_],
    h: Array,
    other: Callable[..., Array],
) -> Array:
    """Priority routing of coupled magnet elements: ``supply`` (B, M) pooled per material, ``need``
    (B, M, N) per item (member x sector), classes in ``priority`` order. Each class takes first the
    Dy/Tb grades (``h`` of its light-element need and all its heavy-element need) at the common
    fill the scarcest element allows, then the Dy-free grades (the rest of its light-element need);
    within a class items share pro rata. Materials outside ``light`` and ``heavy`` are routed by
    ``other`` (the engine's priority kernel).

    >>> import numpy as np
    >>> from critmin.engine.clearing import priority_fill
    >>> supply = np.array([[10.0, 1.0]]); need = np.array([[[4.0, 8.0], [1.0, 2.0]]])
    >>> light, heavy, h = np.array([0]), np.array([1]), np.array([0.5])
    >>> out = priority_fill_grades(supply, need, np.array([1, 2]), light, heavy, h, priority_fill)
    >>> out[0].round(3).tolist()
    [[4.0, 4.0], [1.0, 0.0]]
    """
    coupled = np.zeros(supply.shape[1], dtype=bool)
    coupled[light] = True
    coupled[heavy] = True
    out = np.zeros(need.shape)
    if (~coupled).any():
        out[:, ~coupled] = other(supply[:, ~coupled], need[:, ~coupled], priority)
    left = np.maximum(supply, 0.0).copy()
    hh = h[:, None]
    for c in np.unique(priority):
        sel = priority == c
        n_c = need[..., sel].sum(-1)  # (B, M)
        req_h = np.zeros(n_c.shape)
        req_h[:, light] = hh * n_c[:, light]
        req_h[:, heavy] = n_c[:, heavy]
        g_h = np.minimum(1.0, np.where(req_h > 0, _div(left, req_h), np.inf)[:, coupled].min(-1))
        take = req_h * g_h[:, None]
        left = np.maximum(left - take, 0.0)
        req_l = np.zeros(n_c.shape)
        req_l[:, light] = (1 - hh) * n_c[:, light]
        g_l = np.minimum(1.0, np.where(req_l > 0, _div(left, req_l), np.inf)[:, light].min(-1))
        take_l = req_l * g_l[:, None]
        left = np.maximum(left - take_l, 0.0)
        share = _div(take + take_l, n_c)  # (B, M) fill of this class per material
        out[:, coupled] = np.where(sel, need[:, coupled] * share[:, coupled, None], out[:, coupled])
    return out


def _spot_index(fill: Array, elasticity: Array, cap: Array) -> Array:
    """Spot price index from the fill rate of a market's orders: ``fill ** (1 / elasticity)``,
    capped at ``cap`` (B,); 1 where the orders are met; the cap when short and the elasticity is 0."""
    short = fill < 1 - 1e-9
    with np.errstate(divide="ignore", over="ignore"):
        inv_el = 1.0 / np.minimum(elasticity, -1e-12)
        elastic = np.where(fill > 0, np.power(np.maximum(fill, 1e-300), inv_el), np.inf)
    p = np.where(elasticity < -1e-12, elastic, np.inf)
    return np.minimum(np.where(short, p, 1.0), cap[:, None, None])


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

    Each holder's stockpiles serve the holder first, pro rata to what each may release this month.
    With ``pooled`` (the coalition mask, coordinated mode) what the coalition's stockpiles may still
    release then serves the members' remaining shortfall, pro rata to it: a partner's stock helps
    the others only once its holder is covered.
    """
    rel = np.zeros(short.shape)
    avail = _releasable(specs, levels, k)
    if not avail:
        return rel
    left = {i: r.copy() for i, _, r in avail}  # what each may still release this month

    def serve(members: list[int], items: list[tuple[int, StockpileSpec]], m: int) -> None:
        total = np.sum([left[i] for i, _ in items], axis=0)  # (B,)
        need = rowsum(np.maximum(short[:, m, members] - rel[:, m, members], 0.0))
        give = np.minimum(total, need)
        rel[:, m, members] += (
            _div(np.maximum(short[:, m, members] - rel[:, m, members], 0.0), need[:, None]) * give[:, None]
        )
        for i, _ in items:
            taken = _div(left[i], total) * give
            levels[i] = levels[i] - taken
            left[i] = left[i] - taken

    coalition = [int(x) for x in np.flatnonzero(pooled)] if pooled is not None else []
    for m in range(short.shape[1]):
        mine = [(i, s) for i, s, _ in avail if s.material == m]
        by_holder: dict[int, list[tuple[int, StockpileSpec]]] = {}
        for i, s in mine:
            by_holder.setdefault(s.holder, []).append((i, s))
        for holder, items in by_holder.items():
            serve([holder], items, m)
        shared = [(i, s) for i, s in mine if s.holder in coalition]
        if shared:
            serve(coalition, shared, m)
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
    coupling: tuple[NDArray[np.int_], NDArray[np.int_], Array] | None = None,
) -> Array:
    """End use in coordinated mode: the coalition pools its receipts and inventory and serves its
    members' sectors by priority (defence first), then does the same with its stockpiles;
    everyone else as in market mode. Where magnets couple the elements the routing is by grade
    (:func:`priority_fill_grades`), so that a class gets whole magnets, not loose elements."""

    def route(supply: Array, need: Array, prio: NDArray[np.int_]) -> Array:
        if coupling is None:
            return kern.priority(supply, need, prio)
        return priority_fill_grades(supply, need, prio, *coupling, kern.priority)

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
    given = route(pool, need_ps, prio)
    left = np.maximum(pool - rowsum(given), 0.0)
    # then the coalition's stockpiles, by priority, together with what is left of the pool (a
    # released heavy element can make magnets of light elements the pool could not use alone);
    # the pool's leftovers are drawn first, the stockpiles for the rest
    short_ps = need_ps - given
    total = np.zeros((B, M))
    items = [(i, s) for i, s in enumerate(specs) if s.stage == k and lv.coalition[s.holder]]
    for i, s in items:
        total[:, s.material] += np.minimum(levels[i], s.max_release)
    extra = route(left + total, short_ps, prio) if items else np.zeros(short_ps.shape)
    drawn = rowsum(extra)  # (B, M)
    from_pool = np.minimum(drawn, left)
    released = np.maximum(drawn - from_pool, 0.0)
    left = left - from_pool
    for i, s in items:
        r = np.minimum(levels[i], s.max_release)
        levels[i] = levels[i] - _div(r, total[:, s.material]) * released[:, s.material]
    new_stock[:, :, part] = left[..., None] * _div(avail[:, :, part], pool[..., None])
    stock[:, :, k] = new_stock
    delivered[:, :, part, :] = (given + extra).reshape(B, M, part.size, S)
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
