"""The supply-side inputs of the criticality methods, each with the basis it came from.

* global supply shares per material and stage (latest year with data, from the store);
* governance: ``WGI_scaled = (2.5 - mean of the six WGI estimates) x 2`` per country;
* trade-restriction factors ``t`` per exporter, derived from ``export_controls.csv`` for the
  controls in force on the assessment's ``as_of`` day (rule in :func:`trade_factors`), and 0.8
  for the perspective's agreement partners in its sourcing term;
* the perspective's import reliance per stage: a user row, else net import reliance from trade
  data, else the engine's calibrated base-year network (need and output per region);
* the perspective's sourcing mix: ``sourcing_share`` rows (the whole mix), else ``import_share``
  rows (shares of imports, completed from the world market), else domestic output for ``1 - IR``
  and imports for ``IR`` spread over the other producers in proportion to their output (the pooled
  world market of the engine; no bilateral data in the pack for most materials).

Example
-------
>>> from critmin.criticality.supply import hhi_wgi_t
>>> hhi_wgi_t({"CHN": 1.0}, {"CHN": 5.0}, {})
5.0
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from critmin import metrics, names
from critmin.chain import SupplyChain
from critmin.controls_timeline import IN_FORCE, LAPSED, PARTLY_SUSPENDED, as_of_date, event_states, own_state
from critmin.criticality.inputs import Inputs, MissingInput, cite
from critmin.errors import UserError, suggest
from critmin.names import DEFAULT_REGIONS

PERSPECTIVES = ("EU", "USA", "JPN", "AUS", "MYS", "framework")


@dataclass(frozen=True)
class Perspective:
    """A country or bloc whose sourcing and import reliance the methods use."""

    name: str
    members: tuple[str, ...]
    regions: tuple[str, ...]  # engine regions that make it up exactly ((): not representable)


def perspective(chain: SupplyChain, name: str) -> Perspective:
    """Resolve ``EU``, ``framework``, a bloc or a country code (unknown names get "did you mean")."""
    key = name.strip()
    if key.lower() in ("eu", "framework", "allies") or key.lower() in chain.blocs.names:
        canon = "EU" if key.lower() == "eu" else key.lower()
        members = chain.expand(["eu" if canon == "EU" else canon])
    else:
        try:
            canon = chain.country(key)
        except UserError:
            valid = [*PERSPECTIVES, *(b for b in chain.blocs.names if b.lower() not in {"eu", "framework"})]
            hint = suggest(key, valid)
            raise UserError(
                f"unknown perspective {name!r}: not one of {', '.join(valid)} or a known country code"
                + (f" (did you mean {hint[0]!r}?)" if hint else "")
            ) from None
        members = (canon,)
    if canon == "EU":
        regions: tuple[str, ...] = ("EU",)
    elif all(m in DEFAULT_REGIONS for m in members):
        regions = members
    else:
        regions = ()
    return Perspective(canon, tuple(members), regions)


def hhi_wgi_t(shares: dict[str, float], wgi: dict[str, float], t: dict[str, float]) -> float:
    """``sum_c share_c^2 x WGI_scaled_c x t_c`` (shares as fractions; ``t`` defaults to 1)."""
    return float(sum(s * s * wgi[c] * t.get(c, 1.0) for c, s in shares.items() if c in wgi))


def latest_shares(chain: SupplyChain, material: str, stage: str) -> tuple[dict[str, float], int | None]:
    """Named producers' shares of world output at ``stage`` in the latest year with data."""
    sh = metrics.production_shares(chain, material, stage)
    sh = sh[sh["country_iso3"] != metrics.RESIDUAL]
    if sh.empty:
        return {}, None
    year = int(sh["year"].max())
    sh = sh[sh["year"] == year]
    return {str(c): float(s) for c, s in zip(sh["country_iso3"], sh["share"], strict=True) if s > 0}, year


