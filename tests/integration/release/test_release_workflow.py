"""release.yml's own step scripts, run by bash in order the way a GitHub runner runs them, against a
real local fleet and the fake GitHub API: the shell glue between the steps is what is tested here.

The runner is imitated: `${{ }}` expressions are replaced from a table (an expression the table does
not know fails the test), GITHUB_ENV is carried between steps, `if:` is honoured for always() and
hashFiles(), the upload-artifact step is replaced by a check that the PNG exists and an artifact URL.
What it cannot catch: GitHub's own expression evaluation, the real actions (checkout, setup-python,
upload-artifact), environment protection holding the job, and the Kubernetes runtime (ENVCTL_RUNTIME
is set to local here; the Kubernetes release path has its own end-to-end tests).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fakes.github_api import FakeGitHub
from tests.integration.release.conftest import Rig

WORKFLOW = Path(__file__).resolve().parents[3] / ".github" / "workflows" / "release.yml"
REPO = "acme/chargers"
SECRET = "apiVersion: v1\nkind: Config\nclusters: []\n"


class Runner:
    def __init__(self, rig: Rig, github: FakeGitHub, workdir: Path, version: str) -> None:
        self.rig, self.github, self.workdir, self.version = rig, github, workdir, version
        self.run_id = github.add_workflow_run(REPO, actor="dave", display_title=f"release {version} at 100/s")
        self.temp = workdir / "runner-temp"
        self.temp.mkdir()
        self.github_env, self.summary = workdir / "github_env", workdir / "step_summary.md"
        self.artifact_url = f"https://github.com/{REPO}/actions/runs/{self.run_id}/artifacts/4242"
        self.expressions = {
            "inputs.version": version, "inputs.budget": "100", "github.run_id": str(self.run_id),
            "github.run_attempt": "1", "vars.ENVCTL_RELEASE_ENV || 'production'": rig.name,
            "github.token": github.token, "secrets.ENVCTL_KUBECONFIG": SECRET,
            "steps.timeline.outputs.artifact-url": "",
        }  # fmt: skip
        self.ran: dict[str, int] = {}

    def resolve(self, value: Any) -> str:
        def one(match: re.Match[str]) -> str:
            expr = match.group(1).strip()
            assert expr in self.expressions, f"the test runner does not know the expression {expr!r}"
            return self.expressions[expr]

        return re.sub(r"\$\{\{(.*?)\}\}", one, str(value))

    def base_env(self, workflow: dict[str, Any], job: dict[str, Any]) -> dict[str, str]:
        env = self.rig.env() | {
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": REPO, "GITHUB_RUN_ID": str(self.run_id),
            "GITHUB_RUN_ATTEMPT": "1", "GITHUB_API_URL": self.github.url, "GITHUB_ACTOR": "carol",
            "RUNNER_TEMP": str(self.temp), "GITHUB_ENV": str(self.github_env), "GITHUB_STEP_SUMMARY": str(self.summary),
        }  # fmt: skip
        env |= {k: self.resolve(v) for k, v in workflow["env"].items()}
        env |= {k: self.resolve(v) for k, v in job.get("env", {}).items()}
        env["ENVCTL_RUNTIME"] = "local"  # see the module docstring
        return env

    def run(self) -> None:
        workflow = yaml.safe_load(WORKFLOW.read_text())
        [job] = workflow["jobs"].values()
        env = self.base_env(workflow, job)
        failed = False
        for step in job["steps"]:
            name = step.get("name", step.get("uses", ""))
            cond = step.get("if", "")
            if "always()" not in cond and failed:
                continue
            if "hashFiles('timeline.png') != ''" in cond and not (self.workdir / "timeline.png").exists():
                continue
            if "uses" in step:
                if step["uses"].startswith("actions/upload-artifact@"):
                    png = self.workdir / step["with"]["path"]
                    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
                    self.expressions[f"steps.{step['id']}.outputs.artifact-url"] = self.artifact_url
                continue
            if step["run"].startswith("python -m pip install"):
                continue  # envctl is installed in the test's virtualenv already
            step_env = env | {k: self.resolve(v) for k, v in step.get("env", {}).items()}
            if self.github_env.exists():
                step_env |= dict(line.split("=", 1) for line in self.github_env.read_text().splitlines() if "=" in line)
            done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]], env=step_env,
                                  cwd=self.workdir, capture_output=True, text=True, timeout=240)  # fmt: skip
            self.ran[name] = done.returncode
            failed = failed or done.returncode != 0


@pytest.fixture
def runner(rig: Rig, github: FakeGitHub, tmp_path: Path) -> Runner:
    # The repository checkout the job runs in: its envctl.yaml names the SREs who may approve.
    (tmp_path / "envctl.yaml").write_text("release:\n  approval:\n    approvers: [carol, erin]\n")
    return Runner(rig, github, tmp_path, rig.next_version())


def test_an_approved_run_releases_and_summarises_itself(runner: Runner, github: FakeGitHub, rig: Rig) -> None:
    github.review_run(REPO, runner.run_id, "carol", comment="Ship it!")
    runner.run()
    assert all(rc == 0 for rc in runner.ran.values()), runner.ran
    assert rig.wait_settled(runner.version).get(runner.version, 0) >= rig.chargers
    plan_id = f"release-{runner.run_id}-1"
    assert rig.store.load_approval(plan_id).approver == "carol"  # type: ignore[union-attr]
    summary = runner.summary.read_text()
    assert f"Release `{plan_id}`: Completed" in summary and "@carol (required reviewer" in summary
    assert f"[timeline.png]({runner.artifact_url})" in summary
    assert not (runner.temp / "kubeconfig").exists()  # the credentials step's file is removed again
    assert SECRET.strip() not in summary


def test_a_run_nobody_approved_stops_at_approve_and_still_says_so_in_the_summary(runner: Runner, rig: Rig) -> None:
    before = sorted(r.version for r in rig.replicas())
    runner.run()
    assert runner.ran["Plan"] == 0 and runner.ran[next(n for n in runner.ran if n.startswith("Approve"))] == 4
    assert "Start" not in runner.ran  # skipped after the failure, as GitHub skips it
    assert sorted(r.version for r in rig.replicas()) == before
    summary = runner.summary.read_text()
    assert "**not approved**" in summary and "The release did not start." in summary
    assert "No timeline" in summary and not (runner.workdir / "timeline.png").exists()
