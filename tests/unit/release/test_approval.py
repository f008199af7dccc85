"""The approval gate outside CI: none, changed plan, the OS user as the authority, self-approval,
the allow list, and the policy as envctl.yaml and the environment give it."""

from __future__ import annotations

import os
import pwd
from datetime import datetime, timezone
from pathlib import Path

import pytest

from envctl.errors import ConfigError, Refused
from envctl.release import approval as gate
from envctl.release.approval_github import ActionsContext
from envctl.release.fleet import ReplicaView
from envctl.release.identity import acting, os_user
from envctl.release.plan import PlanOptions, PlanOrigin, ReleasePlan, compute_plan

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)


def make_plan(runtime: str = "local", planner: str = "alice") -> ReleasePlan:
    replicas = [ReplicaView("r1", "v1", True, True, True, False, 100)]
    return compute_plan(
        env="demo", runtime=runtime, replicas=replicas, options=PlanOptions(to_version="v2"),
        planner=planner, now=NOW, plan_id="demo-1",
    )  # fmt: skip


@pytest.fixture
def plan() -> ReleasePlan:
    return make_plan()


def test_no_approval_is_refused_with_the_command_to_run(plan: ReleasePlan) -> None:
    with pytest.raises(Refused, match="no approval") as err:
        gate.check_approved(plan, None, gate.ApprovalPolicy())
    assert err.value.hint and "envctl release approve demo-1" in err.value.hint


def test_approval_is_void_once_the_plan_changed(plan: ReleasePlan) -> None:
    record = gate.approve_local(plan, "bob", None, gate.ApprovalPolicy(), NOW)
    assert gate.check_approved(plan, record, gate.ApprovalPolicy()) == record
    changed = plan.model_copy(update={"budget_per_s": 5000.0})
    with pytest.raises(Refused, match="void: the plan changed") as err:
        gate.check_approved(changed, record, gate.ApprovalPolicy())
    assert err.value.hint and "approve it again" in err.value.hint


def test_a_claimed_approver_other_than_the_os_user_is_refused(plan: ReleasePlan) -> None:
    with pytest.raises(Refused, match="--approver 'carol' is not trusted") as err:
        gate.approve_local(plan, "bob", "carol", gate.ApprovalPolicy(), NOW)
    assert err.value.hint and "have carol run `envctl release approve demo-1" in err.value.hint
    # Naming yourself is fine (scripts that always pass --approver keep working for the right person).
    assert gate.approve_local(plan, "bob", "Bob", gate.ApprovalPolicy(), NOW).approver == "bob"


def test_self_approval_is_forbidden_by_default_except_for_the_os_users_own_local_fleet() -> None:
    policy = gate.ApprovalPolicy()
    assert policy.forbid_self_approval is True
    local = gate.approve_local(make_plan("local"), "alice", None, policy, NOW)
    assert local.approver == "alice" and local.self_approved is True
    with pytest.raises(Refused, match="'alice' planned demo-1 and may not approve it") as err:
        gate.approve_local(make_plan("kubernetes"), "alice", None, policy, NOW)
    assert err.value.hint and "another approver" in err.value.hint
    strict = gate.ApprovalPolicy(local_self_approval=False)
    with pytest.raises(Refused, match="may not approve it"):
        gate.approve_local(make_plan("local"), "ALICE", None, strict, NOW)  # logins compare case-insensitively
    assert gate.approve_local(make_plan("kubernetes"), "alice", None, gate.ApprovalPolicy(forbid_self_approval=False), NOW)


def test_approver_must_be_on_the_allow_list(plan: ReleasePlan) -> None:
    policy = gate.ApprovalPolicy(approvers=["carol", "dave"])
    with pytest.raises(Refused, match="'mallory' may not approve releases \\(allowed: carol, dave\\)"):
        gate.approve_local(plan, "mallory", None, policy, NOW)
    assert gate.approve_local(plan, "Carol", None, policy, NOW).approver == "Carol"


def test_an_approval_given_before_the_policy_tightened_no_longer_counts(plan: ReleasePlan) -> None:
    record = gate.approve_local(plan, "bob", None, gate.ApprovalPolicy(), NOW)
    with pytest.raises(Refused, match="'bob' may not approve"):
        gate.check_approved(plan, record, gate.ApprovalPolicy(approvers=["carol"]))
    with pytest.raises(Refused, match=r"approved locally by bob; the policy \(built-in defaults\) says only an approval by the release workflow"):
        gate.check_approved(plan, record, gate.ApprovalPolicy(require_github_approval=True))


