"""The dashboard mounted in `envctl webhook serve --dashboard`: same pages, same rules, one port."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fakes.github_api import FakeGitHub
from tests.fixtures.dashboard import TOKEN, dashboard_env, wait_healthy
from tests.fixtures.ports import free_port


@pytest.fixture
def fake_github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub().start()
    yield fake
    fake.stop()


def _serve_env(tmp_path: Path, fake: FakeGitHub, token: str | None) -> dict[str, str]:
    return dashboard_env(tmp_path / "state", token) | {
        "KUBECONFIG": str(tmp_path / "no-kubeconfig"), "ENVCTL_WEBHOOK_SECRET": "mount-secret",
        "ENVCTL_GITHUB_API_URL": fake.url, "ENVCTL_GITHUB_TOKEN": fake.token,
    }  # fmt: skip


def test_mounted_under_the_webhook_server(tmp_path: Path, fake_github: FakeGitHub) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "envctl", "webhook", "serve", "--host", "127.0.0.1", "--port", str(port), "--dashboard"],
            env=_serve_env(tmp_path, fake_github, TOKEN), stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc, log)
        page = httpx.get(url + "/dashboard/")
        assert page.status_code == 200 and '<base href="/dashboard/">' in page.text
        assert httpx.get(url + "/dashboard/static/dashboard.css").status_code == 200
        assert [e for e in httpx.get(url + "/dashboard/api/environments").json() if e["runtime"] == "local"] == []
        assert httpx.post(url + "/dashboard/api/environments/x/down").status_code == 401
        with httpx.stream("GET", url + "/dashboard/api/environments/events", timeout=10) as stream:
            first = next(stream.iter_lines())
            assert first == "event: environments"
        unsigned = httpx.post(url + "/webhooks/github", content=b"{}", headers={"X-GitHub-Event": "ping"})
        assert unsigned.status_code in (400, 401, 403)  # the webhook is still the webhook
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) in (0, -15), log.read_text()  # uvicorn re-raises the SIGTERM it handled
        assert "Application shutdown complete" in log.read_text()


def test_mounted_beyond_loopback_without_a_token_refuses(tmp_path: Path, fake_github: FakeGitHub) -> None:
    res = subprocess.run(
        [sys.executable, "-m", "envctl", "webhook", "serve", "--host", "0.0.0.0", "--port", str(free_port()), "--dashboard"],
        env=_serve_env(tmp_path, fake_github, None), capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert res.returncode != 0 and "refusing to serve the dashboard on 0.0.0.0" in res.stderr
