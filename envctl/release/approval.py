"""The approval gate: a release starts only from a plan the right person approved, unchanged.

An approval is a record {plan_id, plan_hash, approver, approved_at, source, run?}. It is checked,
never trusted: at `start` the stored plan is hashed again and must match what was approved, and
the policy is applied again (it may have tightened since).

Who approved comes from an authority, never from a flag:
  - in GitHub Actions, GitHub's review history of the run (envctl/release/approval_github.py);
    `--approver` is refused there;
  - outside CI, the operating system: the approver is the OS user running `envctl release
    approve` (the kernel's uid, not $USER). `--approver` is only accepted when it names that user,
    so nobody can record an approval in someone else's name.

An approval carries what proves it, and `start` checks that proof again (envctl/release/proof.py):
a GitHub approval by asking GitHub again, a local one by who the storage says wrote it.

The policy comes from envctl.yaml or the cluster, never from the environment (envctl/release/policy.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Protocol

from pydantic import BaseModel, ValidationError

from envctl.errors import Refused
from envctl.release.hints import release_cmd
from envctl.release.plan import ReleasePlan
from envctl.release.policy import ApprovalPolicy, same_login

__all__ = ["Approval", "ApprovalPolicy", "ApprovalRun", "approve_local", "check_approved", "check_may_approve", "same_login"]

Source = Literal["local", "github-actions"]


class RunCoordinates(Protocol):
    """Which GitHub Actions run a job is part of (envctl.release.approval_github.ActionsContext)."""

    @property
    def repository(self) -> str: ...
    @property
    def run_id(self) -> int: ...
    @property
    def run_attempt(self) -> int: ...


class ApprovalRun(BaseModel):
    """The GitHub Actions run whose required reviewers approved, as GitHub described it."""

    repository: str
    id: int
    attempt: int
    url: str
    workflow: str
    environment: str
    title: str
    dispatched_by: list[str]


class Approval(BaseModel):
    plan_id: str
    plan_hash: str
    approver: str
    approved_at: datetime  # when envctl verified it (GitHub's review history carries no time)
    source: Source = "local"
    run: ApprovalRun | None = None
    comment: str = ""
    self_approved: bool = False


def _not_allowed(plan: ReleasePlan, approver: str, policy: ApprovalPolicy) -> Refused:
    return Refused(
        f"{approver!r} may not approve releases (allowed: {', '.join(policy.approvers)})",
        f"ask one of the allowed approvers to run {release_cmd('approve', plan.id, plan.env, plan.runtime)}",
    )


def check_may_approve(plan: ReleasePlan, approval: Approval, policy: ApprovalPolicy) -> None:
    """The policy's rules about the person, for a record made now or earlier."""
    if not policy.allows(approval.approver):
        raise _not_allowed(plan, approval.approver, policy)
    if not policy.forbid_self_approval:
        return
    if approval.source == "local" and plan.runtime == "local" and policy.local_self_approval:
        return
    involved = [plan.planner, *(approval.run.dispatched_by if approval.run else [])]
    if any(same_login(approval.approver, who) for who in involved):
        role = "planned" if same_login(approval.approver, plan.planner) else "dispatched the run of"
        raise Refused(
            f"{approval.approver!r} {role} {plan.id} and may not approve it (self-approval is forbidden)",
            "ask another approver"
            + (" (a required reviewer of the run)" if approval.run else " to run " + release_cmd("approve", plan.id, plan.env, plan.runtime)),
        )


def approve_local(plan: ReleasePlan, os_user: str, claimed: str | None, policy: ApprovalPolicy, now: datetime) -> Approval:
    """An approval given outside CI: by the OS user running envctl, and only in their own name."""
    if claimed is not None and not same_login(claimed, os_user):
        raise Refused(
            f"--approver {claimed!r} is not trusted: an approval is recorded as the OS user who gives it ({os_user!r})",
            f"have {claimed} run {release_cmd('approve', plan.id, plan.env, plan.runtime)} themselves",
        )
    record = Approval(
        plan_id=plan.id, plan_hash=plan.hash, approver=os_user, approved_at=now, source="local",
        self_approved=same_login(os_user, plan.planner),
    )  # fmt: skip
    check_may_approve(plan, record, policy)
    return record


def check_approved(plan: ReleasePlan, approval: Approval | None, policy: ApprovalPolicy, ci_run: RunCoordinates | None = None) -> Approval:
    """Raise Refused with what to do unless `approval` still allows `plan` to start.

    `ci_run`: the GitHub Actions run we are in, if any: there, only an approval by that very run's
    reviewers starts anything (an approval of another run, or one given locally, does not).
    """
    if approval is None:
        raise Refused(
            f"plan {plan.id} has no approval",
            f"have an approver run {release_cmd('approve', plan.id, plan.env, plan.runtime)}, then start it again",
        )
    if approval.plan_hash != plan.hash:
        raise Refused(
            f"the approval of {plan.id} is void: the plan changed after {approval.approver} approved it "
            f"(approved {approval.plan_hash[:19]}…, now {plan.hash[:19]}…)",
            f"review it with {release_cmd('status', plan.id, plan.env, plan.runtime)} and approve it again",
        )
    if (policy.require_github_approval or ci_run is not None) and (approval.source != "github-actions" or approval.run is None):
        raise Refused(
            f"plan {plan.id} was approved locally by {approval.approver}; "
            + ("this job runs in GitHub Actions, where" if ci_run else f"the policy ({policy.source}) says")
            + " only an approval by the release workflow's reviewers counts",
            "dispatch the release workflow and have a required reviewer of its `production` environment approve the run",
        )
    if ci_run is not None and approval.run is not None and (
        approval.run.id != ci_run.run_id or approval.run.attempt != ci_run.run_attempt
        or not same_login(approval.run.repository, ci_run.repository)
    ):
        raise Refused(
            f"plan {plan.id} was approved in run {approval.run.id} (attempt {approval.run.attempt}) of "
            f"{approval.run.repository}; this is run {ci_run.run_id} (attempt {ci_run.run_attempt}) of {ci_run.repository}",
            "start a release in the run whose reviewers approved it, or plan and approve it in this run",
        )
    check_may_approve(plan, approval, policy)  # the policy may have tightened since
    return approval


def parse_approval(data: object, where: str, hint: str) -> Approval:
    """A stored approval record, or Refused naming `where` it came from when envctl did not write it."""
    try:
        return Approval.model_validate(data)
    except ValidationError as err:
        raise Refused(f"{where} is not an approval envctl wrote: {err.errors()[0]['msg']}", hint) from None
