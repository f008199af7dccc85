"""GitHub's outages become retries by one rule (github/retries.py), wherever they hit: a delivery on
the router's thread (test_rate_limits.py) or, here, a Terraform job in a worker process."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from envctl.github.settings import GitHubSettings
from envctl.github.terraform_markdown import MARKER_RE
from tests.fakes import payloads
from tests.fakes.github_api import FakeGitHub
from tests.fixtures.terraform import GitRemote, tf_block
from tests.integration.github.conftest import REPO, RunningServer

pytestmark = pytest.mark.timeout(300)


def app_tf(states: Path, value: str) -> str:
    return tf_block(states / "app.tfstate") + f'resource "terraform_data" "app" {{\n  input = "{value}"\n}}\n'


def test_a_terraform_job_hit_by_a_long_rate_limit_is_requeued_and_posts_its_plan_once(
    settings: GitHubSettings, server_factory: object, fake_github: FakeGitHub, git_remote: GitRemote,
    tf_env: Path, tmp_path: Path,
) -> None:
    settings.max_rate_limit_wait_s = 0.5  # the reset is further away than a worker is willing to sleep
    settings.terraform.enabled = True
    settings.terraform.remote = str(git_remote.bare)
    settings.terraform.processes = 1
    states = tmp_path / "states"
    git_remote.commit("base", {"infra/app/main.tf": app_tf(states, "one")})
    git_remote.push_master()
    git_remote.checkout("pr-4", new=True)
    git_remote.commit("change", {"infra/app/main.tf": app_tf(states, "two")})
    sha = git_remote.push_pull(4)
    fake_github.add_pull(REPO, 4, sha, mergeable=True)
    webhook: RunningServer = server_factory(settings)  # type: ignore[operator]
    fake_github.rate_limit_next(1, retry_after=3, primary=True,
                                matches=lambda method, path: method == "POST" and path.endswith("/issues/4/comments"))

    assert webhook.send("pull_request", payloads.pull_request("opened", number=4, sha=sha, repo=REPO),
                        delivery="tf-limited").status_code == 202
    deadline = time.monotonic() + 120
    while not fake_github.recorded("POST", rf"/repos/{REPO}/issues/4/comments") and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)  # the worker's answer reaches the queue
    queued = webhook.service.store.get("tf-limited")
    assert queued is not None and queued.state == "queued", queued
    assert "GitHub rate limit: 403" in (queued.result or "")

    webhook.wait_idle(120)
    done = webhook.service.store.get("tf-limited")
    assert done is not None and done.state == "done" and done.attempts == 2, done
    assert [p.status for p in fake_github.recorded("POST", rf"/repos/{REPO}/issues/4/comments")] == [403, 201]
    plans = [c["body"] for c in fake_github.issue_comments(REPO, 4) if MARKER_RE.match(c["body"])]
    assert len(plans) == 1 and "Terraform plan: `infra/app`" in plans[0]
