"""Scenario files: the keys of the issue work as written, bad input gets one clear UserError,
values that make no sense (out of range, non-finite, outside the horizon, distributions whose draws
leave the field's range) are refused at load time, and targets may name the blocs in force."""

from __future__ import annotations

import math
import pickle
import re
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from conftest import tiny_frames
from critmin import names
from critmin.chain import SupplyChain
from critmin.errors import UserError
from critmin.scenario import (
    Scenario,
    builtin_names,
    builtin_text,
    expand_targets,
    load_scenario,
    parse_scenario,
    scenario_from_dict,
    template,
)

ISSUE_EXAMPLE = """
name = "China withholds heavy rare earths from framework partners"
start = "2026-01"        # first month simulated
months = 36              # horizon, monthly steps
mode = "market"          # market | coordinated

[[disruption]]
exporter = "CHN"
materials = ["Dy", "Tb"]
stages = ["separation", "metal", "magnet"]
targets = ["framework"]  # ISO3 codes and/or bloc names, or ["all"]
severity = 1.0           # share of exports to the targets withheld, 0..1
start = "2026-01"
months = 12

[[outage]]
region = "MYS"           # or facility = "<facility id from the data>"
stage = "separation"
materials = ["Nd", "Pr"]
capacity_lost = 1.0      # share of capacity lost, 0..1
start = "2026-03"
months = 6

[[stockpile]]
holder = "JPN"
material = "Dy"
stage = "metal"
tonnes = 200
max_release_t_per_month = 20
"""


def test_issue_example_loads_as_written():
    s = parse_scenario(ISSUE_EXAMPLE, "issue.toml")
    assert s.months == 36 and s.mode == "market"
    d = s.disruption[0]
    assert (d.exporter, d.materials, d.stages, d.targets, d.severity) == (
        "CHN", ("Dy", "Tb"), ("separation", "metal", "magnet"), ("framework",), 1.0)  # fmt: skip
    assert d.end_month == "2026-12"
    assert s.outage[0].region == "MYS" and s.outage[0].end_month == "2026-08"
    assert s.stockpile[0].tonnes == 200 and s.stockpile[0].max_release_t_per_month == 20


def test_scenarios_are_frozen_and_hashed():
    s = parse_scenario(ISSUE_EXAMPLE)
    with pytest.raises(ValidationError):  # frozen
        s.months = 3  # type: ignore[misc]
    assert len(s.digest()) == 64 and int(s.digest(), 16) >= 0
    # the digest is of the validated content: comments, key order and spelling of names do not count
    doc = tomllib.loads(ISSUE_EXAMPLE)
    reordered = {k: doc[k] for k in reversed(list(doc))}
    reordered["disruption"] = [{**doc["disruption"][0], "exporter": "China", "materials": ["dysprosium", "Tb"]}]
    assert scenario_from_dict(reordered).digest() == s.digest()
    assert s.with_changes(months=12).digest() != s.digest()
    assert s.with_changes(months=36).digest() == s.digest()


@pytest.mark.parametrize("name", builtin_names())
def test_builtins_load_and_cite_a_source(name):
    s = load_scenario(name)
    assert s.name == name
    assert len(s.source) > 40, "every built-in scenario carries a source note"
    assert s.disruption or s.outage


def test_builtin_library_has_the_issue_scenarios():
    assert set(builtin_names()) >= {
        "apr2025-heavy-ree", "oct2025-expansion", "china-embargo-framework-12m",
        "lynas-malaysia-outage-6m", "ga-ge-ban-us"}  # fmt: skip


def test_template_is_valid_and_documents_every_section():
    text = template("mine")
    s = parse_scenario(text, "mine.toml")
    assert s.name == "mine"
    for section in ("[[outage]]", "[[stockpile]]", "[[inventory]]", "[[ramp_up]]", "[[project]]", "[demand]",
                    "[priorities]"):  # fmt: skip
        assert section in text


def _err(text: str) -> str:
    with pytest.raises(UserError) as exc:
        parse_scenario(text, "bad.toml")
    return str(exc.value)


def test_unknown_key_names_line_path_and_suggestion():
    text = ISSUE_EXAMPLE.replace("severity = 1.0", "severty = 1.0")
    msg = _err(text)
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if ln.startswith("severty"))
    assert msg.startswith(f"bad.toml:{line}: disruption[0].severty: unknown key 'severty'")
    assert "did you mean 'severity'?" in msg


