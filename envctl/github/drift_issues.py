"""Drift issues: one open GitHub issue per drifted project, updated in place, closed when it is gone.

The only module that writes issues (pull_updater.py writes to pull requests). An issue is found
again by the marker at the start of its body among the open issues carrying LABEL, so a rerun of
the drift workflow edits it instead of opening another. `sync` takes a drift check's results
(envctl/terraform/drift.py) and brings every project's issue in line with them.
"""

from __future__ import annotations

from dataclasses import dataclass

from github import Github, GithubException
from github.Issue import Issue

from envctl.github.terraform_markdown import DRIFT_MARKER, DriftView, drift_title, render_drift
from envctl.terraform.drift import DriftResult
from envctl.terraform.locks import now_iso

LABEL = "envctl-drift"


@dataclass(frozen=True)
class IssueAction:
    project: str
    action: str  # opened | updated | closed | unchanged
    number: int | None

    def to_dict(self) -> dict[str, object]:
        return {"project": self.project, "action": self.action, "number": self.number}


class DriftIssues:
    def __init__(self, gh: Github, repo: str) -> None:
        self.repo = gh.get_repo(repo, lazy=True)
        self._open: dict[str, Issue] | None = None

    def _open_issues(self) -> dict[str, Issue]:
        if self._open is None:
            self._open = {}
            for issue in self.repo.get_issues(state="open", labels=[LABEL]):
                for line in (issue.body or "").splitlines()[:1]:
                    if line.startswith("<!-- envctl:terraform:drift project="):
                        self._open[line] = issue
        return self._open

    def sync(self, results: list[DriftResult]) -> list[IssueAction]:
        """Open or update the issue of every drifted project, close those of projects back in line."""
        actions = []
        for r in results:
            p = r.project
            if r.error:
                continue  # a failed check says nothing about drift: leave the issue as it is
            if r.drifted:
                text = r.config.plan_text if r.config and r.pending else r.refresh.plan_text
                body = render_drift(DriftView(p.name, p.dir, p.workspace, tuple(r.drifted_resources), r.pending,
                                              text, now_iso()))
                actions.append(self.report(p.name, body))
            else:
                actions.append(self.resolve(p.name, f"The drift check at {now_iso()} found `{p.name}` "
                                                    "matching the default branch again. Closing."))
        return actions

    def report(self, project: str, body: str) -> IssueAction:
        marker = DRIFT_MARKER.format(project=project)
        existing = self._open_issues().get(marker)
        if existing is None:
            try:
                issue = self.repo.create_issue(title=drift_title(project), body=body, labels=[LABEL])
            except GithubException as err:
                if err.status != 422:  # 422: the label does not exist and we may not create it
                    raise
                issue = self.repo.create_issue(title=drift_title(project), body=body)
            self._open_issues()[marker] = issue
            return IssueAction(project, "opened", issue.number)
        if (existing.body or "") == body:
            return IssueAction(project, "unchanged", existing.number)
        existing.edit(body=body)
        return IssueAction(project, "updated", existing.number)

    def resolve(self, project: str, note: str) -> IssueAction:
        marker = DRIFT_MARKER.format(project=project)
        existing = self._open_issues().pop(marker, None)
        if existing is None:
            return IssueAction(project, "unchanged", None)
        existing.create_comment(note)
        existing.edit(state="closed", state_reason="completed")
        return IssueAction(project, "closed", existing.number)
