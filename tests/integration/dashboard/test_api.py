"""The dashboard's HTTP contract, against a real dashboard process and a real local fleet."""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path

import httpx

from envctl.envs import history
from tests.fixtures.dashboard import TOKEN, Dashboard, running_dashboard
from tests.integration.release.conftest import Rig

CHARGERS = 40


def test_environments_api_is_the_list_json(fleet: Rig, dashboard: Dashboard) -> None:
    listed = json.loads(fleet.cli("list", "--runtime", "local", "--output", "json").stdout)
    # a cluster configured on this machine would add its own environments: compare the local ones
    served = [e for e in dashboard.get("/api/environments").json() if e["runtime"] == "local"]
    assert [e["name"] for e in served] == [e["name"] for e in listed] == ["dash"]
    env = served[0]
    assert env["chargers"] == {"target": CHARGERS, "connected": CHARGERS}
    assert sum(s["connections"] for s in env["servers"]) == CHARGERS
    assert env.keys() >= {"name", "runtime", "phase", "chargers", "servers", "endpoints", "expires_at"}


def test_pages_answer_and_link_their_assets(dashboard: Dashboard) -> None:
    for path in ("/", "/releases", "/terraform"):  # /releases/ID of no release: test_not_found.py
        page = dashboard.get(path)
        assert page.status_code == 200, path
        assert "text/html" in page.headers["content-type"]
        assert 'href="static/dashboard.css"' in page.text
    chart_lib = dashboard.get("/static/vendor/uPlot.iife.min.js")
    assert chart_lib.status_code == 200 and "uPlot" in chart_lib.text[:2000]
    assert "Terraform" in dashboard.get("/terraform").text


def test_actions_need_the_token(fleet: Rig, dashboard: Dashboard) -> None:
    before = fleet.runtime.status(fleet.name).expires_at
    for path, body in (("/api/environments/dash/extend", {"by": "1h"}), ("/api/environments/dash/down", {}),
                       ("/api/releases/whatever/abort", {})):  # fmt: skip
        none = dashboard.post(path, json=body)
        assert none.status_code == 401, path
        assert none.headers["www-authenticate"] == "Bearer"
        assert "token" in none.json()["message"]
        wrong = dashboard.post(path, token="not-the-token-0000000", json=body)
        assert wrong.status_code == 403, path
    assert fleet.runtime.status(fleet.name).expires_at == before  # nothing changed
    assert fleet.runtime.status(fleet.name).phase == "Ready"


def test_extend_with_the_token_moves_expiry_and_records_the_actor(fleet: Rig, dashboard: Dashboard) -> None:
    before = fleet.runtime.status(fleet.name).expires_at
    assert before is not None
    resp = dashboard.post("/api/environments/dash/extend", token=TOKEN, json={"by": "2h"})
    assert resp.status_code == 200, resp.text
    after = fleet.runtime.status(fleet.name).expires_at
    assert after is not None and 7190 <= (after - before).total_seconds() <= 7210
    entry = history.read("dash")[-1]
    assert entry["action"] == "extend" and entry["via"] == "dashboard"
    assert entry["actor"].startswith("dashboard token holder")
    assert dashboard.get("/api/environments/dash/history").json()[-1] == entry


def test_bad_input_is_a_clear_error_and_changes_nothing(fleet: Rig, dashboard: Dashboard) -> None:
    before = fleet.runtime.status(fleet.name).expires_at
    bad = dashboard.post("/api/environments/dash/extend", token=TOKEN, json={"by": "forever"})
    assert bad.status_code == 400
    assert "duration" in bad.json()["message"] and bad.json()["hint"]
    missing = dashboard.post("/api/environments/dash/extend", token=TOKEN, content=b"{not json")
    assert missing.status_code == 400 and "JSON" in missing.json()["message"]
    unknown = dashboard.post("/api/environments/nosuch/extend", token=TOKEN, json={"by": "1h"})
    assert unknown.status_code == 404
    assert dashboard.get("/api/releases/nosuch-plan").status_code == 404
    assert fleet.runtime.status(fleet.name).expires_at == before


