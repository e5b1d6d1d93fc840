"""The dashboard's JSON API (critmin.web): every endpoint, its errors, its security and a real run,
ensemble and report end to end on a private copy of the store."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import critmin
from critmin import cli, jobs
from critmin.errors import UserError
from critmin.scenario import builtin_names, builtin_text
from critmin.web import create_app
from critmin.web.security import CONTENT_SECURITY_POLICY, MAX_BODY_BYTES, check_bind, is_loopback

with warnings.catch_warnings():
    # starlette's test client asks for httpx2 and warns when it finds httpx; this file uses httpx
    warnings.filterwarnings("ignore", message=".*httpx.*starlette.testclient.*")
    from fastapi.testclient import TestClient

BASE = "http://127.0.0.1:8050"
TOKEN = "t0ken-of-at-least-16-chars"
#: a small scenario with one [[uncertain]] entry (the built-ins have none)
UNCERTAIN_TOML = (
    builtin_text("ga-ge-ban-us")
    + """
[[uncertain]]
field = "disruption[0].months"
dist = "uniform"
low = 3
high = 11
"""
)
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


@pytest.fixture
def client(store_copy: critmin.Store) -> Iterator[TestClient]:
    with TestClient(create_app(store_copy.path), base_url=BASE) as c:
        yield c


@pytest.fixture
def token_client(store_copy: critmin.Store) -> Iterator[TestClient]:
    with TestClient(create_app(store_copy.path, token=TOKEN), base_url=BASE) as c:
        yield c


def wait_job(client: TestClient, job_id: str, timeout: float = 180.0, **headers: str) -> dict[str, Any]:
    """Poll a job until it is done or failed (or fail the test at the deadline)."""
    deadline = time.monotonic() + timeout
    while True:
        r = client.get(f"/api/jobs/{job_id}", headers=headers)
        assert r.status_code == 200, r.text
        job = r.json()
        assert job["state"] in ("queued", "running", "done", "failed")
        if job["state"] in ("done", "failed"):
            return job
        assert time.monotonic() < deadline, f"job {job_id} still {job['state']} after {timeout} s"
        time.sleep(0.05)


def start(client: TestClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    r = client.post(path, json=body)
    assert r.status_code == 202, r.text
    return r.json()


def assert_error(r: Any, status: int, *words: str) -> str:
    """A JSON error of one line with ``status`` (and ``words`` in it), the security headers, no traceback."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    message = body["error"]
    assert isinstance(message, str) and message and "\n" not in message
    assert "Traceback" not in r.text
    for w in words:
        assert w in message, message
    for k, v in SECURITY_HEADERS.items():
        assert r.headers[k] == v
    return message


