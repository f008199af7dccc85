"""/plan, /apply, /unlock and autoplan end to end: the real webhook server, real git, real terraform.

The code lives in a bare git repository shaped like GitHub's (master + refs/pull/N/head); the
webhook fetches it, plans in worker processes with the real terraform binary and reports through
PyGithub to the fake GitHub API. State lives in absolute local-backend paths, as a shared remote
backend would.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from envctl.github.settings import GitHubSettings
from envctl.github.terraform_markdown import MARKER_RE
from envctl.terraform.locks import FileLockStore
from tests.fakes import payloads
from tests.fakes.github_api import FakeGitHub
from tests.fixtures.terraform import GitRemote, tf_block
from tests.integration.github.conftest import REPO, RunningServer

SECRET_VAR = "app-db-password-6d1f0c2a"
PATTERN_VALUE = "corp_Zx8Qm2Lp9Rt4Vw7Yb3Nc"

pytestmark = pytest.mark.timeout(600)


def config_yaml() -> str:
    return """terraform:
  redact_patterns: ['corp_[A-Za-z0-9]{20}']
  projects:
    - name: app
      dir: infra/app
    - name: db
      dir: infra/db
      apply_requirements: [approved, undiverged]
"""


def app_tf(states: Path, size: str = "small") -> str:
    return tf_block(states / "app.tfstate") + f"""
variable "db_password" {{
  type      = string
  sensitive = true
  default   = "{SECRET_VAR}"
}}
module "net" {{
  source = "../../modules/net"
  name   = "app"
}}
resource "terraform_data" "server" {{
  input = {{ size = "{size}", subnet = module.net.subnet, password = var.db_password }}
}}
resource "terraform_data" "token" {{
  input = "{PATTERN_VALUE}"
}}
output "password" {{
  value     = var.db_password
  sensitive = true
}}
"""


def net_tf(cidr: str = "10.0.0.0/24") -> str:
    return f"""variable "name" {{ type = string }}
