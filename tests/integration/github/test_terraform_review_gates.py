"""Who and what lets `/plan` and `/apply` through: the real webhook server, real git and terraform.

- `/plan` plans the head the writer saw when commenting: a fork that pushes while the job waits
  gets a refusal, not a plan of code nobody read.
- `approved` counts writers' latest approvals of the current head only (N of them, from named
  teams when configured); a reader's approval, or one of an older commit, does not count.
- `mergeable` is GitHub's merge state `clean`; with no `apply_requirements` all three hold.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from envctl.github.settings import GitHubSettings
from envctl.github.terraform_markdown import MARKER_RE
from envctl.terraform.locks import FileLockStore
from tests.fakes import payloads
from tests.fakes.github_api import FakeGitHub
from tests.fixtures.terraform import GitRemote, tf_block
from tests.integration.github.conftest import REPO, RunningServer, wait_for

FORK = "mallory/Hello-World"
pytestmark = pytest.mark.timeout(600)


def app_tf(states: Path, value: str) -> str:
    return tf_block(states / "app.tfstate") + f'resource "terraform_data" "app" {{\n  input = "{value}"\n}}\n'


@pytest.fixture
def tf_settings(settings: GitHubSettings, git_remote: GitRemote, tf_env: Path) -> GitHubSettings:
    settings.terraform.enabled = True
    settings.terraform.remote = str(git_remote.bare)
    settings.terraform.processes = 1
    return settings


def base(git: GitRemote, states: Path, config: str) -> None:
    git.commit("base", {"envctl.yaml": config, "infra/app/main.tf": app_tf(states, "v1")})
    git.push_master()


def push(fake: FakeGitHub, git: GitRemote, number: int, value: str, states: Path, head_repo: str | None = None) -> str:
    git.checkout(f"pr-{number}")
    git.commit(f"{value} for #{number}", {"infra/app/main.tf": app_tf(states, value)})
    sha = git.push_pull(number)
    fake.add_pull(REPO, number, sha, head_repo=head_repo, mergeable=True)
    git.checkout("master")
    return sha


def kinds(fake: FakeGitHub, number: int, kind: str) -> list[str]:
    return [c["body"] for c in fake.issue_comments(REPO, number) if (m := MARKER_RE.match(c["body"])) and m["kind"] == kind]


def last(fake: FakeGitHub, number: int) -> str:
    return str(fake.issue_comments(REPO, number)[-1]["body"])


def test_plan_is_bound_to_the_head_the_writer_saw(
    server_factory: object, tf_settings: GitHubSettings, fake_github: FakeGitHub, git_remote: GitRemote, tmp_path: Path,
) -> None:
    git, states = git_remote, tmp_path / "states"
    base(git, states, "terraform:\n  projects:\n    - {name: app, dir: infra/app}\n")
    webhook: RunningServer = server_factory(tf_settings)  # type: ignore[operator]
    fake_github.set_permission(REPO, "alice", "write")
    git.checkout("pr-40", new=True)
    git.checkout("master")
    seen = push(fake_github, git, 40, "harmless", states, head_repo=FORK)

    # alice reads commit `seen` and comments /plan; the job waits (slow GitHub), and the fork pushes
    permission = f"/repos/{REPO}/collaborators/alice/permission"
    fake_github.hold_next(3.0, lambda method, path: path == permission)
    assert webhook.send("issue_comment", payloads.comment("/plan", number=40, comment_id=401, repo=REPO)).status_code == 202
    wait_for(lambda: fake_github.recorded("GET", permission), what="the /plan job to start")
    pushed = push(fake_github, git, 40, "what-nobody-read", states, head_repo=FORK)
    sync = payloads.pull_request("synchronize", number=40, sha=pushed, repo=REPO, fork=FORK)
    sync["before"], sync["after"] = seen, pushed
    assert webhook.send("pull_request", sync).status_code == 202
    webhook.wait_idle(300)
    refusal = last(fake_github, 40)
    assert f"head moved from {seen[:12]} to {pushed[:12]} after `/plan` was commented" in refusal, refusal
    assert "comment `/plan` again" in refusal
    assert kinds(fake_github, 40, "plan") == []
    assert FileLockStore(tf_settings.state_dir / "terraform" / "locks.json").list() == []

    # once a writer asks for the new head, it is planned
    time.sleep(0.01)
    webhook.send("issue_comment", payloads.comment("/plan", number=40, comment_id=402, repo=REPO))
    webhook.wait_idle(300)
    [plan] = kinds(fake_github, 40, "plan")
    assert pushed[:12] in plan and "1 to create" in plan, plan


def test_only_writers_approvals_of_the_current_head_count_n_of_m_from_a_team(
    server_factory: object, tf_settings: GitHubSettings, fake_github: FakeGitHub, git_remote: GitRemote, tmp_path: Path,
) -> None:
    git, states = git_remote, tmp_path / "states"
    base(git, states, "terraform:\n  projects:\n    - name: app\n      dir: infra/app\n"
                      "      approvals: {count: 2, teams: [sre]}\n")
    webhook: RunningServer = server_factory(tf_settings)  # type: ignore[operator]
    for login, level in (("alice", "write"), ("bob", "write"), ("carol", "write"), ("dave", "maintain"),
                         ("mallory", "read")):
        fake_github.set_permission(REPO, login, level)
    fake_github.set_team("Codertocat", "sre", {"bob": "active", "dave": "active", "carol": "pending"})
    git.checkout("pr-41", new=True)
    git.checkout("master")
    first = push(fake_github, git, 41, "v2", states)

    def apply() -> str:
        webhook.send("issue_comment", payloads.comment("/apply app", number=41, comment_id=int(time.time() * 1e6) % 10**9,
                                                        repo=REPO))
        webhook.wait_idle(300)
        return last(fake_github, 41)

    def plan() -> None:
        webhook.send("issue_comment", payloads.comment("/plan app", number=41, comment_id=int(time.time() * 1e6) % 10**9,
                                                        repo=REPO))
        webhook.wait_idle(300)

    plan()
    # one team member, a writer outside the team (a pending invitation is not membership), a reader
    for login in ("bob", "carol", "mallory"):
        fake_github.add_review(REPO, 41, login, "APPROVED")
    refusal = apply()
    assert "requirement `approved`: it needs 2 approving reviews" in refusal and "from writers in team sre" in refusal
    assert "1 so far (@bob)" in refusal and "@carol is not in sre" in refusal and "@mallory has no write access" in refusal
    assert kinds(fake_github, 41, "apply") == []

    # a new commit: bob's approval was of the old one; dave approves the new head
    second = push(fake_github, git, 41, "v3", states)
    plan()
    fake_github.add_review(REPO, 41, "dave", "APPROVED")
    refusal = apply()
    assert f"@bob, @carol approved an earlier commit, not {second[:12]}" in refusal and "1 so far (@dave)" in refusal, refusal
    assert first != second

    # bob approves the head too; GitHub still says required checks are missing: `mergeable` refuses
    fake_github.add_review(REPO, 41, "bob", "APPROVED")
    fake_github.add_pull(REPO, 41, second, mergeable=True, mergeable_state="blocked")
    refusal = apply()
    assert "requirement `mergeable`: GitHub reports its merge state as `blocked`, not `clean`" in refusal, refusal
    assert "`approved`" not in refusal

    # a writer's later request for changes blocks until it is re-reviewed
    fake_github.add_pull(REPO, 41, second, mergeable=True)
    fake_github.add_review(REPO, 41, "carol", "CHANGES_REQUESTED", commit_id=first)
    assert "@carol requested changes" in apply()
    fake_github.add_review(REPO, 41, "carol", "COMMENTED")
    assert "@carol requested changes" in apply()  # a comment is not a new verdict
    fake_github.add_review(REPO, 41, "carol", "APPROVED")
    apply()
    [applied] = kinds(fake_github, 41, "apply")
    assert "✅ Applied" in applied


def test_with_no_requirements_configured_a_writer_cannot_apply_their_own_unreviewed_pull(
    server_factory: object, tf_settings: GitHubSettings, fake_github: FakeGitHub, git_remote: GitRemote, tmp_path: Path,
) -> None:
    git, states = git_remote, tmp_path / "states"
    base(git, states, "terraform:\n  projects:\n    - {name: app, dir: infra/app}\n")
    webhook: RunningServer = server_factory(tf_settings)  # type: ignore[operator]
    fake_github.set_permission(REPO, "alice", "write")
    git.checkout("pr-42", new=True)
    git.checkout("master")
    push(fake_github, git, 42, "v2", states)
    fake_github.add_pull(REPO, 42, fake_github.pulls[(REPO, 42)]["head_sha"], mergeable=None)  # not computed yet
    webhook.send("issue_comment", payloads.comment("/plan", number=42, comment_id=421, repo=REPO))
    webhook.send("issue_comment", payloads.comment("/apply", number=42, comment_id=422, repo=REPO))
    webhook.wait_idle(300)
    refusal = last(fake_github, 42)
    assert "requirement `approved`" in refusal and "requirement `mergeable`" in refusal, refusal
    assert "`unknown`" in refusal and "try again in a moment" in refusal
    assert "(approved, mergeable, undiverged)" in refusal
    assert not (states / "app.tfstate").exists()
