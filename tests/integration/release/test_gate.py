"""The approval gate on a live fleet: every refusal says why and what to do, and nothing moves."""

from __future__ import annotations

import json
import os
import pwd
import re
import shlex
from pathlib import Path

from tests.integration.release.conftest import Rig


def versions(rig: Rig) -> list[str]:
    return sorted(r.version for r in rig.replicas())


def test_start_without_approval_is_refused_and_nothing_changes(rig: Rig) -> None:
    before = versions(rig)
    plan = rig.plan(rig.next_version(), "--hold", "1s")
    res = rig.cli("release", "start", plan["id"], "--env", rig.name)
    assert res.returncode == 4
    assert "has no approval" in res.stderr and f"envctl release approve {plan['id']}" in res.stderr
    assert versions(rig) == before
    assert rig.status(plan["id"])["phase"] == "Pending"


def test_an_approval_is_void_once_the_plan_changed(rig: Rig) -> None:
    plan = rig.plan(rig.next_version(), "--hold", "1s")
    rig.approve(plan["id"])
    path = rig.env_dir / "releases" / plan["id"] / "plan.json"
    doc = json.loads(path.read_text())
    doc["budget_per_s"] = 100000.0  # someone "tunes" the approved plan
    path.write_text(json.dumps(doc))
    res = rig.cli("release", "start", plan["id"], "--env", rig.name)
    assert res.returncode == 4
    assert "void: the plan changed" in res.stderr and "approve it again" in res.stderr
    assert rig.status(plan["id"])["approval"]["valid"] is False


def test_the_approver_is_the_os_user_and_cannot_be_claimed(rig: Rig, tmp_path: Path) -> None:
    me = pwd.getpwuid(os.geteuid()).pw_name
    plan = rig.plan(rig.next_version())
    assert plan["planner"] == me
    # Someone else's name is refused, whatever $USER or $GITHUB_ACTOR say outside Actions.
    res = rig.cli("release", "approve", plan["id"], "--env", rig.name, "--approver", "bob", USER="bob", GITHUB_ACTOR="bob")
    assert res.returncode == 4 and "--approver 'bob' is not trusted" in res.stderr and "have bob run" in res.stderr
    assert rig.status(plan["id"])["approval"] is None
    # On the local runtime the OS user may approve their own plan (the fleet is theirs) ...
    ok = rig.cli("release", "approve", plan["id"], "--env", rig.name, "--output", "json", GITHUB_ACTOR="bob")
    assert ok.returncode == 0, ok.stderr
    record = json.loads(ok.stdout)
    assert (record["approver"], record["source"], record["self_approved"]) == (me, "local", True)
    # ... unless the team's envctl.yaml says otherwise.
    cfg = tmp_path / "envctl.yaml"
    cfg.write_text("release:\n  approval:\n    local_self_approval: false\n")
    res = rig.cli("release", "approve", plan["id"], "--env", rig.name, ENVCTL_CONFIG=str(cfg))
    assert res.returncode == 4 and f"'{me}' planned {plan['id']} and may not approve it" in res.stderr
    res = rig.cli("release", "start", plan["id"], "--env", rig.name, ENVCTL_CONFIG=str(cfg))
    assert res.returncode == 4 and "may not approve it" in res.stderr


def config(tmp_path: Path, approval: str) -> str:
    """A team's envctl.yaml with `approval` (YAML flow mapping) as release.approval; its path."""
    cfg = tmp_path / f"envctl-{abs(hash(approval))}.yaml"
    cfg.write_text(f"release:\n  approval: {approval}\n")
    return str(cfg)


