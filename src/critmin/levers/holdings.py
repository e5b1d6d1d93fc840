"""What a stockpile can hold, what it covers and what it costs: the items (a material at a stage,
or NdFeB magnets), their first-order coverage of end-use shortfalls, the holders' consumption
(for days of cover), the acquisition cost with the market's price response, and the scenario
``[[stockpile]]`` entries that put a holding into the full engine.

Units: a holding is in tonnes of the stage's product as the data counts it (t of oxide at
``separation``, t of metal at ``metal``, t of element in magnets at ``magnet``; t of magnet for
NdFeB). A target material's shortfall is in tonnes of element at end use (t of magnet for NdFeB:
the Nd shortfall over Nd's magnet content, as the engine reports the product).

>>> from critmin.jobs import load_chain, open_store
>>> book = Holdings.build(load_chain(open_store()), ("USA", "JPN"), ("Dy", "NdFeB"), ("separation", "magnet"))
>>> [i.label for i in book.items]  # Dy in magnets has no price of its own: NdFeB magnets are held
['Dy separation', 'NdFeB magnet']
>>> round(book.coverage(book.items[1], "Dy"), 4)  # t of Dy per t of average NdFeB
0.009
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from critmin import names
from critmin.chain import SupplyChain
from critmin.dataset import Params
from critmin.engine.compiled import DEFAULT_ELASTICITY
from critmin.engine.network import Network, build_network
from critmin.errors import UnknownNameError, UserError
from critmin.scenario import Scenario

#: the magnet product the levers hold, made of these elements (t of element per t of magnet:
#: parameter ``magnet_content``, wt%)
NDFEB = "NdFeB"
NDFEB_ELEMENTS = ("Nd", "Pr", "Dy", "Tb")
#: the element whose end-use shortfall measures the magnet shortfall (as the engine reports it)
NDFEB_MEASURE = "Nd"
#: magnets couple the elements (docs/engine.md §4.5): heavy grades need all four, so a shortfall
#: of Dy or Tb leaves the other heavy element, and the light elements of heavy grades, unusable
HEAVY = ("Dy", "Tb")
LIGHT = ("Nd", "Pr")
#: the price index cap of the market model (``[demand] price_index_cap``), for the buying cost
PRICE_INDEX_CAP = 10.0
#: breakpoints of the piecewise-linear buying cost, as shares of the world's output over the buying months
COST_BREAKS = (0.0, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


@dataclass(frozen=True)
class Item:
    """What a stockpile can hold: ``material`` (an element, or ``NdFeB``) at ``stage``."""

    material: str
    stage: str

    @property
    def label(self) -> str:
        return f"{self.material} {self.stage}"


@dataclass(frozen=True)
class Holdings:
    """The items of a stockpile problem, with everything the optimisation needs about them."""

    holders: tuple[str, ...]
    materials: tuple[str, ...]  # the target materials (elements or NdFeB)
    items: tuple[Item, ...]
    #: (item, material) t of the target material's end-use shortfall covered per t held
    cover: NDArray[np.float64]
    #: (holder, item) whether the holder can use the item (it has the stages below it)
    usable: NDArray[np.bool_]
    why_not: dict[tuple[str, str], str]
    #: (holder, material) base-year consumption, t per year, all sectors (t of magnet for NdFeB)
    consumption_t_per_yr: NDArray[np.float64]
    price_usd_per_t: NDArray[np.float64]  # (item,)
    price_source: tuple[str, ...]
    world_t_per_month: NDArray[np.float64]  # (item,) the world's base-year output
    elasticity: NDArray[np.float64]  # (item,) demand-weighted world price elasticity (< 0)
    content: dict[str, float]  # t of element per t of NdFeB
    carrying_share_per_yr: float
    carrying_source: str
    notes: tuple[str, ...] = ()
    #: the first ``n_targets`` materials are the user's; the rest are the heavy magnet elements
    #: added because magnets couple them (their shortfall limits the targets'; no target on them)
    n_targets: int = -1
    heavy_grade_share: float = 0.755

    @property
    def targets(self) -> tuple[str, ...]:
        """The materials the targets are on (the user's)."""
        return self.materials if self.n_targets < 0 else self.materials[: self.n_targets]

    def coupling(self) -> NDArray[np.float64]:
        """(material, material) factors ``k[m, f]``: material ``m``'s end-use shortfall is at least
        ``k[m, f] × need_m / need_f`` times heavy element ``f``'s uncovered shortfall (1 for a heavy
        ``m``, the heavy-grade share for Nd, Pr and NdFeB; 0 where they are not coupled)."""
        k = np.zeros((len(self.materials), len(self.materials)))
        for j, m in enumerate(self.materials):
            el = NDFEB_MEASURE if m == NDFEB else m
            if el not in (*HEAVY, *LIGHT):
                continue
            for f, other in enumerate(self.materials):
                if other in HEAVY and other != m:
                    k[j, f] = 1.0 if el in HEAVY else self.heavy_grade_share
        return k

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        chain: SupplyChain,
        holders: tuple[str, ...],
        materials: tuple[str, ...],
        stages: tuple[str, ...] = (),
        scenario: Scenario | None = None,
        carrying_share_per_yr: float | None = None,
    ) -> Holdings:
        """Items, coverage, eligibility, consumption and prices for ``holders`` and ``materials``
        on ``chain`` (in the scenario's regions). ``stages`` limits where elements may be held
        (default: separation, metal and magnet); NdFeB is held as magnets."""
        regions = scenario.regions if scenario is not None else names.DEFAULT_REGIONS
        net = build_network(chain, regions)
        prm = Params(chain.parameters)
        holders = tuple(dict.fromkeys(_holder(h, net) for h in holders))
        mats = tuple(dict.fromkeys(_material(m, net) for m in materials))
        if not holders or not mats:
            raise UserError("give at least one holder (--holders) and one material (--materials)")
        magnet = [m for m in mats if m in (NDFEB, *HEAVY, *LIGHT)]
        companions = tuple(e for e in HEAVY if magnet and e not in mats and e in net.materials)
        wanted = tuple(dict.fromkeys(names.stage(s) for s in stages)) or ("separation", "metal", "magnet")
        for s in wanted:
            if s not in ("mine", "separation", "metal", "magnet"):
                raise UserError(f"--stages: a stockpile holds a product (mine, separation, metal or magnet), not {s}")
        content = {e: prm.get("magnet_content", e, "magnet") / 100 for e in NDFEB_ELEMENTS}
        items: list[Item] = []
        for m in mats:
            if m == NDFEB:
                items.append(Item(NDFEB, "magnet"))
                continue
            gi, _ = net.locate(m)
            have = [s for s in net.groups[gi].stages if s in wanted]
            if not have:
                raise UserError(
                    f"--stages: {m} has none of {', '.join(wanted)} in the data "
                    f"(its stages: {', '.join(net.groups[gi].stages)})"
                )
            items.extend(Item(m, s) for s in have)
        priced: list[Item] = []
        prices, sources, notes = [], [], []
        for it in items:
            try:
                usd, src = _price(prm, it)
            except UserError as e:
                notes.append(f"{it.label} not held: {e}")
                continue
            priced.append(it)
            prices.append(usd)
            sources.append(src)
        for m in mats:
            if not any(it.material == m for it in priced):
                raise UserError(f"no stage of {m} that a stockpile may hold has a price: {'; '.join(notes)}")
        items = priced
        n_targets = len(mats)
        mats = (*mats, *companions)
        cover = np.zeros((len(items), len(mats)))
        for i, it in enumerate(items):
            for j, m in enumerate(mats):
                cover[i, j] = _cover(net, it, m, content)
        usable = np.ones((len(holders), len(items)), dtype=bool)
        why_not: dict[tuple[str, str], str] = {}
        for h, holder in enumerate(holders):
            for i, it in enumerate(items):
                missing = _missing_stages(net, it, holder)
                if missing:
                    usable[h, i] = False
                    why_not[(holder, it.label)] = f"{holder} has no {', '.join(missing)} capacity to use it"
        consumption = np.zeros((len(holders), len(mats)))
        for h, holder in enumerate(holders):
            r = net.regions.index(holder)
            for j, m in enumerate(mats):
                el = NDFEB_MEASURE if m == NDFEB else m
                gi, mi = net.locate(el)
                per_month = float(net.groups[gi].demand0[mi, r].sum())
                consumption[h, j] = per_month * 12 / (content[NDFEB_MEASURE] if m == NDFEB else 1.0)
        idle = [
            f"{holder} ({m})" for h, holder in enumerate(holders) for j, m in enumerate(mats[:n_targets])
            if consumption[h, j] <= 0
        ]  # fmt: skip
        if idle:
            raise UserError(
                f"--holders: no end-use demand in the data for {', '.join(idle)}: a stockpile there has nothing to "
                "cover; drop them from --holders or --materials"
            )
        world, elast = [], []
        for it in items:
            world.append(_world_output(net, it, content))
            elast.append(_elasticity(net, it, scenario))
        if carrying_share_per_yr is None:
            carrying_share_per_yr, carrying_source = _carrying(prm)
        else:
            carrying_source = "given (--carrying-cost)"
        if not (math.isfinite(carrying_share_per_yr) and 0 <= carrying_share_per_yr <= 1):
            raise UserError(f"--carrying-cost must be a yearly share between 0 and 1 (got {carrying_share_per_yr})")
        return cls(
            holders, mats, tuple(items), cover, usable, why_not, consumption, np.array(prices), tuple(sources),
            np.array(world), np.array(elast), content, carrying_share_per_yr, carrying_source, tuple(notes),
            n_targets, _heavy_share(prm, scenario),
        )  # fmt: skip

    # -- queries ------------------------------------------------------------------------------
    def coverage(self, item: Item, material: str) -> float:
        """t of ``material``'s end-use shortfall covered per t of ``item``."""
        return float(self.cover[self.items.index(item), self.materials.index(material)])

    def days_of_cover(self, holder: str, item: Item, tonnes: float) -> float:
        """Days of the holder's consumption of the item's material that ``tonnes`` of it cover."""
        h = self.holders.index(holder)
        j = self.materials.index(item.material)
        per_day = self.consumption_t_per_yr[h, j] / 365.0
        return tonnes * self.coverage(item, item.material) / per_day if per_day > 0 else math.inf

    def days_held(self, holder: str, tonnes: NDArray[np.float64], material: str) -> float:
        """Days of the holder's consumption of ``material`` that its holdings (``tonnes`` per item)
        cover, counting every item that covers it (NdFeB magnets cover Dy and Tb by content)."""
        h = self.holders.index(holder)
        j = self.materials.index(material)
        per_day = self.consumption_t_per_yr[h, j] / 365.0
        held = float(np.asarray(tonnes, dtype=float) @ self.cover[:, j])
        return held / per_day if per_day > 0 else math.inf

    def tonnes_for_days(self, holder: str, item: Item, days: float) -> float:
        """Tonnes of ``item`` that cover ``days`` of the holder's consumption of its material."""
        h = self.holders.index(holder)
        j = self.materials.index(item.material)
        c = self.coverage(item, item.material)
        return days * self.consumption_t_per_yr[h, j] / 365.0 / c if c > 0 else math.inf

    def cost_segments(self, item: Item, buy_months: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Widths (t) and prices (USD/t) of the buying cost's linear pieces for ``item``.

        Buying ``x`` t over ``buy_months`` adds ``x / buy_months`` to the world's monthly orders;
        with output fixed the market model's spot index is ``(1 + x / (buy_months · Q))^(1/|ε|)``
        (capped at :data:`PRICE_INDEX_CAP`), ``Q`` the world's monthly output and ``ε`` its
        demand-weighted elasticity. The cost is the integral of that marginal price; the pieces
        join its values at :data:`COST_BREAKS` (a convex curve, so the cheap pieces fill first).
        """
        i = self.items.index(item)
        q = self.world_t_per_month[i] * buy_months
        power = 1.0 / abs(self.elasticity[i]) if self.elasticity[i] < 0 else 0.0
        edges = np.array(COST_BREAKS) * q
        total = np.array([_cost_integral(e / q, power) * q * self.price_usd_per_t[i] if q > 0 else 0 for e in edges])
        widths = np.diff(edges)
        slopes = np.diff(total) / np.where(widths > 0, widths, 1.0)
        return widths, slopes

    def buying_cost_usd(self, item: Item, tonnes: float, buy_months: float) -> float:
        """The cost of buying ``tonnes`` of ``item`` (the pieces of :meth:`cost_segments`;
        beyond the last break at the capped price)."""
        widths, slopes = self.cost_segments(item, buy_months)
        left, cost = tonnes, 0.0
        for w, s in zip(widths, slopes, strict=True):
            take = min(left, w)
            cost += take * s
            left -= take
        return cost + left * self.price_usd_per_t[self.items.index(item)] * PRICE_INDEX_CAP

    def stockpile_entries(self, holder: str, item: Item, tonnes: float, release_t_per_month: float) -> list[Any]:
        """The scenario ``[[stockpile]]`` entries that hold ``tonnes`` of ``item`` (NdFeB: one per
        element at the magnet stage, in the magnet's proportions)."""
        note = "critmin optimize stockpile"
        if item.material == NDFEB:
            return [
                {"holder": holder, "material": e, "stage": "magnet", "tonnes": tonnes * c,
                 "max_release_t_per_month": release_t_per_month * c, "note": note}
                for e, c in self.content.items()
            ]  # fmt: skip
        return [
            {"holder": holder, "material": item.material, "stage": item.stage, "tonnes": tonnes,
             "max_release_t_per_month": release_t_per_month, "note": note}
        ]  # fmt: skip

    def measured_elements(self) -> tuple[str, ...]:
        """The simulated elements whose end-use shortfall measures the target materials."""
        return tuple(dict.fromkeys(NDFEB_MEASURE if m == NDFEB else m for m in self.materials))

    def scale(self, material: str) -> float:
        """Target units per t of the measured element's shortfall (1 / Nd content for NdFeB)."""
        return 1.0 / self.content[NDFEB_MEASURE] if material == NDFEB else 1.0


# -- helpers ------------------------------------------------------------------------------------
def _heavy_share(prm: Params, scenario: Scenario | None) -> float:
    given = scenario.market.heavy_grade_share if scenario is not None else None
    return float(given) if given is not None else prm.get("heavy_grade_share", "rare_earths", "magnet")


def _holder(name: str, net: Network) -> str:
    code = name.strip().upper()
    if code not in net.regions:
        raise UnknownNameError("holder (a region of the scenario)", name, net.regions)
    return code


def _material(name: str, net: Network) -> str:
    if name.strip().lower() in ("ndfeb", "ndfeb magnets", "magnets", "neo"):
        return NDFEB
    try:
        m = names.material(name)
    except UserError:
        raise UnknownNameError("material", name, (*net.materials, NDFEB)) from None
    if m not in net.materials:
        raise UserError(f"--materials: {m} is not simulated (simulated: {', '.join((*net.materials, NDFEB))})")
    return m


def _chain_after(net: Network, element: str, stage: str) -> tuple[int, int, list[int]]:
    gi, mi = net.locate(element)
    stages = net.groups[gi].stages
    k = stages.index(stage)
    return gi, mi, list(range(k + 1, len(stages)))


def _cover(net: Network, item: Item, material: str, content: dict[str, float]) -> float:
    """t of ``material``'s end-use shortfall (target units) one t of ``item`` covers, first order."""
    if item.material == NDFEB:
        if material == NDFEB:
            return 1.0
        return content.get(material, 0.0)
    measured = NDFEB_MEASURE if material == NDFEB else material
    if item.material != measured:
        return 0.0
    gi, mi, after = _chain_after(net, item.material, item.stage)
    y = float(np.prod([net.groups[gi].yield_[mi, k] for k in after])) if after else 1.0
    return y / content[NDFEB_MEASURE] if material == NDFEB else y


def _missing_stages(net: Network, item: Item, holder: str) -> list[str]:
    """The stages below the item that the holder has no capacity for (so it cannot use it)."""
    element = NDFEB_MEASURE if item.material == NDFEB else item.material
    gi, mi, after = _chain_after(net, element, item.stage)
    g, r = net.groups[gi], net.regions.index(holder)
    return [g.stages[k] for k in after if g.capacity[mi, k, r] <= 0]


def _world_output(net: Network, item: Item, content: dict[str, float]) -> float:
    element = NDFEB_MEASURE if item.material == NDFEB else item.material
    gi, mi = net.locate(element)
    g = net.groups[gi]
    q = float(g.base_out[mi, g.stages.index(item.stage)].sum())
    return q / content[NDFEB_MEASURE] if item.material == NDFEB else q


def _elasticity(net: Network, item: Item, scenario: Scenario | None) -> float:
    element = NDFEB_MEASURE if item.material == NDFEB else item.material
    gi, mi = net.locate(element)
    d = net.groups[gi].demand0[mi].sum(0)  # (S,)
    given = scenario.demand.elasticity if scenario is not None else {}
    el = np.array([given.get(s, DEFAULT_ELASTICITY[s]) for s in net.sectors])
    return float((el * d).sum() / d.sum()) if d.sum() > 0 else -0.1


def _price(prm: Params, item: Item) -> tuple[float, str]:
    material = "rare_earths" if item.material == NDFEB else item.material
    try:
        usd_per_kg = prm.get("lever_price_usd_per_kg", material, item.stage)
    except UserError:
        raise UserError(
            f"no price for {item.label} (parameter lever_price_usd_per_kg, material={material}, "
            f"stage={item.stage}): add one with `critmin data import csv parameters FILE` or choose other --stages "
            "(a database built by a critmin without levers has none: rebuild it, `critmin data build`)"
        ) from None
    if not (math.isfinite(usd_per_kg) and usd_per_kg > 0):
        raise UserError(f"the price of {item.label} must be positive (lever_price_usd_per_kg = {usd_per_kg})")
    row = prm.frame[(prm.frame["parameter"] == "lever_price_usd_per_kg") & (prm.frame["material"] == material)]
    src = str(row["source"].iloc[0]) if "source" in row and len(row) else "parameters"
    return usd_per_kg * 1000.0, src


def _carrying(prm: Params) -> tuple[float, str]:
    try:
        v = prm.get("carrying_cost_share_per_yr")
    except UserError:
        raise UserError(
            "no carrying cost in the data (parameter carrying_cost_share_per_yr): give --carrying-cost SHARE"
        ) from None
    row = prm.frame[prm.frame["parameter"] == "carrying_cost_share_per_yr"]
    return v, str(row["source"].iloc[0]) if "source" in row and len(row) else "parameters"


def _cost_integral(x: float, power: float) -> float:
    """∫0^x min(cap, (1 + u)^power) du, the buying cost in units of (price × world output)."""
    if power == 0:
        return x
    kink = PRICE_INDEX_CAP ** (1 / power) - 1  # where the index reaches its cap
    upto = min(x, kink)
    value = ((1 + upto) ** (power + 1) - 1) / (power + 1)
    return value + max(0.0, x - kink) * PRICE_INDEX_CAP
