"""Who may run commands, and whose review counts: collaborators with write, maintain or admin.

Asked through `GET /repos/{o}/{r}/collaborators/{user}/permission` and cached briefly, so a burst
of comments costs one request per user while a revoked permission stops working within a minute.
Team membership (for `approvals.teams`) through `GET /orgs/{org}/teams/{slug}/memberships/{user}`:
only an `active` membership counts (a pending invitation does not).
"""

from __future__ import annotations

import threading
import time
import urllib.parse

from github import Github, GithubException

ALLOWED = frozenset({"admin", "maintain", "write"})


class PermissionCache:
    def __init__(self, ttl_s: float = 60.0) -> None:
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], tuple[float, str]] = {}

    def permission(self, gh: Github, repo: str, login: str) -> str:
        key = (repo.lower(), login.lower())
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
            if hit and now - hit[0] < self.ttl_s:
                return hit[1]
        try:
            level = gh.get_repo(repo).get_collaborator_permission(login)
        except GithubException as err:
            if err.status != 404:  # 404: not a collaborator (or no such user) -> none
                raise
            level = "none"
        with self._lock:
            self._cache[key] = (now, level)
        return level

    def may_run(self, gh: Github, repo: str, login: str) -> tuple[bool, str]:
        level = self.permission(gh, repo, login)
        return level in ALLOWED, level


def team_member(gh: Github, repo: str, team: str, login: str) -> bool:
    """Whether `login` is an active member of `team` ("slug" in the repository owner's org, or "org/slug")."""
    org, _, slug = team.rpartition("/")
    org = org or repo.split("/", 1)[0]
    path = "/orgs/{}/teams/{}/memberships/{}".format(*(urllib.parse.quote(x, safe="") for x in (org, slug, login)))
    try:
        _, data = gh.requester.requestJsonAndCheck("GET", path)
    except GithubException as err:
        if err.status == 404:  # not a member (or no such team: then nobody is)
            return False
        raise
    return isinstance(data, dict) and data.get("state") == "active"