def supply_shares(
    chain: SupplyChain, inputs: Inputs, material: str, stage: str
) -> tuple[dict[str, float], int | None, str]:
    """World supply shares at ``stage`` with the year (None for input rows) and the basis: the
    user's ``supply_share`` rows (origin other than ``default``) where given, else the store's
    production (:func:`latest_shares`), else the shipped ``supply_share`` rows (the EU 2023
    assessment's global shares, :mod:`critmin.eu_crm`). Input shares are used as given (fractions
    of world supply, not normalised: a published table lists named producers only)."""
    rows = inputs.items("supply_share", material=material, stage=stage)
    user = {c: r for c, r in rows.items() if str(r["origin"]) != "default"}
    if user:
        total = sum(float(r["value"]) for r in user.values())
        if total > 1.0 + 1e-6:
            raise MissingInput(f"{material}: supply_share rows at {stage} sum to {total:.4g}: shares of world "
                               "supply cannot exceed 1")  # fmt: skip
        origins = sorted({str(r["origin"]) for r in user.values()})
        return ({c: float(r["value"]) for c, r in user.items() if float(r["value"]) > 0}, None,
                f"input ({', '.join(origins)})")  # fmt: skip
    prod = chain.production
    if ((prod["material"] == material) & (prod["stage"] == stage)).any():
        world, year = latest_shares(chain, material, stage)
        if world:
            return world, year, "store production"
    if rows:
        src = sorted({str(r["source"]).split(";")[0] for r in rows.values()})
        return ({c: float(r["value"]) for c, r in rows.items() if float(r["value"]) > 0}, None,
                f"shipped supply_share rows (no store production): {'; '.join(src)}")  # fmt: skip
    return {}, None, "missing"


def stages_with_data(chain: SupplyChain, material: str, inputs: Inputs | None = None) -> list[str]:
    """The supply stages (mine to magnet) with production data for ``material``, or with
    ``supply_share`` or ``hhi_wgi_t_global`` rows for it (``inputs``): the user's add any stage;
    the shipped ones (the EU 2023 global shares) add a stage the store models for other materials
    but lacks for this one (Lu everywhere, tungsten and niobium refining, gadolinium mining), never
    a stage the store has no production for at all (a hand-made chain keeps its own stages)."""
    prod = chain.production
    have = set(prod.loc[prod["material"] == material, "stage"])
    if inputs is not None:
        t = inputs.table
        rows = t[t["parameter"].isin(["supply_share", "hhi_wgi_t_global"]) & (t["material"] == material)]
        modelled = set(prod["stage"])
        have |= {str(r.stage) for r in rows.itertuples() if r.origin != "default" or r.stage in modelled}
    return [s for s in names.STAGES if s in have and s != "end_use"]


def wgi_of(
    chain: SupplyChain, inputs: Inputs, material: str, stage: str, *shares: dict[str, float]
) -> dict[str, float]:
    """WGI_scaled of every country in ``shares`` (user ``wgi_scaled`` rows win); a country with a
    positive share and no WGI is a :class:`MissingInput`, never a zero."""
    countries = sorted({c for sh in shares for c in sh})
    out = {}
    for c, v in zip(countries, chain.wgi_scaled_of(countries), strict=True):
        user = inputs.value("wgi_scaled", country=c)
        if user is not None:
            out[c] = user
        elif np.isfinite(v):
            out[c] = float(v)
    lacking = [c for c in countries if c not in out and any(sh.get(c, 0.0) > 0 for sh in shares)]
    if lacking:
        raise MissingInput(f"{material}: wgi_scaled missing for {', '.join(lacking)} at {stage}")
    return out


def export_controls(chain: SupplyChain | None = None) -> pd.DataFrame:
    """The export-control events of ``chain`` (store table ``export_controls``: the pack's
    ``export_controls.csv`` with the user's overrides and imports), the shipped ones where no
    chain is given; text cells, '' where blank.

    >>> ec = export_controls()
    >>> ec.loc[ec["event_id"] == "CN-2023-023", "status"].item()
    'in force'
    """
    if chain is None:
        from critmin.dataset import shipped_table

        ec = shipped_table("export_controls")
    else:
        ec = chain.export_controls
    text = [c for c in ec.columns if not pd.api.types.is_numeric_dtype(ec[c])]
    ec[text] = ec[text].astype(object).where(ec[text].notna(), "")
    return ec


_TOKEN = re.compile(r"([a-z_ ]+?)\s*(?:\(([^)]*)\))?$")
_MINERAL: dict[str, tuple[str, ...]] = {"rare_earths": (*names.REE_ELEMENTS, "rare_earths"), "magnets": ()}


