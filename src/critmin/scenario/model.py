"""The whole scenario: its horizon, mode, region set, sections and uncertain entries, and the
checks that need the whole of it (events within the horizon, uncertain fields that exist and stay
in their range, the coalition among the blocs in force)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import Field, PrivateAttr, ValidationInfo, field_validator, model_validator

from critmin import names
from critmin.errors import UnknownNameError, suggest
from critmin.months import check_month, month_index, month_label
from critmin.names import DEFAULT_REGIONS
from critmin.scenario.specs import (
    DemandResponse,
    Disruption,
    FieldError,
    Inventory,
    Market,
    Outage,
    Project,
    RampUp,
    Stockpile,
    _region_name,
    _sector,
    _Spec,
    blocs_in_force,
)
from critmin.scenario.uncertain import UNCERTAIN_FIELD, UNCERTAIN_FIELDS, UNCERTAIN_RANGES, Uncertain

#: uncertain disruption fields that only a licensing disruption uses
LICENSING_FIELDS = ("processing_months", "approval_share", "approval_share_final")


class Scenario(_Spec):
    """A whole scenario. Build with :func:`load_scenario` or :func:`parse_scenario`.

    Disruption targets and the coalition are checked against the blocs in force when it is
    validated (``Scenario.model_validate(doc, context={"blocs": blocs})``, default the built-ins);
    the scenario keeps them (:attr:`blocs`), so :meth:`with_changes` validates against the same.
    Every disruption and outage starts within the horizon (a project may start after it).
    """

    name: str = Field(min_length=1)
    description: str = ""
    source: str = ""
    start: str
    months: int = Field(ge=1, le=240)
    mode: Literal["market", "coordinated"] = "market"
    seed: int = Field(default=0, ge=0, le=2**63 - 1)  # stored as a DuckDB BIGINT
    regions: tuple[str, ...] = DEFAULT_REGIONS
    coalition: str = "framework"
    disruption: tuple[Disruption, ...] = ()
    outage: tuple[Outage, ...] = ()
    stockpile: tuple[Stockpile, ...] = ()
    inventory: tuple[Inventory, ...] = ()
    ramp_up: tuple[RampUp, ...] = ()
    project: tuple[Project, ...] = ()
    demand: DemandResponse = DemandResponse()
    market: Market = Market()
    priorities: dict[str, int] = Field(default_factory=dict)
    uncertain: tuple[Uncertain, ...] = ()

    _blocs: names.Blocs = PrivateAttr(default_factory=names.default_blocs)

    _v_start = field_validator("start", mode="before")(check_month)

    @field_validator("regions")
    @classmethod
    def _regions(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        out = tuple(dict.fromkeys(_region_name(r) for r in v))
        if "ROW" not in out:
            out = (*out, "ROW")
        return out

    @field_validator("coalition")
    @classmethod
    def _coalition(cls, v: str, info: ValidationInfo) -> str:
        blocs = blocs_in_force(info)
        if v not in blocs:
            raise ValueError(str(UnknownNameError("bloc", v, blocs.names)))
        return v.lower()

    @field_validator("priorities")
    @classmethod
    def _priorities(cls, v: dict[str, int]) -> dict[str, int]:
        out = {_sector(k): int(x) for k, x in v.items()}
        for k, x in out.items():
            if x < 1:
                raise ValueError(f"priority of {k} must be 1 (first) or more (got {x})")
        return out

    @model_validator(mode="after")
    def _remember_blocs(self, info: ValidationInfo) -> Scenario:
        self._blocs = blocs_in_force(info)
        return self

    @model_validator(mode="after")
    def _dates(self) -> Scenario:
        first, last = month_index(self.start), month_index(self.start) + self.months - 1
        for kind, items in (("disruption", self.disruption), ("outage", self.outage)):
            for i, d in enumerate(items):
                if month_index(d.start) < first:
                    raise FieldError((kind, i, "start"), f"starts {d.start}, before the scenario start {self.start}")
                if month_index(d.start) > last:
                    raise FieldError(
                        (kind, i, "start"),
                        f"starts {d.start}, after the scenario's last month {month_label(last)} "
                        f"({self.start} + {self.months} months): it would not happen in the horizon",
                    )
        return self

    @model_validator(mode="after")
    def _uncertain_fields(self) -> Scenario:
        seen: set[str] = set()
        for i, u in enumerate(self.uncertain):
            key = "field" if u.field is not None else "fields"
            for f in u.targets:
                m = UNCERTAIN_FIELD.match(f)
                assert m is not None
                if m.group(1):
                    section, idx, attr = m.group(1), int(m.group(2)), m.group(3)
                    items = getattr(self, section)
                    if idx >= len(items):
                        raise FieldError(
                            ("uncertain", i, key), f"{f}: the scenario has {len(items)} [[{section}]] entries"
                        )
                else:
                    section, idx, attr = m.group(4), 0, m.group(5)
                if attr not in UNCERTAIN_FIELDS[section]:
                    hint = suggest(attr, UNCERTAIN_FIELDS[section])
                    raise FieldError(
                        ("uncertain", i, key),
                        f"{f}: {section} has no uncertain field {attr!r}"
                        + (
                            f" (did you mean {hint[0]!r}?)"
                            if hint
                            else f" (valid: {', '.join(UNCERTAIN_FIELDS[section])})"
                        ),
                    )
                if section == "disruption" and attr in LICENSING_FIELDS:
                    d = self.disruption[idx]
                    if d.kind != "licensing":
                        raise FieldError(("uncertain", i, key), f'{f}: only a kind = "licensing" disruption has {attr}')
                    if attr == "approval_share_final" and d.approval_ramp_months <= 0:
                        raise FieldError(
                            ("uncertain", i, key), f"{f}: the disruption needs approval_ramp_months > 0 to reach it"
                        )
                if f in seen:
                    raise FieldError(("uncertain", i, key), f"{f} already has a distribution")
                seen.add(f)
                problem = self._draw_range_problem(u, f, section, idx, attr)
                if problem is not None:
                    raise FieldError(("uncertain", i, problem[0]), problem[1])
        return self

    def _draw_range_problem(self, u: Uncertain, f: str, section: str, idx: int, attr: str) -> tuple[str, str] | None:
        """Whether ``u`` can draw a value of field ``f`` outside the field's range (see
        :data:`~critmin.scenario.uncertain.UNCERTAIN_RANGES`)."""
        if attr == "happens":
            return u.switch_problem(f)
        if attr == "start_shift" and section in ("disruption", "outage"):
            # the shifted start stays within the horizon, as the start written in the file must
            ev_start = getattr(self, section)[idx].start
            first, s = month_index(self.start), month_index(ev_start)
            last = first + self.months - 1
            why = (
                f" (months that keep {section}[{idx}]'s start, {ev_start}, within the horizon "
                f"{self.start} to {month_label(last)})"
            )
            return u.range_problem(f, first - s, last - s, why)
        lo, hi = UNCERTAIN_RANGES[f"{section}.{attr}"]
        return u.range_problem(f, lo, hi)

    # -- derived -------------------------------------------------------------
    @property
    def month_labels(self) -> tuple[str, ...]:
        first = month_index(self.start)
        return tuple(month_label(first + i) for i in range(self.months))

    def sector_priority(self, sector: str) -> int:
        """Priority of a sector (1 = served first); defence is 1 and the rest 2 unless set."""
        default = 1 if sector == "defence" else 2
        return self.priorities.get(sector, default)

    def digest(self) -> str:
        """SHA-256 of the canonical JSON of the scenario (what a run stores)."""
        doc = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(doc.encode()).hexdigest()

    @property
    def blocs(self) -> names.Blocs:
        """The blocs this scenario was validated against (its targets and coalition are among them)."""
        return self._blocs

    def with_changes(self, **changes: Any) -> Scenario:
        """A validated copy with top-level fields replaced (scenarios are immutable), checked against
        the same blocs as this one; an invalid change is a :class:`~critmin.errors.UserError`.

        >>> from critmin.scenario import load_scenario
        >>> s = load_scenario("ga-ge-ban-us")
        >>> s.with_changes(months=12).months, s.with_changes() == s
        (12, True)
        >>> s.with_changes(months=0)
        Traceback (most recent call last):
        ...
        critmin.errors.UserError: ga-ge-ban-us (with changes): months: Input should be greater than or equal to 1
        """
        from critmin.scenario.loading import scenario_from_dict  # loading imports this module

        doc = self.model_dump(mode="python")
        doc.update(changes)
        return scenario_from_dict(doc, f"{self.name} (with changes)", blocs=self._blocs)


def expand_targets(targets: Iterable[str], blocs: names.Blocs | None = None) -> tuple[str, ...]:
    """ISO3 codes / regions for a list of targets (bloc names expanded; ``all`` kept as is).

    ``blocs`` must define every bloc the targets name (pass the blocs the scenario was loaded
    with, ``scenario.blocs``, or the chain's): a bloc it lacks is an error, never a region.

    >>> expand_targets(("framework", "KOR", "ROW"))
    ('AUS', 'JPN', 'MYS', 'USA', 'KOR', 'ROW')
    >>> expand_targets(("quad",))
    Traceback (most recent call last):
    ...
    critmin.errors.UnknownNameError: unknown bloc 'quad' (valid: allies, eu, framework)
    """
    blocs = blocs or names.default_blocs()
    out: list[str] = []
    for t in targets:
        if t == "all":
            out.append("all")
        elif t in blocs:
            out.extend(blocs.members(t))
        elif t in names.REGION_EXTRAS or t in names.countries():
            out.append(t)
        else:  # a bloc of the blocs the scenario was validated with, unknown to these
            raise UnknownNameError("bloc", t, blocs.names)
    return tuple(dict.fromkeys(out))
