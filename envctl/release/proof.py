"""What proves an approval, asked for again at `start`: a stored record is a claim, not a proof.

Anyone who can write the release's state (the files of a local environment, the ConfigMap of a
Kubernetes one) can write an approval record. So `start` does not believe the record; it asks
the authority that stands behind it:

  - source `github-actions`: GitHub. The run's review history is read again through PyGithub
    (`GET .../actions/runs/{id}/approvals`, as `approve` did) and the record's approver must be
    one GitHub says approved *this* run, for the configured environment, for this plan's inputs,
    and may approve under today's policy. Only the run's own job can ask (it holds the token and
    the run is still in progress), so such an approval starts a release only there.
  - source `local` on the local runtime: the kernel. `approval.json` is written by
    `envctl release approve` as the OS user who approves; the file's owner must be that user.
  - source `local` on Kubernetes: nothing stronger than the record exists (the API server does not
    say who wrote a ConfigMap key). Such approvals count only where the cluster's policy says
    `require_github_approval: false`; its default is true (envctl/release/policy.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from envctl.errors import Refused
from envctl.release.approval import Approval, ApprovalPolicy, same_login
from envctl.release.hints import release_cmd
from envctl.release.plan import ReleasePlan

if TYPE_CHECKING:
    from envctl.release.approval_github import CiRun


def confirm(plan: ReleasePlan, record: Approval, policy: ApprovalPolicy, ci: CiRun | None,
            writer: tuple[str, str] | None) -> None:
    """Refused, saying why and what to do, unless the record's authority confirms it.

    `writer`: (who, where) the store's authority says wrote the record, when it can say."""
    if record.source == "github-actions":
        _confirm_with_github(plan, record, policy, ci)
    elif writer is not None:
        _confirm_writer(plan, record, *writer)


def _confirm_with_github(plan: ReleasePlan, record: Approval, policy: ApprovalPolicy, ci: CiRun | None) -> None:
    run = record.run
    where = f"run {run.id} of {run.repository}" if run else "a GitHub Actions run it does not name"
    again = release_cmd("approve", plan.id, plan.env, plan.runtime)
    if run is None:
        raise Refused(
            f"the approval record of {plan.id} says GitHub approved it but names no run: it was not written by `envctl release approve`",
            f"discard it: dispatch the release workflow and let its job run {again}",
        )
    if ci is None:
        raise Refused(
            f"plan {plan.id} was approved by a reviewer of {where}; such an approval is checked with GitHub again "
            "at start, which only that run's job can do",
            "start it from the run's job (release.yml's Start step), or dispatch a new release run",
        )
    try:
        approvers = ci.confirmed_approvers(plan, policy)
    except Refused as err:
        raise Refused(
            f"the approval record of {plan.id} names {record.approver!r} as approver of {where}, but GitHub does not "
            f"confirm it: {err.message}",
            err.hint,
        ) from None
    if not any(same_login(record.approver, a) for a in approvers):
        raise Refused(
            f"the approval record of {plan.id} names {record.approver!r} as approver of {where}, but GitHub's review "
            f"history of the run does not ({', '.join(approvers)} approved it): the record was not written by `envctl release approve`",
            f"discard it: run {again} in the run's job, which records what GitHub says",
        )


def _confirm_writer(plan: ReleasePlan, record: Approval, writer: str, where: str) -> None:
    if not same_login(writer, record.approver):
        raise Refused(
            f"the approval record of {plan.id} names {record.approver!r}, but {where} was written by {writer!r}: "
            "an approval is written by `envctl release approve`, run by the approver",
            f"remove {where} and have {record.approver} run {release_cmd('approve', plan.id, plan.env, plan.runtime)}",
        )