def test_only_allowed_approvers_may_approve(rig: Rig, tmp_path: Path) -> None:
    me = pwd.getpwuid(os.geteuid()).pw_name
    plan = rig.plan(rig.next_version())
    res = rig.cli("release", "approve", plan["id"], "--env", rig.name, ENVCTL_CONFIG=config(tmp_path, "{approvers: [carol, dave]}"))
    assert res.returncode == 4 and f"'{me}' may not approve releases (allowed: carol, dave)" in res.stderr
    listed = config(tmp_path, f"{{approvers: [carol, {me}]}}")
    ok = rig.cli("release", "approve", plan["id"], "--env", rig.name, "--output", "json", ENVCTL_CONFIG=listed)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["approver"] == me
    # ...and an approval by someone later removed from the list no longer starts anything.
    res = rig.cli("release", "start", plan["id"], "--env", rig.name, ENVCTL_CONFIG=config(tmp_path, "{approvers: [carol]}"))
    assert res.returncode == 4 and f"'{me}' may not approve" in res.stderr
    # A team may require every release to be approved in GitHub Actions.
    strict = config(tmp_path, f"{{approvers: [carol, {me}], require_github_approval: true}}")
    res = rig.cli("release", "start", plan["id"], "--env", rig.name, ENVCTL_CONFIG=strict)
    msg = " ".join(res.stderr.split())
    assert res.returncode == 4 and "only an approval by the release workflow's reviewers counts" in msg
    assert f"the policy ({strict}) says" in msg  # which policy said so


def test_the_actor_cannot_loosen_the_policy_through_environment_variables(rig: Rig, tmp_path: Path) -> None:
    """ENVCTL_RELEASE_* used to override envctl.yaml: a planner could approve their own plan, and a
    release could start unapproved by GitHub. They are refused now, and nothing is recorded."""
    me = pwd.getpwuid(os.geteuid()).pw_name
    before = versions(rig)
    plan = rig.plan(rig.next_version(), "--hold", "1s")
    second_person = config(tmp_path, "{local_self_approval: false}")
    res = rig.cli("release", "approve", plan["id"], "--env", rig.name, ENVCTL_CONFIG=second_person,
                  ENVCTL_RELEASE_FORBID_SELF_APPROVAL="false")  # fmt: skip
    msg = " ".join(res.stderr.split())
    assert res.returncode == 2, res.stderr
    assert "ENVCTL_RELEASE_FORBID_SELF_APPROVAL is set, but the release policy is no longer read from the environment" in msg
    assert "unset ENVCTL_RELEASE_FORBID_SELF_APPROVAL" in msg
    assert rig.status(plan["id"])["approval"] is None
    res = rig.cli("release", "approve", plan["id"], "--env", rig.name, ENVCTL_CONFIG=config(tmp_path, "{approvers: [carol]}"),
                  ENVCTL_RELEASE_APPROVERS=me)  # fmt: skip
    assert res.returncode == 2 and "ENVCTL_RELEASE_APPROVERS is set" in " ".join(res.stderr.split())
    assert rig.status(plan["id"])["approval"] is None
    # The file's own rule still holds.
    res = rig.cli("release", "approve", plan["id"], "--env", rig.name, ENVCTL_CONFIG=second_person)
    assert res.returncode == 4 and f"'{me}' planned {plan['id']} and may not approve it" in " ".join(res.stderr.split())

    rig.approve(plan["id"])  # allowed by the default policy: the local fleet is the OS user's own
    github_only = config(tmp_path, "{require_github_approval: true}")
    res = rig.cli("release", "start", plan["id"], "--env", rig.name, ENVCTL_CONFIG=github_only,
                  ENVCTL_RELEASE_REQUIRE_GITHUB_APPROVAL="0")  # fmt: skip
    assert res.returncode == 2 and "ENVCTL_RELEASE_REQUIRE_GITHUB_APPROVAL is set" in " ".join(res.stderr.split())
    assert versions(rig) == before and rig.status(plan["id"])["phase"] == "Pending"


def forge(rig: Rig, plan: dict[str, object], **fields: object) -> Path:
    """approval.json written by hand, as an attacker with access to the state directory would."""
    record = {"plan_id": plan["id"], "plan_hash": plan["hash"], "approver": "carol",
              "approved_at": "2026-12-01T10:00:00Z", "source": "local"} | fields  # fmt: skip
    path = rig.env_dir / "releases" / str(plan["id"]) / "approval.json"
    path.write_text(json.dumps(record))
    return path