def test_severity_out_of_range():
    msg = _err(ISSUE_EXAMPLE.replace("severity = 1.0", "severity = 1.5"))
    assert "disruption[0].severity" in msg and "less than or equal to 1" in msg


def test_unknown_material_region_and_bloc_get_suggestions():
    assert "did you mean 'Dy'" in _err(ISSUE_EXAMPLE.replace('["Dy", "Tb"]', '["Dyy", "Tb"]'))
    msg = _err(ISSUE_EXAMPLE.replace('holder = "JPN"', 'holder = "JPM"'))
    assert "stockpile[0].holder" in msg and "unknown country 'JPM'" in msg
    assert "did you mean 'framework'" in _err(ISSUE_EXAMPLE.replace('["framework"]', '["framwork"]'))


def test_dates_out_of_order_and_negative_tonnes():
    assert "before the scenario start" in _err(ISSUE_EXAMPLE.replace('start = "2026-03"', 'start = "2025-03"'))
    assert "YYYY-MM" in _err(ISSUE_EXAMPLE.replace('start = "2026-03"', 'start = "2026-13"'))
    msg = _err(ISSUE_EXAMPLE.replace("tonnes = 200", "tonnes = -5"))
    assert "stockpile[0].tonnes" in msg and "greater than or equal to 0" in msg


def test_bad_toml_names_the_file():
    msg = _err('name = "x"\nstart = ')
    assert msg.startswith("bad.toml: not valid TOML")


def test_missing_file_and_unknown_builtin(tmp_path: Path):
    with pytest.raises(UserError, match="not found"):
        load_scenario(tmp_path / "nope.toml")
    with pytest.raises(UserError, match="did you mean 'ga-ge-ban-us'"):
        load_scenario("ga-ge-ban-usa")
    with pytest.raises(UserError, match="unknown scenario"):  # too long for the file system to look up
        load_scenario("x" * 300)
    with pytest.raises(UserError, match="cannot read the scenario file"):
        load_scenario("x" * 300 + ".toml")


# -- property: any document is accepted or rejected with UserError, nothing else --------------

_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.sampled_from(["CHN", "Dy", "framework", "all", "2026-01", "magnet", "EU", "x"]),
)  # fmt: skip
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def _mutate(doc: dict, path: list, value: object) -> dict:
    """Set (or delete, for None) a key somewhere in a copy of a parsed scenario document."""
    import copy

    out = copy.deepcopy(doc)
    node = out
    for p in path[:-1]:
        if (isinstance(node, dict) and p in node) or (isinstance(node, list) and isinstance(p, int) and p < len(node)):
            node = node[p]
        else:
            return out
    last = path[-1]
    if isinstance(node, dict):
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value
    elif isinstance(node, list) and isinstance(last, int) and last < len(node) and value is not None:
        node[last] = value
    return out


_KEYS = [
    *("name", "start", "months", "mode", "regions", "coalition", "disruption", "outage", "stockpile", "demand"),
    *("priorities", "exporter", "materials", "stages", "targets", "severity", "capacity_lost", "region"),
    *("facility", "holder", "material", "stage", "tonnes", "max_release_t_per_month", "elasticity", "bogus"),
]
BASE_DOC = tomllib.loads(ISSUE_EXAMPLE)


def _numbers(x: Any) -> list[float]:
    """Every number in a dumped scenario."""
    if isinstance(x, dict):
        return [n for v in x.values() for n in _numbers(v)]
    if isinstance(x, list | tuple):
        return [n for v in x for n in _numbers(v)]
    return [float(x)] if isinstance(x, int | float) and not isinstance(x, bool) else []


def _accepted_is_sound(s: Scenario) -> None:
    """What any accepted scenario satisfies: finite numbers, validation idempotent on its own output."""
    dumped = s.model_dump(mode="json")
    assert all(math.isfinite(n) for n in _numbers(dumped))
    assert scenario_from_dict(dumped, "again").digest() == s.digest()


