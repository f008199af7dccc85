"""A fake GitHub API and the real webhook server (uvicorn on a free port), wired together."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from envctl.github.server import PATH, WebhookService
from envctl.github.settings import GitHubSettings, PreviewPolicy
from envctl.github.signature import sign
from tests.fakes.github_api import FakeGitHub
from tests.fixtures.ports import free_port

SECRET = "test-webhook-secret"
REPO = "Codertocat/Hello-World"


@pytest.fixture
def fake_github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub().start()
    yield fake
    fake.stop()


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    state = tmp_path / "state"
    monkeypatch.setenv("ENVCTL_STATE_DIR", str(state))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    return state


@pytest.fixture
def settings(fake_github: FakeGitHub, state_dir: Path) -> GitHubSettings:
    return GitHubSettings(
        webhook_secret=SECRET, api_url=fake_github.url, token=fake_github.token, state_dir=state_dir,
        workers=4, write_interval_s=0, secondary_rate_wait_s=1, max_rate_limit_wait_s=5,
        policy=PreviewPolicy(chargers=2, runtime="local", ttl="1h"),
    )  # fmt: skip


@dataclass
class RunningServer:
    url: str
    service: WebhookService
    server: uvicorn.Server
    thread: threading.Thread

    def send(self, event: str, payload: dict[str, Any] | bytes, delivery: str | None = None,
             secret: str | None = SECRET, headers: dict[str, str] | None = None) -> httpx.Response:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        head = {"Content-Type": "application/json", "X-GitHub-Event": event,
                "X-GitHub-Delivery": delivery or str(uuid.uuid4()), "User-Agent": "GitHub-Hookshot/test"}
        if secret is not None:
            head["X-Hub-Signature-256"] = sign(secret, body)
        head.update(headers or {})
        return httpx.post(self.url + PATH, content=body, headers=head, timeout=10)

    def wait_idle(self, timeout: float = 60) -> None:
        assert self.service.queue.wait_idle(timeout), "jobs still running"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)


def start_server(settings: GitHubSettings) -> RunningServer:
    service = WebhookService.build(settings)
    port = free_port()
    config = uvicorn.Config(service.app(), host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="webhook-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "webhook server did not start"
        time.sleep(0.01)
    return RunningServer(f"http://127.0.0.1:{port}", service, server, thread)


@pytest.fixture
def webhook(settings: GitHubSettings) -> Iterator[RunningServer]:
    running = start_server(settings)
    yield running
    running.stop()


@pytest.fixture
def server_factory() -> Iterator[Callable[[GitHubSettings], RunningServer]]:
    started: list[RunningServer] = []

    def make(settings: GitHubSettings) -> RunningServer:
        running = start_server(settings)
        started.append(running)
        return running

    yield make
    for running in started:
        running.stop()


def wait_for(check: Callable[[], Any], timeout: float = 30, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