def _covered(minerals: str) -> set[str]:
    """Materials an event's ``minerals`` field covers: ``rare_earths (Sm,Gd,Tb,Dy)`` is those
    elements only, a bare ``rare_earths`` every rare earth and the aggregate."""
    out: set[str] = set()
    for tok in minerals.split(";"):
        m = _TOKEN.match(tok.strip().lower())
        if not m:
            continue
        word, inner = m.group(1).strip(), m.group(2)
        if inner:
            for el in inner.split(","):
                try:
                    out.add(names.material(el.strip()))
                except Exception:  # elements critmin does not track (Sc...)
                    continue
        elif word in _MINERAL:
            out.update(_MINERAL[word])
        else:
            try:
                out.add(names.material(word))
            except Exception:  # "superhard materials" and the like
                continue
    return out


def default_as_of(chain: SupplyChain | None = None) -> date:
    """The day an assessment's trade-restriction factors are taken as of when none is given: 31
    December of the latest year of the production data (the chain's; the shipped store's where no
    chain is given). It follows the data, not the clock, so an assessment is reproducible.

    >>> default_as_of()
    datetime.date(2025, 12, 31)
    """
    years = chain.years if chain is not None else ()
    return date(years[-1] if years else _shipped_data_year(), 12, 31)


@cache
def _shipped_data_year() -> int:
    from critmin.dataset import build_tables

    return int(build_tables()["production"]["year"].max())


def resolve_as_of(chain: SupplyChain | None, as_of: str | int | date | None) -> tuple[date, str]:
    """The day of ``as_of`` (a year is its 31 December; see
    :func:`critmin.controls_timeline.as_of_date`), or the default (:func:`default_as_of`), with the
    basis in words.

    >>> resolve_as_of(None, 2022)
    (datetime.date(2022, 12, 31), 'given: --as-of 2022')
    """
    if as_of is None:
        day = default_as_of(chain)
        return day, f"default: 31 December of the production data's latest year ({day.year})"
    return as_of_date(as_of), f"given: --as-of {as_of}"


def trade_factors(
    inputs: Inputs,
    persp: Perspective,
    material: str,
    chain: SupplyChain | None = None,
    as_of: str | int | date | None = None,
) -> dict[str, tuple[float, str]]:
    """Exporters' ``t`` for ``material`` seen from ``persp`` with its basis (the controls behind it
    and their dates), from the export controls of ``chain`` (the shipped ones where no chain is
    given) in force on ``as_of``.

    Rule (documented in ``docs/criticality.md``): an event in force on the day (its state from
    :mod:`critmin.controls_timeline`: effective, not ended, not suspended) whose measure is an export
    licence, quota or tax gives its country ``restriction_factor``; a ban or embargo in force whose
    target is "all" or includes a perspective member gives ``ban_factor``, and ``restriction_factor``
    while partly suspended (the part left in force restricts, it does not ban); a control whose
    suspension has lapsed with no later event in the data counts as back in force (said in its
    basis); technology-only bans, suspensions, agreements and informal measures give nothing. An
    event without any date is taken by its stored status text ("in force..."). The largest factor
    wins; user ``trade_factor`` rows override.

    Parameters
    ----------
    as_of:
        A year (its 31 December), ``YYYY-MM`` (the month's last day), ``YYYY-MM-DD`` or a ``date``;
        default :func:`default_as_of` (31 December of the production data's latest year).

    Examples
    --------
    >>> usa = Perspective("USA", ("USA",), ("USA",))
    >>> inp = Inputs.defaults()
    >>> trade_factors(inp, usa, "Ga", as_of=2022)
    {}
    >>> trade_factors(inp, usa, "Ga", as_of=2024)["CHN"]
    (1.2, 'ban in force since 2024-12-03 (CN-2024-046)')
    """
    ec = export_controls(chain)
    day = as_of_date(as_of) if as_of is not None else default_as_of(chain)
    restriction = float(inputs.require("restriction_factor", material)["value"])
    ban = float(inputs.require("ban_factor", material)["value"])
    out: dict[str, tuple[float, str]] = {}
    for row, ev, st in event_states(ec, day):
        if material not in _covered(str(row.get("minerals", ""))):
            continue
        measure = str(row.get("measure", "")).lower()
        if "technology" in measure or "suspension" in measure or "agreement" in measure:
            continue
        since = f" since {ev.label('start')}" if ev.start else ""
        since += f" until {ev.label('end')}" if ev.end else ""
        note, partial = "", False
        if ev.announced is None and ev.effective is None and ev.end is None:  # undated: the stored status
            if not str(row.get("status", "")).lower().startswith("in force"):
                continue
        elif st.state == PARTLY_SUSPENDED:
            partial = True
            note = f"; partly suspended by {st.suspended_by}" + (
                f" until {st.suspended_until}" if st.suspended_until else ""
            )
        elif st.state == LAPSED and own_state(ev, day) == IN_FORCE:
            note = (f"; its suspension by {st.suspended_by} lapsed after {st.suspended_until} and the data hold "
                    "no later event: taken as back in force")  # fmt: skip
        elif st.state != IN_FORCE:
            continue
        targets = {x.strip().upper() for x in str(row.get("target", "")).replace("(", ";").split(";")}
        if "ban" in measure or "embargo" in measure:
            if not ({"ALL", persp.name.upper()} & targets or set(persp.members) & targets):
                continue
            if partial:
                t, why = (
                    restriction,
                    f"ban in force{since} ({ev.event_id}){note}: the part in force counted as a restriction",
                )
            else:
                t, why = ban, f"ban in force{since} ({ev.event_id}){note}"
        elif any(w in measure for w in ("licens", "quota", "tax")):
            t, why = restriction, f"{row['measure']} in force{since} ({ev.event_id}){note}"
        else:
            continue
        for c in str(row.get("country", "")).split(";"):
            c = c.strip().upper()
            if c and t > out.get(c, (1.0, ""))[0]:
                out[c] = (t, why)
    for c, row in inputs.per_item("trade_factor", perspective=persp.name, material=material).items():
        out[c] = (float(row["value"]), f"input ({row['origin']})")
    return out