def _one_line_from(exc: UserError, source: str) -> None:
    assert str(exc).startswith(source) and "\n" not in str(exc), str(exc)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    path=st.lists(st.one_of(st.sampled_from(_KEYS), st.integers(0, 2)), min_size=1, max_size=3),
    value=_values,
)
def test_mutated_documents_accept_or_user_error(path, value):
    doc = _mutate(BASE_DOC, path, value)
    try:
        s = scenario_from_dict(doc, "fuzz.toml")
    except UserError as exc:
        _one_line_from(exc, "fuzz.toml")
        return
    _accepted_is_sound(s)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_random_text_is_rejected_cleanly(text):
    try:
        s = parse_scenario(text, "fuzz.toml")
    except UserError as exc:
        _one_line_from(exc, "fuzz.toml")
        return
    _accepted_is_sound(s)


@settings(max_examples=150, deadline=None)
@given(st.integers(0, len(ISSUE_EXAMPLE) - 1), st.text(max_size=6))
def test_mutated_text_accept_or_user_error(pos, insert):
    text = ISSUE_EXAMPLE[:pos] + insert + ISSUE_EXAMPLE[pos + len(insert) :]
    try:
        s = parse_scenario(text, "fuzz.toml")
    except UserError as exc:
        _one_line_from(exc, "fuzz.toml")
        return
    _accepted_is_sound(s)


@pytest.mark.parametrize("name", builtin_names())
def test_builtins_round_trip_through_json_files_and_with_changes(name, tmp_path: Path):
    s = load_scenario(name)
    _accepted_is_sound(s)  # the JSON of `scenarios show -f json` validates to the same scenario
    f = tmp_path / f"{name}.toml"
    f.write_text(builtin_text(name), encoding="utf-8")
    from_file = load_scenario(f)
    assert from_file == s and from_file.digest() == s.digest()
    assert s.with_changes() == s and s.with_changes(seed=7).seed == 7


def test_template_with_every_example_uncommented_is_valid():
    """The commented examples in the template are themselves valid scenario syntax."""
    lines = []
    for ln in template("all").splitlines():
        body = ln[2:] if ln.startswith("# ") else ln
        is_example = ln.startswith("# ") and (body[:1] == "[" or " = " in body.split("#")[0])
        lines.append(body if is_example else ln)
    s = parse_scenario("\n".join(lines), "all.toml")
    assert s.outage and s.stockpile and s.inventory and s.ramp_up and len(s.project) == 2
    assert s.demand.elasticity["automotive"] == -0.1 and s.priorities == {"defence": 1}


# -- values that make no sense are refused at load time (issue 10, item 8) ---------------------

UNC = """
name = "unc"
start = "2026-01"
months = 12
[[disruption]]
exporter = "CHN"
materials = ["Dy"]
stages = ["separation"]
targets = ["framework"]
severity = 0.5
start = "2026-03"
months = 3
[[outage]]
region = "MYS"
stage = "separation"
capacity_lost = 1.0
start = "2026-03"
months = 6
[[stockpile]]
holder = "JPN"
material = "Dy"
tonnes = 200
max_release_t_per_month = 20
[[project]]
region = "USA"
stage = "separation"
capacity_t_per_yr = { Dy = 20 }
start = "2026-06"
"""


def _unc_err(entry: str) -> tuple[str, int]:
    """The error for UNC plus one [[uncertain]] entry, and the line of the entry's header."""
    text = UNC + "[[uncertain]]\n" + entry + "\n"
    header = text.splitlines().index("[[uncertain]]") + 1
    with pytest.raises(UserError) as exc:
        parse_scenario(text, "u.toml")
    _one_line_from(exc.value, "u.toml:")
    return str(exc.value), header


