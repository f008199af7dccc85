"""Drift: state changed out of band is reported by `envctl tf drift`, an issue is opened on GitHub
(the fake API, through PyGithub), updated rather than duplicated, and closed once the drift is fixed."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.github_api import FakeGitHub
from tests.fixtures.terraform import tf_block
from tests.integration.terraform.conftest import Cli

REPO = "Codertocat/Hello-World"


def dns_tf(states: Path, target: str) -> str:
    return tf_block(states / "dns.tfstate") + (
        'resource "terraform_data" "record" {\n'
        f'  input = {{ name = "app.example.com", type = "CNAME", value = "{target}" }}\n}}\n'
        'resource "terraform_data" "zone" {\n  input = "example.com"\n}\n')


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    fake = FakeGitHub().start()
    yield fake
    fake.stop()


def out_of_band_apply(tmp_path: Path, states: Path, target: str) -> None:
    """Someone applies other code against the same state from their laptop."""
    laptop = tmp_path / "laptop"
    laptop.mkdir(exist_ok=True)
    (laptop / "main.tf").write_text(dns_tf(states, target))
    env = {**os.environ, "TF_DATA_DIR": str(tmp_path / "laptop-tfdata")}
    for argv in (["terraform", "init", "-input=false"], ["terraform", "apply", "-input=false", "-auto-approve"]):
        done = subprocess.run(argv, cwd=laptop, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr


def test_drift_opens_then_closes_one_issue_per_project(cli: Cli, code_dir: Path, tmp_path: Path,
                                                       fake: FakeGitHub) -> None:
    states = tmp_path / "states"
    (code_dir / "envctl.yaml").write_text("terraform:\n  projects:\n    - name: dns\n      dir: dns\n")
    (code_dir / "dns").mkdir()
    (code_dir / "dns" / "main.tf").write_text(dns_tf(states, "lb-1.example.com"))
    assert cli("tf", "plan").code == 0 and cli("tf", "apply").code == 0
    github = {"ENVCTL_GITHUB_API_URL": fake.url, "ENVCTL_GITHUB_TOKEN": fake.token, "ENVCTL_GITHUB_WRITE_INTERVAL": "0"}

    clean = cli("tf", "drift", "--output", "json", "--open-issues", "--repo", REPO, env=github)
    assert clean.code == 0 and clean.json()["projects"][0]["drifted"] is False
    assert fake.issue_list(REPO) == []

    out_of_band_apply(tmp_path, states, "lb-2.example.com")
    found = cli("tf", "drift", "--output", "json", "--open-issues", "--repo", REPO, env=github)
    assert found.code == 0, found.err
    [project] = found.json()["projects"]
    assert project["drifted"] is True and project["pending"] == {"update": ["terraform_data.record"]}
    [issue] = fake.issue_list(REPO)
    assert issue["state"] == "open" and issue["title"] == "Terraform drift: dns"
    assert [lb["name"] for lb in issue["labels"]] == ["envctl-drift"]
    assert issue["body"].startswith("<!-- envctl:terraform:drift project=dns -->")
    assert "`terraform_data.record`" in issue["body"] and "lb-1.example.com" in issue["body"]
    assert found.json()["issues"] == [{"project": "dns", "action": "opened", "number": issue["number"]}]

    again = cli("tf", "drift", "--output", "json", "--open-issues", "--repo", REPO, "--detailed-exitcode", env=github)
    assert again.code == 2 and again.json()["issues"][0]["action"] in ("unchanged", "updated")
    assert len(fake.issue_list(REPO)) == 1  # the same issue, not a second one

    assert cli("tf", "plan").code == 0 and cli("tf", "apply").code == 0  # the default branch applied again
    fixed = cli("tf", "drift", "--output", "json", "--open-issues", "--repo", REPO, "--detailed-exitcode", env=github)
    assert fixed.code == 0 and fixed.json()["issues"] == [{"project": "dns", "action": "closed", "number": issue["number"]}]
    [closed] = fake.issue_list(REPO)
    assert closed["state"] == "closed" and closed["state_reason"] == "completed"
    [note] = fake.issue_comments(REPO, issue["number"])
    assert "matching the default branch again" in note["body"]


def test_drift_without_a_repository_is_a_clear_error(cli: Cli, code_dir: Path) -> None:
    (code_dir / "main.tf").write_text('resource "terraform_data" "x" {}\n')
    done = cli("tf", "drift", "--open-issues", env={"GITHUB_REPOSITORY": ""})
    assert done.code == 2 and "--open-issues needs the repository" in done.err