def partners(inputs: Inputs, persp: Perspective) -> set[str]:
    """The perspective's trade-agreement partners (``agreement_partner`` rows; for each country
    the most specific row decides, so a 0 row removes a partner)."""
    rows = inputs.per_item("agreement_partner", perspective=persp.name)
    return {c for c, r in rows.items() if float(r["value"]) > 0}


def import_reliance(
    chain: SupplyChain, inputs: Inputs, persp: Perspective, material: str, stage: str
) -> tuple[float | None, dict[str, Any]]:
    """The perspective's import reliance at ``stage`` (a fraction, negative for a net exporter),
    with its basis; ``(None, basis)`` where no source gives one."""
    row = inputs.row("import_reliance", perspective=persp.name, material=material, stage=stage)
    if row is not None:
        return float(row["value"]), {"basis": "input", **(cite(row) or {})}
    if material not in chain.materials:  # known to the inputs only (Lu): no trade or network data
        return None, {"basis": "missing"}
    nir = metrics.import_reliance(chain, persp.name if persp.name != "EU" else "eu", material, stage)
    nir = nir.dropna(subset=["net_import_reliance"])
    if not nir.empty:
        last = nir[nir["year"] == nir["year"].max()].iloc[0]
        return float(last["net_import_reliance"]), {
            "basis": f"net import reliance from trade data ({int(last['year'])})",
            "confidence": "derived",
        }
    net = _network(chain)
    if net is not None and persp.regions and material in net.materials:
        for g in net.groups:
            if material in g.materials and stage in g.stages:
                m, k = g.materials.index(material), g.stages.index(stage)
                idx = [net.regions.index(r) for r in persp.regions if r in net.regions]
                need = float(g.need0[m, k, idx].sum())
                out = float(g.base_out[m, k, idx].sum())
                if need > 0:
                    return (need - out) / need, {
                        "basis": "engine base-year network: (need - output) / need of the perspective's regions",
                        "confidence": "derived", "need_t_per_month": need, "output_t_per_month": out}  # fmt: skip
    return None, {"basis": "missing"}


_NET: list[tuple[SupplyChain, Any]] = []


def _network(chain: SupplyChain) -> Any:
    """The engine's base-year network of ``chain`` (built once; None where the chain lacks the
    engine's tables)."""
    from critmin.engine import build_network

    for c, net in _NET:
        if c is chain:
            return net
    try:
        net = build_network(chain, DEFAULT_REGIONS)
    except UserError:  # a chain without the engine's tables (demand, capacity): no network basis
        net = None
    _NET[:] = [(chain, net)]
    return net


