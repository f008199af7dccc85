"""The approval gate on a live fleet: every refusal says why and what to do, and nothing moves."""

from __future__ import annotations

import json
import os
import pwd
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


def test_only_allowed_approvers_may_approve(rig: Rig) -> None:
    me = pwd.getpwuid(os.geteuid()).pw_name
    plan = rig.plan(rig.next_version())
    res = rig.cli("release", "approve", plan["id"], "--env", rig.name, ENVCTL_RELEASE_APPROVERS="carol,dave")
    assert res.returncode == 4 and f"'{me}' may not approve releases (allowed: carol, dave)" in res.stderr
    ok = rig.cli("release", "approve", plan["id"], "--env", rig.name, "--output", "json", ENVCTL_RELEASE_APPROVERS=f"carol,{me}")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["approver"] == me
    # ...and an approval by someone later removed from the list no longer starts anything.
    res = rig.cli("release", "start", plan["id"], "--env", rig.name, ENVCTL_RELEASE_APPROVERS="carol")
    assert res.returncode == 4 and f"'{me}' may not approve" in res.stderr
    # A team may require every release to be approved in GitHub Actions.
    res = rig.cli("release", "start", plan["id"], "--env", rig.name, ENVCTL_RELEASE_APPROVERS=f"carol,{me}",
                  ENVCTL_RELEASE_REQUIRE_GITHUB_APPROVAL="1")  # fmt: skip
    assert res.returncode == 4 and "only an approval by the release workflow's reviewers counts" in res.stderr
