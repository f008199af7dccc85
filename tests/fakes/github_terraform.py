"""Commit statuses, reviews, comment deletion and issues, for the fake GitHub API (tests/fakes/github_api.py).

Added for Terraform on pull requests (issue 11):

    DELETE /repos/{o}/{r}/issues/comments/{id}      "Delete an issue comment" (surplus plan parts)
    GET    /repos/{o}/{r}/commits/{sha}              "Get a commit" (PyGithub completes a Commit with it)
    POST   /repos/{o}/{r}/statuses/{sha}             "Create a commit status" (envctl/plan: NAME)
    GET    /repos/{o}/{r}/commits/{sha}/statuses     "List commit statuses for a reference"
    GET    /repos/{o}/{r}/pulls/{n}/reviews          "List reviews for a pull request" (apply requirement;
                                                      each review carries the commit_id it was made on)
    GET    /orgs/{org}/teams/{slug}/memberships/{u}  "Get team membership for a user" (approvals.teams):
                                                      200 {url, role, state} or 404 when not a member
    GET    /repos/{o}/{r}/issues                     "List repository issues" (state, labels filters)
    POST   /repos/{o}/{r}/issues, PATCH .../issues/{n}   drift issues: create, edit, close

Shapes: status.json and issue.json (octokit recordings); commits, reviews and team memberships
follow the fields GitHub documents for those endpoints; `mergeable_state` on "Get a pull request"
is whatever the test set (add_pull), as GitHub's own docs list its values.

What it cannot catch: GitHub's combined-status rules (the fake keeps every status; tests read
the latest per context); review dismissal by a push when branch protection says so (tests add
DISMISSED reviews themselves); how GitHub computes `mergeable_state` from branch protection,
required checks and conflicts (tests set it: a real `clean` may mean something narrower or wider
than our reading); team membership inherited from parent teams, and teams that see a private
repository only through an org role (the fake answers exactly the memberships it was told);
a collaborator permission that changes during a job (cached for a minute by envctl); label
auto-creation on issue create (the fake accepts any label), and issue/PR number sharing beyond
"the next free number".
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.fakes.github_api import Recorded

COMMENT_LIMIT = 65_536  # as in github_api.py: GitHub's limit for a comment or issue body

TERRAFORM_ROUTES: list[tuple[str, str, str]] = [
    ("DELETE", r"/repos/(?P<repo>[^/]+/[^/]+)/issues/comments/(?P<id>\d+)", "_delete_comment"),
    ("GET", r"/repos/(?P<repo>[^/]+/[^/]+)/commits/(?P<sha>[0-9a-f]{40})", "_get_commit"),
    ("POST", r"/repos/(?P<repo>[^/]+/[^/]+)/statuses/(?P<sha>[0-9a-f]{40})", "_create_commit_status"),
    ("GET", r"/repos/(?P<repo>[^/]+/[^/]+)/commits/(?P<sha>[0-9a-f]{40})/statuses", "_list_commit_statuses"),
    ("GET", r"/repos/(?P<repo>[^/]+/[^/]+)/pulls/(?P<n>\d+)/reviews", "_list_reviews"),
    ("GET", r"/orgs/(?P<org>[^/]+)/teams/(?P<slug>[^/]+)/memberships/(?P<login>[^/]+)", "_team_membership"),
    ("GET", r"/repos/(?P<repo>[^/]+/[^/]+)/issues", "_list_issues"),
    ("POST", r"/repos/(?P<repo>[^/]+/[^/]+)/issues", "_create_issue"),
    ("PATCH", r"/repos/(?P<repo>[^/]+/[^/]+)/issues/(?P<n>\d+)", "_edit_issue"),
]


def _now() -> str:
    from tests.fakes.github_api import _now as now

    return now()


def _reply(status: int, body: Any) -> Exception:
    from tests.fakes.github_api import Reply

    return Reply(status, body)


class TerraformRoutes:
    """Mixed into FakeGitHub, which provides lock, _fill, _user, _paginate, _pull, _comment, shapes."""

    commit_statuses: dict[tuple[str, str], list[dict[str, Any]]]
    issues: dict[tuple[str, int], dict[str, Any]]
    teams: dict[tuple[str, str], dict[str, str]]  # (org, slug) -> login -> state (active | pending)

    def set_team(self, org: str, slug: str, members: dict[str, str] | list[str]) -> None:
        """The team's members: a list (all active) or login -> state ("active" or "pending")."""
        if isinstance(members, list):
            members = dict.fromkeys(members, "active")
        with self.lock:
            self.teams[(org.lower(), slug.lower())] = {k.lower(): v for k, v in members.items()}

    def _team_membership(self, rec: Recorded, org: str, slug: str, login: str) -> tuple[int, Any, dict[str, str]]:
        state = self.teams.get((org.lower(), slug.lower()), {}).get(login.lower())
        if state is None:
            raise _reply(404, {"message": "Not Found",
                               "documentation_url": "https://docs.github.com/rest/teams/members#get-team-membership-for-a-user"})
        return 200, {"url": f"{self.url}/teams/{abs(hash(slug)) % 10**6}/memberships/{login}", "role": "member",
                     "state": state}, {}

    # Shapes: status.json / issue.json (octokit recordings); commits and reviews follow the fields
    # GitHub documents for "Get a commit" and "List reviews for a pull request".

    def commit_status_list(self, repo: str, sha: str) -> list[dict[str, Any]]:
        with self.lock:
            return copy.deepcopy(self.commit_statuses.get((repo, sha), []))

    def latest_statuses(self, repo: str, sha: str) -> dict[str, str]:
        """context -> state of its latest status, as GitHub's combined status shows them."""
        return {s["context"]: s["state"] for s in self.commit_status_list(repo, sha)}

    def issue_list(self, repo: str) -> list[dict[str, Any]]:
        with self.lock:
            return [copy.deepcopy(i) for (r, _), i in sorted(self.issues.items()) if r == repo]

    def _delete_comment(self, rec: Recorded, repo: str, id: str) -> tuple[int, Any, dict[str, str]]:
        comment = self._comment(repo, id)
        if comment["user"]["login"] != self.bot_login:
            raise _reply(403, {"message": "You must have push access to delete this comment"})
        del self.comments[int(id)]
        return 204, None, {}

    def _get_commit(self, rec: Recorded, repo: str, sha: str) -> tuple[int, Any, dict[str, str]]:
        return 200, {"sha": sha, "node_id": "C_fake", "url": f"{self.url}/repos/{repo}/commits/{sha}",
                     "html_url": f"https://github.com/{repo}/commit/{sha}",
                     "commit": {"message": "commit", "url": f"{self.url}/repos/{repo}/git/commits/{sha}"},
                     "author": self._user("octocat"), "committer": self._user("octocat"), "parents": []}, {}

    def _create_commit_status(self, rec: Recorded, repo: str, sha: str) -> tuple[int, Any, dict[str, str]]:
        body = rec.body or {}
        if body.get("state") not in ("error", "failure", "pending", "success"):
            raise _reply(422, {**self.shapes["validation_error"],
                              "errors": [{"resource": "Status", "code": "invalid", "field": "state"}]})
        if len(body.get("description") or "") > 140:
            raise _reply(422, {**self.shapes["validation_error"],
                              "errors": [{"resource": "Status", "code": "custom", "field": "description",
                                          "message": "description is too long (maximum is 140 characters)"}]})
        sid = next(self._ids)
        status = self._fill("status", repo, id=sid, state=body["state"], context=body.get("context", "default"),
                            description=body.get("description"), target_url=body.get("target_url"),
                            url=f"{self.url}/repos/{repo}/statuses/{sha}", creator=self._user(self.bot_login),
                            created_at=_now(), updated_at=_now())
        self.commit_statuses.setdefault((repo, sha), []).append(status)
        return 201, status, {}

    def _list_commit_statuses(self, rec: Recorded, repo: str, sha: str) -> tuple[int, Any, dict[str, str]]:
        return self._paginate(rec, list(reversed(self.commit_statuses.get((repo, sha), []))))

    def _list_reviews(self, rec: Recorded, repo: str, n: str) -> tuple[int, Any, dict[str, str]]:
        pull = self._pull(repo, n)
        items = [{"id": 80 + i, "node_id": f"PRR_{i}", "user": self._user(r["login"]), "body": "",
                  "state": r["state"], "commit_id": r["commit_id"], "author_association": "COLLABORATOR",
                  "submitted_at": _now(), "html_url": f"https://github.com/{repo}/pull/{n}#pullrequestreview-{80 + i}",
                  "pull_request_url": f"{self.url}/repos/{repo}/pulls/{n}"}
                 for i, r in enumerate(pull.get("reviews", []))]
        return self._paginate(rec, items)

    def _issue_obj(self, repo: str, number: int, body: dict[str, Any]) -> dict[str, Any]:
        labels = [{"id": abs(hash(name)) % 10**6, "name": name, "color": "ededed", "default": False,
                   "url": f"{self.url}/repos/{repo}/labels/{name}"} for name in body.get("labels") or []]
        return self._fill("issue", repo, number=number, id=next(self._ids), title=body.get("title", ""),
                          body=body.get("body"), labels=labels, state="open", state_reason=None,
                          url=f"{self.url}/repos/{repo}/issues/{number}", user=self._user(self.bot_login),
                          html_url=f"https://github.com/{repo}/issues/{number}", pull_request=None,
                          comments_url=f"{self.url}/repos/{repo}/issues/{number}/comments",
                          created_at=_now(), updated_at=_now(), closed_at=None, _repo=repo)

    def _list_issues(self, rec: Recorded, repo: str) -> tuple[int, Any, dict[str, str]]:
        state = rec.query.get("state", ["open"])[0]
        wanted = {name for value in rec.query.get("labels", []) for name in value.split(",") if name}
        items = [i for (r, _), i in sorted(self.issues.items(), key=lambda kv: -kv[0][1]) if r == repo
                 and (state == "all" or i["state"] == state) and wanted <= {lb["name"] for lb in i["labels"]}]
        return self._paginate(rec, items)

    def _create_issue(self, rec: Recorded, repo: str) -> tuple[int, Any, dict[str, str]]:
        body = rec.body or {}
        if not body.get("title"):
            raise _reply(422, {**self.shapes["validation_error"],
                              "errors": [{"resource": "Issue", "code": "missing_field", "field": "title"}]})
        if len(body.get("body") or "") > COMMENT_LIMIT:
            raise _reply(422, {**self.shapes["validation_error"], "errors": [{
                "resource": "Issue", "code": "custom", "field": "body",
                "message": f"body is too long (maximum is {COMMENT_LIMIT} characters)"}]})  # fmt: skip
        numbers = [n for (r, n) in self.issues if r == repo] + [n for (r, n) in self.pulls if r == repo]
        number = max(numbers, default=0) + 1
        issue = self._issue_obj(repo, number, body)
        self.issues[(repo, number)] = issue
        return 201, self._public(issue), {}

    def _edit_issue(self, rec: Recorded, repo: str, n: str) -> tuple[int, Any, dict[str, str]]:
        issue = self.issues.get((repo, int(n)))
        if issue is None:
            raise _reply(404, {"message": "Not Found"})
        body = rec.body or {}
        for key in ("title", "body"):
            if key in body:
                issue[key] = body[key]
        if body.get("state") in ("open", "closed"):
            issue["state"] = body["state"]
            issue["state_reason"] = body.get("state_reason") if body["state"] == "closed" else "reopened"
            issue["closed_at"] = _now() if body["state"] == "closed" else None
        issue["updated_at"] = _now()
        return 200, self._public(issue), {}
