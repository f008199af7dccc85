"""Approval from CI, by the right person: `envctl release plan/approve/start` as release.yml runs them,
in a GitHub Actions job, reading the run and its review history through PyGithub from the fake
GitHub API (shapes from GitHub's REST documentation), against a real local fleet.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

from tests.fakes.github_api import FakeGitHub
from tests.integration.release.conftest import Rig

REPO = "acme/chargers"
# The SRE list, in the repository's envctl.yaml (never in the job's environment, which the
# workflow's author controls).
POLICY = "release:\n  approval:\n    approvers: [carol, erin]\n"


class Job:
    """One run of release.yml: a workflow_dispatch run in the fake, and envctl steps inside its job."""

    def __init__(self, rig: Rig, github: FakeGitHub, version: str, budget: int = 100, dispatcher: str = "dave") -> None:
        self.rig, self.github, self.version, self.budget = rig, github, version, budget
        self.run_id = github.add_workflow_run(REPO, actor=dispatcher, display_title=f"release {version} at {budget}/s")
        self.plan_id = f"release-{self.run_id}-1"
        self.config = rig.state_dir / "checkout-envctl.yaml"
        self.config.write_text(POLICY)

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": REPO, "GITHUB_RUN_ID": str(self.run_id),
            "GITHUB_RUN_ATTEMPT": "1", "GITHUB_API_URL": self.github.url, "GITHUB_TOKEN": self.github.token,
            "GITHUB_ACTOR": "carol",  # what the job's environment claims; never believed
            "ENVCTL_CONFIG": str(self.config), **extra,
        }  # fmt: skip

    def envctl(self, *args: str, timeout: float = 120, **extra: str) -> subprocess.CompletedProcess[str]:
        return self.rig.cli(*args, "--env", self.rig.name, timeout=timeout, **self.env(**extra))

    def plan(self) -> dict[str, Any]:
        res = self.envctl("release", "plan", "--to", self.version, "--budget", str(self.budget), "--hold", "1s",
                          "--id", self.plan_id, "--output", "json")  # fmt: skip
        assert res.returncode == 0, res.stderr
        return json.loads(res.stdout)

    def review(self, login: str, state: str = "approved", environment: str = "production", comment: str = "") -> None:
        self.github.review_run(REPO, self.run_id, login, state, (environment,), comment)

    def approve(self, *args: str, plan_id: str | None = None) -> subprocess.CompletedProcess[str]:
        return self.envctl("release", "approve", plan_id or self.plan_id, "--output", "json", *args)


def refused(res: subprocess.CompletedProcess[str], text: str) -> dict[str, Any]:
    """Exit 4 with `text` in the message; the error as JSON when the command ran with --output json."""
    assert res.returncode == 4, (res.returncode, res.stdout, res.stderr)
    last = res.stderr.strip().splitlines()[-1]
    err = json.loads(last) if last.startswith("{") else {"error": "refused", "message": res.stderr, "hint": res.stderr}
    assert err["error"] == "refused" and text in err["message"], err
    return err


def no_approval_stored(rig: Rig, plan_id: str) -> bool:
    return rig.status(plan_id)["approval"] is None


def test_an_approval_by_a_listed_sre_is_recorded_and_starts_the_release(rig: Rig, github: FakeGitHub) -> None:
    job = Job(rig, github, rig.next_version())
    plan = job.plan()
    assert plan["planner"] == "dave"  # the run's dispatcher per the API, not $GITHUB_ACTOR
    assert plan["origin"]["run_id"] == job.run_id and plan["origin"]["repository"] == REPO
    job.review("carol", comment="Ship it!")
    res = job.approve()
    assert res.returncode == 0, res.stderr
    record = json.loads(res.stdout)
    assert (record["approver"], record["source"], record["plan_hash"], record["comment"]) == ("carol", "github-actions", plan["hash"], "Ship it!")
    assert record["run"]["id"] == job.run_id and record["run"]["url"] == f"https://github.com/{REPO}/actions/runs/{job.run_id}"
    assert record["run"]["environment"] == "production" and record["run"]["dispatched_by"] == ["dave"]
    # envctl asked GitHub, with the job's token, about exactly this run
    asked = github.recorded("GET", rf"/repos/{REPO}/actions/runs/{job.run_id}/approvals")
    assert asked and asked[-1].status == 200 and asked[-1].headers["authorization"] == f"token {github.token}"

    start = job.envctl("release", "start", job.plan_id, "--output", "json", timeout=180)
    assert start.returncode == 0, start.stderr
    status = json.loads(start.stdout)
    assert status["phase"] == "Completed"
    assert status["approval"]["approver"] == "carol" and status["approval"]["valid"] is True
    assert rig.store.load_status(job.plan_id).approved_by == "carol"  # type: ignore[union-attr]
    assert rig.store.load_status(job.plan_id).started_by == "dave"  # type: ignore[union-attr]
    assert rig.wait_settled(job.version).get(job.version, 0) >= rig.chargers

    summary = job.envctl("release", "summary", job.plan_id, "--output", "markdown",
                         "--timeline-url", "https://github.com/acme/chargers/actions/runs/1/artifacts/2")  # fmt: skip
    assert summary.returncode == 0, summary.stderr
    assert "@carol (required reviewer; [run " in summary.stdout and "`production`" in summary.stdout
    assert "**Completed**" in summary.stdout and "[timeline.png](https://github.com/acme/chargers/actions/runs/1/artifacts/2)" in summary.stdout
    assert plan["hash"] in summary.stdout


def test_nobody_approved(rig: Rig, github: FakeGitHub) -> None:
    job = Job(rig, github, rig.next_version())
    job.plan()
    err = refused(job.approve(), f"nobody approved run {job.run_id} for the production environment")
    assert "required reviewers" in err["hint"]
    job.review("carol", environment="staging")  # an approval of another environment of the run
    refused(job.approve(), "(approvals exist only for staging)")
    assert no_approval_stored(rig, job.plan_id)
    refused(job.envctl("release", "start", job.plan_id), "has no approval")


def test_the_only_approver_is_the_dispatcher(rig: Rig, github: FakeGitHub) -> None:
    job = Job(rig, github, rig.next_version(), dispatcher="carol")  # an SRE dispatching their own release
    job.plan()
    job.review("carol")
    refused(job.approve(), f"the only approver of run {job.run_id}, carol, planned or dispatched it")
    assert no_approval_stored(rig, job.plan_id)
    job.review("erin")
    assert json.loads(job.approve().stdout)["approver"] == "erin"


def test_an_approver_not_on_the_list(rig: Rig, github: FakeGitHub) -> None:
    job = Job(rig, github, rig.next_version())
    job.plan()
    job.review("mallory")
    refused(job.approve(), f"mallory approved run {job.run_id} but may not approve releases (allowed: carol, erin)")
    assert no_approval_stored(rig, job.plan_id)


def test_a_rejected_run(rig: Rig, github: FakeGitHub) -> None:
    job = Job(rig, github, rig.next_version())
    job.plan()
    job.review("carol")
    job.review("erin", state="rejected", comment="not during the evening peak")
    refused(job.approve(), "erin rejected run")
    assert no_approval_stored(rig, job.plan_id)


def test_approver_given_in_ci_is_refused(rig: Rig, github: FakeGitHub) -> None:
    job = Job(rig, github, rig.next_version())
    job.plan()
    job.review("carol")
    err = refused(job.approve("--approver", "carol"), "--approver 'carol' is not accepted in GitHub Actions")
    assert "drop --approver" in err["hint"]
    assert no_approval_stored(rig, job.plan_id)


def test_an_approval_from_a_different_run(rig: Rig, github: FakeGitHub) -> None:
    version = rig.next_version()
    first, second = Job(rig, github, version), Job(rig, github, version)
    first.plan()
    second.plan()
    second.review("carol")
    # run 2's approval does not cover the plan run 1 made, even with the same inputs
    refused(second.approve(plan_id=first.plan_id), f"was made in run {first.run_id} (attempt 1)")
    assert no_approval_stored(rig, first.plan_id)
    # an approval recorded in run 2 does not start anything from run 1's job
    assert second.approve().returncode == 0
    refused(first.envctl("release", "start", second.plan_id), f"approved in run {second.run_id} (attempt 1) of {REPO}; this is run {first.run_id}")
    # nor does a locally given approval start anything in Actions
    local = rig.plan(rig.next_version())
    rig.approve(local["id"])
    refused(first.envctl("release", "start", local["id"]), "only an approval by the release workflow's reviewers counts")


def test_a_run_of_another_workflow_or_with_other_inputs(rig: Rig, github: FakeGitHub) -> None:
    job = Job(rig, github, rig.next_version())
    job.plan()
    job.review("carol")
    github.update_workflow_run(REPO, job.run_id, display_title=f"release {job.version} at 5000/s")
    refused(job.approve(), f"was approved as 'release {job.version} at 5000/s', but plan {job.plan_id} releases {job.version} at 100/s")
    github.update_workflow_run(REPO, job.run_id, display_title=f"release {job.version} at 100/s", workflow=".github/workflows/ci.yml")
    refused(job.approve(), "is a run of .github/workflows/ci.yml, not of the release workflow")
    # a run id that is another repository's is not found under this one
    res = job.envctl("release", "approve", job.plan_id, "--output", "json", GITHUB_REPOSITORY="mallory/chargers")
    assert res.returncode == 3 and "GitHub has no workflow run" in res.stderr
    assert no_approval_stored(rig, job.plan_id)


def forge(rig: Rig, job: Job, plan: dict[str, Any], approver: str) -> None:
    """approval.json written by hand inside the job, naming this very run: what `approve` would write."""
    run = {"repository": REPO, "id": job.run_id, "attempt": 1, "url": f"https://github.com/{REPO}/actions/runs/{job.run_id}",
           "workflow": ".github/workflows/release.yml", "environment": "production",
           "title": f"release {job.version} at {job.budget}/s", "dispatched_by": ["dave"]}  # fmt: skip
    record = {"plan_id": plan["id"], "plan_hash": plan["hash"], "approver": approver, "approved_at": "2026-12-01T10:00:00Z",
              "source": "github-actions", "run": run}  # fmt: skip
    (rig.env_dir / "releases" / plan["id"] / "approval.json").write_text(json.dumps(record))


def test_a_forged_run_approval_is_refused_at_start_because_github_is_asked_again(rig: Rig, github: FakeGitHub) -> None:
    before = sorted(r.version for r in rig.replicas())
    job = Job(rig, github, rig.next_version())
    plan = job.plan()
    forge(rig, job, plan, "carol")  # nobody approved the run in GitHub
    asked = len(github.recorded("GET", rf"/repos/{REPO}/actions/runs/{job.run_id}/approvals"))
    err = refused(job.envctl("release", "start", job.plan_id, "--output", "json"),
                  f"names 'carol' as approver of run {job.run_id} of {REPO}, but GitHub does not confirm it: "
                  f"nobody approved run {job.run_id} for the production environment")  # fmt: skip
    assert "required reviewers" in err["hint"]
    assert len(github.recorded("GET", rf"/repos/{REPO}/actions/runs/{job.run_id}/approvals")) == asked + 1
    # Another reviewer's real approval does not make a record in carol's name true.
    job.review("erin")
    err = refused(job.envctl("release", "start", job.plan_id, "--output", "json"),
                  "but GitHub's review history of the run does not (erin approved it)")
    assert "in the run's job, which records what GitHub says" in err["hint"]
    assert sorted(r.version for r in rig.replicas()) == before
    assert rig.status(job.plan_id)["phase"] == "Pending"


def test_a_run_approval_starts_a_release_only_in_its_own_job(rig: Rig, github: FakeGitHub) -> None:
    job = Job(rig, github, rig.next_version())
    job.plan()
    job.review("carol")
    assert job.approve().returncode == 0
    # Outside the job nothing can ask GitHub again about the run, so the record alone starts nothing.
    res = rig.cli("release", "start", job.plan_id, "--env", rig.name, "--output", "json", ENVCTL_CONFIG=str(job.config))
    err = refused(res, f"was approved by a reviewer of run {job.run_id} of {REPO}")
    assert "only that run's job can do" in err["message"] and "release.yml's Start step" in err["hint"]
    assert rig.status(job.plan_id)["phase"] == "Pending"
