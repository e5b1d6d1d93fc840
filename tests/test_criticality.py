"""Criticality methods: the EU reference cases, bottleneck rule, thresholds, perspectives, the USGS
product, the ensemble ranking, inputs files and the missing-input paths."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from critmin.chain import SupplyChain
from critmin.cli import main
from critmin.criticality import assess
from critmin.criticality.inputs import COLUMNS, Inputs
from critmin.criticality.supply import perspective, trade_factors
from critmin.errors import DataValidationError, UserError
from critmin.risk import run_ensemble
from critmin.scenario import load_scenario


@pytest.fixture(scope="module")
def chain(built_store) -> SupplyChain:
    return SupplyChain.from_store(built_store)


def write_inputs(path: Path, rows: list[dict[str, object]]) -> Path:
    df = pd.DataFrame([{c: r.get(c, "") for c in COLUMNS} for r in rows])
    df["source"] = df["source"].replace("", "test")
    df["confidence"] = df["confidence"].replace("", "assumption")
    df.to_csv(path, index=False)
    return path


def one_supplier_chain(stages: dict[str, dict[str, float]] | None = None) -> SupplyChain:
    """Cobalt produced by the given countries at the given stages (default: COD alone at mine)."""
    stages = stages or {"mine": {"COD": 100.0}}
    rows = [
        {"material": "Co", "stage": st, "year": 2024, "unit": "t", "country_iso3": c, "quantity": q}
        for st, by in stages.items()
        for c, q in by.items()
    ]
    return SupplyChain.from_frames(pd.DataFrame(rows))


def reference_inputs(tmp_path: Path, sourcing: dict[str, float], extra: list[dict[str, object]] = ()) -> Inputs:
    rows: list[dict[str, object]] = [
        {"parameter": "wgi_scaled", "country": "COD", "value": 5.0},
        {"parameter": "wgi_scaled", "country": "JPN", "value": 2.0},
        {"parameter": "import_reliance", "perspective": "USA", "material": "Co", "stage": "*", "value": 1.0},
        {"parameter": "sector_share", "material": "Co", "sector": "electronics", "value": 1.0},
        # the JRC reference cases: no recycling, no substitute, and electronics the largest sector
        # (Q = 10); the shipped EU 2023 values for cobalt would change all three
        {"parameter": "eol_rir", "material": "Co", "value": 0.0},
        {"parameter": "si_sr", "material": "Co", "value": 1.0},
        {"parameter": "si_ei", "material": "Co", "value": 1.0},
        {"parameter": "value_added", "sector": "electronics", "value": 1e9},
    ]
    rows += [{"parameter": "sourcing_share", "perspective": "USA", "material": "Co", "stage": "*", "country": c,
              "value": v} for c, v in sourcing.items()]  # fmt: skip
    rows += list(extra)
    return Inputs.load([write_inputs(tmp_path / "inputs.csv", rows)])


def test_eu_reference_case_one_supplier_gives_5(tmp_path):
    rows, skipped = assess(one_supplier_chain(), "eu", "USA", ["Co"], reference_inputs(tmp_path, {"COD": 1.0}))
    assert skipped == []
    assert rows.iloc[0]["sr"] == pytest.approx(5.0, abs=1e-12)
    st = rows.iloc[0]["inputs"]["stages"]["mine"]
    assert st["hhi_wgi_t_global"] == pytest.approx(5.0) and st["hhi_wgi_t_sourcing"] == pytest.approx(5.0)
    assert st["trade_factors"] == {}  # cobalt's Chinese controls are suspended, and COD has none


def test_eu_reference_case_partner_sourcing_gives_3_3(tmp_path):
    rows, _ = assess(one_supplier_chain(), "eu", "USA", ["Co"], reference_inputs(tmp_path, {"JPN": 1.0}))
    st = rows.iloc[0]["inputs"]["stages"]["mine"]
    assert "JPN" in st["agreement_partners"]
    assert st["hhi_wgi_t_sourcing"] == pytest.approx(1.6)
    assert rows.iloc[0]["sr"] == pytest.approx(5.0 * 0.5 + 1.6 * 0.5)
    assert rows.iloc[0]["sr"] == pytest.approx(3.3)


def test_eol_recycling_and_substitution_scale_sr(tmp_path):
    extra = [{"parameter": "eol_rir", "material": "Co", "value": 0.25},
             {"parameter": "si_sr", "material": "Co", "value": 0.8}]  # fmt: skip
    rows, _ = assess(one_supplier_chain(), "eu", "USA", ["Co"], reference_inputs(tmp_path, {"COD": 1.0}, extra))
    assert rows.iloc[0]["sr"] == pytest.approx(5.0 * 0.75 * 0.8)


def test_bottleneck_is_the_riskiest_stage(tmp_path):
    chain = one_supplier_chain({"mine": {"COD": 50.0, "JPN": 50.0}, "separation": {"COD": 100.0}})
    rows, _ = assess(chain, "eu", "USA", ["Co"], reference_inputs(tmp_path, {"COD": 1.0}))
    stages = rows.iloc[0]["inputs"]["stages"]
    assert stages["mine"]["sr"] < stages["separation"]["sr"]
    assert rows.iloc[0]["bottleneck_stage"] == "separation"
    assert rows.iloc[0]["sr"] == pytest.approx(max(s["sr"] for s in stages.values()))


def test_thresholds_decide_critical(tmp_path):
    base = reference_inputs(tmp_path, {"COD": 1.0})
    assert bool(assess(one_supplier_chain(), "eu", "USA", ["Co"], base)[0].iloc[0]["critical"])
    for extra in ({"parameter": "sr_threshold", "value": 5.5}, {"parameter": "ei_threshold", "value": 10.5}):
        inp = reference_inputs(tmp_path, {"COD": 1.0}, [extra])
        row = assess(one_supplier_chain(), "eu", "USA", ["Co"], inp)[0].iloc[0]
        assert not row["critical"], extra
    # EI: electronics is the largest sector (Q = 10), so EI = 10 x SI_EI
    inp = reference_inputs(tmp_path, {"COD": 1.0}, [{"parameter": "si_ei", "material": "Co", "value": 0.2}])
    row = assess(one_supplier_chain(), "eu", "USA", ["Co"], inp)[0].iloc[0]
    assert row["ei"] == pytest.approx(2.0) and not row["critical"]


def test_value_added_weighs_sectors(tmp_path):
    extra = [{"parameter": "sector_share", "material": "Co", "sector": "defence", "value": 1.0},
             {"parameter": "value_added", "sector": "electronics", "value": 3e9},
             {"parameter": "value_added", "sector": "defence", "value": 1e9}]  # fmt: skip
    inp = reference_inputs(tmp_path, {"COD": 1.0}, extra)
    row = assess(one_supplier_chain(), "eu", "USA", ["Co"], inp)[0].iloc[0]
    # shares 1:1 (sum 2 > 1.05: normalised, 0.5 each), Q scaled so the largest sector (3e9) -> 10
    ei = row["inputs"]["economic_importance"]
    assert ei["value_added_scaled"]["electronics"] == pytest.approx(10.0)
    assert ei["value_added_scaled"]["defence"] == pytest.approx(10 / 3)
    assert row["ei"] == pytest.approx(0.5 * 10 + 0.5 * 10 / 3)


def test_perspective_sourcing_from_low_risk_partners_lowers_sr(chain, tmp_path):
    default = assess(chain, "eu", "USA", ["Nd"])[0].iloc[0]
    stage = "magnet"  # the US imports magnets (IR 1 in the engine's network)
    assert default["inputs"]["stages"][stage]["import_reliance"] == pytest.approx(1.0)
    f = write_inputs(tmp_path / "src.csv", [
        {"parameter": "sourcing_share", "perspective": "USA", "material": "Nd", "stage": stage, "country": c,
         "value": v} for c, v in (("JPN", 0.6), ("AUS", 0.4))
    ])  # fmt: skip
    switched = assess(chain, "eu", "USA", ["Nd"], Inputs.load([f]))[0].iloc[0]
    st = switched["inputs"]["stages"][stage]
    assert st["sourcing_basis"] == "input"
    assert st["sr"] < default["inputs"]["stages"][stage]["sr"]
    assert st["sr"] < st["hhi_wgi_t_global"]  # below the global view


def test_perspectives_differ_and_resolve(chain):
    eu = {r["material"]: r for r in assess(chain, "eu", "EU", ["Nd", "Ga"])[0].to_dict("records")}
    fw = {r["material"]: r for r in assess(chain, "eu", "framework", ["Nd", "Ga"])[0].to_dict("records")}
    assert fw["Nd"]["sr"] < eu["Nd"]["sr"]  # the framework separates its own NdPr (Lynas)
    assert perspective(chain, "eu").members == perspective(chain, "EU").members
    assert len(perspective(chain, "EU").members) == 27
    with pytest.raises(UserError, match="did you mean"):
        perspective(chain, "USB")


def test_trade_factors_follow_the_export_controls(chain):
    usa = perspective(chain, "USA")
    inp = Inputs.defaults()
    assert trade_factors(inp, usa, "Dy")["CHN"][0] == pytest.approx(1.1)  # CN-2025-018 in force
    assert "CHN" not in trade_factors(inp, usa, "Nd")  # the October 2025 rules are suspended
    assert trade_factors(inp, usa, "Ga")["CHN"][0] == pytest.approx(1.1)  # CN-2023-023


def test_usgs_is_dp_times_te_times_ev(tmp_path):
    extra = [{"parameter": "cost_share", "material": "Co", "value": 0.05},
             {"parameter": "margin", "material": "Co", "value": 0.1}]  # fmt: skip
    inp = reference_inputs(tmp_path, {"COD": 1.0}, extra)
    row = assess(one_supplier_chain(), "usgs", "USA", ["Co"], inp)[0].iloc[0]
    # DP = 1^2 x 5 / 10, TE = 1, EV = 0.05 / 0.1
    assert row["sr"] == pytest.approx(0.5 * 1.0 * 0.5)
    assert row["ei"] is None and row["inputs"]["approximated"]


def test_ensemble_is_the_probability_weighted_expected_loss(chain):
    rows, skipped = assess(chain, "ensemble", "USA", ["Ga", "Co"], scenarios=["ga-ge-ban-us"], draws=5, seed=1)
    assert any("Co" in s and "not simulated" in s for s in skipped)
    ga = rows.iloc[0]
    ens = run_ensemble(load_scenario("ga-ge-ban-us"), chain, 1, seed=1).sel(material="Ga", region="USA")
    assert ga["sr"] == pytest.approx(float(ens["shortfall_t"].mean() / ens["demand_t"].mean()), rel=1e-6)
    assert ga["sr"] > 0
    two, _ = assess(chain, "ensemble", "USA", ["Ga"], scenarios=["ga-ge-ban-us", "lynas-malaysia-outage-6m"],
                    draws=5, seed=1, weights=[1, 3])  # fmt: skip
    assert two.iloc[0]["sr"] == pytest.approx(0.25 * ga["sr"], rel=1e-6)  # the Lynas outage costs no gallium


def test_missing_inputs_are_named_then_skipped_or_fatal(tmp_path, chain):
    only = [{"parameter": "si_sr", "material": "*", "value": 1.0}, {"parameter": "sr_threshold", "value": 1.0},
            {"parameter": "ei_threshold", "value": 2.8}]  # fmt: skip
    inp = Inputs.load([write_inputs(tmp_path / "bare.csv", only)], use_defaults=False)
    assert assess(chain, "eu", "EU", ["Dy"], inp)[1] == ["Dy: restriction_factor missing"]  # not silently 1
    only += [{"parameter": p, "value": v} for p, v in
             (("restriction_factor", 1.1), ("ban_factor", 1.2), ("agreement_factor", 0.8))]  # fmt: skip
    inp = Inputs.load([write_inputs(tmp_path / "only.csv", only)], use_defaults=False)
    rows, skipped = assess(chain, "eu", "EU", ["Dy", "Nd"], inp)
    assert rows.empty
    assert skipped == ["Dy: eol_rir missing", "Nd: eol_rir missing"]
    with pytest.raises(UserError, match="missing input: Dy: eol_rir missing"):
        assess(chain, "eu", "EU", ["Dy"], inp, strict=True)
    # real gaps in the shipped data: no sector split for molybdenum; no cost share for gallium, whose
    # USGS risk is then DP x TE alone, said in a warning (an error under --strict)
    assert "Mo: sector_share missing" in " ".join(assess(chain, "eu", "EU", ["Mo"])[1])
    ga = assess(chain, "usgs", "USA", ["Ga"])[0].iloc[0]
    assert "Ga: cost_share missing, so no economic vulnerability" in " ".join(ga["inputs"]["warnings"])
    assert ga["inputs"]["economic_vulnerability"] is None
    assert ga["sr"] == pytest.approx(max(s["disruption_potential"] * s["trade_exposure"]
                                         for s in ga["inputs"]["stages"].values()))  # fmt: skip
    with pytest.raises(UserError, match="Ga: cost_share missing"):
        assess(chain, "usgs", "USA", ["Ga"], strict=True)


def test_bad_inputs_file_lists_every_problem(tmp_path):
    f = tmp_path / "bad.csv"
    f.write_text(
        "parameter,material,value,source,confidence\n"
        "eol_rri,Dy,0.1,x,y\n"
        "eol_rir,Dx,0.1,x,y\n"
        "si_sr,Dy,1.5,x,y\n"
        "si_ei,Dy,abc,x,y\n"
    )
    with pytest.raises(DataValidationError) as exc:
        Inputs.load([f])
    probs = {(p.row, p.column) for p in exc.value.problems}
    assert probs == {(2, "parameter"), (3, "material"), (4, "value"), (5, "value")}
    assert "eol_rir" in exc.value.problems[0].hint


def test_cli_json_csv_figure_and_errors(tmp_path, capsys):
    fig = tmp_path / "matrix.html"
    assert main(["criticality", "--method", "eu", "--perspective", "JPN", "--materials", "Dy,Nd", "--format", "json",
                 "--figure", str(fig)]) == 0  # fmt: skip
    rows = json.loads(capsys.readouterr().out)
    assert {r["material"] for r in rows} == {"Dy", "Nd"}
    for r in rows:
        assert {"material", "method", "perspective", "sr", "ei", "bottleneck_stage", "critical", "inputs"} <= set(r)
        assert r["perspective"] == "JPN" and r["method"] == "eu"
        eol = r["inputs"]["stages"][r["bottleneck_stage"]]["eol_rir"]
        assert eol["confidence"] == "read-secondary" and "2023" in eol["source"]  # the EU 2023 assessment's
    html = fig.read_text()
    assert "Criticality matrix" in html
    assert 'src="http' not in html and len(html) > 1_000_000  # plotly.js inlined: no CDN
    assert main(["criticality", "--method", "usgs", "--materials", "Dy", "--format", "csv"]) == 0
    csv = capsys.readouterr().out
    assert csv.splitlines()[0].startswith("material,method,perspective,sr,ei")
    assert main(["criticality", "--perspective", "EU,framework", "--materials", "Nd", "--format", "json"]) == 0
    both = json.loads(capsys.readouterr().out)
    assert [r["perspective"] for r in both] == ["EU", "framework"] and both[1]["sr"] < both[0]["sr"]
    assert main(["criticality", "--materials", "Dy", "--by-stage", "--format", "csv"]) == 0
    stages = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert list(stages["stage"]) == ["mine", "separation", "metal", "magnet"]
    assert stages.loc[stages["bottleneck"], "sr"].iloc[0] == pytest.approx(stages["sr"].max())
    assert main(["criticality", "--method", "eux"]) == 2
    assert "did you mean 'eu'" in capsys.readouterr().err
    assert main(["criticality", "--materials", "Mo", "--strict"]) == 2
    assert "Mo: sector_share missing" in capsys.readouterr().err


def test_list_parameters_use_the_most_specific_level(tmp_path):
    rows = [
        {"parameter": "sourcing_share", "perspective": "USA", "material": "Co", "stage": "*", "country": "CHN",
         "value": 1.0},
        {"parameter": "sourcing_share", "perspective": "USA", "material": "Co", "stage": "mine", "country": "MYS",
         "value": 0.7},
        {"parameter": "sourcing_share", "perspective": "USA", "material": "Co", "stage": "mine", "country": "CHN",
         "value": 0.3},
        {"parameter": "agreement_partner", "perspective": "*", "country": "KOR", "value": 1.0},
        {"parameter": "agreement_partner", "perspective": "USA", "country": "KOR", "value": 0.0},
    ]  # fmt: skip
    inp = Inputs.load([write_inputs(tmp_path / "mix.csv", rows)])
    got = inp.items("sourcing_share", perspective="USA", material="Co", stage="mine")
    assert {c: r["value"] for c, r in got.items()} == {"MYS": 0.7, "CHN": 0.3}
    assert set(inp.items("sourcing_share", perspective="USA", material="Co", stage="separation")) == {"CHN"}
    chain = one_supplier_chain()
    from critmin.criticality.supply import partners

    assert "KOR" not in partners(inp, perspective(chain, "USA"))  # the specific 0 row wins
    assert "KOR" in partners(inp, perspective(chain, "JPN"))


def test_user_rows_win_ties_and_are_cleaned(tmp_path):
    f = tmp_path / "tie.csv"
    f.write_text(
        "parameter,perspective,material,value,source,confidence\n"
        " eol_rir ,*,Co,0.5,mine,user\n"  # blank-padded name, '*' in a column eol_rir does not use
        "agreement_factor,*,,0.7,mine,user\n"
    )
    inp = Inputs.load([f])
    assert inp.value("eol_rir", material="Co") == 0.5
    assert inp.value("agreement_factor") == 0.7


def test_item_columns_and_country_codes_are_checked(tmp_path):
    f = tmp_path / "bad.csv"
    f.write_text(
        "parameter,perspective,material,stage,country,value,source,confidence\n"
        "sourcing_share,USA,Co,mine,*,1,x,y\n"
        "sourcing_share,USA,Co,mine,CHINA,1,x,y\n"
    )
    with pytest.raises(DataValidationError) as exc:
        Inputs.load([f])
    probs = {(p.row, p.column): p for p in exc.value.problems}
    assert set(probs) == {(2, "country"), (3, "country")}
    assert probs[(3, "country")].reason == "unknown country code (ISO3)"
    assert "name it" in probs[(2, "country")].reason


def test_value_added_wildcard_does_not_fill_in_for_named_sectors(tmp_path):
    extra = [{"parameter": "sector_share", "material": "Co", "sector": "C99", "value": 1.0},
             {"parameter": "value_added", "sector": "electronics", "value": 300.0}]  # fmt: skip
    inp = reference_inputs(tmp_path, {"COD": 1.0}, extra)
    rows, skipped = assess(one_supplier_chain(), "eu", "USA", ["Co"], inp)
    assert rows.empty and skipped == ["Co: value_added missing for sector(s) C99"]


def test_unattributed_output_is_no_supplier_in_either_term(tmp_path):
    # COD and the unattributed residual (OTH) each make half: the pro-rata sourcing mix gives COD
    # half the imports too, so both terms weigh the same named share
    chain = one_supplier_chain({"mine": {"COD": 50.0, "OTH": 50.0}})
    inp = reference_inputs(tmp_path, {}, [])
    st = assess(chain, "eu", "USA", ["Co"], inp)[0].iloc[0]["inputs"]["stages"]["mine"]
    assert st["sourcing_shares"] == {"COD": pytest.approx(0.5)}
    assert st["hhi_wgi_t_sourcing"] == pytest.approx(st["hhi_wgi_t_global"]) == pytest.approx(0.25 * 5.0)


def test_a_producer_does_not_restrict_its_own_supply(chain):
    st = assess(chain, "eu", "CHN", ["Dy"])[0].iloc[0]["inputs"]["stages"]["separation"]
    assert st["trade_factors"]["CHN"]["t"] == pytest.approx(1.1)  # seen from abroad
    assert st["sourcing_shares"].get("CHN", 0) > 0.9
    # the sourcing term uses t = 1 for China's own output: below the global term's 1.1 weighting
    assert st["hhi_wgi_t_sourcing"] < st["hhi_wgi_t_global"]


def test_usgs_names_stages_without_import_reliance(chain):
    rows, _ = assess(chain, "usgs", "USA", ["Dy"])
    warnings = rows.iloc[0]["inputs"]["warnings"]
    # the USGS figures give US import reliance for rare-earth compounds and metals, not for Dy at mine
    assert warnings and "import_reliance missing for USA at mine," in warnings[0]
    with pytest.raises(UserError, match="--strict"):
        assess(chain, "usgs", "USA", ["Dy"], strict=True)


def test_cli_perspective_list_is_deduplicated_and_usgs_has_no_figure(tmp_path, capsys):
    assert main(["criticality", "-p", "EU,eu,framework", "--materials", "Nd"]) == 0
    out = capsys.readouterr().out
    assert "Supply risk by perspective" in out
    assert main(["criticality", "--method", "usgs", "--figure", str(tmp_path / "x.html")]) == 2
    assert "no EI" in capsys.readouterr().err
    assert not (tmp_path / "x.html").exists()


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(0.01, 1.0), min_size=1, max_size=6),
    st.lists(st.floats(0.0, 10.0), min_size=6, max_size=6),
    st.floats(-1.0, 1.0),
    st.floats(0.0, 1.0),
    st.floats(0.0, 1.0),
)
def test_eu_formula_properties(raw, wgi_vals, ir, eol, si):
    from critmin.criticality.eu import supply_risk
    from critmin.criticality.supply import hhi_wgi_t

    total = sum(raw)
    shares = {f"C{i}": v / total for i, v in enumerate(raw)}
    wgi = {f"C{i}": wgi_vals[i] for i in range(len(raw))}
    g = hhi_wgi_t(shares, wgi, {})
    assert 0.0 <= g <= 10.0 + 1e-9
    # sourcing equal to global supply: the import reliance does not matter
    same = supply_risk(g, g, ir, eol, si)
    assert same == pytest.approx(g * (1 - eol) * si, rel=1e-12, abs=1e-12)
    # otherwise SR lies between the two terms (scaled), and IR moves it toward the global term
    s = hhi_wgi_t(shares, {c: w / 2 for c, w in wgi.items()}, {})
    sr = supply_risk(g, s, ir, eol, si)
    lo, hi = sorted((g, s))
    assert lo * (1 - eol) * si - 1e-12 <= sr <= hi * (1 - eol) * si + 1e-12
    more = supply_risk(g, s, min(1.0, max(ir, 0.0) + 0.1), eol, si)
    assert more >= sr - 1e-12  # g >= s here: more reliance on imports weighs the riskier term more
    # a restriction factor above 1 on any supplier never lowers the global term
    assert hhi_wgi_t(shares, wgi, {"C0": 1.1}) >= g
