"""A scenario compiled onto a network: event masks and batched numbers.

Every number that a Monte Carlo draw may change (severity, start, duration, capacity lost,
stockpile size, elasticities, ...) is an array with a leading batch axis ``B``; masks (which
materials, stages and regions an event touches) are shared by the batch. :func:`compile_scenario`
gives ``B = 1``; :func:`replicate` makes ``B`` copies that Monte Carlo draws then change
(:func:`critmin.sampling.apply_draws`).

Example
-------
>>> from critmin.jobs import load_chain, open_store
>>> from critmin.engine.network import build_network
>>> from critmin.scenario import load_scenario
>>> chain = load_chain(open_store())
>>> net = build_network(chain)
>>> lv = compile_scenario(load_scenario("china-embargo-framework-12m"), net, chain.blocs, chain)
>>> lv.batch, lv.months, lv.mode, len(lv.disruptions)
(1, 36, 'market', 1)
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from critmin import names
from critmin.engine.network import Network, region_of
from critmin.errors import UnknownNameError, UserError
from critmin.names import SECTORS
from critmin.options import MODES, choice
from critmin.scenario import Project, Scenario, expand_targets, month_index

if TYPE_CHECKING:
    from critmin.chain import SupplyChain

Array = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

#: assumptions used when a scenario does not set them (documented in docs/engine.md)
DEFAULT_ELASTICITY = {s: (0.0 if s == "defence" else -0.1) for s in SECTORS}
DEFAULT_RAMP_SHARE_PER_MONTH = 0.02
DEFAULT_RESTOCK_MONTHS = 6.0


def _one() -> Array:
    return np.ones(1)


def _zero() -> Array:
    return np.zeros(1)


@dataclass(frozen=True)
class Event:
    """A timed event: per-group masks, batched start offset (months from the scenario start),
    duration and size (severity or capacity lost).

    Disruptions also carry the share of the flow they cover, the compliance share of the
    foreign-content rule, and for ``kind == "licensing"`` the processing lag (months) and the
    approval path (share approved when licences first issue, share reached after ``approve_ramp``
    months); all batched (B,)."""

    group_mask: tuple[BoolArray, ...]  # per group: (M, K, R) (for disruptions R = targets)
    start: Array  # (B,)
    months: Array  # (B,)
    size: Array  # (B,)
    foreign_content: bool = False
    label: str = ""
    kind: str = "restriction"
    covered: Array = field(default_factory=_one)  # (B,)
    compliance: Array = field(default_factory=_one)  # (B,)
    lag: Array = field(default_factory=_zero)  # (B,) months
    approve0: Array = field(default_factory=_zero)  # (B,)
    approve1: Array = field(default_factory=_zero)  # (B,)
    approve_ramp: Array = field(default_factory=_zero)  # (B,) months
    military_denied: bool = False

    #: the batched fields (what :func:`replicate` repeats)
    BATCHED = ("start", "months", "size", "covered", "compliance", "lag", "approve0", "approve1", "approve_ramp")


@dataclass(frozen=True)
class StockpileSpec:
    group: int
    material: int
    stage: int
    holder: int
    tonnes: Array  # (B,)
    max_release: Array  # (B,)
    label: str = ""


@dataclass(frozen=True)
class ProjectSpec:
    group: int
    mask: BoolArray  # (M, K, R)
    capacity: Array  # (B,) t/month
    start: Array  # (B,)
    ramp_months: Array  # (B,)
    label: str = ""


@dataclass(frozen=True)
class CompiledScenario:
    """A batch of scenario variants on one network."""

    batch: int
    months: int
    start_month: int
    mode: str
    coalition: BoolArray  # (R,)
    priority: NDArray[np.int_]  # (S,)
    disruptions: tuple[Event, ...]
    outages: tuple[Event, ...]
    stockpiles: tuple[StockpileSpec, ...]
    projects: tuple[ProjectSpec, ...]
    ramp_share: tuple[Array, ...]  # per group (B, K, R)
    inv_months: tuple[Array, ...]  # per group (M, K, R)
    exporters: tuple[NDArray[np.int_], ...]  # per group (M, K): region of the restricted pool
    contract_share: tuple[Array, ...]  # per group (B, K): share of orders placed under contract
    qualification: tuple[Array, ...]  # per group (B, K): months to qualify a new supplier
    base_price: tuple[Array, ...]  # per group (M, K): USD/kg of the product at index 1 (NaN: none)
    stoppage_fill: Array  # (B, S): fill below which a sector's production stops
    #: per group: (light material indices, heavy material indices, heavy-grade share (B,)) where
    #: the group's last stage is magnets made of Nd/Pr with Dy/Tb, else None
    coupling: tuple[tuple[NDArray[np.int_], NDArray[np.int_], Array] | None, ...]
    #: grade substitution: the most of the heavy elements' end-use need that redesign saves (B,),
    #: and the months to reach it (B,)
    thrift_max: Array
    thrift_months: Array
    elasticity: Array  # (B, S)
    substitution: Array  # (B, S)
    recycling: Array  # (B, S)
    growth: Array  # (B,) per year, fraction
    price_cap: Array  # (B,)
    restock_months: float = DEFAULT_RESTOCK_MONTHS
    notes: tuple[str, ...] = field(default_factory=tuple)


def _b(x: float) -> Array:
    return np.array([float(x)])


_SLUG = re.compile(r"[^a-z0-9]+")


def facility_id(name: str) -> str:
    """Stable id of a facility in the data's facility list.

    >>> facility_id("Lynas Malaysia (LAMP) - light RE separation")
    'lynas-malaysia-lamp-light-re-separation'
    """
    return _SLUG.sub("-", name.lower()).strip("-")


def facilities(chain: SupplyChain | None = None) -> pd.DataFrame:
    """The facility list of ``chain`` (store table ``facilities``: the shipped list with the
    user's overrides and imports; the shipped list where no chain is given) with an ``fid``
    column (the ids scenarios use).

    >>> fac = facilities()
    >>> "lynas-malaysia-lamp-light-re-separation" in set(fac["fid"])
    True
    """
    if chain is None:
        from critmin.dataset import shipped_table

        fac = shipped_table("facilities")
    else:
        fac = chain.facilities
    return fac.assign(fid=[facility_id(str(n)) for n in fac["facility"]])


def _facility(facility: str, chain: SupplyChain | None = None) -> tuple[pd.DataFrame, pd.Series]:
    """The facility list and the row of ``facility``; "did you mean" if unknown."""
    fac = facilities(chain)
    hit = fac[fac["fid"] == facility]
    if hit.empty:
        raise UnknownNameError("facility", facility, fac["fid"])
    return fac, hit.iloc[0]


def _capacity(row: pd.Series) -> float:
    """A facility's capacity, NaN where the list has none."""
    value = row["capacity"]
    return float("nan") if value is None or pd.isna(value) else float(value)


def facility_share(facility: str, chain: SupplyChain | None = None) -> tuple[str, str, float, str]:
    """(country, stage, share of the country's listed operating capacity at that stage, note), from
    the facility list of ``chain`` (the shipped list where none is given)."""
    fac, row = _facility(facility, chain)
    try:
        stage = names.stage(str(row["stage"]))
    except UnknownNameError:
        raise UserError(f"facility {facility!r} has stage {row['stage']!r}, which the engine does not model") from None
    peers = fac[
        (fac["country_iso3"] == row["country_iso3"])
        & (fac["stage"] == row["stage"])
        & (fac["unit"] == row["unit"])
        & (fac["status"].astype(str).str.startswith("operating"))
    ]
    total = float(pd.to_numeric(peers["capacity"], errors="coerce").sum())
    cap = _capacity(row)
    share = cap / total if total > 0 else 1.0
    note = (
        f"facility {facility}: {cap:,.0f} {row['unit']} of {total:,.0f} listed operating "
        f"in {row['country_iso3']} at {stage} (share {share:.3f})"
    )
    return str(row["country_iso3"]), stage, min(share, 1.0), note


def resolve_project(p: Project, chain: SupplyChain | None = None) -> tuple[str, str, dict[str, float], str, str]:
    """(region, stage, t/yr by material, start month, note) of a project, from the facility list
    where it names a facility. NdPr capacities split 75:25 (``nd_share_of_ndpr``); NdFeB magnet
    capacities become element content through ``magnet_content``. Facilities and parameters are
    the chain's (the store's, with the user's overrides and imports), the shipped ones where no
    chain is given."""
    if p.facility is None:
        assert p.region is not None and p.stage is not None and p.start is not None
        return p.region, p.stage, p.capacities(), p.start, ""
    from critmin.dataset import Params, shipped_table

    _, row = _facility(p.facility, chain)
    region = p.region or str(row["country_iso3"])
    stage = p.stage
    if stage is None:
        words = str(row["stage"]).replace("/", " ").replace("+", " ").split()
        found = [w for w in words if w in ("mine", "separation", "metal", "magnet")]
        if not found:
            raise UserError(f"facility {p.facility!r} has stage {row['stage']!r}; give stage = ... in the project")
        stage = found[-1]
    start = p.start
    if start is None:
        year = row["start_year"]
        if year is None or pd.isna(year) or not str(year).strip():
            raise UserError(f'facility {p.facility!r} has no start year in the data; give start = "YYYY-MM"')
        start = f"{int(float(year))}-01"
    if p.capacity_t_per_yr is not None:
        caps = p.capacities() if p.materials or isinstance(p.capacity_t_per_yr, dict) else {}
        if not caps:
            raise UserError(f"project with facility {p.facility!r}: give materials for capacity_t_per_yr")
        return region, stage, caps, start, f"facility {p.facility} at {stage} in {region}"
    unit = "" if row["unit"] is None or pd.isna(row["unit"]) else str(row["unit"])
    cap = _capacity(row)
    if np.isnan(cap):
        raise UserError(f"facility {p.facility!r} has no capacity in the data; give capacity_t_per_yr")
    prm = Params(chain.parameters if chain is not None else shipped_table("parameters"))
    if "NdPr" in unit:
        caps = {m: cap * prm.get(f"{m.lower()}_share_of_ndpr", m) for m in ("Nd", "Pr")}
        why = f"{cap:,.0f} {unit} split Nd:Pr by nd_share_of_ndpr / pr_share_of_ndpr"
    elif stage == "magnet" and unit.startswith("t/yr"):
        caps = {m: cap * prm.get("magnet_content", m, "magnet") / 100 for m in ("Nd", "Pr", "Dy", "Tb")}
        why = f"{cap:,.0f} {unit} of NdFeB times magnet_content"
    else:
        raise UserError(
            f"facility {p.facility!r} has capacity in {unit!r}, which critmin cannot turn into element "
            "content; give materials and capacity_t_per_yr"
        )
    if p.materials:
        caps = {m: v for m, v in caps.items() if m in p.materials}
    note = f"facility {p.facility} at {stage} in {region} from {start}: {why}"
    return region, stage, caps, start, note


def compile_scenario(
    scenario: Scenario, net: Network, blocs: names.Blocs | None = None, chain: SupplyChain | None = None
) -> CompiledScenario:
    """Compile one scenario (batch of one) onto ``net``. Facility outages and projects are sized
    from the facility list and parameters of ``chain`` (the chain ``net`` was built from; the
    shipped ones where none is given)."""
    blocs = blocs or names.default_blocs()
    regions = net.regions
    R = len(regions)
    r_index = {r: i for i, r in enumerate(regions)}
    first = month_index(scenario.start)
    simulated = set(net.materials)
    touched: set[str] = set()
    for items in (scenario.disruption, scenario.outage, scenario.project):
        for ev in items:
            touched.update(ev.materials or simulated | {n.split(":")[0] for n in net.skipped})
    touched.update(s.material for s in scenario.stockpile)
    for p in scenario.project:
        if isinstance(p.capacity_t_per_yr, dict):
            touched.update(p.capacity_t_per_yr)
    # network notes (skipped or rescaled materials) only for the materials this scenario touches
    notes: list[str] = [n for n in net.skipped if n.split(":")[0] in touched]

    def offset(month: str) -> float:
        return float(month_index(month) - first)

    def materials_mask(
        mats: Sequence[str], stage_names: Sequence[str] | None, rmask: BoolArray
    ) -> tuple[BoolArray, ...]:
        out = []
        for g in net.groups:
            m = np.array([(not mats) or x in mats for x in g.materials])
            k = np.array([stage_names is None or s in stage_names for s in g.stages])
            out.append(m[:, None, None] & k[None, :, None] & rmask[None, None, :])
        return tuple(out)

    from critmin.dataset import Params, shipped_table

    prm = Params(chain.parameters if chain is not None else shipped_table("parameters"))
    exporter_code = scenario.disruption[0].exporter if scenario.disruption else "CHN"
    exp_region = region_of(exporter_code, regions)
    exporter = r_index[exp_region]
    # one restricted pool per (material, stage): the exporter of the disruptions on it
    pool_owner: list[NDArray[np.int_]] = [np.full(g.base_out.shape[:2], exporter, dtype=np.int_) for g in net.groups]
    pool_label: list[dict[tuple[int, int], str]] = [{} for _ in net.groups]

    disruptions = []
    for i, d in enumerate(scenario.disruption):
        missing = [m for m in d.materials if m not in simulated]
        if missing:
            notes.append(f"disruption[{i}]: {', '.join(missing)} not simulated (no demand or production data)")
        d_region = region_of(d.exporter, regions)
        if d_region != d.exporter:
            notes.append(f"disruption[{i}]: exporter {d.exporter} is simulated as region {d_region}")
        d_exp = r_index[d_region]
        tmask = np.zeros(R, dtype=bool)
        merged: dict[str, list[str]] = {}
        for t in expand_targets(d.targets, blocs):
            if t == "all":
                tmask[:] = True
            else:
                reg = region_of(t, regions)
                if reg != t:
                    merged.setdefault(reg, []).append(t)
                tmask[r_index[reg]] = True
        for reg, members in merged.items():
            which = (
                ", ".join(members) if len(members) <= 5 else f"{len(members)} countries ({', '.join(members[:3])}, ...)"
            )
            notes.append(f"disruption[{i}]: target {which} simulated as region {reg}")
        tmask[d_exp] = False
        masks = materials_mask(d.materials, d.stages, tmask)
        for gi, mask in enumerate(masks):
            g = net.groups[gi]
            for mi, ki in zip(*np.nonzero(mask.any(-1)), strict=True):
                key = (int(mi), int(ki))
                if key in pool_label[gi] and pool_owner[gi][key] != d_exp:
                    raise UserError(
                        f"disruption[{i}] ({d.exporter}) and {pool_label[gi][key]} "
                        f"({regions[pool_owner[gi][key]]}) both restrict {g.materials[mi]} at {g.stages[ki]}: "
                        "one exporter per material and stage (restrict different stages or materials, "
                        "or run them as separate scenarios)"
                    )
                pool_owner[gi][key] = d_exp
                pool_label[gi].setdefault(key, f"disruption[{i}]")
        licensing = d.kind == "licensing"
        lag = d.processing_months if d.processing_months is not None else prm.get("licensing_processing_months")
        a0 = d.approval_share if d.approval_share is not None else prm.get("licensing_approval_share")
        a1 = d.approval_share_final if d.approval_share_final is not None else a0
        disruptions.append(
            Event(
                masks,
                _b(offset(d.start)),
                _b(d.months),
                _b(d.severity),
                d.foreign_content,
                f"disruption[{i}]",
                kind=d.kind,
                covered=_b(d.covered_share),
                compliance=_b(d.compliance),
                lag=_b(lag if licensing else 0.0),
                approve0=_b(a0 if licensing else 0.0),
                approve1=_b(a1 if licensing else 0.0),
                approve_ramp=_b(d.approval_ramp_months),
                military_denied=licensing and d.military_denied,
            )
        )

    outages = []
    for i, o in enumerate(scenario.outage):
        if o.facility is not None:
            country, stage, share, note = facility_share(o.facility, chain)
            notes.append(f"outage[{i}]: {note}")
            reg, stages, size = region_of(country, regions), [stage], o.capacity_lost * share
        else:
            assert o.region is not None and o.stage is not None
            reg, stages, size = region_of(o.region, regions), [o.stage], o.capacity_lost
            if reg != o.region:
                notes.append(f"outage[{i}]: {o.region} is simulated as region {reg} (whole region affected)")
        rmask = np.zeros(R, dtype=bool)
        rmask[r_index[reg]] = True
        outages.append(
            Event(
                materials_mask(o.materials, stages, rmask),
                _b(offset(o.start)),
                _b(o.months),
                _b(size),
                label=f"outage[{i}]",
            )
        )

    stockpiles = []
    for i, s in enumerate(scenario.stockpile):
        if s.material not in simulated:
            notes.append(f"stockpile[{i}]: {s.material} not simulated; ignored")
            continue
        gi, mi = net.locate(s.material)
        g = net.groups[gi]
        if s.stage not in g.stages:
            raise UserError(
                f"stockpile[{i}]: {s.material} has no {s.stage} stage in the data (stages: {', '.join(g.stages)})"
            )
        stockpiles.append(
            StockpileSpec(
                gi,
                mi,
                g.stages.index(s.stage),
                r_index[region_of(s.holder, regions)],
                _b(s.tonnes),
                _b(s.max_release_t_per_month),
                f"stockpile[{i}]",
            )
        )

    projects = []
    for i, p in enumerate(scenario.project):
        region, stage, caps, start, why = resolve_project(p, chain)
        if why:
            notes.append(f"project[{i}]: {why}")
        if month_index(start) < first:
            notes.append(f"project[{i}]: starts {start}, before the scenario; running from the first month")
        rmask = np.zeros(R, dtype=bool)
        rmask[r_index[region_of(region, regions)]] = True
        for mat, cap in caps.items():
            if mat not in simulated:
                notes.append(f"project[{i}]: {mat} not simulated; ignored")
                continue
            for gi, mask in enumerate(materials_mask([mat], [stage], rmask)):
                if mask.any():
                    projects.append(
                        ProjectSpec(
                            gi, mask, _b(cap / 12), _b(max(offset(start), 0.0)), _b(p.ramp_months), f"project[{i}]"
                        )
                    )
                elif mat in net.groups[gi].materials:
                    notes.append(f"project[{i}]: {mat} has no {stage} stage in the data; ignored")

    ramp = []
    for g in net.groups:
        arr = np.full((1, len(g.stages), R), DEFAULT_RAMP_SHARE_PER_MONTH)
        for ramp_rule in scenario.ramp_up:  # later rules override earlier ones
            k = np.array([ramp_rule.stage == "*" or s == ramp_rule.stage for s in g.stages])
            r = np.array([ramp_rule.region == "*" or region_of(ramp_rule.region, regions) == x for x in regions])
            arr[0][k[:, None] & r[None, :]] = ramp_rule.share_per_month
        ramp.append(arr)

    inv = []
    for g in net.groups:
        arr = g.inv_months.copy()
        for rule in scenario.inventory:
            m = np.array([rule.material == "*" or x == rule.material for x in g.materials])
            holder = [*g.stages[1:], "end_use"]
            k = np.array([rule.stage == "*" or h == rule.stage for h in holder])
            r = np.array([rule.region == "*" or region_of(rule.region, regions) == x for x in regions])
            arr[m[:, None, None] & k[None, :, None] & r[None, None, :]] = rule.months_of_use
        inv.append(arr)

    mk = scenario.market

    def by_stage(param: str, given: dict[str, float]) -> tuple[Array, ...]:
        return tuple(
            np.array([[given[st] if st in given else prm.get(param, "*", st) for st in g.stages]]) for g in net.groups
        )

    contract = by_stage("contract_share", mk.contract_share)
    qualification = by_stage("qualification_months", mk.qualification_months)
    prices = []
    for g in net.groups:
        arr = np.full(g.base_out.shape[:2], np.nan)
        for mi, mat in enumerate(g.materials):
            for ki, st in enumerate(g.stages):
                with contextlib.suppress(UserError):  # no price in the data: indices only
                    arr[mi, ki] = prm.get("base_price_usd_per_kg", mat, st)
        prices.append(arr)
    coupling: list[tuple[NDArray[np.int_], NDArray[np.int_], Array] | None] = []
    for g in net.groups:
        light = np.array([i for i, m in enumerate(g.materials) if m in ("Nd", "Pr")], dtype=np.int_)
        heavy = np.array([i for i, m in enumerate(g.materials) if m in ("Dy", "Tb")], dtype=np.int_)
        if g.stages[-1] == "magnet" and light.size and heavy.size:
            h = mk.heavy_grade_share
            if h is None:
                h = prm.get("heavy_grade_share", "rare_earths", "magnet")
            coupling.append((light, heavy, _b(h)))
        else:
            coupling.append(None)
    thrift_max = mk.heavy_thrift_max
    if thrift_max is None:
        thrift_max = prm.get("heavy_thrift_max", "rare_earths", "magnet")
    thrift_months = mk.heavy_thrift_months
    if thrift_months is None:
        thrift_months = prm.get("heavy_thrift_months", "rare_earths", "magnet")
    stop_default = prm.get("stoppage_fill", "*", "end_use")
    stoppage = np.array([[mk.stoppage_fill.get(s, stop_default) for s in SECTORS]])

    dr = scenario.demand
    el = np.array([[dr.elasticity.get(s, DEFAULT_ELASTICITY[s]) for s in SECTORS]])
    sub = np.array([[dr.substitution.get(s, 0.0) for s in SECTORS]])
    rec = np.array([[dr.recycling.get(s, 0.0) for s in SECTORS]])
    if np.any(sub + rec > 1):
        raise UserError("demand: substitution + recycling exceed 1 for a sector")
    coalition = np.zeros(R, dtype=bool)
    for c in blocs.members(scenario.coalition):
        coalition[r_index[region_of(c, regions)]] = True
    return CompiledScenario(
        batch=1,
        months=scenario.months,
        start_month=first,
        mode=scenario.mode,
        coalition=coalition,
        priority=np.array([scenario.sector_priority(s) for s in SECTORS]),
        disruptions=tuple(disruptions),
        outages=tuple(outages),
        stockpiles=tuple(stockpiles),
        projects=tuple(projects),
        ramp_share=tuple(ramp),
        inv_months=tuple(inv),
        exporters=tuple(pool_owner),
        contract_share=contract,
        qualification=qualification,
        base_price=tuple(prices),
        stoppage_fill=stoppage,
        coupling=tuple(coupling),
        thrift_max=_b(thrift_max),
        thrift_months=_b(thrift_months),
        elasticity=el,
        substitution=sub,
        recycling=rec,
        growth=_b(dr.growth_pct_per_yr / 100),
        price_cap=_b(dr.price_index_cap),
        notes=tuple(dict.fromkeys(notes)),
    )


def replicate(levers: CompiledScenario, n: int) -> CompiledScenario:
    """``n`` identical copies of a batch-of-one (the starting point for sampled variants).

    Every batched number (leading axis ``B``) is repeated; masks are shared.
    """
    if levers.batch != 1:
        raise ValueError("replicate expects a batch of one")

    def rep(a: Array) -> Array:
        return np.repeat(a, n, axis=0)

    def event(e: Event) -> Event:
        fields: dict[str, Any] = {f: rep(getattr(e, f)) for f in Event.BATCHED}
        return replace(e, **fields)

    return replace(
        levers,
        batch=n,
        disruptions=tuple(event(e) for e in levers.disruptions),
        outages=tuple(event(e) for e in levers.outages),
        stockpiles=tuple(replace(s, tonnes=rep(s.tonnes), max_release=rep(s.max_release)) for s in levers.stockpiles),
        projects=tuple(
            replace(p, capacity=rep(p.capacity), start=rep(p.start), ramp_months=rep(p.ramp_months))
            for p in levers.projects
        ),
        ramp_share=tuple(rep(r) for r in levers.ramp_share),
        contract_share=tuple(rep(c) for c in levers.contract_share),
        qualification=tuple(rep(q) for q in levers.qualification),
        stoppage_fill=rep(levers.stoppage_fill),
        coupling=tuple(None if c is None else (c[0], c[1], rep(c[2])) for c in levers.coupling),
        thrift_max=rep(levers.thrift_max),
        thrift_months=rep(levers.thrift_months),
        elasticity=rep(levers.elasticity),
        substitution=rep(levers.substitution),
        recycling=rep(levers.recycling),
        growth=rep(levers.growth),
        price_cap=rep(levers.price_cap),
    )


def with_mode(levers: CompiledScenario, mode: str) -> CompiledScenario:
    """The same compiled scenario under another allocation mode."""
    return replace(levers, mode=choice("mode", mode, MODES))