def sourcing(
    inputs: Inputs, persp: Perspective, material: str, stage: str, world: dict[str, float], ir: float | None
) -> tuple[dict[str, float], str]:
    """The perspective's sourcing mix and its basis.

    Three sources, the first that exists wins (but a user's ``import_share`` rows beat shipped
    ``sourcing_share`` rows, as a user's row beats every shipped one):

    * ``sourcing_share`` rows (the whole mix, domestic supply included, as the EU's Appendix 7
      gives it; the most specific level given) are normalised to sum to 1.
    * ``import_share`` rows (shares of the perspective's *imports*, as national trade statistics
      give them): domestic output supplies ``1 - IR`` (split by the members' output) and imports
      ``IR``, split by the named shares; where the named shares cover less than all imports, the
      rest comes from the world market as it is: each producer not named gets that part times its
      share of world output outside the perspective (never more than its weight in the market), and
      the part that would fall to the named countries or to unattributed output is no supplier (a
      lower bound, as in the global term). Shares of imports summing above 1 are refused; members
      of the perspective named in them are ignored (said in the basis).
    * The pro-rata default takes domestic output for ``1 - IR`` (split by the members' output) and
      imports for ``IR`` from the rest of world output *including* the unattributed residual,
      which, as in the global term, is no supplier: both terms then weigh the same named shares
      and read as lower bounds where the residual is large.

    >>> import pandas as pd
    >>> rows = pd.DataFrame([{"parameter": "import_share", "perspective": "JPN", "material": "Sb",
    ...     "stage": "separation", "sector": "", "country": "CHN", "value": 0.5, "unit": "fraction",
    ...     "source": "s", "confidence": "read", "notes": "", "layer": "shipped"}])
    >>> p = Perspective("JPN", ("JPN",), ())
    >>> world = {"CHN": 0.5, "VNM": 0.25, "RUS": 0.25}
    >>> mix, basis = sourcing(Inputs.from_table(rows), p, "Sb", "separation", world, 1.0)
    >>> {c: round(v, 3) for c, v in mix.items()}, basis.split(":")[0]
    ({'CHN': 0.5, 'VNM': 0.125, 'RUS': 0.125}, 'import shares')
    """
    rows = inputs.items("sourcing_share", perspective=persp.name, material=material, stage=stage)
    shares = inputs.items("import_share", perspective=persp.name, material=material, stage=stage)

    def given(r: dict[str, dict[str, Any]]) -> bool:
        return any(x.get("origin", "default") != "default" for x in r.values())

    if rows and not (shares and given(shares) and not given(rows)):  # a user's import shares beat shipped mixes
        total = sum(float(r["value"]) for r in rows.values())
        if total <= 0:
            raise MissingInput(f"{material}: sourcing_share rows for {persp.name} at {stage} sum to zero")
        return {c: float(r["value"]) / total for c, r in rows.items()}, "input"
    if ir is None:
        return {}, "import shares without import reliance" if shares else "missing"
    ir = min(max(ir, 0.0), 1.0)
    own = {c: s for c, s in world.items() if c in persp.members}
    own_total = sum(own.values())
    domestic = 1.0 - ir if own_total > 0 else 0.0
    imports = 1.0 - domestic
    mix: dict[str, float] = {c: domestic * s / own_total for c, s in own.items()}
    members_named = sorted(c for c in shares if c in persp.members)
    named = {c: float(r["value"]) for c, r in shares.items() if c not in persp.members}
    named_total = sum(named.values())
    if named_total > 1.0 + 1e-6:
        raise MissingInput(f"{material}: import_share rows for {persp.name} at {stage} sum to {named_total:.4g}: "
                           "shares of imports cannot exceed 1")  # fmt: skip
    for c, v in named.items():
        mix[c] = mix.get(c, 0.0) + imports * v
    # the imports no named supplier covers (all of them without import shares) come from the world
    # market as it is: each producer not named gets its share of world output outside the
    # perspective, never more; what would fall to named countries or to unattributed output is no
    # supplier (a lower bound, as in the global term)
    left = imports * max(0.0, 1.0 - named_total)
    outside = {c: s for c, s in world.items() if c not in persp.members}
    pool = max(1.0 - own_total, sum(outside.values()))
    for c, s in outside.items():
        if c not in named and pool > 0:
            mix[c] = mix.get(c, 0.0) + left * s / pool
    ignored = f"; {', '.join(members_named)} named in import shares but members of {persp.name}: ignored" if (
        members_named) else ""  # fmt: skip
    if named_total > 0:
        return mix, (
            f"import shares: domestic output for 1 - IR, imports by the named shares ({named_total:.0%} of "
            f"imports), the rest as world output outside the perspective, named countries' part unattributed{ignored}"
        )
    return mix, f"pro-rata: domestic output for 1 - IR, imports from the rest of world output by share{ignored}"
