"""The report: its content (computed by the jobs), its figures' numbers, the self-contained page
and the CLI's all-or-nothing writes. (Rendering in a real browser: tests/test_browser_report.py.)"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from critmin import jobs
from critmin.cli import main
from critmin.errors import UnknownNameError, UserError
from critmin.report import figures as F
from critmin.report import render_html, report_content, write_report
from critmin.report.content import _baseline
from critmin.report.html import _script_safe, plotly_js
from critmin.scenario import load_scenario


@pytest.fixture(scope="module")
def chain(built_store):
    return jobs.load_chain(built_store)


@pytest.fixture(scope="module")
def apr(chain, built_store):
    """The flagship report's content (the hindcast scenario)."""
    return report_content("apr2025-heavy-ree", chain, built_store)


def _figures_in(page: str) -> dict[str, dict]:
    blob = re.search(r'<script type="application/json" id="critmin-figures">(.*?)</script>', page, re.S)
    assert blob is not None
    return json.loads(blob.group(1).replace("<\\/", "</"))["figures"]


def test_flagship_report_has_every_section_in_order(apr):
    keys = [s.key for s in apr.sections]
    assert keys == ["scenario", "chain", "concentration", "shortfall", "stocks", "prices", "stoppage", "risks",
                    "hindcast", "monitor", "provenance"]  # fmt: skip
    figs = [f.key for f in apr.figures()]
    assert len(figs) == len(set(figs))
    # one Sankey per simulated material with a chain, the map, the hindcast
    assert {"sankey-Dy", "sankey-Tb", "sankey-Nd", "share-map", "hindcast", "stoppage"} <= set(figs)
    text = " ".join(apr.section("scenario").paragraphs)
    assert "CHN licenses Dy, Tb" in text and "2025-04" in text


def test_monitor_section_shows_the_controls_at_the_start_and_the_commitments(apr):
    mon = apr.section("monitor")
    start = next(t.frame for t in mon.tables if t.key == "controls-start").set_index("event_id")
    assert start.loc["CN-2025-018", "state"] == "in force"  # announced 2025-04-04: in force in April 2025
    assert "CN-2025-070" not in start.index  # announced in November 2025
    commitments = next(t.frame for t in mon.tables if t.key == "commitments")
    assert set(commitments["status"]) <= {"overdue", "due", "upcoming", "met", "unknown"}
    assert [f.key for f in mon.figures] == ["indicators"]


def test_provenance_counts_the_store_and_names_overrides(apr, built_store):
    src = jobs.data_sources(built_store)
    assert apr.provenance["assumption_rows"] == int(src.loc[src["confidence"] == "assumption", "rows"].sum())
    assert apr.provenance["assumption_rows"] > 0
    assert apr.provenance["user_rows"] == 0
    assert sum(apr.provenance["rows_by_confidence"].values()) == int(src["rows"].sum())
    assert apr.provenance["scenario_overrides"] == {}  # the built-in keeps the model's defaults


def test_sankey_links_conserve_the_runs_trade(chain):
    s = load_scenario("apr2025-heavy-ree")
    run = jobs.run_job(s, chain).run
    base = jobs.run_job(_baseline(s), chain).run
    links = F.sankey_links(run, base, "Dy", min_share=0.0)
    stages = F.chain_stages(run.dataset, "Dy")
    assert stages == ["mine", "separation", "metal", "magnet"]
    for st in stages:
        got = links.loc[links["source_stage"] == st, ["t_base", "t_run"]].sum()
        want_base = float(base.trade_t.sel(material="Dy", stage=st).sum())
        want_run = float(run.trade_t.sel(material="Dy", stage=st).sum())
        assert got["t_base"] == pytest.approx(want_base, rel=1e-9)
        assert got["t_run"] == pytest.approx(want_run, rel=1e-9)
    # the statuses follow the rule, and China's licensed Dy oxide exports are marked cut
    cut = links["t_run"] < (1 - F.DISRUPTED_SHARE) * links["t_base"]
    assert (links["status"] == "cut").tolist() == cut.tolist()
    sep = links[links["source_stage"] == "separation"]
    chn_sep = sep[(sep["exporter"] == "CHN") & (sep["importer"] != "CHN")]
    assert len(chn_sep) > 0 and (chn_sep["status"] == "cut").all()
    # the figure draws one link per row, cut links in red
    fig = F.sankey_figure(run, base, "Dy", min_share=0.0)
    colours = list(fig.data[0].link.color)
    assert len(colours) == len(links)
    assert all(c.startswith("rgba(214,39,40") == (st == "cut") for c, st in zip(colours, links["status"], strict=True))


