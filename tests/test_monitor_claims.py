"""Claims checks: every verdict on small fixtures, the shipped example's verdicts, and bad claims
files (exit 2, one line naming the file, the claim and the field)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from conftest import run_cli, tiny_frames
from critmin.chain import SupplyChain
from critmin.errors import UserError
from critmin.monitor.claims import VERDICTS, evaluate_claims, parse_claims

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "claims-oct2025-summit.toml"

#: commitments: a US-Japan framework (two rows), a US-Australia framework, a US-Malaysia MOU, a
#: unilateral speech
COMMITMENTS = pd.DataFrame(
    {"commitment_id": ["JP-1", "JP-2", "AU-1", "MY-1", "SPEECH"],
     "instrument": ["US-Japan framework", "US-Japan framework", "US-Australia framework", "US-Malaysia MOU",
                    "A speech"],
     "signed": ["2025-10-28", "2025-10-28", "2025-10-20", "2025-10-26", "2025-10-24"],
     "parties": ["USA;JPN", "USA;JPN", "USA;AUS", "USA;MYS", "JPN"],
     "commitment": "c", "due": ["2026-04-28", "", "2026-04-20", "", "2026-03-31"],
     "source": ["src-jp", "src-jp", "src-au", "src-my", "src-speech"], "confidence": "read-secondary"}
)  # fmt: skip
BUDGET = pd.DataFrame(
    {"fiscal_year": ["FY2025", "FY2026", "FY2025"], "item": ["budget", "budget", "USD/JPY rate"],
     "fy_start": "", "fy_end": "", "value": [8.7, 9.04, 156.0], "unit": ["JPY tn", "JPY tn", "JPY/USD"],
     "source": ["src-25", "src-26", "src-fx"], "confidence": "read-secondary"}
)  # fmt: skip
TABLES = {"framework_commitments": COMMITMENTS, "japan_defense_budget": BUDGET}


@pytest.fixture(scope="module")
def chain() -> SupplyChain:
    """Dy mine: CHN 50, MMR 30, AUS 20 t; Dy separation: CHN 90, MYS 10 t (2024)."""
    prod, gov = tiny_frames()
    return SupplyChain.from_frames(prod.assign(source="src-" + prod["country_iso3"], confidence="read"),
                                   governance=gov)  # fmt: skip


def claim(test: str, body: str, cid: str = "X") -> str:
    head = f'[[claim]]\nid = "{cid}"\ntext = "a claim"\nsource = "a report"\n'
    return head + (f"[claim.{test}]\n{body}\n" if test else body)


def check(chain: SupplyChain, test: str, body: str) -> pd.Series:
    claims = parse_claims(claim(test, body), "c.toml", chain=chain, tables=TABLES)
    return evaluate_claims(claims, chain, TABLES).iloc[0]


def metric(stage: str, comparison: str, value: str, measure: str = "china_share", extra: str = "") -> str:
    return (f'material = "Dy"\nstage = {stage}\nyear = 2024\nmeasure = "{measure}"\ncomparison = "{comparison}"\n'
            f"value = {value}\n{extra}")  # fmt: skip


# --------------------------------------------------------------------------- metric verdicts


def test_metric_supported_at_one_stage(chain) -> None:
    r = check(chain, "metric", metric('"separation"', ">", "0.8"))
    assert r["verdict"] == "supported"
    ev = r["evidence"][0]
    assert ev["stage"] == "separation" and ev["value"] == pytest.approx(0.9) and ev["holds"] is True
    assert {"source": "src-CHN", "confidence": "read"} in ev["sources"]


def test_metric_contradicted_at_one_stage(chain) -> None:
    r = check(chain, "metric", metric('"mine"', ">", "0.8"))
    assert r["verdict"] == "contradicted" and r["found"] == "mine 50.0% (no)"


def test_metric_depends_on_stage_when_the_stages_disagree(chain) -> None:
    r = check(chain, "metric", metric('"all"', ">", "0.8"))
    assert r["verdict"] == "depends on stage"
    assert [(e["stage"], e["holds"]) for e in r["evidence"]] == [("mine", False), ("separation", True)]
    assert "holds at separation but not at mine" in r["reason"]
    both = check(chain, "metric", metric('["mine", "separation"]', ">=", "0.5"))
    assert both["verdict"] == "supported"  # every stage agrees


def test_metric_other_measures(chain) -> None:
    assert check(chain, "metric", metric('"mine"', "==", "3800", "hhi", "tolerance = 0.5"))["verdict"] == "supported"
    assert check(chain, "metric", metric('"mine"', "between", "[0.45, 0.55]", "top1_share"))["verdict"] == "supported"
    assert check(chain, "metric", metric('"mine"', "==", "1.0", "top3_share", "tolerance = 1e-9"))["verdict"] == (
        "supported")  # fmt: skip
    assert check(chain, "metric", metric('"mine"', "<", "0.5", "n1_coverage"))["verdict"] == "contradicted"
    share = check(chain, "metric", metric('"mine"', "==", "0.2", "share", 'country = "framework"\ntolerance = 1e-9'))
    assert share["verdict"] == "supported"  # AUS is the framework's only Dy miner here
    assert share["evidence"][0]["sources"] == [{"source": "src-AUS", "confidence": "read"}]


def test_metric_not_checkable_without_data(chain) -> None:
    r = check(chain, "metric", metric('"mine"', ">", "0.5").replace("year = 2024", "year = 2022"))
    assert r["verdict"] == "not checkable" and "years with data: [2024]" in r["reason"]
    magnet = check(chain, "metric", metric('"magnet"', ">", "0.5"))
    assert magnet["verdict"] == "not checkable" and magnet["found"] == "magnet no data"
    partly = check(chain, "metric", metric('["mine", "magnet"]', ">", "0.4"))
    assert partly["verdict"] == "supported" and "no data at magnet" in partly["reason"]
    nd = check(chain, "metric", 'material = "Nd"\nmeasure = "china_share"\ncomparison = ">"\nvalue = 0.5')
    assert nd["verdict"] == "not checkable" and "no production data for Nd" in nd["reason"]


# --------------------------------------------------------------------------- lookups and parties


def lookup(where: str, field: str, comparison: str, value: str, extra: str = "",
           table: str = "framework_commitments") -> str:  # fmt: skip
    return (
        f'table = "{table}"\nwhere = {where}\nfield = "{field}"\ncomparison = "{comparison}"\nvalue = {value}\n{extra}'
    )


def test_lookup_dates_compare_at_the_claims_precision(chain) -> None:
    w = '{ commitment_id = "JP-1" }'
    assert check(chain, "lookup", lookup(w, "due", "==", '"2026-04"'))["verdict"] == "supported"
    assert check(chain, "lookup", lookup(w, "due", "==", '"2024-03"'))["verdict"] == "contradicted"
    assert check(chain, "lookup", lookup(w, "due", "<=", '"2026"'))["verdict"] == "supported"
    assert check(chain, "lookup", lookup(w, "due", "<", '"2026-04-28"'))["verdict"] == "contradicted"
    r = check(chain, "lookup", lookup(w, "due", "between", '["2026-01", "2026-06-30"]'))
    assert r["verdict"] == "supported" and r["evidence"][0]["sources"] == [
        {"source": "src-jp", "confidence": "read-secondary"}]  # fmt: skip


def test_lookup_blank_value_is_not_checkable(chain) -> None:
    r = check(chain, "lookup", lookup('{ commitment_id = "JP-2" }', "due", "==", '"2026-04"'))
    assert r["verdict"] == "not checkable"


def test_lookup_rows_that_disagree_depend_on_definition(chain) -> None:
    w = '{ fiscal_year = ["FY2025", "FY2026"], item = "budget" }'
    r = check(chain, "lookup", lookup(w, "value", ">=", "9", table="japan_defense_budget"))
    assert r["verdict"] == "depends on definition"
    assert [e["holds"] for e in r["evidence"]] == [False, True]


def test_lookup_converts_currency_with_the_rate_row(chain) -> None:
    w = '{ fiscal_year = "FY2026", item = "budget" }'
    r = check(chain, "lookup", lookup(w, "value", ">=", "100", 'unit = "USD bn"', table="japan_defense_budget"))
    assert r["verdict"] == "contradicted"
    assert r["evidence"][0]["value"] == pytest.approx(9.04e12 / 156.0 / 1e9)
    assert {s["source"] for s in r["evidence"][0]["sources"]} == {"src-26", "src-fx"}
    same = check(chain, "lookup", lookup(w, "value", "==", "9040", 'unit = "JPY bn"\ntolerance = 1e-6',
                                          table="japan_defense_budget"))  # fmt: skip
    assert same["verdict"] == "supported"


def test_lookup_without_a_rate_row_names_the_claim(chain) -> None:
    tables = {**TABLES, "japan_defense_budget": BUDGET[BUDGET["unit"] != "JPY/USD"]}
    where = '{ fiscal_year = "FY2026", item = "budget" }'
    text = claim("lookup", lookup(where, "value", ">=", "100", 'unit = "USD bn"', table="japan_defense_budget"))
    claims = parse_claims(text, "c.toml", chain=chain, tables=tables)
    with pytest.raises(UserError, match=r"c.toml:2: claim 'X': lookup.unit: no row of japan_defense_budget"):
        evaluate_claims(claims, chain, tables)


def parties(codes: str, window: str = "") -> str:
    return f"parties = {codes}\n{window}"


def test_parties_verdicts(chain) -> None:
    assert check(chain, "parties", parties('["USA", "JPN"]'))["verdict"] == "supported"
    four = check(chain, "parties", parties('["USA", "JPN", "AUS", "MYS"]'))
    assert four["verdict"] == "depends on definition"
    assert {e["item"] for e in four["evidence"]} == {"US-Japan framework", "US-Australia framework", "US-Malaysia MOU"}
    assert not any(e["holds"] for e in four["evidence"])
    india = check(chain, "parties", parties('["USA", "JPN", "IND"]'))
    assert india["verdict"] == "contradicted" and "leave out IND" in india["reason"]
    window = check(chain, "parties", parties('["USA", "JPN", "AUS"]', 'signed_from = "2025-10-25"'))
    assert window["verdict"] == "contradicted"  # the Australian framework was signed on 2025-10-20
    assert check(chain, "parties", parties('["JPN", "KOR"]'))["verdict"] == "contradicted"


def test_no_test_is_not_checkable_and_every_verdict_is_known(chain) -> None:
    r = check(chain, "", 'note = "wording"\n')
    assert r["verdict"] == "not checkable" and "wording" in r["reason"]
    assert set(VERDICTS) == {"supported", "contradicted", "depends on stage", "depends on definition", "not checkable"}


# --------------------------------------------------------------------------- the shipped example


def test_shipped_example_verdicts(capsys, db) -> None:
    code, out, _ = run_cli(capsys, db, "monitor", "claims", str(EXAMPLE), "--format", "json")
    assert code == 0
    rows = {r["claim_id"]: r for r in json.loads(out)}
    verdicts = {k: r["verdict"] for k, r in rows.items()}
    assert verdicts == {
        "C1": "contradicted",  # the framework was signed on 2025-10-28, not 2023-10-24
        "C2": "depends on stage",  # over 80 % at separation, metal and magnet, not at mining
        "C3": "not checkable",
        "C4": "contradicted",  # about USD 56-71 bn, not 100
        "C5": "contradicted",  # due at the end of FY2025 (2026-03-31), not March 2024
        "C6": "depends on definition",  # three bilateral frameworks, no four-party deal
        "C7": "not checkable",
        "C8": "not checkable",  # no 2022 data
    }
    c2 = {e["stage"]: e for e in rows["C2"]["evidence"]}
    assert c2["mine"]["value"] == pytest.approx(270_000 / 380_000) and c2["mine"]["holds"] is False
    assert c2["separation"]["value"] == pytest.approx(0.91) and c2["separation"]["holds"] is True
    assert c2["magnet"]["value"] > 0.9 and c2["magnet"]["holds"] is True
    assert all(e["sources"] and all(s["confidence"] for s in e["sources"]) for e in c2.values())
    c4 = {e["item"]: e for e in rows["C4"]["evidence"]}
    fy26 = c4["japan_defense_budget fiscal_year=FY2026, item=MoD defence budget (initial): value"]
    assert 55 < fy26["value"] < 60  # JPY 9.04 tn at the sourced rate row
    assert any("FXStreet" in s["source"] for s in fy26["sources"])
    assert rows["C5"]["evidence"][0]["value"] == "2026-03-31"
    c6 = {tuple(sorted(e["value"].split(";"))) for e in rows["C6"]["evidence"]}
    assert c6 >= {("JPN", "USA"), ("AUS", "USA"), ("MYS", "USA")}
    assert "years with data" in rows["C8"]["reason"]


def test_shipped_example_table(capsys, db) -> None:
    code, out, _ = run_cli(capsys, db, "monitor", "claims", str(EXAMPLE))
    assert code == 0
    assert "depends on stage" in out and "sources:" in out and "read-secondary" in out


# --------------------------------------------------------------------------- bad claims files

BASE = '[[claim]]\nid = "C9"\ntext = "t"\nsource = "s"\n'


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ('[[claim]\nid = "C9"\n', ["not valid TOML", "line 1"]),
        (
            BASE + '[claim.metric]\nmaterial = "rare_earths"\nmeasure = "china_shar"\ncomparison = ">"\nvalue = 0.8\n',
            [":7:", "claim 'C9'", "metric.measure", "did you mean 'china_share'"],
        ),
        (
            BASE + '[claim.metric]\nmaterial = "rare_earths"\nmeasure = "gdp"\ncomparison = ">"\nvalue = 0.8\n',
            ["claim 'C9'", "metric.measure", "unknown measure 'gdp'"],
        ),
        (
            BASE + '[claim.metric]\nmaterial = "rare_earths"\nmeasure = "china_share"\ncomparison = ">"\nvalue = 80\n',
            [":9:", "metric.value", "shares are fractions"],
        ),
        (
            BASE + '[claim.metric]\nmaterial = "unobtainium"\nmeasure = "hhi"\ncomparison = ">"\nvalue = 1\n',
            ["metric.material", "unknown material"],
        ),
        (
            BASE + '[claim.metric]\nmaterial = "Dy"\nstage = "mining"\nmeasure = "hhi"\ncomparison = "~"\nvalue = 1\n',
            ["metric.comparison", "unknown comparison '~'"],
        ),
        (
            BASE + '[claim.lookup]\ntable = "framework_commitments"\nwhere = { commitment_id = "JP-DEF-2PC" }\n'
            'field = "due"\ncomparison = "=="\nvalue = "2024-03"\n',
            [":7:", "lookup.where.commitment_id", "unknown commitment 'JP-DEF-2PC'", "did you mean 'JP-DEF-2PCT'"],
        ),
        (
            BASE + '[claim.lookup]\ntable = "framework_commitments"\nwhere = { commitment_id = "JP-DEF-2PCT" }\n'
            'field = "due"\ncomparison = "=="\nvalue = "2024-3-1"\n',
            [":10:", "lookup.value", "not a date"],
        ),
        (
            BASE + '[claim.lookup]\ntable = "framework_commitment"\n',
            ["lookup.table", "did you mean 'framework_commitments'"],
        ),
        (
            BASE + '[claim.lookup]\ntable = "framework_commitments"\nwhere = { commitment_id = "JP-DEF-2PCT" }\n'
            'field = "deu"\n',
            ["lookup.field", "did you mean 'due'"],
        ),
        (BASE + '[claim.parties]\nparties = ["USA", "JAP"]\n', ["parties.parties", "unknown country 'JAP'"]),
        (BASE + 'verdict = "supported"\n', ["claim 'C9'", "unknown key 'verdict'"]),
        (BASE + BASE, ["claim 'C9'", "given twice"]),
        ('[[claim]]\ntext = "t"\nsource = "s"\n', ["claim[0]", "id is required"]),
        ('[[claims]]\nid = "A"\n', ["unknown key 'claims'", "did you mean 'claim'"]),
    ],
)
def test_bad_claims_files_exit_2_with_one_line(capsys, db, tmp_path, text, fragments) -> None:
    f = tmp_path / "bad-claims.toml"
    f.write_text(text)
    code, out, err = run_cli(capsys, db, "monitor", "claims", str(f))
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "bad-claims.toml" in lines[0], err
    for frag in fragments:
        assert frag in lines[0], (frag, lines[0])
    assert out == ""


def test_missing_claims_file(capsys, db, tmp_path) -> None:
    code, _, err = run_cli(capsys, db, "monitor", "claims", str(tmp_path / "none.toml"))
    assert code == 2 and "claims file not found" in err and "Traceback" not in err