def test_a_tokens_file_names_each_person(state_dir: Path, fleet: Rig, tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text("# who may act\nalice alice-token-0123456789abc\nbob bob-token-0123456789abcdef\n")
    with running_dashboard(state_dir, tmp_path, token=None, ENVCTL_DASHBOARD_TOKENS_FILE=str(tokens)) as dash:
        assert dash.post("/api/environments/dash/extend", token="bob-token-0123456789abcdef", json={"by": "1m"}).status_code == 200
    entry = history.read("dash")[-1]
    assert entry["actor"].startswith("bob (dashboard")


def test_without_a_token_actions_are_refused_but_reading_works(state_dir: Path, fleet: Rig, tmp_path: Path) -> None:
    with running_dashboard(state_dir, tmp_path, token=None) as dash:
        assert dash.get("/api/environments").status_code == 200
        refused = dash.post("/api/environments/dash/extend", token="any-token-at-all-000000", json={"by": "1h"})
        assert refused.status_code == 403 and "disabled" in refused.json()["message"]


def test_refuses_to_start_beyond_loopback_without_a_token(state_dir: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.fixtures.dashboard import dashboard_env

    res = subprocess.run([sys.executable, "-m", "envctl", "dashboard", "--host", "0.0.0.0", "--port", "0"],
                         env=dashboard_env(state_dir, token=None), capture_output=True, text=True, timeout=30)  # fmt: skip
    assert res.returncode != 0
    assert "refusing to serve the dashboard on 0.0.0.0" in res.stderr and "ENVCTL_DASHBOARD_TOKEN" in res.stderr
    short = subprocess.run([sys.executable, "-m", "envctl", "dashboard", "--port", "0"],
                           env=dashboard_env(state_dir, token="short"), capture_output=True, text=True, timeout=30)  # fmt: skip
    assert short.returncode != 0 and "at least 16" in short.stderr


def test_exposed_it_guards_reading_too(state_dir: Path, fleet: Rig, tmp_path: Path) -> None:
    # 0.0.0.0 is every interface; the test only ever talks to it over loopback.
    with running_dashboard(state_dir, tmp_path, host="0.0.0.0") as dash:
        local = dash.url.replace("0.0.0.0", "127.0.0.1")
        assert httpx.get(local + "/healthz").status_code == 200
        assert httpx.get(local + "/api/environments").status_code == 401
        assert httpx.get(local + "/", follow_redirects=False).headers["location"].endswith("/login")
        ok = httpx.get(local + "/api/environments", headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200 and ok.json()[0]["name"] == "dash"
        with httpx.Client(base_url=local) as browser:
            assert browser.post("/login", data={"token": "wrong-token-000000000"}).status_code == 403
            signed_in = browser.post("/login", data={"token": TOKEN}, follow_redirects=False)
            assert signed_in.status_code == 303
            cookie = signed_in.headers["set-cookie"]
            assert TOKEN not in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
            assert browser.get("/").status_code == 200
            assert browser.get("/api/environments").status_code == 200
            # the cookie lets a browser read, never act: actions need the header
            assert browser.post("/api/environments/dash/extend", json={"by": "1h"}).status_code == 401


def test_down_with_the_token_removes_it_and_the_history_outlives_it(fleet: Rig, dashboard: Dashboard) -> None:
    resp = dashboard.post("/api/environments/dash/down", token=TOKEN, json={})
    assert resp.status_code == 200 and resp.json()["removed"] is True
    assert [e for e in dashboard.get("/api/environments").json() if e["runtime"] == "local"] == []
    assert not (fleet.env_dir / "env.json").exists()
    entry = history.read("dash")[-1]
    assert entry["action"] == "down" and entry["actor"].startswith("dashboard token holder")
    at = datetime.fromisoformat(entry["t"])  # ISO 8601 UTC, like every timestamp in envctl's JSON
    assert at.tzinfo is not None and time.time() - at.timestamp() < 120
