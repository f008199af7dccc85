"""The approval gate on a live fleet: every refusal says why and what to do, and nothing moves."""

from __future__ import annotations

import json
import getpass

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


def test_self_approval_is_forbidden_when_configured(rig: Rig) -> None:
    plan = rig.plan(rig.next_version())
    assert plan["planner"] == getpass.getuser()
    res = rig.cli("release", "approve", plan["id"], "--env", rig.name, ENVCTL_RELEASE_FORBID_SELF_APPROVAL="1")
    assert res.returncode == 4 and "may not approve their own plan" in res.stderr and "another approver" in res.stderr
    ok = rig.cli("release", "approve", plan["id"], "--env", rig.name, "--approver", "bob", ENVCTL_RELEASE_FORBID_SELF_APPROVAL="1")
    assert ok.returncode == 0, ok.stderr


def test_only_allowed_approvers_may_approve(rig: Rig) -> None:
    plan = rig.plan(rig.next_version())
    res = rig.cli("release", "approve", plan["id"], "--env", rig.name, "--approver", "mallory", ENVCTL_RELEASE_APPROVERS="carol,dave")
    assert res.returncode == 4 and "'mallory' may not approve" in res.stderr and "carol" in res.stderr
    # The GitHub actor is the default identity inside Actions.
    ok = rig.cli("release", "approve", plan["id"], "--env", rig.name, "--output", "json",
                 ENVCTL_RELEASE_APPROVERS="carol,dave", GITHUB_ACTOR="dave")  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["approver"] == "dave"
    # ...and an approval by someone later removed from the list no longer starts anything.
    res = rig.cli("release", "start", plan["id"], "--env", rig.name, ENVCTL_RELEASE_APPROVERS="carol")
    assert res.returncode == 4 and "'dave' may not approve" in res.stderr
