"""The rules over GitHub's facts (pure): who approved this run, and every way an approval must not pass."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

import pytest

from envctl.errors import ConfigError, Refused
from envctl.github.workflow_runs import DeploymentReview, WorkflowRunFacts
from envctl.release.approval import Approval, ApprovalPolicy
from envctl.release.approval_github import ActionsContext, decide, parse_run_title, refuse_reuse, run_title
from envctl.release.fleet import ReplicaView
from envctl.release.plan import PlanOptions, PlanOrigin, ReleasePlan, compute_plan

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)
REPO = "acme/chargers"
CTX = ActionsContext(REPO, 111, 1)
RUN = WorkflowRunFacts(
    id=111, attempt=1, repository=REPO, workflow_path=".github/workflows/release.yml", workflow_ref="refs/heads/main",
    event="workflow_dispatch", status="in_progress", display_title="release v2 at 100/s",
    html_url=f"https://github.com/{REPO}/actions/runs/111", head_sha="a" * 40, actor="dave", triggering_actor="dave",
)  # fmt: skip


def plan_in(run_id: int = 111, attempt: int = 1, repo: str = REPO, planner: str = "dave", budget: float = 100.0) -> ReleasePlan:
    replicas = [ReplicaView("r1", "v1", True, True, True, False, 100)]
    return compute_plan(
        env="prod", runtime="kubernetes", replicas=replicas, options=PlanOptions(to_version="v2", budget_per_s=budget),
        planner=planner, now=NOW, plan_id="release-111-1",
        origin=PlanOrigin(repository=repo, run_id=run_id, run_attempt=attempt, url=f"https://github.com/{repo}/actions/runs/{run_id}"),
    )  # fmt: skip


def review(user: str, state: str = "approved", env: str = "production", comment: str = "") -> DeploymentReview:
    return DeploymentReview(state=state, user=user, environments=(env,), comment=comment)


def refused(plan: ReleasePlan, reviews: list[DeploymentReview], run: WorkflowRunFacts = RUN,
            policy: ApprovalPolicy | None = None, ctx: ActionsContext = CTX) -> Refused:
    with pytest.raises(Refused) as err:
        decide(plan, run, reviews, policy or ApprovalPolicy(), ctx, NOW)
    return err.value


def test_an_approval_by_a_listed_sre_is_recorded_with_the_run_and_the_plan_hash() -> None:
    plan = plan_in()
    record = decide(plan, RUN, [review("carol", comment="ship it")], ApprovalPolicy(approvers=["Carol", "erin"]), CTX, NOW)
    assert (record.approver, record.source, record.plan_hash, record.comment) == ("carol", "github-actions", plan.hash, "ship it")
    assert record.approved_at == NOW and record.self_approved is False
    assert record.run is not None
    assert (record.run.id, record.run.attempt, record.run.url) == (111, 1, RUN.html_url)
    assert (record.run.environment, record.run.title, record.run.dispatched_by) == ("production", "release v2 at 100/s", ["dave"])


def test_nobody_approved() -> None:
    err = refused(plan_in(), [])
    assert "nobody approved run 111 for the production environment" in err.message
    assert err.hint and "required reviewers" in err.hint
    # A comment without a decision (state pending) is not an approval either,
    assert "nobody approved" in refused(plan_in(), [review("carol", "pending")]).message
    # ...nor is an approval of another environment of the same run.
    err = refused(plan_in(), [review("carol", env="staging")])
    assert "nobody approved run 111 for the production environment (approvals exist only for staging)" in err.message


def test_a_rejection_refuses_even_next_to_an_approval() -> None:
    err = refused(plan_in(), [review("carol"), review("erin", "rejected", comment="not during the peak")])
    assert err.message == "erin rejected run 111 for the production environment: 'not during the peak'"


@pytest.mark.parametrize("who", ["dave", "DAVE"])
def test_the_only_approver_is_the_dispatcher(who: str) -> None:
    err = refused(plan_in(planner="release-bot"), [review(who)])
    assert f"the only approver of run 111, {who}, planned or dispatched it; self-approval is forbidden" in err.message
    assert err.hint and "another required reviewer" in err.hint


def test_a_re_run_excludes_both_the_original_actor_and_the_re_runner() -> None:
    rerun = replace(RUN, attempt=2, actor="dave", triggering_actor="frank")
    plan = plan_in(attempt=2, planner="frank")
    assert "the only approver of run 111, dave" in refused(plan, [review("dave")], rerun, ctx=ActionsContext(REPO, 111, 2)).message
    assert decide(plan, rerun, [review("dave"), review("carol")], ApprovalPolicy(), ActionsContext(REPO, 111, 2), NOW).approver == "carol"


def test_the_only_approver_is_the_planner() -> None:
    err = refused(plan_in(planner="carol"), [review("carol")])
    assert "the only approver of run 111, carol, planned or dispatched it" in err.message


def test_self_approval_passes_when_the_policy_allows_it_and_is_marked() -> None:
    record = decide(plan_in(), RUN, [review("dave")], ApprovalPolicy(forbid_self_approval=False), CTX, NOW)
    assert record.approver == "dave" and record.self_approved is True


def test_an_approver_not_on_the_list_is_refused_and_an_independent_listed_one_is_preferred() -> None:
    policy = ApprovalPolicy(approvers=["carol", "erin"])
    err = refused(plan_in(), [review("mallory")], policy=policy)
    assert err.message == "mallory approved run 111 but may not approve releases (allowed: carol, erin)"
    assert decide(plan_in(), RUN, [review("mallory"), review("erin")], policy, CTX, NOW).approver == "erin"
    # the dispatcher being on the list does not let them approve their own run
    assert "planned or dispatched it" in refused(plan_in(), [review("dave")], policy=ApprovalPolicy(approvers=["dave"])).message


def test_an_approval_of_another_run_does_not_pass() -> None:
    err = refused(plan_in(run_id=110), [review("carol")])
    assert "plan release-111-1 was made in run 110 (attempt 1) of acme/chargers; the reviewers of run 111" in err.message
    no_origin = plan_in().model_copy(update={"origin": None})
    assert "was not made in a GitHub Actions run" in refused(no_origin, [review("carol")]).message
    stale = refused(plan_in(), [review("carol")], run=replace(RUN, attempt=2))
    assert "run 111 is at attempt 2, this job is attempt 1" in stale.message
    done = refused(plan_in(), [review("carol")], run=replace(RUN, status="completed"))
    assert "run 111 has already completed" in done.message


def test_an_approval_of_another_workflow_or_repository_does_not_pass() -> None:
    other = refused(plan_in(), [review("carol")], run=replace(RUN, workflow_path=".github/workflows/deploy-staging.yml"))
    assert "run 111 is a run of .github/workflows/deploy-staging.yml, not of the release workflow" in other.message
    elsewhere = refused(plan_in(), [review("carol")], run=replace(RUN, repository="mallory/chargers"))
    assert "GitHub describes run 111 of mallory/chargers, but this job is run 111 of acme/chargers" in elsewhere.message
    branch = refused(plan_in(), [review("carol")], run=replace(RUN, workflow_ref="refs/heads/tweak"),
                     policy=ApprovalPolicy(workflow_refs=["refs/heads/main"]))
    assert "read .github/workflows/release.yml from refs/heads/tweak; releases run only from refs/heads/main" in branch.message


def test_a_run_whose_inputs_differ_from_the_plan_does_not_pass() -> None:
    err = refused(plan_in(budget=5000), [review("carol")])
    assert "run 111 was approved as 'release v2 at 100/s', but plan release-111-1 releases v2 at 5000/s" in err.message
    v3 = refused(plan_in(), [review("carol")], run=replace(RUN, display_title="release v3 at 100/s"))
    assert "approved as 'release v3 at 100/s'" in v3.message
    untitled = refused(plan_in(), [review("carol")], run=replace(RUN, display_title="release"))
    assert "does not say what the reviewers approved" in untitled.message and untitled.hint and "run-name" in untitled.hint


def test_run_titles_round_trip_and_reject_smuggled_text() -> None:
    assert parse_run_title(run_title("v2.3.1", 100.0)) == ("v2.3.1", 100.0)
    assert parse_run_title("release v2 at 12.5/s") == ("v2", 12.5)
    assert parse_run_title("release v2 at 100/s at 5000/s") is None
    assert parse_run_title("release v2 x at 100/s") is None


def test_one_approved_run_releases_one_plan() -> None:
    record = decide(plan_in(), RUN, [review("carol")], ApprovalPolicy(), CTX, NOW)
    refuse_reuse(record, [record])  # the same plan approved again is fine
    other = record.model_copy(update={"plan_id": "release-111-1-again"})
    with pytest.raises(Refused, match="the approval of run 111 was already used for plan release-111-1-again"):
        refuse_reuse(record, [other])
    local = Approval(plan_id="x", plan_hash="h", approver="bob", approved_at=NOW)
    refuse_reuse(record, [local])


def test_actions_context_comes_only_from_an_actions_job() -> None:
    assert ActionsContext.from_env({"GITHUB_RUN_ID": "5", "GITHUB_REPOSITORY": REPO}) is None
    env = {"GITHUB_ACTIONS": "true", "GITHUB_RUN_ID": "5", "GITHUB_REPOSITORY": REPO, "GITHUB_RUN_ATTEMPT": "3"}
    assert ActionsContext.from_env(env) == ActionsContext(REPO, 5, 3)
    with pytest.raises(ConfigError, match="GITHUB_RUN_ID is not set"):
        ActionsContext.from_env({"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": REPO})