@pytest.mark.parametrize(
    ("entry", "key", "needle"),
    [
        # severity silently clipped to 1 before
        ('field = "disruption[0].severity"\ndist = "uniform"\nlow = 0.5\nhigh = 3.0', "high",
         "disruption[0].severity must be in [0, 1], but uniform draws from [0.5, 3]"),
        # growth 1e300 gave Infinity in JSON and "no shortfall in any draw"
        ('field = "demand.growth_pct_per_yr"\ndist = "uniform"\nlow = 1e300\nhigh = 1e301', "high",
         "demand.growth_pct_per_yr must be in [-50, 100]"),
        ('field = "disruption[0].severity"\ndist = "normal"\nmean = 0.8\nsd = 0.1', "dist",
         "must be in [0, 1], but normal draws from (-inf, inf): truncate it with low and high"),
        ('field = "disruption[0].severity"\ndist = "lognormal"\nmedian = 0.5\nsigma = 0.2', "dist",
         "truncate it with high"),
        ('field = "outage[0].capacity_lost"\ndist = "triangular"\nlow = -0.2\nmode = 0.5\nhigh = 1', "low",
         "outage[0].capacity_lost must be in [0, 1]"),
        ('field = "disruption[0].severity"\ndist = "beta"\na = 2\nb = 2\nhigh = 1.5', "high",
         "beta draws from [0, 1.5]"),
        ('field = "disruption[0].months"\ndist = "beta"\na = 2\nb = 2', "low", "must be in [1, 600]"),
        ('field = "disruption[0].months"\ndist = "choice"\nvalues = [0, 6]', "values", "choice draws 0"),
        ('field = "outage[0].months"\ndist = "uniform"\nlow = 3\nhigh = 700', "high",
         "outage[0].months must be in [1, 600]"),
        ('field = "stockpile[0].tonnes"\ndist = "normal"\nmean = 100\nsd = 50', "dist",
         "stockpile[0].tonnes must be >= 0, but normal draws from (-inf, inf): truncate it with low"),
        ('field = "stockpile[0].max_release_t_per_month"\ndist = "fixed"\nvalue = -1', "value", "must be >= 0"),
        ('field = "project[0].capacity_scale"\ndist = "uniform"\nlow = -1\nhigh = 2', "low", "must be >= 0"),
        ('field = "project[0].ramp_months"\ndist = "uniform"\nlow = 0\nhigh = 300', "high", "must be in [0, 240]"),
        ('field = "project[0].start_shift"\ndist = "uniform"\nlow = -1e6\nhigh = 0', "low", "must be in [-600, 600]"),
        ('field = "demand.elasticity.automotive"\ndist = "uniform"\nlow = -0.5\nhigh = 0.2', "high",
         "demand.elasticity.automotive must be in [-5, 0]"),
        ('field = "ramp_up.scale"\ndist = "normal"\nmean = 1\nsd = 0.5\nhigh = 3', "dist", "truncate it with low"),
        ('field = "disruption[0].happens"\ndist = "uniform"\nlow = 0\nhigh = 1', "dist",
         "is a switch (0 = off, 1 = on)"),
        ('field = "outage[0].happens"\ndist = "fixed"\nvalue = 0.7', "value", "is a switch"),
        ('field = "project[0].happens"\ndist = "choice"\nvalues = [0, 2]', "values", "choice draws 2"),
        # the event starts 2026-03 in a 2026-01..2026-12 horizon: shifts from -2 to +9 months keep it there
        ('field = "disruption[0].start_shift"\ndist = "uniform"\nlow = -3\nhigh = 0', "low",
         "disruption[0].start_shift must be in [-2, 9] (months that keep disruption[0]'s start, 2026-03, within"),
        ('field = "outage[0].start_shift"\ndist = "triangular"\nlow = 0\nmode = 1\nhigh = 10', "high",
         "outage[0].start_shift must be in [-2, 9]"),
        # one draw shared by two fields: each field's range applies
        ('fields = ["disruption[0].severity", "disruption[0].months"]\ndist = "uniform"\nlow = 0.5\nhigh = 1', "low",
         "disruption[0].months must be in [1, 600]"),
    ],
)  # fmt: skip
def test_uncertain_draws_outside_the_field_range_are_refused(entry, key, needle):
    msg, header = _unc_err(entry)
    lines = (UNC + "[[uncertain]]\n" + entry + "\n").splitlines()
    line = next((n for n in range(header, len(lines) + 1) if lines[n - 1].startswith(f"{key} =")), header)
    assert msg.startswith(f"u.toml:{line}: uncertain[0].{key}: "), msg
    assert needle in msg, msg