def test_no_disruption_means_no_marked_flow(chain):
    s = load_scenario("apr2025-heavy-ree")
    base = jobs.run_job(_baseline(s), chain).run
    links = F.sankey_links(base, base, "Nd")
    assert (links["status"] == "same").all()


def test_figures_carry_the_runs_numbers(apr, chain):
    run = jobs.run_job("apr2025-heavy-ree", chain).run
    fig = apr.section("shortfall").figures[0].figure  # by region, first material = largest shortfall
    first = fig.data[0]
    m, r = first.hovertemplate.split(" ")[:2]
    want = run.dataset["shortfall_t"].sel(material=m, region=r).sum("sector").values
    assert np.allclose(np.asarray(first.y, dtype=float), want)
    assert first.visible is True
    # drop-down: one button per material, each showing only its own traces
    menu = fig.layout.updatemenus[0]
    assert len(menu.buttons) >= 2
    assert all(sum(b.args[0]["visible"]) >= 1 for b in menu.buttons)


def test_page_is_self_contained_and_escapes_text(chain, built_store):
    s = load_scenario("lynas-malaysia-outage-6m").with_changes(
        description="</script><script>alert(1)</script> & co", priorities={"automotive": 1}
    )
    content = report_content(s, chain, built_store)
    assert content.provenance["scenario_overrides"] == {"priorities": {"automotive": 1}}
    assert 'priorities = {"automotive": 1}' in " ".join(content.section("provenance").paragraphs)
    page = render_html(content)
    assert "<script>alert(1)" not in page
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in page
    ours = page.replace(_script_safe(plotly_js()), "")  # plotly.js itself names its website in strings
    assert len(ours) < len(page) - 1_000_000, "plotly.js is inlined"
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", ours), "no outside script, style or link"
    assert "<link" not in page
    figs = _figures_in(page)
    assert set(figs) == {f.key for f in content.figures()}
    assert page.count("data-figure=") == len(figs)
    assert "PlotlyGeoAssets" in page  # the map's geometry is inlined
    assert "hindcast" not in [sec.key for sec in content.sections]


def test_report_of_a_stored_run_reruns_it_identically(chain, store_copy):
    out = jobs.run_job("lynas-malaysia-outage-6m", chain, mode="coordinated", store=store_copy)
    rid = out.run.run_id
    content = report_content(rid, chain, store_copy)
    assert content.run_ids[0] == rid
    text = " ".join(content.section("scenario").paragraphs)
    assert f"Re-run of stored run {rid}" in text and "(identical)" in text
    assert "coordinated mode" in content.subtitle


def test_unknown_source_suggests(chain, built_store):
    with pytest.raises(UnknownNameError, match="did you mean 'apr2025-heavy-ree'"):
        report_content("apr2025-heavy-re", chain, built_store)