# -- pages, static files, headers -----------------------------------------------------------------
def test_page_and_its_files_need_nothing_from_another_host(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    scripts = [s for s in html.split("<script")[1:]]
    assert scripts and all(s.lstrip().startswith('src="/static/') for s in scripts)  # no inline script
    assert html.index("geo-assets.js") < html.index("plotly.min.js")
    for name in ("app.js", "app.css", "geo-assets.js"):
        r = client.get(f"/static/{name}")
        assert r.status_code == 200 and r.text
        assert "http://" not in r.text.replace("http://127.0.0.1", "") and "https://" not in r.text
    assert "http://" not in html and "https://" not in html
    assert "PlotlyGeoAssets" in client.get("/static/geo-assets.js").text
    plotly = client.get("/static/plotly.min.js")
    assert plotly.status_code == 200 and len(plotly.content) > 1_000_000
    assert_error(client.get("/static/../pyproject.toml"), 404)
    assert_error(client.get("/static/index.css"), 404, "no static file")


def test_security_headers_on_every_response(client: TestClient) -> None:
    responses = [
        client.get("/"),
        client.get("/static/app.js"),
        client.get("/openapi.json"),
        client.get("/api/health"),
        client.get("/api/runs/no-such-run"),
        client.get("/no/such/page"),
        client.post(
            "/api/jobs/run", content=b"{}" + b" " * MAX_BODY_BYTES, headers={"content-type": "application/json"}
        ),
    ]
    for r in responses:
        for k, v in SECURITY_HEADERS.items():
            assert r.headers.get(k) == v, (r.request.url, k)
    assert client.get("/api/health").headers["cache-control"] == "no-store"


def test_openapi_is_served_and_swagger_is_not(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = set(spec["paths"])
    assert {"/api/health", "/api/overview", "/api/scenarios", "/api/scenarios/{name}", "/api/scenarios/validate",
            "/api/scenarios/template", "/api/jobs/run", "/api/jobs/mc", "/api/jobs/report", "/api/jobs/criticality",
            "/api/jobs", "/api/jobs/{job_id}", "/api/runs", "/api/runs/{run_id}", "/api/runs/{run_id}/report",
            "/api/runs/{run_id}/report.html", "/api/compare"} <= paths  # fmt: skip
    assert_error(client.get("/docs"), 404)  # Swagger's page would load its scripts from a CDN
    assert_error(client.get("/redoc"), 404)


def test_health(client: TestClient) -> None:
    doc = client.get("/api/health").json()
    assert doc == {"status": "ok", "version": critmin.__version__, "base_year": 2024, "token_required": False}


# -- security -----------------------------------------------------------------------------------
def test_token_is_required_on_the_api_when_configured(token_client: TestClient) -> None:
    assert_error(token_client.get("/api/health"), 401, "missing token")
    assert_error(token_client.get("/api/runs", headers={"Authorization": "Bearer nope"}), 401, "wrong token")
    assert_error(token_client.get("/api/runs", headers={"Authorization": f"Basic {TOKEN}"}), 401)
    assert_error(token_client.post("/api/jobs/run", json={"name": "ga-ge-ban-us"}), 401)
    assert token_client.get("/api/jobs/x").status_code == 401  # before any lookup
    ok = {"Authorization": f"Bearer {TOKEN}"}
    assert token_client.get("/api/health", headers=ok).json()["token_required"] is True
    assert token_client.get("/api/runs", headers=ok).status_code == 200
    # the page and its files load without the token (the page then asks for it)
    assert token_client.get("/").status_code == 200
    assert token_client.get("/static/app.js").status_code == 200


def test_token_client_runs_a_job_with_the_header(token_client: TestClient) -> None:
    ok = {"Authorization": f"Bearer {TOKEN}"}
    r = token_client.post("/api/jobs/run", json={"name": "ga-ge-ban-us"}, headers=ok)
    assert r.status_code == 202
    assert wait_job(token_client, r.json()["id"], **ok)["state"] == "done"


def test_host_header_must_name_this_machine(client: TestClient) -> None:
    assert_error(client.get("/api/health", headers={"host": "evil.example"}), 400, "Host")
    assert_error(client.get("/", headers={"host": "evil.example:8050"}), 400)
    assert client.get("/api/health", headers={"host": "localhost:8050"}).status_code == 200


def test_writes_need_json_from_this_origin(client: TestClient) -> None:
    body = json.dumps({"name": "ga-ge-ban-us"})
    assert_error(client.post("/api/jobs/run", content=body, headers={"content-type": "text/plain"}), 415, "JSON")
    assert_error(client.post("/api/jobs/run", content=body), 415)
    r = client.post("/api/jobs/run", json={"name": "ga-ge-ban-us"}, headers={"origin": "http://evil.example"})
    assert_error(r, 403, "cross-origin")
    assert_error(client.post("/api/jobs/run", json={"name": "ga-ge-ban-us"}, headers={"origin": "null"}), 403)
    r = client.post("/api/scenarios/validate", json={"toml": "x = 1"}, headers={"origin": BASE})
    assert r.status_code == 200


def test_oversized_bodies_are_refused(client: TestClient) -> None:
    big = json.dumps({"toml": "#" * (MAX_BODY_BYTES + 1)})
    assert_error(client.post("/api/scenarios/validate", content=big, headers={"content-type": "application/json"}),
                 413, "bytes")  # fmt: skip

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams in
        yield b'{"toml": "'
        for _ in range(80):
            yield b"#" * 4096
        yield b'"}'

    r = client.post("/api/scenarios/validate", content=chunks(), headers={"content-type": "application/json"})
    assert "content-length" not in {k.lower() for k in r.request.headers}
    assert_error(r, 413)
    assert_error(client.post("/api/scenarios/validate", content=b"{}", headers={"content-type": "application/json",
                                                                              "content-length": "x"}), 400)  # fmt: skip


def test_check_bind_refuses_other_addresses_without_a_token() -> None:
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        assert is_loopback(host)
        check_bind(host, None)
    for host in ("0.0.0.0", "192.168.1.10", "::", "example.org"):
        assert not is_loopback(host)
        with pytest.raises(UserError, match="CRITMIN_TOKEN"):
            check_bind(host, None)
        with pytest.raises(UserError, match="at least 16"):
            check_bind(host, "short")
        check_bind(host, TOKEN)


def test_serve_refuses_a_public_host_without_a_token(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], store_copy: critmin.Store
) -> None:
    import uvicorn

    started: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: started.append(kw))
    monkeypatch.delenv("CRITMIN_TOKEN", raising=False)
    assert cli.main(["--db", str(store_copy.path), "serve", "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: serve: --host 0.0.0.0") and "CRITMIN_TOKEN" in err and "\n" not in err
    assert started == []
    monkeypatch.setenv("CRITMIN_TOKEN", "short")
    assert cli.main(["--db", str(store_copy.path), "serve", "--host", "0.0.0.0"]) == 2
    assert cli.main(["--db", str(store_copy.path), "serve", "--port", "70000"]) == 2
    assert started == []
    # with a token (or on loopback) it starts
    monkeypatch.setenv("CRITMIN_TOKEN", TOKEN)
    assert cli.main(["--db", str(store_copy.path), "serve", "--host", "0.0.0.0", "--port", "8123"]) == 0
    monkeypatch.delenv("CRITMIN_TOKEN")
    assert cli.main(["--db", str(store_copy.path), "serve"]) == 0
    assert [(s["host"], s["port"]) for s in started] == [("0.0.0.0", 8123), ("127.0.0.1", 8050)]


# -- errors -------------------------------------------------------------------------------------
def test_unknown_things_are_404(client: TestClient) -> None:
    assert_error(client.get("/api/jobs/0123456789abcdef"), 404, "no job")
    assert_error(client.get("/api/runs/no-such-run"), 404, "no stored run")
    assert_error(client.get("/api/runs/no-such-run/report"), 404)
    assert_error(client.get("/api/runs/no-such-run/report.html"), 404)
    assert_error(client.post("/api/jobs/report", json={"run_id": "no-such-run"}), 404)
    assert_error(client.get("/api/compare", params={"a": "x", "b": "y"}), 404)
    assert_error(client.get("/api/scenarios/no-such-scenario"), 404, "unknown built-in scenario")
    assert_error(client.get("/api/nothing-here"), 404, "not found")
    assert_error(client.delete("/api/runs"), 405)


def test_bad_bodies_are_one_line_422(client: TestClient) -> None:
    assert_error(client.post("/api/jobs/mc", json={"name": "ga-ge-ban-us", "draws": 0}), 422, "draws")
    assert_error(client.post("/api/jobs/mc", json={"name": "ga-ge-ban-us", "draws": "many"}), 422, "draws")
    assert_error(client.post("/api/jobs/run", json={"name": "ga-ge-ban-us", "bogus": 1}), 422, "bogus")
    assert_error(client.post("/api/jobs/run", json=[1, 2]), 422)
    assert_error(client.post("/api/jobs/run", content=b"{not json", headers={"content-type": "application/json"}),
                 422, "not valid JSON at character 1")  # fmt: skip
    assert_error(client.get("/api/compare"), 422, "a")


def test_bad_choices_and_scenarios_are_400(client: TestClient) -> None:
    assert_error(
        client.post("/api/jobs/run", json={"name": "ga-ge-ban-us", "engine": "fst"}), 400, "did you mean 'fast'"
    )
    assert_error(client.post("/api/jobs/run", json={"name": "ga-ge-ban-us", "mode": "bth"}), 400, "mode")
    assert_error(client.post("/api/jobs/mc", json={"name": "ga-ge-ban-us", "mode": "both"}), 400, "mode")
    assert_error(client.post("/api/jobs/run", json={}), 400, "name", "toml")
    assert_error(client.post("/api/jobs/run", json={"name": "ga-ge-ban-us", "toml": "x"}), 400)
    assert_error(client.post("/api/jobs/run", json={"name": "ga-ge-ban-usa"}), 400, "did you mean 'ga-ge-ban-us'")
    assert_error(client.post("/api/jobs/criticality", json={"method": "eux"}), 400, "method")


def test_a_scenario_name_is_never_a_file(client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "evil").write_text(builtin_text("ga-ge-ban-us"), encoding="utf-8")
    (tmp_path / "evil.toml").write_text(builtin_text("ga-ge-ban-us"), encoding="utf-8")
    assert_error(client.get("/api/scenarios/evil"), 404)
    for name in ("evil", "evil.toml", str(tmp_path / "evil.toml"), "/etc/passwd"):
        assert_error(client.post("/api/jobs/run", json={"name": name}), 400, "unknown built-in scenario")
    # a built-in's name is read from the package even where a file of that name exists
    (tmp_path / "ga-ge-ban-us").write_text('name = "not the built-in"\n', encoding="utf-8")
    assert client.get("/api/scenarios/ga-ge-ban-us").json()["toml"] == builtin_text("ga-ge-ban-us")


def test_internal_errors_are_json_without_traceback(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom() -> None:
        raise RuntimeError("something broke\nin two lines")

    monkeypatch.setattr(jobs, "scenario_catalogue", boom)
    message = assert_error(client.get("/api/scenarios"), 500, "internal error", "RuntimeError")
    assert message.startswith("internal error: RuntimeError: something broke in two lines")


# -- scenarios ----------------------------------------------------------------------------------
def test_scenario_library(client: TestClient) -> None:
    listed = client.get("/api/scenarios").json()["scenarios"]
    assert [s["name"] for s in listed] == list(builtin_names())
    assert {"name", "start", "months", "mode", "events", "description"} <= set(listed[0])
    doc = client.get("/api/scenarios/lynas-malaysia-outage-6m").json()
    assert doc["toml"] == builtin_text("lynas-malaysia-outage-6m")
    assert doc["scenario"]["outages"] == 1 and doc["scenario"]["months"] == 24
    tmpl = client.get("/api/scenarios/template", params={"name": "mine"}).json()
    assert tmpl["toml"].startswith("# critmin scenario: mine")
    assert client.post("/api/scenarios/validate", json={"toml": tmpl["toml"]}).json()["valid"] is True


def test_validate_gives_problems_with_their_lines(client: TestClient) -> None:
    def check(text: str) -> dict[str, Any]:
        r = client.post("/api/scenarios/validate", json={"toml": text})
        assert r.status_code == 200
        return r.json()

    ok = check(UNCERTAIN_TOML)
    assert ok["valid"] and ok["errors"] == [] and ok["scenario"]["uncertain"] == 1
    bad_toml = check('name = "x"\nstart = "2026-01"\nmonths = = 6\n')
    assert not bad_toml["valid"] and bad_toml["scenario"] is None
    [p] = bad_toml["errors"]
    assert p["line"] == 3 and "not valid TOML" in p["message"]
    [p] = check('name = "x"\nstart = "2026-01"\nmonths = 0\n')["errors"]
    assert p == {"line": 3, "column": None, "message": "months: Input should be greater than or equal to 1"}
    text = builtin_text("lynas-malaysia-outage-6m").replace("capacity_lost = 1.0", "capacity_lost = 1.5")
    [p] = check(text)["errors"]
    assert p["line"] == text.splitlines().index("capacity_lost = 1.5") + 1 and "capacity_lost" in p["message"]
    [p] = check('name = "x"\nstart = "2026-01"\nmonths = 6\nmontsh = 3\n')["errors"]
    assert p["line"] == 4 and "unknown key 'montsh'" in p["message"]
    [p] = check('name = "x"\nstart = "2026-01"\nmonths')["errors"]
    assert p["line"] == 3


def test_a_run_of_bad_text_is_a_400_with_its_line(client: TestClient) -> None:
    r = client.post("/api/jobs/run", json={"toml": 'name = "x"\nstart = "2026-01"\nmonths = 0\n'})
    message = assert_error(r, 400, "line 3", "months")
    assert r.json()["errors"] == [{"line": 3, "column": None, "message": message.removeprefix("line 3: ")}]
    r = client.post("/api/jobs/mc", json={"toml": "[[disruption]\n", "draws": 3})
    assert_error(r, 400, "line 1", "not valid TOML")
    assert client.get("/api/jobs").json()["jobs"] == []  # nothing was queued


# -- jobs and runs end to end ---------------------------------------------------------------------
def test_run_end_to_end_matches_a_direct_run(client: TestClient, store_copy: critmin.Store) -> None:
    job = start(client, "/api/jobs/run", {"name": "apr2025-heavy-ree"})
    assert job["state"] in ("queued", "running") and job["kind"] == "run" and job["error"] is None
    done = wait_job(client, job["id"])
    assert done["state"] == "done" and done["progress"] == 1.0, done
    [run_id] = done["result"]["run_ids"].values()
    listed = {r["run_id"]: r for r in client.get("/api/runs").json()["runs"]}
    assert listed[run_id]["kind"] == "run" and listed[run_id]["scenario"] == "apr2025-heavy-ree"
    detail = client.get(f"/api/runs/{run_id}").json()
    assert detail["kind"] == "run" and detail["run"]["run_id"] == run_id and "scenario_json" not in detail["run"]
    got = pd.DataFrame(detail["summary"]["rows"]).set_index(["material", "region"])
    direct = jobs.run_job("apr2025-heavy-ree", jobs.load_chain(store_copy)).run.summary()
    want = direct.set_index(["material", "region"])
    assert set(got.index) == set(want.index)
    assert want["shortfall_t"].sum() > 0  # the outage bites: the comparison is not of zeros
    for col in ("demand_t", "delivered_t", "shortfall_t", "shortfall_share"):
        pd.testing.assert_series_equal(got[col].astype(float), want.loc[got.index, col].astype(float),
                                       check_names=False, rtol=1e-9, atol=1e-9)  # fmt: skip
    assert (got["months_short"] == want.loc[got.index, "months_short"]).all()
    assert (got["first_month_short"] == want.loc[got.index, "first_month_short"]).all()
    assert client.get("/api/jobs").json()["jobs"][0]["id"] == job["id"]
    assert "result" not in client.get("/api/jobs").json()["jobs"][0]


def test_both_modes_and_compare(client: TestClient) -> None:
    done = wait_job(client, start(client, "/api/jobs/run", {"name": "ga-ge-ban-us", "mode": "both"})["id"])
    assert done["state"] == "done", done
    ids = done["result"]["run_ids"]
    assert set(ids) == {"market", "coordinated"} and done["result"]["value_of_cooperation"]
    r = client.get("/api/compare", params={"a": ids["market"], "b": ids["coordinated"]})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["a"]["run"]["mode"] == "market" and doc["b"]["run"]["mode"] == "coordinated"
    a = {(x["material"], x["region"]): x["shortfall_t"] for x in doc["a"]["summary"]["rows"]}
    b = {(x["material"], x["region"]): x["shortfall_t"] for x in doc["b"]["summary"]["rows"]}
    diff = doc["difference"]["rows"]
    assert diff and any(abs(x["difference_t"]) > 0 for x in diff)
    for x in diff:
        key = (x["material"], x["region"])
        assert x["shortfall_a_t"] == pytest.approx(a.get(key, 0.0))
        assert x["shortfall_b_t"] == pytest.approx(b.get(key, 0.0))
        assert x["difference_t"] == pytest.approx(x["shortfall_b_t"] - x["shortfall_a_t"])
    # the value of cooperation the run reported agrees with the difference of the stored runs
    usa_ga = [v for v in done["result"]["value_of_cooperation"] if (v["material"], v["region"]) == ("Ga", "USA")]
    assert usa_ga and usa_ga[0]["gain_t"] == pytest.approx(a[("Ga", "USA")] - b[("Ga", "USA")], rel=1e-9, abs=1e-9)


def test_ensemble_end_to_end_with_progress(client: TestClient, store_copy: critmin.Store) -> None:
    job = start(client, "/api/jobs/mc", {"toml": UNCERTAIN_TOML, "draws": 6, "seed": 11, "engine": "fast"})
    assert job["total"] == 6 and job["kind"] == "mc"
    done = wait_job(client, job["id"])
    assert done["state"] == "done", done
    assert done["done"] == 6 and done["progress"] == 1.0
    run_id = done["result"]["run_id"]
    listed = {r["run_id"]: r for r in client.get("/api/runs").json()["runs"]}
    assert listed[run_id]["kind"] == "mc" and listed[run_id]["draws"] == 6 and listed[run_id]["seed"] == 11
    detail = client.get(f"/api/runs/{run_id}").json()
    assert detail["kind"] == "mc" and "summary" not in detail and "per_draw_parquet" not in detail["run"]
    direct = jobs.monte_carlo_job(critmin.parse_scenario(UNCERTAIN_TOML, "x.toml"), jobs.load_chain(store_copy), 6,
                                  seed=11, engine="fast")  # fmt: skip
    assert direct.metadata["run_id"] == run_id
    got = {(m["material"], m["region"]): m["expected_shortfall_t"] for m in done["result"]["metrics"]["rows"]}
    want = direct.metrics.set_index(["material", "region"])["expected_shortfall_t"]
    assert got and max(got.values()) > 0
    for key, value in got.items():
        assert value == pytest.approx(float(want.loc[key]), rel=1e-9, abs=1e-9)
    assert_error(client.get("/api/compare", params={"a": run_id, "b": run_id}), 400, "Monte Carlo")


def test_failed_jobs_show_one_line(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    done = wait_job(client, start(client, "/api/jobs/criticality", {"perspectives": ["XYZ"]})["id"])
    assert done["state"] == "failed" and done["result"] is None
    assert done["error"].startswith("unknown perspective 'XYZ'") and "\n" not in done["error"]

    def user_mistake(*args: Any, **kwargs: Any) -> None:
        raise UserError("first line\nsecond line")

    monkeypatch.setattr(jobs, "run_job", user_mistake)
    done = wait_job(client, start(client, "/api/jobs/run", {"name": "ga-ge-ban-us"})["id"])
    assert (done["state"], done["error"]) == ("failed", "first line second line")

    def bug(*args: Any, **kwargs: Any) -> None:
        raise KeyError("oops")

    monkeypatch.setattr(jobs, "run_job", bug)
    done = wait_job(client, start(client, "/api/jobs/run", {"name": "ga-ge-ban-us"})["id"])
    assert done["state"] == "failed" and done["error"].startswith("internal error: KeyError: 'oops'")
    assert "Traceback" not in json.dumps(done)


def test_report_job_figures_and_download(client: TestClient) -> None:
    [run_id] = wait_job(client, start(client, "/api/jobs/run", {"name": "apr2025-heavy-ree"})["id"])["result"][
        "run_ids"
    ].values()
    assert_error(client.get(f"/api/runs/{run_id}/report"), 409, "POST /api/jobs/report")
    assert_error(client.get(f"/api/runs/{run_id}/report.html"), 409)
    assert client.get(f"/api/runs/{run_id}").json()["report_computed"] is False
    job = start(client, "/api/jobs/report", {"run_id": run_id})
    again = start(client, "/api/jobs/report", {"run_id": run_id})  # one job per run at a time
    assert again["id"] == job["id"] or again["state"] == "done"
    done = wait_job(client, job["id"])
    assert done["state"] == "done", done
    content = client.get(done["result"]["report"]).json()
    assert content["run_ids"][0] == run_id
    keys = [s["key"] for s in content["sections"]]
    assert "shortfall" in keys and "concentration" in keys and "hindcast" in keys
    figures = {f["key"]: f for s in content["sections"] for f in s["figures"]}
    assert {"shortfall-region", "share-map"} <= set(figures)
    assert figures["shortfall-region"]["figure"]["data"] and "layout" in figures["shortfall-region"]["figure"]
    tables = [t for s in content["sections"] for t in s["tables"]]
    assert all(set(t) == {"key", "caption", "columns", "rows", "total_rows"} for t in tables)
    page = client.get(f"/api/runs/{run_id}/report.html")
    assert page.status_code == 200 and page.text.startswith("<!DOCTYPE html>")
    assert page.headers["content-disposition"] == f'attachment; filename="critmin-report-{run_id}.html"'
    assert client.get(f"/api/runs/{run_id}").json()["report_computed"] is True
    cached = start(client, "/api/jobs/report", {"run_id": run_id})
    assert wait_job(client, cached["id"], timeout=10)["state"] == "done"


def test_overview(client: TestClient) -> None:
    doc = client.get("/api/overview").json()
    assert [f["key"] for f in doc["figures"]] == ["concentration-bars", "share-map"]
    assert all(f["figure"]["data"] and f["caption"] for f in doc["figures"])
    assert doc["base_year"] == 2024 and doc["table"]["rows"]
    assert {"material", "stage", "hhi", "china_share"} <= set(doc["table"]["columns"])
    assert client.get("/api/overview").json() == doc  # cached per data fingerprint


def test_criticality_job(client: TestClient) -> None:
    done = wait_job(client, start(client, "/api/jobs/criticality", {"method": "eu", "materials": ["Dy", "Tb"]})["id"])
    assert done["state"] == "done", done
    res = done["result"]
    assert res["method"] == "eu" and res["perspectives"] == ["EU"]
    assert {r["material"] for r in res["summary"]["rows"]} == {"Dy", "Tb"}
    assert res["figure"]["data"][0]["type"] == "scatter"
    done = wait_job(client, start(client, "/api/jobs/criticality", {"method": "usgs", "materials": ["Dy"]})["id"])
    assert done["state"] == "done" and done["result"]["figure"] is None  # the USGS method has no EI


def test_the_cli_and_the_dashboard_write_the_store_at_once(client: TestClient, store_copy: critmin.Store) -> None:
    cmd = [sys.executable, "-c", "import sys; from critmin.cli import main; sys.exit(main(sys.argv[1:]))",
           "--db", str(store_copy.path), "run", "lynas-malaysia-outage-6m", "--format", "json"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    web = [start(client, "/api/jobs/run", {"name": n}) for n in ("ga-ge-ban-us", "apr2025-heavy-ree")]
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, f"{err}\n{out}"
    cli_id = json.loads(out)["run_id"]
    web_ids = []
    for job in web:
        done = wait_job(client, job["id"])
        assert done["state"] == "done", done
        web_ids += list(done["result"]["run_ids"].values())
    listed = {r["run_id"] for r in client.get("/api/runs").json()["runs"]}
    assert {cli_id, *web_ids} <= listed
    for run_id in (cli_id, *web_ids):  # every run's rows are whole
        rows = client.get(f"/api/runs/{run_id}").json()["summary"]["rows"]
        assert rows and all(r["demand_t"] > 0 for r in rows)


def test_the_servers_threads_share_the_store_without_refusals(store_copy: critmin.Store) -> None:
    """DuckDB refuses, within one process, a read-only connection while a read-write one is open (and
    the reverse) instead of waiting: the dashboard's store takes turns, so a job's write and the
    requests' reads never fail each other."""
    import threading

    from critmin.web.store import SharedStore

    store = SharedStore(store_copy.path)
    chain = jobs.load_chain(store)
    errors: list[str] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            try:
                store.read_runs("runs")
            except Exception as exc:  # what a plain Store gives here: "different configuration"
                errors.append(f"{type(exc).__name__}: {exc}")

    reader = threading.Thread(target=read)
    reader.start()
    try:
        ids = [jobs.run_job("apr2025-heavy-ree", chain, store=store).run.run_id for _ in range(2)]
    finally:
        stop.set()
        reader.join()
    assert errors == []
    assert set(ids) <= set(store.read_runs("runs")["run_id"])