@pytest.mark.parametrize(
    "entry",
    [
        'field = "disruption[0].severity"\ndist = "normal"\nmean = 0.8\nsd = 0.1\nlow = 0\nhigh = 1',
        'field = "disruption[0].severity"\ndist = "lognormal"\nmedian = 0.5\nsigma = 0.2\nhigh = 1',
        'field = "disruption[0].severity"\ndist = "beta"\na = 2\nb = 5',
        'field = "disruption[0].happens"\ndist = "bernoulli"\np = 0.3',
        'field = "disruption[0].happens"\ndist = "choice"\nvalues = [0, 1]\nweights = [1, 3]',
        'field = "disruption[0].start_shift"\ndist = "uniform"\nlow = -2\nhigh = 9',
        'field = "project[0].start_shift"\ndist = "normal"\nmean = 6\nsd = 3\nlow = -24\nhigh = 48',
        'field = "project[0].capacity_scale"\ndist = "lognormal"\nmedian = 1\nsigma = 0.3',
        'field = "stockpile[0].tonnes"\ndist = "normal"\nmean = 100\nsd = 50\nlow = 0',
        'field = "demand.growth_pct_per_yr"\ndist = "triangular"\nlow = -50\nmode = 3\nhigh = 100',
        'fields = ["disruption[0].severity", "outage[0].capacity_lost"]\ndist = "uniform"\nlow = 0\nhigh = 1',
    ],
)
def test_uncertain_draws_inside_the_field_range_are_accepted(entry):
    s = parse_scenario(UNC + "[[uncertain]]\n" + entry + "\n", "u.toml")
    assert len(s.uncertain) == 1 and s.uncertain[0].targets[0] in entry


# (uncertain field, the same field written in the file, a value just outside its range)
_SAME_RANGE = [
    ("disruption[0].severity", ("disruption", "severity = 0.5", "severity = {}"), (1.0001, -0.0001)),
    ("disruption[0].months", ("disruption", "months = 3", "months = {}"), (601, 0)),
    ("outage[0].capacity_lost", ("outage", "capacity_lost = 1.0", "capacity_lost = {}"), (1.0001, -0.0001)),
    ("stockpile[0].tonnes", ("stockpile", "tonnes = 200", "tonnes = {}"), (-0.0001,)),
    ("project[0].ramp_months", ("project", 'start = "2026-06"', 'start = "2026-06"\nramp_months = {}'), (241, -1)),
]


@pytest.mark.parametrize(("field", "written", "outside"), _SAME_RANGE)
def test_a_drawn_value_has_the_range_of_the_value_written_in_the_file(field, written, outside):
    from critmin.scenario import UNCERTAIN_RANGES

    section, old, new = written
    lo, hi = UNCERTAIN_RANGES[f"{section}.{field.split('.', 1)[1]}"]
    for x in (lo, hi):
        if math.isfinite(x):  # the bounds themselves are valid, drawn or written
            parse_scenario(UNC + f'[[uncertain]]\nfield = "{field}"\ndist = "fixed"\nvalue = {x:g}\n')
            parse_scenario(UNC.replace(old, new.format(f"{x:g}")))
    for x in outside:
        with pytest.raises(UserError, match=rf"uncertain\[0\]\.value: {re.escape(field)} must be"):
            parse_scenario(UNC + f'[[uncertain]]\nfield = "{field}"\ndist = "fixed"\nvalue = {x}\n')
        with pytest.raises(UserError, match=rf"{section}\[0\]\.\w+: Input should be"):
            parse_scenario(UNC.replace(old, new.format(x)))


@pytest.mark.parametrize(
    ("old", "new", "path"),
    [
        ("severity = 1.0", "severity = nan", "disruption[0].severity"),  # said "<= 1" before
        ("tonnes = 200", "tonnes = inf", "stockpile[0].tonnes"),  # accepted before, numpy warnings later
        ("max_release_t_per_month = 20", "max_release_t_per_month = -inf", "stockpile[0].max_release_t_per_month"),
        ("capacity_lost = 1.0", "capacity_lost = nan", "outage[0].capacity_lost"),
        ("months = 36", "months = inf", "months"),
        ('mode = "market"', 'mode = "market"\n[demand]\nelasticity = { automotive = nan }',
         "demand.elasticity.automotive"),
        ('mode = "market"', 'mode = "market"\n[demand]\ngrowth_pct_per_yr = nan', "demand.growth_pct_per_yr"),
        ('mode = "market"', 'mode = "market"\n[demand]\nprice_index_cap = inf', "demand.price_index_cap"),
        ('mode = "market"', 'mode = "market"\n[[inventory]]\nmonths_of_use = nan', "inventory[0].months_of_use"),
        ('mode = "market"', 'mode = "market"\n[[project]]\nregion = "USA"\nstage = "metal"\nstart = "2026-02"\n'
         'capacity_t_per_yr = { Dy = inf }', "project[0].capacity_t_per_yr.Dy"),
        ('mode = "market"', 'mode = "market"\n[[project]]\nregion = "USA"\nstage = "metal"\nstart = "2026-02"\n'
         'materials = ["Dy"]\ncapacity_t_per_yr = nan', "project[0].capacity_t_per_yr"),
    ],
)  # fmt: skip
def test_non_finite_numbers_are_refused_everywhere(old, new, path):
    msg = _err(ISSUE_EXAMPLE.replace(old, new, 1))
    _one_line_from(UserError(msg), "bad.toml")
    assert f": {path}: Input should be a finite number" in msg, msg


