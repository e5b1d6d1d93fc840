"""The levers' commands: documents on standard output, one-line errors with exit 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from critmin.cli import main

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "heavy-ree-licensing-risk.toml"


@pytest.fixture
def db(built_store, tmp_path: Path) -> Path:
    path = tmp_path / "critmin.duckdb"
    shutil.copy(built_store.path, path)
    return path


def run(capsys: pytest.CaptureFixture[str], db: Path, *args: str) -> tuple[int, str, str]:
    code = main(["--db", str(db), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_optimize_stockpile_json(capsys, db):
    code, out, err = run(
        capsys, db, "optimize", "stockpile", str(EXAMPLE), "--holders", "JPN", "--materials", "NdFeB",
        "--target", "expected_shortfall_t<=100", "--draws", "30", "--verify-draws", "100", "-f", "json",
    )  # fmt: skip
    assert code == 0, err
    doc = json.loads(out)
    assert doc["target"] == ["expected_shortfall_t<=100"] and doc["regime"] == "independent"
    assert doc["met"] == {"independent": True}
    rows = doc["recommendation"]
    assert rows and {r["material"] for r in rows} == {"NdFeB"}
    assert doc["total_cost_usd"]["independent"] == pytest.approx(sum(r["cost_usd"] for r in rows))
    assert all(r["met"] for r in doc["out_of_sample"])
    assert "progress:" in err  # progress goes to standard error, never into the document


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--holders", "JPNN", "--materials", "Dy", "--target", "p_shortfall<=0.1"], "did you mean 'JPN'"),
        (["--holders", "JPN", "--materials", "Dyy", "--target", "p_shortfall<=0.1"], "did you mean 'Dy'"),
        (["--holders", "JPN", "--materials", "Dy", "--target", "p_shortfal<=0.1"], "did you mean 'p_shortfall'"),
        (["--holders", "JPN", "--materials", "Dy", "--target", "p_shortfall<=0.1", "--stages", "end_use"],
         "not end_use"),
        (["--holders", "JPN", "--materials", "NdFeB", "--target", "p_shortfall<=0.1", "--budget", "nan"],
         "--budget must be a positive finite number"),
        (["--holders", "JPN", "--materials", "NdFeB", "--target", "p_shortfall<=0.1", "--regime", "shared"],
         "--regime must be"),
    ],
)  # fmt: skip
def test_optimize_stockpile_bad_input(capsys, db, args, message):
    code, out, err = run(capsys, db, "optimize", "stockpile", str(EXAMPLE), *args, "--draws", "5")
    assert code == 2 and out == ""
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_unreachable_target_within_a_budget_says_what_is_reachable(capsys, db):
    code, out, err = run(
        capsys, db, "optimize", "stockpile", str(EXAMPLE), "--holders", "JPN", "--materials", "NdFeB",
        "--target", "expected_shortfall_t<=1", "--budget", "1000000", "--draws", "20", "--verify-draws", "20",
    )  # fmt: skip
    assert code == 2 and out == ""
    last = err.strip().splitlines()[-1]  # (progress lines come before it)
    assert last.startswith("error: no stockpile meets the targets within the budget of $1,000,000")
    assert "the best reachable is expected_shortfall_t" in last and "costing $1,000,000" in last


def test_price_floor_json(capsys, db):
    code, out, err = run(
        capsys, db, "price-floor", "--material", "NdPr", "--floor", "110", "--volume-t-per-yr", "1000",
        "--years", "10", "--upside-share", "0.3", "--draws", "2000", "--seed", "3", "-f", "json",
    )  # fmt: skip
    assert code == 0, err
    doc = json.loads(out)
    for key in ("expected_cost_usd", "p50_cost_usd", "p95_cost_usd", "p_any_payment", "cost_by_year"):
        assert key in doc
    assert len(doc["cost_by_year"]) == 10 and 0 <= doc["p_any_payment"] <= 1
    # a floor far below every price costs nothing
    code, out, _ = run(capsys, db, "price-floor", "--material", "NdPr", "--floor", "0.01", "--volume-t-per-yr", "1000",
                       "--years", "5", "--draws", "500", "-f", "json")  # fmt: skip
    assert code == 0 and json.loads(out)["expected_cost_usd"] == 0 and json.loads(out)["p_any_payment"] == 0


def test_offtake_and_price_floor_errors(capsys, db):
    code, out, err = run(capsys, db, "offtake", "--material", "NdPr", "--price", "110", "--volume-t-per-yr", "500",
                         "--years", "3", "--draws", "300", "-f", "json")  # fmt: skip
    assert code == 0 and json.loads(out)["expected_cost_usd"] > 0
    code, out, err = run(capsys, db, "price-floor", "--material", "NdPrr", "--floor", "110", "--volume-t-per-yr",
                         "1000", "--years", "10")  # fmt: skip
    assert code == 2 and out == "" and "did you mean" in err
    code, out, err = run(capsys, db, "price-floor", "--material", "NdPr", "--floor", "110", "--volume-t-per-yr",
                         "-5", "--years", "10")  # fmt: skip
    assert code == 2 and out == "" and "--volume-t-per-yr" in err


def test_shortfall_cost_with_and_without_extra_buy(capsys, db):
    code, out, err = run(
        capsys, db, "shortfall-cost", str(EXAMPLE), "--regions", "USA,JPN", "--extra-buy", "Dy=5,Tb=1",
        "--draws", "60", "--seed", "2", "-f", "json",
    )  # fmt: skip
    assert code == 0, err
    doc = json.loads(out)
    rows = {r["material"]: r for r in doc["materials"]}
    dy = rows["Dy"]
    assert dy["extra_buy_t"] == 5 and dy["expected_shortfall_with_extra_buy_t"] < dy["expected_shortfall_t"]
    assert dy["value_usd"] == pytest.approx(dy["expected_shortfall_t"] * dy["unit_price_usd_per_t"])
    assert dy["value_with_extra_buy_usd"] == pytest.approx(
        dy["expected_shortfall_with_extra_buy_t"] * dy["unit_price_usd_per_t"]
    )
    assert doc["expected_economic_loss_usd"] > 0
    code, out, err = run(capsys, db, "shortfall-cost", str(EXAMPLE), "--extra-buy", "Dyy=5", "--draws", "5")
    assert code == 2 and "did you mean 'Dy'" in err


def test_table_10_1_is_reproduced(capsys, db):
    code, out, err = run(capsys, db, "shortfall-cost", "--table-10-1", "-f", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["ok"] is True
    ga = next(r for r in doc["rows"] if r["material"].lower().startswith("ga"))
    assert ga["ok"]


LONG = Path(__file__).resolve().parents[1] / "examples" / "china-embargo-framework-long.toml"


def test_optimize_portfolio_json(capsys, db):
    code, out, err = run(
        capsys, db, "optimize", "portfolio", str(LONG), "--budget", "1.5e9", "--draws", "20", "--verify-draws", "40",
        "--seed", "2", "-f", "json",
    )  # fmt: skip
    assert code == 0, err
    doc = json.loads(out)
    assert doc["budget_usd"] == 1.5e9 and doc["total_capex_usd"] <= 1.5e9
    assert doc["chosen"] and all(c["why"] for c in doc["candidates"])


def test_optimize_portfolio_bad_candidates_file(capsys, db, tmp_path):
    bad = tmp_path / "cands.toml"
    bad.write_text(
        '[[candidate]]\nname = "x"\nstage = "magnet"\nregion = "USA"\ncapex_usd = -5\ncapacty_t_per_yr = 10\n'
    )
    code, out, err = run(capsys, db, "optimize", "portfolio", str(LONG), "--budget", "1e9", "--candidates", str(bad))
    assert code == 2 and out == "" and str(bad) in err and len(err.strip().splitlines()) == 1


def test_solver_without_a_solution_is_one_line_not_a_claim(capsys, db):
    code, out, err = run(
        capsys, db, "optimize", "stockpile", str(EXAMPLE), "--holders", "USA,JPN", "--materials", "Dy,Tb,NdFeB",
        "--target", "defence_p_shortfall<=0.05", "--draws", "30", "--verify-draws", "50", "--time-limit", "0.001",
    )  # fmt: skip
    assert code == 2 and "no stockpile is needed" not in out
    assert err.strip().splitlines()[-1].startswith("error: the solver stopped without a solution")


def test_days_of_cover_counts_magnets_for_their_elements(capsys, db):
    # the US cannot use Dy oxide or metal (no plants): its Dy cover is the Dy in NdFeB magnets
    code, out, err = run(
        capsys, db, "optimize", "stockpile", str(EXAMPLE), "--holders", "USA", "--materials", "Dy,NdFeB",
        "--target", "days_of_cover>=30", "--draws", "10", "--verify-draws", "20", "-f", "json",
    )  # fmt: skip
    assert code == 0, err
    doc = json.loads(out)
    assert [r["material"] for r in doc["recommendation"]] == ["NdFeB"]
    assert all(r["met"] and r["value"] == pytest.approx(30.0) for r in doc["out_of_sample"])
    assert doc["recommendation"][0]["release_t_per_month"] > 0  # a buffer that can be released


def test_shortfall_cost_refuses_ambiguous_options(capsys, db):
    code, _, err = run(capsys, db, "shortfall-cost", str(EXAMPLE), "--extra-buy", "Dy=5,Dy=3", "--draws", "5")
    assert code == 2 and "names Dy twice" in err
    code, _, err = run(capsys, db, "shortfall-cost", str(EXAMPLE), "--table-10-1")
    assert code == 2 and "give it alone" in err
