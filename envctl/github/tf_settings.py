"""How the webhook runs Terraform for pull requests (a field of GitHubSettings, read from the env).

    ENVCTL_TERRAFORM=true               handle /plan, /apply, /unlock and autoplan PR events
    ENVCTL_TERRAFORM_REMOTE=URL|PATH    where to fetch the code from; "{repo}" becomes owner/name.
                                        Unset: the repository's clone URL from GitHub's API, fetched
                                        with the same token envctl uses for the API
    ENVCTL_TERRAFORM_PROCESSES=2        worker processes running Terraform jobs off the webhook's interpreter
    ENVCTL_TERRAFORM_AUTOPLAN=true      plan changed projects when a PR is opened or pushed to
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, Field

from envctl.env_flags import env_flag
from envctl.errors import ConfigError


class TerraformWebhookSettings(BaseModel):
    enabled: bool = False
    remote: str | None = None
    processes: int = Field(default=2, ge=1, le=32)
    autoplan: bool = True
    config_file: str = "envctl.yaml"  # read from the base branch: a PR cannot loosen its own rules

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TerraformWebhookSettings:
        env = os.environ if env is None else env

        def flag(name: str, default: bool) -> bool:
            return env_flag(env, name, default)

        processes = env.get("ENVCTL_TERRAFORM_PROCESSES") or "2"
        if not processes.isdigit():
            raise ConfigError(f"ENVCTL_TERRAFORM_PROCESSES={processes!r} is not a whole number")
        return cls(enabled=flag("ENVCTL_TERRAFORM", False), remote=env.get("ENVCTL_TERRAFORM_REMOTE") or None,
                   processes=int(processes), autoplan=flag("ENVCTL_TERRAFORM_AUTOPLAN", True))