resource "terraform_data" "subnet" {{
  input = "{cidr}"
}}
output "subnet" {{ value = "${{var.name}}:{cidr}" }}
"""


def db_tf(states: Path, engine: str = "16") -> str:
    return tf_block(states / "db.tfstate") + f'resource "terraform_data" "db" {{\n  input = "postgres-{engine}"\n}}\n'


@pytest.fixture
def repo(git_remote: GitRemote, tmp_path: Path) -> tuple[GitRemote, Path]:
    states = tmp_path / "states"
    git_remote.commit("base", {"envctl.yaml": config_yaml(), "infra/app/main.tf": app_tf(states),
                               "modules/net/main.tf": net_tf(), "infra/db/main.tf": db_tf(states),
                               "README.md": "infra\n"})
    git_remote.push_master()
    return git_remote, states


@pytest.fixture
def tf_settings(settings: GitHubSettings, git_remote: GitRemote, tf_env: Path) -> GitHubSettings:
    settings.terraform.enabled = True
    settings.terraform.remote = str(git_remote.bare)
    settings.terraform.processes = 2
    return settings


def open_pull(fake: FakeGitHub, git: GitRemote, number: int, files: dict[str, str | None]) -> str:
    git.checkout("master")
    git.checkout(f"pr-{number}", new=True)
    git.commit(f"change for #{number}", files)
    sha = git.push_pull(number)
    fake.add_pull(REPO, number, sha, mergeable=True)
    git.checkout("master")
    return sha


def comments(fake: FakeGitHub, number: int, kind: str | None = None, project: str | None = None) -> list[str]:
    out = []
    for c in fake.issue_comments(REPO, number):
        match = MARKER_RE.match(c["body"])
        if kind is None or (match and match["kind"] == kind and (project is None or match["project"] == project)):
            out.append(c["body"])
    return out


def locks(settings: GitHubSettings) -> dict[str, int]:
    return {lk.project: lk.pull for lk in FileLockStore(settings.state_dir / "terraform" / "locks.json").list()}


def everything_posted(fake: FakeGitHub) -> str:
    return "\n".join(json.dumps(r.body) for r in fake.recorded() if r.body is not None)


def test_autoplan_apply_and_locks_through_the_webhook(
    server_factory: object, tf_settings: GitHubSettings, fake_github: FakeGitHub, repo: tuple[GitRemote, Path],
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # the worker processes log at this level too, to the captured stderr
    git, states = repo
    webhook: RunningServer = server_factory(tf_settings)  # type: ignore[operator]
    fake_github.set_permission(REPO, "alice", "write")
    fake_github.set_permission(REPO, "bob", "write")
    fake_github.set_permission(REPO, "mallory", "read")

    # PR 7 changes only the app: autoplan plans exactly `app`, takes its lock, sets its status
    sha7 = open_pull(fake_github, git, 7, {"infra/app/main.tf": app_tf(states, "large")})
    assert webhook.send("pull_request", payloads.pull_request("opened", number=7, sha=sha7, repo=REPO)).status_code == 202
    webhook.wait_idle(300)
    [plan7] = comments(fake_github, 7, "plan")
    assert "project=app part=1/1" in plan7 and "3 to create" in plan7 and "`terraform_data.server`" in plan7
    assert "```diff" in plan7 and "/apply app" in plan7
    assert comments(fake_github, 7, "plan", "db") == []
    assert fake_github.latest_statuses(REPO, sha7) == {"envctl/plan: app": "success"}
    assert locks(tf_settings) == {"app": 7}

    # a reader may not apply; a writer applies exactly the saved plan, and the lock is released
    fake_github.add_review(REPO, 7, "bob", "APPROVED")  # the default requirements: approved, mergeable, undiverged
    webhook.send("issue_comment", payloads.comment("/apply app", number=7, login="mallory", comment_id=71, repo=REPO))
    webhook.wait_idle(120)
    assert "Only collaborators with write" in fake_github.issue_comments(REPO, 7)[-1]["body"]
    webhook.send("issue_comment", payloads.comment("/apply app", number=7, login="alice", comment_id=72, repo=REPO))
    webhook.wait_idle(300)
    [applied] = comments(fake_github, 7, "apply", "app")
    assert "✅ Applied" in applied and "Apply complete! Resources: 3 added" in applied
    assert fake_github.latest_statuses(REPO, sha7)["envctl/apply: app"] == "success"
    assert locks(tf_settings) == {}
    state = json.loads((states / "app.tfstate").read_text())
    assert {r["name"] for r in state["resources"]} == {"server", "token", "subnet"}
    git.checkout("pr-7")
    git.push_master()  # merged
    git.checkout("master")
    run_merge = payloads.pull_request("closed", number=7, sha=sha7, repo=REPO)
    webhook.send("pull_request", run_merge)
    webhook.wait_idle(120)

    # PR 8 changes the module only: its dependent `app` is planned and locked by #8
    sha8 = open_pull(fake_github, git, 8, {"modules/net/main.tf": net_tf("10.0.1.0/24")})
    webhook.send("pull_request", payloads.pull_request("opened", number=8, sha=sha8, repo=REPO))
    webhook.wait_idle(300)
    [plan8] = comments(fake_github, 8, "plan", "app")
    assert "`module.net.terraform_data.subnet`" in plan8 and "to update" in plan8, plan8
    assert locks(tf_settings) == {"app": 8}

    # PR 9 touches app too: it is told who holds the lock and how to release it
    sha9 = open_pull(fake_github, git, 9, {"infra/app/main.tf": app_tf(states, "xlarge")})
    webhook.send("pull_request", payloads.pull_request("opened", number=9, sha=sha9, repo=REPO))
    webhook.wait_idle(300)
    [locked] = comments(fake_github, 9, "plan", "app")
    assert "locked by pull request #8" in locked and "/unlock app" in locked and "envctl tf unlock" in locked
    assert fake_github.latest_statuses(REPO, sha9) == {"envctl/plan: app": "failure"}
    assert locks(tf_settings) == {"app": 8}

    # /unlock on #8 releases it; /plan on #9 then plans and edits the same comment in place
    webhook.send("issue_comment", payloads.comment("/unlock app", number=8, login="alice", comment_id=81, repo=REPO))
    webhook.wait_idle(120)
    assert "released the lock on `app`" in fake_github.issue_comments(REPO, 8)[-1]["body"]
    assert locks(tf_settings) == {}
    webhook.send("issue_comment", payloads.comment("/plan app", number=9, login="alice", comment_id=91, repo=REPO))
    webhook.wait_idle(300)
    [plan9] = comments(fake_github, 9, "plan", "app")
    assert "1 to update" in plan9 and locks(tf_settings) == {"app": 9}
    assert fake_github.latest_statuses(REPO, sha9) == {"envctl/plan: app": "success"}

    # a push after the plan makes it stale: /apply is refused with the reason and the hint
    git.checkout("pr-9")
    git.commit("more", {"README.md": "infra, again\n"})
    sha9b = git.push_pull(9)
    git.checkout("master")
    fake_github.add_pull(REPO, 9, sha9b, mergeable=True)
    webhook.send("issue_comment", payloads.comment("/apply app", number=9, login="alice", comment_id=92, repo=REPO))
    webhook.wait_idle(120)
    refusal = fake_github.issue_comments(REPO, 9)[-1]["body"]
    assert "is stale" in refusal and sha9[:12] in refusal and sha9b[:12] in refusal and "/plan app" in refusal
    assert json.loads((states / "app.tfstate").read_text())["resources"]  # nothing was applied
    assert comments(fake_github, 9, "apply") == []

    # closing #9 releases its lock
    webhook.send("pull_request", payloads.pull_request("closed", number=9, sha=sha9b, repo=REPO))
    webhook.wait_idle(120)
    assert locks(tf_settings) == {}

    # nothing secret was ever sent to GitHub, logged, or written by envctl
    posted = everything_posted(fake_github)
    assert "(sensitive value)" in posted and "***" in posted
    out, err = capfd.readouterr()
    assert "envctl.github" in caplog.text and "[worker]" in err  # both interpreters' logs were captured
    written = {"posted to GitHub": posted, "logs": caplog.text, "stdout": out, "stderr": err}
    for path in tf_settings.state_dir.rglob("*"):
        if path.is_file() and not {"tfdata", "checkout"} & set(path.parts) and path.name != "plan.tfplan":
            written[str(path)] = path.read_bytes().decode(errors="replace")
    for secret in (SECRET_VAR, PATTERN_VALUE):
        assert [where for where, text in written.items() if secret in text] == []


def test_apply_requirements_and_bad_commands(
    server_factory: object, tf_settings: GitHubSettings, fake_github: FakeGitHub, repo: tuple[GitRemote, Path],
) -> None:
    git, states = repo
    webhook: RunningServer = server_factory(tf_settings)  # type: ignore[operator]
    fake_github.set_permission(REPO, "alice", "write")
    fake_github.set_permission(REPO, "bob", "write")
    sha = open_pull(fake_github, git, 12, {"infra/db/main.tf": db_tf(states, "17")})

    webhook.send("issue_comment", payloads.comment("/plan nope", number=12, comment_id=1, repo=REPO))
    webhook.send("issue_comment", payloads.comment("/plan db; rm -rf /", number=12, comment_id=2, repo=REPO))
    webhook.send("issue_comment", payloads.comment("/plan db", number=12, comment_id=3, repo=REPO))
    webhook.wait_idle(300)
    bodies = [c["body"] for c in fake_github.issue_comments(REPO, 12)]
    assert any("there is no project 'nope'" in b and "projects: app, db" in b for b in bodies)
    assert any("takes no options, got `-rf`" in b for b in bodies)
    [plan] = comments(fake_github, 12, "plan", "db")
    assert "1 to create" in plan

    webhook.send("issue_comment", payloads.comment("/apply db", number=12, comment_id=4, repo=REPO))
    webhook.wait_idle(120)
    assert "requirement `approved`: it needs 1 approving review" in fake_github.issue_comments(REPO, 12)[-1]["body"]
    assert not (states / "db.tfstate").exists()

    fake_github.add_review(REPO, 12, "bob", "APPROVED")
    webhook.send("issue_comment", payloads.comment("/apply db", number=12, comment_id=5, repo=REPO))
    webhook.wait_idle(300)
    [applied] = comments(fake_github, 12, "apply", "db")
    assert "✅ Applied" in applied
    assert fake_github.latest_statuses(REPO, sha) == {"envctl/plan: db": "success", "envctl/apply: db": "success"}

    webhook.send("issue_comment", payloads.comment("/apply db", number=12, comment_id=6, repo=REPO))
    webhook.wait_idle(120)
    assert "no saved plan for db" in fake_github.issue_comments(REPO, 12)[-1]["body"]


def test_webhook_handle_plans_inside_an_actions_job(tmp_path: Path, fake_github: FakeGitHub,
                                                    repo: tuple[GitRemote, Path], tf_env: Path) -> None:
    """The terraform.yml path: `envctl webhook handle` with ENVCTL_TERRAFORM, synchronous, JSON out."""
    import os
    import subprocess
    import sys

    git, states = repo
    fake_github.set_permission(REPO, "alice", "write")
    open_pull(fake_github, git, 21, {"infra/db/main.tf": db_tf(states, "18")})
    event = tmp_path / "event.json"
    event.write_text(json.dumps(payloads.comment("/plan", number=21, comment_id=5, repo=REPO)))
    env = {**os.environ, "GITHUB_TOKEN": fake_github.token, "GITHUB_API_URL": fake_github.url, "GITHUB_RUN_ID": "7",
           "ENVCTL_TERRAFORM": "true", "ENVCTL_TERRAFORM_REMOTE": str(git.bare), "ENVCTL_GITHUB_WRITE_INTERVAL": "0"}
    done = subprocess.run([sys.executable, "-m", "envctl", "webhook", "handle", "--event-name", "issue_comment",
                           "--event-path", str(event), "--output", "json"], capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["result"].startswith("success: planned 1/1")
    [plan] = comments(fake_github, 21, "plan", "db")
    assert "1 to create" in plan


def test_a_failed_apply_keeps_the_lock_and_says_so(
    server_factory: object, tf_settings: GitHubSettings, fake_github: FakeGitHub, repo: tuple[GitRemote, Path],
) -> None:
    git, states = repo
    webhook: RunningServer = server_factory(tf_settings)  # type: ignore[operator]
    fake_github.set_permission(REPO, "alice", "write")
    fake_github.set_permission(REPO, "bob", "write")
    failing = db_tf(states, "17") + ('resource "terraform_data" "migrate" {\n  provisioner "local-exec" {\n'
                                     '    command = "echo migration failed >&2; exit 3"\n  }\n}\n')
    sha = open_pull(fake_github, git, 31, {"infra/db/main.tf": failing})
    fake_github.add_review(REPO, 31, "bob", "APPROVED")
    webhook.send("issue_comment", payloads.comment("/plan db", number=31, comment_id=1, repo=REPO))
    webhook.send("issue_comment", payloads.comment("/apply db", number=31, comment_id=2, repo=REPO))
    webhook.wait_idle(300)
    [failed] = comments(fake_github, 31, "apply", "db")
    assert "🔴 Apply failed" in failed and "migration failed" in failed and "lock on `db` is kept" in failed
    assert locks(tf_settings) == {"db": 31}
    assert fake_github.latest_statuses(REPO, sha)["envctl/apply: db"] == "failure"