@pytest.mark.parametrize(
    ("entry", "key"),
    [
        ('dist = "uniform"\nlow = nan\nhigh = 1', "low"),
        ('dist = "uniform"\nlow = 0.5\nhigh = inf', "high"),
        ('dist = "fixed"\nvalue = nan', "value"),
        ('dist = "normal"\nmean = 0.5\nsd = inf\nlow = 0\nhigh = 1', "sd"),
        ('dist = "choice"\nvalues = [0.5, nan]', "values[1]"),
        ('dist = "choice"\nvalues = [0.5, 1]\nweights = [1, inf]', "weights[1]"),
        ('dist = "bernoulli"\np = nan', "p"),
    ],
)
def test_non_finite_distribution_parameters_are_refused(entry, key):
    msg, _ = _unc_err('field = "disruption[0].severity"\n' + entry)
    assert f"uncertain[0].{key}: Input should be a finite number" in msg, msg


def test_events_after_the_horizon_are_refused_with_both_months():
    # ISSUE_EXAMPLE runs 2026-01 .. 2028-12
    text = ISSUE_EXAMPLE.replace('start = "2026-01"\nmonths = 12', 'start = "2029-01"\nmonths = 12')
    line = text.splitlines().index('start = "2029-01"') + 1
    msg = _err(text)
    assert msg.startswith(
        f"bad.toml:{line}: disruption[0].start: starts 2029-01, after the scenario's last month 2028-12"
    )
    text = ISSUE_EXAMPLE.replace('start = "2026-03"', 'start = "2031-03"')
    line = text.splitlines().index('start = "2031-03"') + 1
    assert _err(text).startswith(f"bad.toml:{line}: outage[0].start: starts 2031-03, after the scenario's last month")
    # the last month itself is inside the horizon
    s = parse_scenario(ISSUE_EXAMPLE.replace('start = "2026-03"', 'start = "2028-12"'))
    assert s.outage[0].start == "2028-12" and s.month_labels[-1] == "2028-12"


def test_project_after_the_horizon_is_accepted():
    """Facility pipelines legitimately start later than a horizon: such a project adds nothing."""
    text = ISSUE_EXAMPLE + '[[project]]\nregion = "USA"\nstage = "metal"\nmaterials = ["Dy"]\ncapacity_t_per_yr = 50\n'
    s = parse_scenario(text + 'start = "2035-01"\n')
    assert s.project[0].start == "2035-01"


# -- files that are not scenario files at all (issue 10, item 9) -----------------------------

_DEEP_ARRAY = "a = " + "[" * 5000 + "]" * 5000 + "\n"
_DEEP_TABLE = "a = " + "{ b = " * 3000 + "1" + " }" * 3000 + "\n"


def _bad_file(tmp_path: Path, kind: str) -> tuple[Path, str]:
    """A file (or directory) that is no TOML document, and what the error must say."""
    if kind == "binary":
        p = tmp_path / "bad.toml"
        p.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe")
        return p, "binary file"
    if kind == "latin-1":
        p = tmp_path / "bad.toml"
        p.write_bytes('name = "Réunion"\n'.encode("latin-1"))
        return p, "not UTF-8 text (byte 0xe9 at offset 9)"
    if kind in ("directory", "directory.toml"):
        p = tmp_path / ("scen.toml" if kind == "directory.toml" else "scen")
        p.mkdir()
        return p, "is a directory"
    p = tmp_path / "bad.toml"
    p.write_text(_DEEP_ARRAY if kind == "nested array" else _DEEP_TABLE, encoding="utf-8")
    return p, "nested too deeply"


