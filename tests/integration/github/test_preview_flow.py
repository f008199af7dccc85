"""Pull-request previews end to end: webhook -> local runtime (real processes) -> fake GitHub."""

from __future__ import annotations

import time

from collections.abc import Iterator
from datetime import timedelta

import pytest

from envctl.envs.service import get_runtime
from envctl.errors import NotFound
from envctl.github.markdown import MARKER
from envctl.github.settings import GitHubSettings
from tests.fakes import payloads
from tests.fakes.github_api import FakeGitHub
from tests.integration.github.conftest import REPO, RunningServer

SHA1, SHA2 = "1" * 40, "2" * 40


@pytest.fixture(autouse=True)
def no_leftover_environments(state_dir: object) -> Iterator[None]:
    yield
    runtime = get_runtime("local")
    for env in runtime.list():
        runtime.down(env.name)


def sticky(fake: FakeGitHub, number: int) -> dict[str, object]:
    [comment] = [c for c in fake.issue_comments(REPO, number) if c["body"].startswith(MARKER)]
    return comment


def up_comment(number: int, login: str = "alice", comment_id: int = 1, args: str = "--chargers 2") -> dict[str, object]:
    return payloads.comment(f"/preview up {args}".strip(), number=number, login=login, comment_id=comment_id, repo=REPO)


def test_writer_up_status_then_close(webhook: RunningServer, fake_github: FakeGitHub) -> None:
    fake_github.add_pull(REPO, 12, SHA1)
    fake_github.set_permission(REPO, "alice", "write")
    assert webhook.send("issue_comment", up_comment(12)).status_code == 202
    webhook.wait_idle(180)

    status = get_runtime("local").status("pr-12")
    assert status.phase == "Ready" and status.chargers_connected == 2 and status.pr == 12 and status.owner == "alice"
    [deployment] = fake_github.deployment_list(REPO, "pr-12")
    assert deployment["sha"] == SHA1 and deployment["transient_environment"] is True
    assert fake_github.status_states(deployment["id"]) == ["in_progress", "success"]
    success = fake_github.statuses[deployment["id"]][-1]
    assert success["environment_url"] == status.endpoints["admin"]
    body = str(sticky(fake_github, 12)["body"])
    assert "🟢 Preview `pr-12` is ready" in body and "| Chargers | 2/2 connected |" in body
    assert "| Commit | `111111111111` |" in body and "| Requested by | @alice |" in body and "Expires" in body

    webhook.send("issue_comment", payloads.comment("/preview status", number=12, comment_id=2, repo=REPO))
    webhook.wait_idle()
    comment = sticky(fake_github, 12)  # still exactly one, edited in place
    assert comment["_edits"] >= 2 and "2/2 connected" in str(comment["body"])

    webhook.send("pull_request", payloads.pull_request("closed", number=12, sha=SHA1, repo=REPO))
    webhook.wait_idle(60)
    with pytest.raises(NotFound):
        get_runtime("local").status("pr-12")
    assert fake_github.status_states(deployment["id"])[-1] == "inactive"
    assert "was torn down" in str(sticky(fake_github, 12)["body"])


def test_fork_preview_only_on_a_writers_command_bound_to_that_head(
    webhook: RunningServer, fake_github: FakeGitHub
) -> None:
    fork = "mallory/Hello-World"
    fake_github.add_pull(REPO, 13, SHA1, head_repo=fork, author="mallory")
    fake_github.set_permission(REPO, "alice", "admin")
    fake_github.set_permission(REPO, "mallory", "read")
    webhook.send("pull_request", payloads.pull_request("opened", number=13, sha=SHA1, repo=REPO, fork=fork))
    webhook.send("issue_comment", up_comment(13, login="mallory", comment_id=1))  # the author cannot approve
    webhook.wait_idle()
    assert fake_github.deployment_list(REPO) == []
    assert get_runtime("local").list() == []

    webhook.send("issue_comment", up_comment(13, login="alice", comment_id=2))
    webhook.wait_idle(180)
    [deployment] = fake_github.deployment_list(REPO, "pr-13")
    assert deployment["sha"] == SHA1  # the head GitHub reported when alice asked
    assert "approved for a preview by @alice" in str(sticky(fake_github, 13)["body"])

    fake_github.add_pull(REPO, 13, SHA2, head_repo=fork, author="mallory")
    webhook.send("pull_request", payloads.pull_request("synchronize", number=13, sha=SHA2, repo=REPO, fork=fork))
    webhook.wait_idle()
    assert len(fake_github.deployment_list(REPO, "pr-13")) == 1  # the new fork code was not deployed
    body = str(sticky(fake_github, 13)["body"])
    assert "is behind the pull request" in body and "`222222222222`" in body


