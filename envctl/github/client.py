"""PyGithub clients for a personal/Actions token or a GitHub App installation, one per installation.

App auth: PyGithub signs a JWT with the app key, exchanges it for an installation token and
refreshes that token itself shortly before it expires (AppInstallationAuth). Rate limits: PyGithub's
GithubRetry sleeps through Retry-After and x-ratelimit-reset up to `max_rate_limit_wait_s`; longer
waits surface as RateLimitExceededException, which the router turns into a queued retry.
"""

from __future__ import annotations

import threading

from github import Auth, Github, GithubRetry

from envctl.errors import ConfigError
from envctl.github.settings import GitHubSettings


class GitHubClients:
    def __init__(self, settings: GitHubSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._clients: dict[int | None, Github] = {}

    def _auth(self, installation_id: int | None) -> Auth.Auth:
        s = self.settings
        if s.app_id and s.app_private_key:
            inst = installation_id or s.installation_id
            if inst is None:
                raise ConfigError(
                    "GitHub App auth needs an installation id",
                    "the webhook payload carries one; in Actions set ENVCTL_GITHUB_INSTALLATION_ID",
                )
            return Auth.AppAuth(s.app_id, s.app_private_key).get_installation_auth(int(inst))
        if s.token:
            return Auth.Token(s.token)
        raise ConfigError(
            "no GitHub credentials",
            "set ENVCTL_GITHUB_TOKEN (or GITHUB_TOKEN), or ENVCTL_GITHUB_APP_ID with "
            "ENVCTL_GITHUB_APP_PRIVATE_KEY / ENVCTL_GITHUB_APP_PRIVATE_KEY_PATH",
        )

    def for_installation(self, installation_id: int | None) -> Github:
        s = self.settings
        key = installation_id if (s.app_id and s.app_private_key) else None
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = Github(
                    auth=self._auth(installation_id),
                    base_url=s.api_url,
                    retry=GithubRetry(
                        total=10,
                        secondary_rate_wait=s.secondary_rate_wait_s,
                        max_rate_limit_wait=s.max_rate_limit_wait_s,
                    ),
                    pool_size=s.workers + 2,
                    seconds_between_requests=None,
                    seconds_between_writes=s.write_interval_s or None,
                    lazy=True,
                    timeout=30,
                )
                self._clients[key] = client
            return client

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
