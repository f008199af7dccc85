"""Workflow runs and their deployment reviews, for the fake GitHub API (tests/fakes/github_api.py).

Two read-only endpoints, shaped from the examples in GitHub's REST API description
(github_data/workflow_run.json, github_data/environment_approvals.json; see github_data/README.md):

    GET /repos/{owner}/{repo}/actions/runs/{run_id}             "Get a workflow run"
    GET /repos/{owner}/{repo}/actions/runs/{run_id}/approvals   "Get the review history for a workflow run"

Like GitHub, a run is only found under the repository it belongs to (another repository's run id
is a 404). Tests create runs and reviews directly; nothing here can approve through the API.

What it cannot catch: GitHub's ordering of the review history (not documented; the fake answers in
the order reviews were given, and envctl's rules do not depend on the order), reviews left on
earlier attempts of a re-run (GitHub's history spans attempts; the fake keeps whatever the test
adds), the `pending` state GitHub uses for comments without a decision (tests add it explicitly),
and whether GitHub hides a run from a token without `actions: read` (the fake accepts its token).
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field
from typing import Any

WORKFLOW_RUN_ROUTES: list[tuple[str, str, str]] = [
    ("GET", r"/repos/(?P<repo>[^/]+/[^/]+)/actions/runs/(?P<run_id>\d+)", "_get_workflow_run"),
    ("GET", r"/repos/(?P<repo>[^/]+/[^/]+)/actions/runs/(?P<run_id>\d+)/approvals", "_get_run_approvals"),
]

REVIEW_STATES = ("approved", "rejected", "pending")


@dataclass
class FakeRun:
    repo: str
    id: int
    actor: str
    triggering_actor: str
    workflow: str
    ref: str
    event: str
    status: str
    conclusion: str | None
    run_attempt: int
    display_title: str
    head_sha: str
    reviews: list[dict[str, Any]] = field(default_factory=list)


class WorkflowRunRoutes:
    """Mixed into FakeGitHub: it supplies `lock`, `url`, `shapes`, `_fill`, `_user`, `_repo_obj`."""

    _run_ids = itertools.count(7_000_000_001)

    def _runs(self) -> dict[tuple[str, int], FakeRun]:
        return self.__dict__.setdefault("_workflow_runs", {})  # type: ignore[no-any-return]

    # --- what tests tell it ---------------------------------------------------------------------

    def add_workflow_run(
        self, repo: str, *, actor: str, triggering_actor: str | None = None, run_id: int | None = None,
        workflow: str = ".github/workflows/release.yml", ref: str = "refs/heads/main",
        event: str = "workflow_dispatch", status: str = "in_progress", run_attempt: int = 1,
        display_title: str = "release", head_sha: str = "acb5820ced9479c074f688cc328bf03f341a511d",
    ) -> int:
        run = FakeRun(
            repo=repo, id=run_id or next(self._run_ids), actor=actor, triggering_actor=triggering_actor or actor,
            workflow=workflow, ref=ref, event=event, status=status, conclusion=None, run_attempt=run_attempt,
            display_title=display_title, head_sha=head_sha,
        )  # fmt: skip
        with self.lock:  # type: ignore[attr-defined]
            self._runs()[(repo.lower(), run.id)] = run
        return run.id

    def update_workflow_run(self, repo: str, run_id: int, **changes: Any) -> None:
        with self.lock:  # type: ignore[attr-defined]
            run = self._runs()[(repo.lower(), run_id)]
            for key, value in changes.items():
                if not hasattr(run, key):
                    raise AttributeError(f"a fake run has no field {key!r}")
                setattr(run, key, value)

    def review_run(self, repo: str, run_id: int, login: str, state: str = "approved",
                   environments: tuple[str, ...] = ("production",), comment: str = "") -> None:
        """What a required reviewer's decision on the run's pending deployment leaves in its history."""
        if state not in REVIEW_STATES:
            raise ValueError(f"review state must be one of {REVIEW_STATES}")
        with self.lock:  # type: ignore[attr-defined]
            self._runs()[(repo.lower(), run_id)].reviews.append(
                {"state": state, "login": login, "environments": list(environments), "comment": comment}
            )

    # --- endpoints --------------------------------------------------------------------------------

    def _find_run(self, repo: str, run_id: str) -> FakeRun:
        from tests.fakes.github_api import Reply

        run = self._runs().get((repo.lower(), int(run_id)))
        if run is None:
            raise Reply(404, {"message": "Not Found",
                              "documentation_url": "https://docs.github.com/rest/actions/workflow-runs#get-a-workflow-run"})
        return run

    def _get_workflow_run(self, rec: Any, repo: str, run_id: str) -> tuple[int, Any, dict[str, str]]:
        run = self._find_run(repo, run_id)
        api = f"{self.url}/repos/{run.repo}/actions/runs/{run.id}"  # type: ignore[attr-defined]
        branch = run.ref.removeprefix("refs/heads/").removeprefix("refs/tags/")
        data = self._fill("workflow_run", run.repo)  # type: ignore[attr-defined]
        data.update(
            id=run.id, name="release", head_branch=branch, head_sha=run.head_sha, path=f"{run.workflow}@{run.ref}",
            event=run.event, display_title=run.display_title, status=run.status, conclusion=run.conclusion,
            run_attempt=run.run_attempt, url=api, html_url=f"https://github.com/{run.repo}/actions/runs/{run.id}",
            actor=self._user(run.actor), triggering_actor=self._user(run.triggering_actor),  # type: ignore[attr-defined]
            jobs_url=f"{api}/jobs", logs_url=f"{api}/logs", artifacts_url=f"{api}/artifacts",
            cancel_url=f"{api}/cancel", rerun_url=f"{api}/rerun",
            previous_attempt_url=f"{api}/attempts/{run.run_attempt - 1}" if run.run_attempt > 1 else None,
            repository=self._repo_obj(run.repo), head_repository=self._repo_obj(run.repo),  # type: ignore[attr-defined]
        )  # fmt: skip
        return 200, data, {}

    def _get_run_approvals(self, rec: Any, repo: str, run_id: str) -> tuple[int, Any, dict[str, str]]:
        run = self._find_run(repo, run_id)
        [example] = self.shapes["environment_approvals"]  # type: ignore[attr-defined]
        out = []
        for review in run.reviews:
            entry = copy.deepcopy(example)
            entry.update(state=review["state"], comment=review["comment"], user=self._user(review["login"]))  # type: ignore[attr-defined]
            entry["environments"] = [self._environment(run.repo, name, example["environments"][0])
                                     for name in review["environments"]]
            out.append(entry)
        return 200, out, {}

    def _environment(self, repo: str, name: str, shape: dict[str, Any]) -> dict[str, Any]:
        env = copy.deepcopy(shape)
        env.update(
            id=abs(hash((repo.lower(), name))) % 10**9, name=name,
            url=f"{self.url}/repos/{repo}/environments/{name}",  # type: ignore[attr-defined]
            html_url=f"https://github.com/{repo}/deployments/activity_log?environments_filter={name}",
        )
        return env