def test_a_push_right_after_the_comment_does_not_change_what_the_writer_asked_for(
    webhook: RunningServer, fake_github: FakeGitHub
) -> None:
    fake_github.add_pull(REPO, 16, SHA1)
    fake_github.set_permission(REPO, "alice", "write")
    # The job reads the PR's head late, after the push below has happened and been delivered.
    fake_github.hold_next(1.5, lambda method, path: method == "GET" and path.endswith("/pulls/16"))
    assert webhook.send("issue_comment", up_comment(16, comment_id=1, args="--chargers 1")).status_code == 202
    time.sleep(0.3)
    fake_github.add_pull(REPO, 16, SHA2)
    push = payloads.pull_request("synchronize", number=16, sha=SHA2, repo=REPO)
    push["before"], push["after"] = SHA1, SHA2
    assert webhook.send("pull_request", push).status_code == 202
    webhook.wait_idle(180)
    [deployment] = fake_github.deployment_list(REPO, "pr-16")
    assert deployment["sha"] == SHA1  # what the head was when alice asked
    body = str(sticky(fake_github, 16)["body"])
    assert "still runs the commit that was asked for" in body and "`222222222222`" in body


def test_auto_preview_on_open_and_redeploy_on_push(
    settings: GitHubSettings, server_factory: object, fake_github: FakeGitHub
) -> None:
    settings.policy.auto_preview = True
    webhook: RunningServer = server_factory(settings)  # type: ignore[operator]
    fake_github.add_pull(REPO, 14, SHA1)
    webhook.send("pull_request", payloads.pull_request("opened", number=14, sha=SHA1, repo=REPO, draft=True))
    webhook.wait_idle()
    assert fake_github.deployment_list(REPO) == []  # drafts are skipped

    webhook.send("pull_request", payloads.pull_request("ready_for_review", number=14, sha=SHA1, repo=REPO))
    webhook.wait_idle(180)
    webhook.send("pull_request", payloads.pull_request("synchronize", number=14, sha=SHA2, repo=REPO))
    webhook.wait_idle(180)
    first, second = fake_github.deployment_list(REPO, "pr-14")
    assert (first["sha"], second["sha"]) == (SHA1, SHA2)
    assert fake_github.status_states(second["id"]) == ["in_progress", "success"]
    assert fake_github.status_states(first["id"])[-1] == "inactive"
    assert get_runtime("local").status("pr-14").phase == "Ready"
    assert "`222222222222`" in str(sticky(fake_github, 14)["body"])


def test_extend_moves_the_expiry_and_edits_the_sticky_comment(webhook: RunningServer, fake_github: FakeGitHub) -> None:
    fake_github.add_pull(REPO, 15, SHA1)
    fake_github.set_permission(REPO, "alice", "write")
    webhook.send("issue_comment", payloads.comment("/preview extend 4h", number=15, comment_id=1, repo=REPO))
    webhook.wait_idle()
    [reply] = fake_github.issue_comments(REPO, 15)  # nothing to extend yet: said so, nothing created
    assert "that did not work" in reply["body"] and "no local environment named 'pr-15'" in reply["body"]

    webhook.send("issue_comment", up_comment(15, comment_id=2, args="--chargers 1"))
    webhook.wait_idle(180)
    before = get_runtime("local").status("pr-15").expires_at
    edits = sticky(fake_github, 15)["_edits"]
    webhook.send("issue_comment", payloads.comment("/preview extend 4h", number=15, comment_id=3, repo=REPO))
    webhook.wait_idle()
    after = get_runtime("local").status("pr-15").expires_at
    assert before is not None and after is not None and after - before == timedelta(hours=4)
    comment = sticky(fake_github, 15)  # edited in place, showing the new expiry
    assert comment["_edits"] > edits and f"| Expires | {after:%Y-%m-%d %H:%M} UTC" in str(comment["body"])
    assert "🟢 Preview `pr-15` is ready" in str(comment["body"])
