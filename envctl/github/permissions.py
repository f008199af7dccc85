"""Who may run /preview commands: collaborators with write, maintain or admin permission.

Asked through `GET /repos/{o}/{r}/collaborators/{user}/permission` and cached briefly, so a burst
of comments costs one request per user while a revoked permission stops working within a minute.
"""

from __future__ import annotations

import threading
import time

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