def test_ensemble_section_fan_is_the_draws_quantiles(chain, built_store):
    s = load_scenario(str(Path(__file__).parents[1] / "examples" / "heavy-ree-licensing-risk.toml"))
    content = report_content(s, chain, built_store, draws=40, seed=5)
    sec = content.section("ensemble")
    fan = sec.figures[0].figure
    assert "40 draws" in fan.layout.title.text
    median = next(t for t in fan.data if t.name == "median")
    m, r = median.hovertemplate.split(" ")[:2]
    from critmin.risk import run_ensemble

    ens = run_ensemble(s, chain, 40, seed=5, keep_monthly=[(m, r)])
    want = np.median(ens["monthly_shortfall_t"].sel(kept_material=m, kept_region=r).values.astype(float), axis=0)
    assert np.allclose(np.asarray(median.y, dtype=float), want, rtol=1e-6)
    assert content.run_ids[1] == ens.attrs["run_id"]


def test_write_report_is_all_or_nothing(tmp_path, built_store):
    target = tmp_path / "r.html"
    target.write_text("old report")

    def boom():
        raise UserError("no")

    with pytest.raises(UserError):
        write_report(target, boom)
    assert target.read_text() == "old report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html"]
    called = []
    with pytest.raises(UserError, match="is a folder"):
        write_report(tmp_path, lambda: called.append(1))  # type: ignore[arg-type, return-value]
    assert called == []  # checked before computing
    with pytest.raises(UserError, match="database"):
        write_report(built_store.path, lambda: called.append(1), protect=[built_store.path])  # type: ignore[arg-type, return-value]
    assert called == []


def test_cli_report(capsys, built_store, tmp_path):
    db = tmp_path / "cli.duckdb"
    shutil.copy(built_store.path, db)
    out = tmp_path / "sub" / "report.html"
    code = main(["--db", str(db), "report", "lynas-malaysia-outage-6m", "-o", str(out)])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    assert f"report written: {out.resolve()}" in cap.out
    assert _figures_in(out.read_text(encoding="utf-8"))
    bad = tmp_path / "bad.html"
    code = main(["--db", str(db), "report", "no-such-scenario", "-o", str(bad)])
    cap = capsys.readouterr()
    assert code == 2 and cap.err.count("\n") == 1 and "Traceback" not in cap.err
    assert not bad.exists()
    code = main(["--db", str(db), "report", "lynas-malaysia-outage-6m", "-o", str(db)])
    cap = capsys.readouterr()
    assert code == 2 and "database" in cap.err


def test_optimize_portfolio_writes_its_report(capsys, built_store, tmp_path):
    db = tmp_path / "cli.duckdb"
    shutil.copy(built_store.path, db)
    out = tmp_path / "portfolio.html"
    scen = str(Path(__file__).parents[1] / "examples" / "china-embargo-framework-long.toml")
    args = ["--db", str(db), "optimize", "portfolio", scen, "--budget", "1.5e9", "--seed", "1", "--draws", "30",
            "--verify-draws", "60", "--report", str(out)]  # fmt: skip
    code = main(args)
    cap = capsys.readouterr()
    assert code == 0, cap.err
    page = out.read_text(encoding="utf-8")
    figs = _figures_in(page)
    assert "portfolio" in figs
    assert 'id="portfolio"' in page and "Budget $1,500,000,000; chosen: " in page
    # a report path that cannot be written fails before the optimisation runs
    code = main([*args[:-1], str(tmp_path)])
    cap = capsys.readouterr()
    assert code == 2 and "is a folder" in cap.err


def test_report_of_a_stored_ensemble_reruns_the_same_draws(chain, store_copy):
    scen = load_scenario(str(Path(__file__).parents[1] / "examples" / "heavy-ree-licensing-risk.toml"))
    out = jobs.monte_carlo_job(scen, chain, draws=12, seed=4, store=store_copy)
    rid = out.metadata["run_id"]
    content = report_content(rid, chain, store_copy)
    assert content.run_ids[-1] == rid
    assert "12 draws" in content.section("ensemble").figures[0].figure.layout.title.text
    text = " ".join(content.section("scenario").paragraphs)
    assert f"Re-run of the stored ensemble {rid}: the same run id" in text and "(identical)" in text
