"""Scenario files: the keys of the issue work as written, bad input gets one clear UserError."""

from __future__ import annotations

import contextlib
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from critmin.errors import UserError
from critmin.scenario import (
    Scenario,
    builtin_names,
    builtin_text,
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
    assert s.digest() == parse_scenario(ISSUE_EXAMPLE).digest()
    assert s.with_changes(months=12).digest() != s.digest()


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
        assert str(exc).startswith("fuzz.toml")
        return
    assert isinstance(s, Scenario)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_random_text_is_rejected_cleanly(text):
    with contextlib.suppress(UserError):
        parse_scenario(text, "fuzz.toml")


@settings(max_examples=150, deadline=None)
@given(st.integers(0, len(ISSUE_EXAMPLE) - 1), st.text(max_size=6))
def test_mutated_text_accept_or_user_error(pos, insert):
    text = ISSUE_EXAMPLE[:pos] + insert + ISSUE_EXAMPLE[pos + len(insert) :]
    try:
        s = parse_scenario(text, "fuzz.toml")
    except UserError:
        return
    assert isinstance(s, Scenario)


def test_builtin_text_round_trips():
    for name in builtin_names():
        assert parse_scenario(builtin_text(name)).digest() == load_scenario(name).digest()


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
