"""The only module that writes to GitHub: the sticky comment, replies and deployments.

Every body and description passes through a Redactor that knows the secrets envctl holds
(secrets.py), whatever built the text: the last gate before anything leaves for GitHub.

Every write is idempotent so a retried or resumed job never double-reports: the sticky comment is
found by MARKER and edited in place; a reply is skipped when one with the same reply-to marker
exists (checked on retries only, to spare a listing on the common path); a deployment is looked up
by (environment, sha) before one is created.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from github import Github
from github.Deployment import Deployment
from github.Issue import Issue
from github.Repository import Repository

from envctl.github.markdown import MARKER, REPLY_MARKER, truncate
from envctl.github.secrets import client_token, redactor_for
from envctl.github.terraform_markdown import MARKER_RE as TF_MARKER_RE
from envctl.terraform.requirements import Review


@dataclass(frozen=True)
class PullInfo:
    """What GitHub says about the PR right now (apply requirements and planning need it)."""

    head_sha: str
    head_repo: str | None
    base_ref: str
    mergeable: bool | None
    reviews: tuple[Review, ...] = field(default=())  # oldest first
    mergeable_state: str | None = None  # clean, blocked, behind, dirty, unstable, has_hooks, draft, unknown


@dataclass(frozen=True)
class DeploymentRef:
    id: int
    environment: str
    sha: str


class PullUpdater:
    def __init__(self, gh: Github, repo: str, number: int, secrets: Iterable[str | None] = ()) -> None:
        self.gh = gh
        self.repo_name = repo
        self.number = number
        self._secrets = tuple(s for s in secrets if s)

    def redact(self, text: str) -> str:
        """`text` without any secret envctl holds (its settings', its environment's, the client's token)."""
        return redactor_for((*self._secrets, client_token(self.gh)))(text)

    @property
    def repo(self) -> Repository:
        return self.gh.get_repo(self.repo_name)

    def _issue(self) -> Issue:
        return self.repo.get_issue(self.number)

    def head(self) -> tuple[str, str | None]:
        """The PR's head (sha, repository full name) as GitHub sees it right now."""
        pr = self.repo.get_pull(self.number)
        head_repo = pr.head.repo
        return pr.head.sha, (head_repo.full_name if head_repo is not None else None)

    def pull_info(self, with_reviews: bool = False) -> PullInfo:
        pr = self.repo.get_pull(self.number)
        head_repo = pr.head.repo
        reviews: tuple[Review, ...] = ()
        if with_reviews:
            reviews = tuple(Review(r.user.login if r.user else "", r.state, r.commit_id) for r in pr.get_reviews())
        return PullInfo(pr.head.sha, head_repo.full_name if head_repo is not None else None, pr.base.ref,
                        pr.mergeable, reviews, pr.mergeable_state)

    def set_status(self, sha: str, state: str, context: str, description: str) -> None:
        """A commit status (pending / success / failure / error) under `context`, e.g. envctl/plan: NAME."""
        self.repo.get_commit(sha).create_status(state=state, context=context, description=self.redact(description)[:140])

    # --- comments -------------------------------------------------------------------------------

    def upsert_parts(self, kind: str, project: str, bodies: list[str]) -> list[int]:
        """Post a project's (possibly split) comment, editing its earlier parts in place.

        Part i replaces the earlier part i; earlier parts beyond the new count are deleted, so a
        plan that shrank leaves nothing stale behind and comments never pile up.
        """
        existing: dict[int, object] = {}
        for comment in self._issue().get_comments():
            match = TF_MARKER_RE.match(comment.body or "")
            if match and match["kind"] == kind and match["project"] == project:
                existing.setdefault(int(match["part"]), comment)
        ids = []
        issue = self._issue()
        for part, body in enumerate([self.redact(b) for b in bodies], start=1):
            old = existing.pop(part, None)
            if old is None:
                ids.append(int(issue.create_comment(body).id))
            else:
                if getattr(old, "body", None) != body:
                    old.edit(body)  # type: ignore[attr-defined]
                ids.append(int(old.id))  # type: ignore[attr-defined]
        for stale in existing.values():
            stale.delete()  # type: ignore[attr-defined]
        return ids

    def find_sticky(self) -> int | None:
        for comment in self._issue().get_comments():
            if (comment.body or "").startswith(MARKER):
                return int(comment.id)
        return None

    def upsert_sticky(self, body: str) -> int:
        body = truncate(self.redact(body))
        existing = self.find_sticky()
        issue = self._issue()
        if existing is None:
            return int(issue.create_comment(body).id)
        self.repo.get_issue(self.number).get_comment(existing).edit(body)
        return existing

    def reply(self, in_reply_to: int, body: str, check_existing: bool = False) -> None:
        if check_existing:
            marker = REPLY_MARKER.format(id=in_reply_to)
            if any(marker in (c.body or "") for c in self._issue().get_comments()):
                return
        self._issue().create_comment(truncate(self.redact(body)))

    def comment(self, body: str) -> None:
        """A plain comment (no reply marker)."""
        self._issue().create_comment(truncate(self.redact(body)))

    # --- deployments ----------------------------------------------------------------------------

    def start_deployment(self, environment: str, sha: str, description: str) -> DeploymentRef:
        repo = self.repo
        deployment: Deployment | None = None
        for existing in repo.get_deployments(sha=sha, environment=environment):
            deployment = existing
            break
        if deployment is None:
            deployment = repo.create_deployment(
                ref=sha,
                environment=environment,
                description=self.redact(description)[:140],
                auto_merge=False,
                required_contexts=[],
                transient_environment=True,
                production_environment=False,
                payload={"pr": self.number, "tool": "envctl"},
            )
        deployment.create_status("in_progress", description=self.redact(description)[:140])
        return DeploymentRef(int(deployment.id), environment, sha)

    def finish_deployment(self, ref: DeploymentRef, ok: bool, description: str,
                          environment_url: str | None = None) -> None:
        deployment = self.repo.get_deployment(ref.id)
        kwargs: dict[str, object] = {"description": self.redact(description)[:140]}
        if environment_url:
            kwargs["environment_url"] = environment_url
        deployment.create_status("success" if ok else "failure", auto_inactive=ok, **kwargs)  # type: ignore[arg-type]

    def deactivate(self, environment: str, description: str) -> int:
        """Mark the environment's deployments inactive; returns how many."""
        count = 0
        for deployment in self.repo.get_deployments(environment=environment):
            deployment.create_status("inactive", description=self.redact(description)[:140])
            count += 1
            if count >= 20:  # older ones were made inactive by auto_inactive already
                break
        return count
