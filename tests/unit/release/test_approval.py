"""The approval gate: none, changed plan, self-approval, approver not allowed, policy loading."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from envctl.errors import Refused
from envctl.release import approval as gate
from envctl.release.fleet import ReplicaView
from envctl.release.plan import PlanOptions, compute_plan

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def plan():  # type: ignore[no-untyped-def]
    replicas = [ReplicaView("r1", "v1", True, True, True, False, 100)]
    return compute_plan(
        env="demo", runtime="local", replicas=replicas, options=PlanOptions(to_version="v2"),
        planner="alice", now=NOW, plan_id="demo-1",
    )  # fmt: skip


def test_no_approval_is_refused_with_the_command_to_run(plan) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(Refused, match="no approval") as err:
        gate.check_approved(plan, None, gate.ApprovalPolicy())
    assert err.value.hint and "envctl release approve demo-1" in err.value.hint


def test_approval_is_void_once_the_plan_changed(plan) -> None:  # type: ignore[no-untyped-def]
    record = gate.approve(plan, "bob", gate.ApprovalPolicy(), NOW)
    assert gate.check_approved(plan, record, gate.ApprovalPolicy()) == record
    changed = plan.model_copy(update={"budget_per_s": 5000.0})
    with pytest.raises(Refused, match="void: the plan changed") as err:
        gate.check_approved(changed, record, gate.ApprovalPolicy())
    assert err.value.hint and "approve it again" in err.value.hint


def test_self_approval_forbidden_only_when_configured(plan) -> None:  # type: ignore[no-untyped-def]
    assert gate.approve(plan, "alice", gate.ApprovalPolicy(), NOW).approver == "alice"
    with pytest.raises(Refused, match="own plan") as err:
        gate.approve(plan, "alice", gate.ApprovalPolicy(forbid_self_approval=True), NOW)
    assert err.value.hint and "another approver" in err.value.hint


def test_approver_must_be_on_the_allow_list(plan) -> None:  # type: ignore[no-untyped-def]
    policy = gate.ApprovalPolicy(approvers=["carol", "dave"])
    with pytest.raises(Refused, match="'mallory' may not approve") as err:
        gate.approve(plan, "mallory", policy, NOW)
    assert err.value.hint and "carol" not in err.value.message.split("(")[0]
    assert gate.approve(plan, "carol", policy, NOW).approver == "carol"


def test_an_approval_given_before_the_policy_tightened_no_longer_counts(plan) -> None:  # type: ignore[no-untyped-def]
    record = gate.approve(plan, "bob", gate.ApprovalPolicy(), NOW)
    with pytest.raises(Refused, match="'bob' may not approve"):
        gate.check_approved(plan, record, gate.ApprovalPolicy(approvers=["carol"]))


def test_policy_from_envctl_yaml_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "envctl.yaml"
    cfg.write_text("release:\n  approval:\n    approvers: [carol]\n    forbid_self_approval: true\n")
    monkeypatch.delenv("ENVCTL_RELEASE_APPROVERS", raising=False)
    monkeypatch.delenv("ENVCTL_RELEASE_FORBID_SELF_APPROVAL", raising=False)
    assert gate.ApprovalPolicy.load(cfg) == gate.ApprovalPolicy(approvers=["carol"], forbid_self_approval=True)
    monkeypatch.setenv("ENVCTL_RELEASE_APPROVERS", "erin, frank")
    monkeypatch.setenv("ENVCTL_RELEASE_FORBID_SELF_APPROVAL", "0")
    assert gate.ApprovalPolicy.load(cfg) == gate.ApprovalPolicy(approvers=["erin", "frank"], forbid_self_approval=False)


def test_identity_prefers_the_github_actor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_ACTOR", "octocat")
    assert gate.current_identity() == "octocat"
    monkeypatch.delenv("GITHUB_ACTOR")
    assert gate.current_identity()
