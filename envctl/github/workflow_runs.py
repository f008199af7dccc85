"""What GitHub says about a workflow run: who started it, what it is, and who reviewed its deployments.

Two REST calls, both through PyGithub:

    GET /repos/{o}/{r}/actions/runs/{run_id}             Repository.get_workflow_run()
    GET /repos/{o}/{r}/actions/runs/{run_id}/approvals   no PyGithub method: its requester, same
                                                         auth, retries and base URL

The answers are turned into small frozen records at this boundary, so the rules that judge them
(envctl/release/approval_github.py) are pure functions of plain data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from github import Github, GithubException

from envctl.errors import ConfigError, NotFound


@dataclass(frozen=True)
class WorkflowRunFacts:
    id: int
    attempt: int
    repository: str  # owner/name, as GitHub spells it
    workflow_path: str  # ".github/workflows/release.yml" (the part of `path` before "@")
    workflow_ref: str  # what follows "@": the branch or tag the workflow file was read from
    event: str  # workflow_dispatch, push, ...
    status: str  # queued, waiting, in_progress, completed, ...
    display_title: str  # the run-name the reviewers saw
    html_url: str
    head_sha: str
    actor: str  # who started the run's first attempt
    triggering_actor: str  # who started this attempt (differs from actor on a re-run)

    @property
    def dispatchers(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(login for login in (self.actor, self.triggering_actor) if login))


@dataclass(frozen=True)
class DeploymentReview:
    """One entry of a run's review history: a required reviewer's decision on its environments."""

    state: str  # approved | rejected | pending (a comment without a decision)
    user: str
    environments: tuple[str, ...]
    comment: str


def _login(user: Any) -> str:
    return str(getattr(user, "login", "") or "") if user is not None else ""


def _api_error(err: GithubException, what: str, repository: str, run_id: int) -> Exception:
    if err.status == 404:
        return NotFound(
            f"GitHub has no workflow run {run_id} in {repository} ({what})",
            "the run id and repository come from the Actions job (GITHUB_RUN_ID, GITHUB_REPOSITORY); "
            "the token needs `actions: read` on that repository",
        )
    if err.status in (401, 403):
        return ConfigError(
            f"GitHub refused to show run {run_id} of {repository} ({err.status}): {err.data}",
            "give the job's token `permissions: actions: read` (GITHUB_TOKEN is passed as ENVCTL_GITHUB_TOKEN)",
        )
    return ConfigError(f"GitHub answered {err.status} for run {run_id} of {repository}: {err.data}")


def read_run(gh: Github, repository: str, run_id: int) -> WorkflowRunFacts:
    try:
        run = gh.get_repo(repository, lazy=True).get_workflow_run(run_id)
        path, _, ref = str(run.path).partition("@")
        return WorkflowRunFacts(
            id=int(run.id), attempt=int(run.run_attempt or 1), repository=str(run.repository.full_name),
            workflow_path=path, workflow_ref=ref, event=str(run.event), status=str(run.status),
            display_title=str(run.display_title or ""), html_url=str(run.html_url), head_sha=str(run.head_sha),
            actor=_login(run.actor), triggering_actor=_login(run.triggering_actor),
        )  # fmt: skip
    except GithubException as err:
        raise _api_error(err, "reading the run", repository, run_id) from None


def read_reviews(gh: Github, repository: str, run_id: int) -> list[DeploymentReview]:
    repo = gh.get_repo(repository, lazy=True)
    try:
        _headers, data = gh.requester.requestJsonAndCheck("GET", f"{repo.url}/actions/runs/{run_id}/approvals")
    except GithubException as err:
        raise _api_error(err, "reading its review history", repository, run_id) from None
    if not isinstance(data, list):
        raise ConfigError(f"GitHub's review history of run {run_id} is not a list: {str(data)[:200]}")
    return [
        DeploymentReview(
            state=str(entry.get("state", "")),
            user=str((entry.get("user") or {}).get("login", "")),
            environments=tuple(str(e.get("name", "")) for e in entry.get("environments") or []),
            comment=str(entry.get("comment") or ""),
        )
        for entry in data
        if isinstance(entry, dict)
    ]
