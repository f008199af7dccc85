"""The Terraform page's data: locks from envctl's lock store, the last plan `envctl tf plan` saved."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from envctl.terraform.locks import FileLockStore, Lock, now_iso
from tests.fixtures.dashboard import running_dashboard


def test_locks_and_last_plan_per_project(tmp_path: Path) -> None:
    state, tree = tmp_path / "state", tmp_path / "tree"
    (tree / "network").mkdir(parents=True)
    (tree / "network" / "main.tf").write_text('resource "terraform_data" "vpc" {\n  input = "10.0.0.0/16"\n}\n')
    (tree / "dns").mkdir()
    (tree / "dns" / "main.tf").write_text('resource "terraform_data" "zone" {\n  input = "example.test"\n}\n')
    subprocess.run(["git", "init", "-q", str(tree)], check=True, capture_output=True, timeout=30)  # a repository:
    # projects are found below its root (outside one, envctl tf looks in the working directory only)
    env = {**os.environ, "ENVCTL_STATE_DIR": str(state), "KUBECONFIG": str(tmp_path / "none")}
    plan = subprocess.run([sys.executable, "-m", "envctl", "tf", "plan", "--project", "network", "--output", "json"],
                          cwd=tree, env=env, capture_output=True, text=True, timeout=240)  # fmt: skip
    assert plan.returncode == 0, plan.stderr
    FileLockStore(state / "terraform" / "locks.json").acquire(
        Lock(repo="acme/infra", dir="dns", workspace="default", pull=42, project="dns", user="octocat",
             head_sha="a" * 40, created_at=now_iso())  # fmt: skip
    )
    with running_dashboard(state, tmp_path, args=("--terraform-dir", str(tree)), KUBECONFIG=str(tmp_path / "none")) as dash:
        doc = dash.get("/api/terraform").json()
        page = dash.get("/terraform").text
    assert "static/terraform.js" in page and "does not have it yet" not in page
    projects = {p["name"]: p for p in doc["projects"]}
    assert set(projects) == {"network", "dns"}
    assert projects["network"]["last_plan"]["has_changes"] is True
    assert projects["dns"]["last_plan"] is None  # never planned here
    (lock,) = doc["locks"]
    assert (lock["project"], lock["pull"], lock["user"], lock["repo"]) == ("dns", 42, "octocat", "acme/infra")
