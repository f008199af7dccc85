"""The approval gate: a release starts only from a plan someone allowed has approved, unchanged.

An approval is a record {plan_id, plan_hash, approver, approved_at}. It is checked, never
trusted: at `start` the stored plan is hashed again and must match what was approved.
The policy (who may approve, whether the planner may approve their own plan) comes from
envctl.yaml `release.approval` or, in CI, from environment variables.
"""

from __future__ import annotations

import getpass
import os
from datetime import datetime
from pathlib import Path

import yaml
from pydantic import BaseModel, Field

from envctl.errors import ConfigError, Refused
from envctl.release.plan import ReleasePlan


class ApprovalPolicy(BaseModel):
    approvers: list[str] = Field(default_factory=list)  # empty: anyone may approve
    forbid_self_approval: bool = False

    @classmethod
    def load(cls, config_path: Path | None = None) -> ApprovalPolicy:
        """envctl.yaml `release: {approval: {approvers: [...], forbid_self_approval: true}}`,
        overridden by ENVCTL_RELEASE_APPROVERS (comma list) and ENVCTL_RELEASE_FORBID_SELF_APPROVAL."""
        data: dict[str, object] = {}
        path = config_path or Path(os.environ.get("ENVCTL_CONFIG", "envctl.yaml"))
        if path.is_file():
            try:
                doc = yaml.safe_load(path.read_text()) or {}
            except yaml.YAMLError as err:
                raise ConfigError(f"{path} is not valid YAML: {err}") from err
            section = ((doc.get("release") or {}) if isinstance(doc, dict) else {}).get("approval") or {}
            if not isinstance(section, dict):
                raise ConfigError(f"{path}: release.approval must be a mapping")
            data.update(section)
        if "ENVCTL_RELEASE_APPROVERS" in os.environ:
            data["approvers"] = [a.strip() for a in os.environ["ENVCTL_RELEASE_APPROVERS"].split(",") if a.strip()]
        if "ENVCTL_RELEASE_FORBID_SELF_APPROVAL" in os.environ:
            data["forbid_self_approval"] = os.environ["ENVCTL_RELEASE_FORBID_SELF_APPROVAL"].lower() in ("1", "true", "yes")
        try:
            return cls.model_validate(data)
        except ValueError as err:
            raise ConfigError(f"release.approval in {path} is invalid: {err}") from err


class Approval(BaseModel):
    plan_id: str
    plan_hash: str
    approver: str
    approved_at: datetime


def current_identity() -> str:
    """Who is acting: the GitHub actor inside Actions, else the OS user."""
    return os.environ.get("GITHUB_ACTOR") or getpass.getuser()


def check_may_approve(plan: ReleasePlan, approver: str, policy: ApprovalPolicy) -> None:
    if policy.approvers and approver not in policy.approvers:
        raise Refused(
            f"{approver!r} may not approve releases (allowed: {', '.join(policy.approvers)})",
            "ask one of the allowed approvers to run `envctl release approve " + plan.id + "`",
        )
    if policy.forbid_self_approval and approver == plan.planner:
        raise Refused(
            f"{approver!r} planned {plan.id} and may not approve their own plan (self-approval is forbidden)",
            "ask another approver to run `envctl release approve " + plan.id + "`",
        )


def approve(plan: ReleasePlan, approver: str, policy: ApprovalPolicy, now: datetime) -> Approval:
    check_may_approve(plan, approver, policy)
    return Approval(plan_id=plan.id, plan_hash=plan.hash, approver=approver, approved_at=now)


def check_approved(plan: ReleasePlan, approval: Approval | None, policy: ApprovalPolicy) -> Approval:
    """Raise Refused with what to do unless `approval` still allows `plan` to start."""
    if approval is None:
        raise Refused(
            f"plan {plan.id} has no approval",
            f"have an approver run `envctl release approve {plan.id} --env {plan.env}`, then start it again",
        )
    if approval.plan_hash != plan.hash:
        raise Refused(
            f"the approval of {plan.id} is void: the plan changed after {approval.approver} approved it "
            f"(approved {approval.plan_hash[:19]}…, now {plan.hash[:19]}…)",
            f"review it with `envctl release status {plan.id} --env {plan.env}` and approve it again",
        )
    # The policy may have tightened since the approval was given; it is checked again.
    check_may_approve(plan, approval.approver, policy)
    return approval
