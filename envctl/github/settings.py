"""How the GitHub integration is configured: environment variables into one pydantic model.

Every knob has a default that is safe for a real installation; tests set their own values.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

from pydantic import BaseModel, Field

from envctl.env_flags import env_flag
from envctl.envs.model import parse_duration
from envctl.errors import ConfigError
from envctl.github.tf_settings import TerraformWebhookSettings

MiB = 1024 * 1024


def state_dir(env: Mapping[str, str] | None = None) -> Path:
    """The same rule as envctl.state.state_root(), read from `env`."""
    env = os.environ if env is None else env
    if env.get("ENVCTL_STATE_DIR"):
        return Path(env["ENVCTL_STATE_DIR"])
    home = env.get("HOME") or os.path.expanduser("~")
    return Path(env.get("XDG_STATE_HOME") or os.path.join(home, ".local", "state")) / "envctl"


class PreviewPolicy(BaseModel):
    """When a pull request gets a preview without anyone asking in a comment."""

    auto_preview: bool = False  # every same-repo PR gets one on open/push
    trigger_label: str | None = None  # a PR with this label gets one even when auto_preview is off
    skip_drafts: bool = True
    chargers: int = Field(default=3, ge=0)
    max_chargers: int = Field(default=50, ge=1)
    ttl: str = "4h"
    max_ttl: str = "3d"
    runtime: str | None = None  # None: envctl's default runtime
    name_prefix: str = "pr-"

    def default_ttl(self) -> timedelta:
        return parse_duration(self.ttl)

    def ttl_cap(self) -> timedelta:
        return parse_duration(self.max_ttl)


class GitHubSettings(BaseModel):
    webhook_secret: str | None = None
    api_url: str = "https://api.github.com"
    token: str | None = None
    app_id: str | None = None
    app_private_key: str | None = None
    installation_id: int | None = None
    state_dir: Path = Field(default_factory=state_dir)
    workers: int = Field(default=4, ge=1)
    max_body_bytes: int = Field(default=1 * MiB, ge=1024)
    write_interval_s: float = 1.0  # GitHub asks for a pause between writes; tests set 0
    max_rate_limit_wait_s: float = 300.0  # beyond this the job is re-queued instead of sleeping
    secondary_rate_wait_s: float = 60.0
    permission_cache_s: float = 60.0
    max_attempts: int = Field(default=5, ge=1)
    policy: PreviewPolicy = Field(default_factory=PreviewPolicy)
    terraform: TerraformWebhookSettings = Field(default_factory=TerraformWebhookSettings)  # tf_settings.py

    def require_credentials(self) -> None:
        """Fail at start-up, not on the first delivery, when there is no way to talk to GitHub."""
        if self.app_id and self.app_private_key:
            return
        if self.app_id or self.app_private_key:
            raise ConfigError(
                "GitHub App auth needs both ENVCTL_GITHUB_APP_ID and a private key",
                "set ENVCTL_GITHUB_APP_PRIVATE_KEY or ENVCTL_GITHUB_APP_PRIVATE_KEY_PATH as well",
            )
        if not self.token:
            raise ConfigError(
                "no GitHub credentials",
                "set ENVCTL_GITHUB_TOKEN (or GITHUB_TOKEN), or ENVCTL_GITHUB_APP_ID with "
                "ENVCTL_GITHUB_APP_PRIVATE_KEY / ENVCTL_GITHUB_APP_PRIVATE_KEY_PATH",
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> GitHubSettings:
        env = os.environ if env is None else env

        def get(*names: str) -> str | None:
            for name in names:
                if env.get(name):
                    return env[name]
            return None

        def flag(name: str, default: bool) -> bool:
            return env_flag(env, name, default)

        def number(name: str, default: float) -> float:
            raw = env.get(name)
            if not raw:
                return default
            try:
                return float(raw)
            except ValueError:
                raise ConfigError(f"{name}={raw!r} is not a number") from None

        key = get("ENVCTL_GITHUB_APP_PRIVATE_KEY")
        key_path = get("ENVCTL_GITHUB_APP_PRIVATE_KEY_PATH")
        if not key and key_path:
            try:
                key = Path(key_path).read_text()
            except OSError as err:
                raise ConfigError(f"cannot read ENVCTL_GITHUB_APP_PRIVATE_KEY_PATH: {err}") from None
        installation = get("ENVCTL_GITHUB_INSTALLATION_ID")
        policy = PreviewPolicy(
            auto_preview=flag("ENVCTL_PREVIEW_AUTO", False),
            trigger_label=get("ENVCTL_PREVIEW_LABEL"),
            skip_drafts=flag("ENVCTL_PREVIEW_SKIP_DRAFTS", True),
            chargers=int(number("ENVCTL_PREVIEW_CHARGERS", 3)),
            max_chargers=int(number("ENVCTL_PREVIEW_MAX_CHARGERS", 50)),
            ttl=get("ENVCTL_PREVIEW_TTL") or "4h",
            max_ttl=get("ENVCTL_PREVIEW_MAX_TTL") or "3d",
            runtime=get("ENVCTL_PREVIEW_RUNTIME"),
        )
        policy.default_ttl(), policy.ttl_cap()  # fail early on a bad duration
        return cls(
            webhook_secret=get("ENVCTL_WEBHOOK_SECRET"),
            api_url=(get("ENVCTL_GITHUB_API_URL", "GITHUB_API_URL") or "https://api.github.com").rstrip("/"),
            token=get("ENVCTL_GITHUB_TOKEN", "GITHUB_TOKEN", "GH_TOKEN"),
            app_id=get("ENVCTL_GITHUB_APP_ID"),
            app_private_key=key,
            installation_id=int(installation) if installation else None,
            state_dir=state_dir(env),
            workers=int(number("ENVCTL_WEBHOOK_WORKERS", 4)),
            max_body_bytes=int(number("ENVCTL_WEBHOOK_MAX_BODY", 1 * MiB)),
            write_interval_s=number("ENVCTL_GITHUB_WRITE_INTERVAL", 1.0),
            max_rate_limit_wait_s=number("ENVCTL_GITHUB_MAX_RATE_WAIT", 300.0),
            secondary_rate_wait_s=number("ENVCTL_GITHUB_SECONDARY_RATE_WAIT", 60.0),
            permission_cache_s=number("ENVCTL_GITHUB_PERMISSION_CACHE", 60.0),
            policy=policy,
            terraform=TerraformWebhookSettings.from_env(env),
        )
