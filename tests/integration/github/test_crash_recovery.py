"""`envctl webhook serve` killed with SIGKILL mid-job loses nothing: the restart resumes the work."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from envctl.github.server import PATH
from envctl.github.signature import sign
from tests.fakes import payloads
from tests.fakes.github_api import FakeGitHub
from tests.fixtures.ports import free_port
from tests.integration.github.conftest import REPO, SECRET, wait_for


class ServeProcess:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "envctl", "webhook", "serve", "--host", "127.0.0.1", "--port", str(self.port),
                 "--log-level", "warning"],
                env=self.env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip

        def healthy() -> bool:
            assert self.proc is not None and self.proc.poll() is None, self.log.read_text()
            try:
                return httpx.get(self.url + "/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(healthy, 20, "webhook serve to start")

    def send(self, event: str, payload: dict[str, object], delivery: str) -> httpx.Response:
        body = json.dumps(payload).encode()
        headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery, "X-Hub-Signature-256": sign(SECRET, body),
                   "Content-Type": "application/json"}
        return httpx.post(self.url + PATH, content=body, headers=headers, timeout=10)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.fixture
def serve(tmp_path: Path, fake_github: FakeGitHub) -> Iterator[ServeProcess]:
    env = {
        **os.environ, "ENVCTL_STATE_DIR": str(tmp_path / "state"), "KUBECONFIG": str(tmp_path / "none"),
        "ENVCTL_WEBHOOK_SECRET": SECRET, "ENVCTL_GITHUB_API_URL": fake_github.url,
        "ENVCTL_GITHUB_TOKEN": fake_github.token, "ENVCTL_GITHUB_WRITE_INTERVAL": "0",
    }  # fmt: skip
    process = ServeProcess(env, tmp_path / "serve.log")
    yield process
    process.terminate()


def states(state_dir: Path) -> dict[str, str]:
    with sqlite3.connect(state_dir / "github" / "deliveries.sqlite3") as db:
        return dict(db.execute("SELECT id, state FROM deliveries").fetchall())


def test_sigkill_mid_job_then_restart_finishes_every_accepted_delivery(
    serve: ServeProcess, fake_github: FakeGitHub, tmp_path: Path
) -> None:
    fake_github.add_pull(REPO, 3, "a" * 40)
    # the first reply hits a long secondary rate limit: the job is mid-flight, sleeping in a worker
    fake_github.rate_limit_next(1, retry_after=60, matches=lambda m, p: m == "POST" and p.endswith("/comments"))
    serve.start()
    first, second = f"crash-{uuid.uuid4()}", f"crash-{uuid.uuid4()}"
    assert serve.send("issue_comment", payloads.comment("/help", number=3, comment_id=1, repo=REPO), first).status_code == 202
    assert serve.send("issue_comment", payloads.comment("/help", number=3, comment_id=2, repo=REPO), second).status_code == 202
    wait_for(lambda: fake_github.recorded("POST", rf"/repos/{REPO}/issues/3/comments"), 10, "the first reply attempt")
    serve.kill()
    assert states(tmp_path / "state") == {first: "running", second: "queued"}
    assert fake_github.issue_comments(REPO, 3) == []

    serve.start()  # same state dir: resumes both, in order
    wait_for(lambda: states(tmp_path / "state") == {first: "done", second: "done"}, 20, "resumed deliveries")
    replies = [c["body"] for c in fake_github.issue_comments(REPO, 3)]
    assert [b.splitlines()[0] for b in replies] == ["<!-- envctl:reply-to:1 -->", "<!-- envctl:reply-to:2 -->"]
    # a replay after the restart is still recognised
    again = serve.send("issue_comment", payloads.comment("/help", number=3, comment_id=1, repo=REPO), first)
    assert again.status_code == 200 and again.json()["message"] == "duplicate"


def test_sigterm_drains_then_exits(serve: ServeProcess, fake_github: FakeGitHub, tmp_path: Path) -> None:
    fake_github.add_pull(REPO, 4, "b" * 40)
    fake_github.rate_limit_next(1, retry_after=2, matches=lambda m, p: m == "POST" and p.endswith("/comments"))
    serve.start()
    delivery = f"drain-{uuid.uuid4()}"
    assert serve.send("issue_comment", payloads.comment("/help", number=4, comment_id=7, repo=REPO), delivery).status_code == 202
    wait_for(lambda: fake_github.recorded("POST", rf"/repos/{REPO}/issues/4/comments"), 10, "the reply attempt")
    started = time.monotonic()
    serve.terminate()  # the running job finishes before the process exits
    assert states(tmp_path / "state") == {delivery: "done"}
    assert len(fake_github.issue_comments(REPO, 4)) == 1
    assert time.monotonic() - started < 15
