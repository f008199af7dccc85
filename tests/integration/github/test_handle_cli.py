"""`envctl webhook handle` inside a GitHub Actions job: same router, synchronous, JSON out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.fakes import payloads
from tests.fakes.github_api import FakeGitHub
from tests.integration.github.conftest import REPO


def handle(tmp_path: Path, fake: FakeGitHub, event: str, payload: dict[str, object]) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(payload))
    env = {**os.environ, "GITHUB_TOKEN": fake.token, "GITHUB_API_URL": fake.url, "GITHUB_RUN_ID": "99",
           "ENVCTL_STATE_DIR": str(tmp_path / "state"), "KUBECONFIG": str(tmp_path / "none"),
           "ENVCTL_GITHUB_WRITE_INTERVAL": "0"}
    env.pop("ENVCTL_GITHUB_TOKEN", None)
    return subprocess.run(
        [sys.executable, "-m", "envctl", "webhook", "handle", "--event-name", event, "--event-path", str(path),
         "--output", "json"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip


def test_handle_runs_a_comment_command_to_completion(tmp_path: Path, fake_github: FakeGitHub) -> None:
    fake_github.add_pull(REPO, 8, "e" * 40)
    fake_github.set_permission(REPO, "alice", "write")
    done = handle(tmp_path, fake_github, "issue_comment", payloads.comment("/preview status", number=8, repo=REPO))
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out == {"event": "issue_comment", "delivery": "actions-99-1", "state": "done",
                   "result": "success: pr-8: no preview"}
    [comment] = fake_github.issue_comments(REPO, 8)
    assert comment["body"].startswith("<!-- envctl:preview -->") and "No preview for this pull request" in comment["body"]


def test_handle_reports_ignored_events(tmp_path: Path, fake_github: FakeGitHub) -> None:
    done = handle(tmp_path, fake_github, "pull_request", payloads.pull_request("opened", repo=REPO))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["result"] == {
        "result": "ignored", "summary": "auto-preview is off and the trigger label is absent"}
    assert fake_github.requests == []


def test_handle_without_credentials_says_what_to_set(tmp_path: Path, fake_github: FakeGitHub) -> None:
    fake_github.add_pull(REPO, 8, "e" * 40)
    path = tmp_path / "event.json"
    path.write_text(json.dumps(payloads.comment("/help", number=8, repo=REPO)))
    env = {k: v for k, v in os.environ.items() if k not in ("GITHUB_TOKEN", "ENVCTL_GITHUB_TOKEN", "GH_TOKEN")}
    env["ENVCTL_STATE_DIR"] = str(tmp_path / "state")
    done = subprocess.run([sys.executable, "-m", "envctl", "webhook", "handle", "--event-name", "issue_comment",
                           "--event-path", str(path)], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode != 0
    assert "no GitHub credentials" in done.stderr and "ENVCTL_GITHUB_TOKEN" in done.stderr