def test_in_actions_a_local_approval_or_one_of_another_run_starts_nothing(plan: ReleasePlan) -> None:
    here = ActionsContext("acme/chargers", 222, 1)
    local = gate.approve_local(plan, "bob", None, gate.ApprovalPolicy(), NOW)
    with pytest.raises(Refused, match="this job runs in GitHub Actions, where only an approval by the release workflow"):
        gate.check_approved(plan, local, gate.ApprovalPolicy(), here)
    run = gate.ApprovalRun(repository="acme/chargers", id=111, attempt=1, url="https://github.com/acme/chargers/actions/runs/111",
                           workflow=".github/workflows/release.yml", environment="production", title="release v2 at 100/s",
                           dispatched_by=["dave"])  # fmt: skip
    elsewhere = gate.Approval(plan_id=plan.id, plan_hash=plan.hash, approver="carol", approved_at=NOW, source="github-actions", run=run)
    with pytest.raises(Refused, match="approved in run 111 \\(attempt 1\\) of acme/chargers; this is run 222"):
        gate.check_approved(plan, elsewhere, gate.ApprovalPolicy(), here)
    assert gate.check_approved(plan, elsewhere, gate.ApprovalPolicy(), ActionsContext("ACME/chargers", 111, 1)) == elsewhere
    with pytest.raises(Refused, match="attempt 1"):
        gate.check_approved(plan, elsewhere, gate.ApprovalPolicy(), ActionsContext("acme/chargers", 111, 2))


def test_the_dispatcher_recorded_with_a_run_approval_is_checked_again_at_start(plan: ReleasePlan) -> None:
    run = gate.ApprovalRun(repository="acme/chargers", id=111, attempt=1, url="u", workflow="w", environment="production",
                           title="t", dispatched_by=["carol"])  # fmt: skip
    record = gate.Approval(plan_id=plan.id, plan_hash=plan.hash, approver="carol", approved_at=NOW, source="github-actions", run=run)
    with pytest.raises(Refused, match="'carol' dispatched the run of demo-1 and may not approve it"):
        gate.check_approved(plan, record, gate.ApprovalPolicy())


def test_origin_is_part_of_the_hash_only_when_there_is_one(plan: ReleasePlan) -> None:
    assert "origin" not in plan.content()  # plans stored before origins existed keep their hash
    ci = plan.model_copy(update={"origin": PlanOrigin(repository="acme/chargers", run_id=1, run_attempt=1, url="u")})
    assert ci.hash != plan.hash and ci.content()["origin"]["run_id"] == 1


def test_policy_comes_from_envctl_yaml_and_never_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "envctl.yaml"
    cfg.write_text("release:\n  approval:\n    approvers: [carol]\n    forbid_self_approval: false\n"
                   "    github_environment: prod-eu\n    workflow_refs: [refs/heads/main]\n")
    for var in ("ENVCTL_RELEASE_APPROVERS", "ENVCTL_RELEASE_FORBID_SELF_APPROVAL", "ENVCTL_RELEASE_REQUIRE_GITHUB_APPROVAL"):
        monkeypatch.delenv(var, raising=False)
    loaded = gate.ApprovalPolicy.load(cfg)
    assert loaded.model_dump() == gate.ApprovalPolicy(
        approvers=["carol"], forbid_self_approval=False, github_environment="prod-eu", workflow_refs=["refs/heads/main"]
    ).model_dump()
    assert loaded.source == str(cfg)
    # The former overrides are refused, not silently ignored: a job that relied on one must know.
    monkeypatch.setenv("ENVCTL_RELEASE_REQUIRE_GITHUB_APPROVAL", "0")
    with pytest.raises(ConfigError, match="ENVCTL_RELEASE_REQUIRE_GITHUB_APPROVAL is set, but the release policy is no longer read"):
        gate.ApprovalPolicy.load(cfg)


def test_a_typo_in_the_policy_is_an_error_not_a_silent_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENVCTL_RELEASE_FORBID_SELF_APPROVAL", raising=False)
    cfg = tmp_path / "envctl.yaml"
    cfg.write_text("release:\n  approval:\n    forbid_self_aproval: false\n")
    with pytest.raises(ConfigError, match="release.approval is invalid: forbid_self_aproval"):
        gate.ApprovalPolicy.load(cfg)


def test_identity_outside_actions_is_the_os_user_whatever_the_environment_says(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_ACTOR", "octocat")
    monkeypatch.setenv("USER", "octocat")
    monkeypatch.setenv("LOGNAME", "octocat")
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    me = pwd.getpwuid(os.geteuid()).pw_name
    assert os_user() == me
    who = acting()
    assert who.login == me and who.ci is None
