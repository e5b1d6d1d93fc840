"""The whole scenario: its horizon, mode, region set, sections and uncertain entries."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from critmin import names
from critmin.errors import UnknownNameError, suggest
from critmin.months import check_month, month_index, month_label
from critmin.names import DEFAULT_REGIONS
from critmin.scenario.specs import (
    DemandResponse,
    Disruption,
    Inventory,
    Outage,
    Project,
    RampUp,
    Stockpile,
    _region_name,
    _sector,
    _Spec,
)
from critmin.scenario.uncertain import UNCERTAIN_FIELD, UNCERTAIN_FIELDS, Uncertain


class Scenario(_Spec):
    """A whole scenario. Build with :func:`load_scenario` or :func:`parse_scenario`."""

    name: str = Field(min_length=1)
    description: str = ""
    source: str = ""
    start: str
    months: int = Field(ge=1, le=240)
    mode: Literal["market", "coordinated"] = "market"
    seed: int = Field(default=0, ge=0)
    regions: tuple[str, ...] = DEFAULT_REGIONS
    coalition: str = "framework"
    disruption: tuple[Disruption, ...] = ()
    outage: tuple[Outage, ...] = ()
    stockpile: tuple[Stockpile, ...] = ()
    inventory: tuple[Inventory, ...] = ()
    ramp_up: tuple[RampUp, ...] = ()
    project: tuple[Project, ...] = ()
    demand: DemandResponse = DemandResponse()
    priorities: dict[str, int] = Field(default_factory=dict)
    uncertain: tuple[Uncertain, ...] = ()

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
    def _coalition(cls, v: str) -> str:
        if v not in names.default_blocs():
            raise ValueError(str(UnknownNameError("bloc", v, names.default_blocs().names)))
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
    def _uncertain_fields(self) -> Scenario:
        seen: set[str] = set()
        for i, u in enumerate(self.uncertain):
            for f in u.targets:
                m = UNCERTAIN_FIELD.match(f)
                assert m is not None
                if m.group(1):
                    section, idx, attr = m.group(1), int(m.group(2)), m.group(3)
                    items = getattr(self, section)
                    if idx >= len(items):
                        raise ValueError(f"uncertain[{i}]: {f}: the scenario has {len(items)} [[{section}]] entries")
                else:
                    section, attr = m.group(4), m.group(5)
                if attr not in UNCERTAIN_FIELDS[section]:
                    hint = suggest(attr, UNCERTAIN_FIELDS[section])
                    raise ValueError(
                        f"uncertain[{i}]: {f}: {section} has no uncertain field {attr!r}"
                        + (
                            f" (did you mean {hint[0]!r}?)"
                            if hint
                            else f" (valid: {', '.join(UNCERTAIN_FIELDS[section])})"
                        )
                    )
                if f in seen:
                    raise ValueError(f"uncertain[{i}]: {f} already has a distribution")
                seen.add(f)
        return self

    @model_validator(mode="after")
    def _dates(self) -> Scenario:
        first = month_index(self.start)
        for kind, items in (("disruption", self.disruption), ("outage", self.outage)):
            for i, d in enumerate(items):
                if month_index(d.start) < first:
                    raise ValueError(f"{kind}[{i}] starts {d.start}, before the scenario start {self.start}")
        return self

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

    def with_changes(self, **changes: Any) -> Scenario:
        """A validated copy with top-level fields replaced (scenarios are immutable)."""
        doc = self.model_dump(mode="python")
        doc.update(changes)
        return Scenario.model_validate(doc)


def expand_targets(targets: Iterable[str], blocs: names.Blocs | None = None) -> tuple[str, ...]:
    """ISO3 codes / regions for a list of targets (bloc names expanded; ``all`` kept as is)."""
    blocs = blocs or names.default_blocs()
    out: list[str] = []
    for t in targets:
        if t == "all":
            out.append("all")
        elif t in blocs:
            out.extend(blocs.members(t))
        else:
            out.append(t)
    return tuple(dict.fromkeys(out))