def test_a_hand_written_github_approval_is_refused_and_nothing_moves(rig: Rig) -> None:
    before = versions(rig)
    plan = rig.plan(rig.next_version(), "--hold", "1s")
    run = {"repository": "acme/chargers", "id": 4242, "attempt": 1, "url": "https://github.com/acme/chargers/actions/runs/4242",
           "workflow": ".github/workflows/release.yml", "environment": "production", "title": "t", "dispatched_by": ["dave"]}
    forge(rig, plan, source="github-actions", run=run)
    res = rig.cli("release", "start", plan["id"], "--env", rig.name)
    assert res.returncode == 4, res.stderr
    msg = " ".join(res.stderr.split())
    assert f"plan {plan['id']} was approved by a reviewer of run 4242 of acme/chargers" in msg
    assert "checked with GitHub again at start, which only that run's job can do" in msg
    assert versions(rig) == before and rig.status(plan["id"])["phase"] == "Pending"


def test_an_approval_written_in_someone_elses_name_is_refused(rig: Rig) -> None:
    me = pwd.getpwuid(os.geteuid()).pw_name
    before = versions(rig)
    plan = rig.plan(rig.next_version(), "--hold", "1s")
    path = forge(rig, plan, approver="carol")
    res = rig.cli("release", "start", plan["id"], "--env", rig.name)
    assert res.returncode == 4, res.stderr
    msg = " ".join(res.stderr.split())
    assert f"the approval record of {plan['id']} names 'carol', but {path} was written by '{me}'" in msg
    assert f"have carol run `envctl release approve {plan['id']} --env {rig.name} --runtime local`" in msg
    assert versions(rig) == before and rig.status(plan["id"])["phase"] == "Pending"
    # A record that is not an approval at all is refused as such, not a traceback.
    path.write_text(json.dumps({"plan_id": plan["id"], "approver": "carol"}))
    res = rig.cli("release", "start", plan["id"], "--env", rig.name)
    assert res.returncode == 4 and "is not an approval envctl wrote" in " ".join(res.stderr.split())


def test_approving_a_started_release_again_keeps_its_approval_and_hints_can_be_pasted(rig: Rig) -> None:
    me = pwd.getpwuid(os.geteuid()).pw_name
    version = rig.next_version()
    plan = rig.plan(version, "--hold", "0s", "--budget", "500")
    rig.approve(plan["id"])
    approved = json.loads((rig.env_dir / "releases" / plan["id"] / "approval.json").read_text())
    done = rig.cli("release", "start", plan["id"], "--env", rig.name, "--output", "json", timeout=180)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["phase"] == "Completed"
    rig.wait_settled(version)

    again = rig.cli("release", "approve", plan["id"], "--env", rig.name)
    assert again.returncode == 4, again.stderr
    msg = " ".join(again.stderr.split())
    assert f"plan {plan['id']} is already approved by {me} at {approved['approved_at'][:19]}" in msg
    assert "its release started and is Completed, so the approval is kept" in msg
    assert json.loads((rig.env_dir / "releases" / plan["id"] / "approval.json").read_text()) == approved
    assert rig.status(plan["id"])["approval"]["approved_at"] == approved["approved_at"]

    # The hints name the environment and the runtime, so they work as printed.
    res = rig.cli("release", "start", plan["id"], "--env", rig.name)
    assert res.returncode == 4
    hinted = re.findall(r"`(envctl release [^`]+)`", " ".join(res.stderr.split()))
    assert f"envctl release status {plan['id']} --env {rig.name} --runtime local" in hinted, hinted
    status_cmd = next(h for h in hinted if " status " in h)
    pasted = rig.cli(*shlex.split(status_cmd)[1:], "--output", "json")
    assert pasted.returncode == 0 and json.loads(pasted.stdout)["phase"] == "Completed"


def test_release_and_rebalance_help_name_both_runtimes(rig: Rig) -> None:
    for args in (("release", "start", "--help"), ("release", "plan", "--help"), ("rebalance", "--help")):
        res = rig.cli(*args)
        assert res.returncode == 0 and "not yet" not in res.stdout, res.stdout
    assert "kubernetes when a cluster is configured" in " ".join(rig.cli("release", "start", "--help").stdout.split())