_BAD_KINDS = ["binary", "latin-1", "directory", "directory.toml", "nested array", "nested table"]


@pytest.mark.parametrize("kind", _BAD_KINDS)
def test_unreadable_scenario_files_are_user_errors(tmp_path: Path, kind: str):
    path, needle = _bad_file(tmp_path, kind)
    for arg in (path, str(path), f"{path}/" if path.is_dir() else str(path)):
        with pytest.raises(UserError) as exc:
            load_scenario(arg)
        _one_line_from(exc.value, str(path))
        assert needle in str(exc.value)


@pytest.mark.parametrize("kind", _BAD_KINDS)
def test_unreadable_bloc_files_are_user_errors(tmp_path: Path, kind: str):
    path, needle = _bad_file(tmp_path, kind)
    with pytest.raises(UserError) as exc:
        names.default_blocs().with_file(path, names.countries())
    _one_line_from(exc.value, str(path))
    assert needle in str(exc.value)


def test_deeply_nested_text_is_a_user_error():
    for text in (_DEEP_ARRAY, _DEEP_TABLE):
        with pytest.raises(UserError, match=r"^x\.toml: not valid TOML.*nested too deeply"):
            parse_scenario(text, "x.toml")


@pytest.mark.parametrize("kind", ["binary", "latin-1", "directory", "nested array"])
def test_cli_exit_code_2_for_unreadable_scenario_files(tmp_path: Path, capsys, kind: str):
    from critmin.cli import main

    path, needle = _bad_file(tmp_path, kind)
    assert main(["scenarios", "show", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}") and needle in err and "internal error" not in err


@pytest.mark.parametrize("what", ["scenario", "blocs"])
def test_huge_files_fail_fast(tmp_path: Path, what: str):
    """A 50 MB file is refused in well under a second instead of parsing for a minute."""
    p = tmp_path / "huge.toml"
    head = 'name = "huge"\nstart = "2026-01"\nmonths = 12\n' if what == "scenario" else "[blocs]\n"
    with p.open("w", encoding="utf-8") as fh:
        fh.write(head)
        fh.write(("# " + "x" * 98 + "\n") * 500_000)
    assert p.stat().st_size > 50_000_000
    t = time.perf_counter()
    with pytest.raises(UserError) as exc:
        if what == "scenario":
            load_scenario(p)
        else:
            names.default_blocs().with_file(p, names.countries())
    assert time.perf_counter() - t < 5
    _one_line_from(exc.value, str(p))
    assert "too large" in str(exc.value)


def test_scenario_file_with_a_byte_order_mark_loads(tmp_path: Path):
    p = tmp_path / "bom.toml"
    p.write_bytes(b"\xef\xbb\xbf" + ISSUE_EXAMPLE.encode("utf-8"))
    assert load_scenario(p).digest() == parse_scenario(ISSUE_EXAMPLE).digest()


@pytest.mark.parametrize("name", ["all", "USA", "row"])
def test_bloc_names_that_would_shadow_a_target_are_refused(tmp_path: Path, name: str):
    p = tmp_path / "blocs.toml"
    p.write_text(f'[blocs]\n{name} = ["USA", "JPN"]\n', encoding="utf-8")
    with pytest.raises(UserError, match=rf"^{re.escape(str(p))}: bloc name '{name}' is taken"):
        names.default_blocs().with_file(p, names.countries())


# -- the blocs in force (issue 10, item 11) --------------------------------------------------

QUAD = '[blocs]\nquad = ["USA", "JPN", "AUS", "IND"]\n'
QUAD_SCENARIO = ISSUE_EXAMPLE.replace('targets = ["framework"]', 'targets = ["QUAD"]').replace(
    'mode = "market"', 'mode = "coordinated"\ncoalition = "quad"'
)


@pytest.fixture
def quad_blocs(tmp_path: Path) -> names.Blocs:
    f = tmp_path / "quad.toml"
    f.write_text(QUAD, encoding="utf-8")
    return names.default_blocs().with_file(f, names.countries())


def test_targets_and_coalition_use_the_blocs_in_force(tmp_path: Path, quad_blocs: names.Blocs):
    # without the user's blocs, quad is unknown (what `scenarios show` said even with --blocs quad.toml)
    msg = _err(QUAD_SCENARIO)
    assert "unknown" in msg and "'quad'" in msg.lower()
    f = tmp_path / "q.toml"
    f.write_text(QUAD_SCENARIO, encoding="utf-8")
    for s in (
        parse_scenario(QUAD_SCENARIO, "q.toml", blocs=quad_blocs),
        scenario_from_dict(tomllib.loads(QUAD_SCENARIO), "q.toml", blocs=quad_blocs),
        load_scenario(f, blocs=quad_blocs),
        load_scenario(str(f), blocs=quad_blocs),
    ):
        assert s.disruption[0].targets == ("quad",) and s.coalition == "quad"
        assert s.blocs == quad_blocs
        assert expand_targets(s.disruption[0].targets, s.blocs) == ("AUS", "IND", "JPN", "USA")
        # expanded with blocs that lack quad (a chain built without the bloc file), it is an error,
        # never silently a region (the engine would have put "quad" in ROW)
        with pytest.raises(UserError, match="unknown bloc 'quad'"):
            expand_targets(s.disruption[0].targets, names.default_blocs())
    # an unknown bloc still gets "did you mean" among the blocs in force
    with pytest.raises(UserError, match=r"disruption\[0\]\.targets: unknown target .*'quadd' \(did you mean 'quad'"):
        parse_scenario(QUAD_SCENARIO.replace('targets = ["QUAD"]', 'targets = ["quadd"]'), blocs=quad_blocs)
    with pytest.raises(UserError, match="did you mean 'quad'"):
        parse_scenario(QUAD_SCENARIO.replace('coalition = "quad"', 'coalition = "quadd"'), blocs=quad_blocs)


def test_with_changes_keeps_the_blocs_a_scenario_was_validated_with(quad_blocs: names.Blocs):
    s = parse_scenario(QUAD_SCENARIO, "q.toml", blocs=quad_blocs)
    seeded = s.with_changes(seed=5)  # what Monte Carlo does
    assert seeded.seed == 5 and seeded.blocs == quad_blocs and seeded.coalition == "quad"
    unc = s.with_changes(uncertain=[{"field": "disruption[0].severity", "dist": "uniform", "low": 0.5, "high": 1}])
    assert unc.uncertain[0].dist == "uniform" and unc.disruption[0].targets == ("quad",)
    # shipped to Dask workers by pickling: the blocs travel with it
    again = pickle.loads(pickle.dumps(unc))
    assert again == unc and again.blocs == quad_blocs
    # a default-bloc scenario stays default, and an invalid change is a UserError, not a pydantic error
    plain = parse_scenario(ISSUE_EXAMPLE)
    assert plain.blocs == names.default_blocs()
    with pytest.raises(UserError, match=r"coalition: unknown bloc 'quad'"):
        plain.with_changes(coalition="quad")
    with pytest.raises(UserError, match=r"uncertain\[0\]\.high: disruption\[0\]\.severity must be in \[0, 1\]"):
        plain.with_changes(uncertain=[{"field": "disruption[0].severity", "dist": "uniform", "low": 0.5, "high": 3}])


def test_blocs_in_force_from_a_bloc_file(tmp_path: Path, quad_blocs: names.Blocs):
    f = tmp_path / "quad.toml"
    f.write_text(QUAD, encoding="utf-8")
    assert names.load_blocs(f) == quad_blocs and "quad" in quad_blocs
    assert names.load_blocs() == names.default_blocs() and names.load_blocs() != quad_blocs


def test_criticality_perspective_resolves_a_user_bloc(quad_blocs: names.Blocs):
    from critmin.criticality.supply import perspective

    prod, gov = tiny_frames()
    chain = SupplyChain.from_frames(prod, governance=gov, blocs=quad_blocs)
    for name in ("quad", "QUAD", " quad "):
        p = perspective(chain, name)
        assert p.name == "quad" and p.members == ("AUS", "IND", "JPN", "USA") and p.regions == p.members
    with pytest.raises(UserError, match="did you mean 'quad'"):
        perspective(chain, "quadd")
    default_chain = SupplyChain.from_frames(prod, governance=gov)
    with pytest.raises(UserError, match="unknown perspective 'quad'"):
        perspective(default_chain, "quad")
