"""Who is acting, from an authority: GitHub's API inside Actions, the operating system elsewhere.

Never from a flag or an environment variable the actor sets: $USER, $LOGNAME and $GITHUB_ACTOR
are all the actor's to choose. Locally the authority is the kernel (the effective uid's name in
the password database); in Actions it is the run as GitHub describes it (its triggering actor).
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Mapping
from dataclasses import dataclass

from envctl.release.approval_github import ActionsContext, CiRun


def os_user() -> str:
    uid = os.geteuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:  # a container user with no passwd entry
        return f"uid:{uid}"


@dataclass(frozen=True)
class Acting:
    login: str
    ci: CiRun | None = None  # the GitHub Actions run this process is a step of, if any


def acting(env: Mapping[str, str] | None = None) -> Acting:
    ctx = ActionsContext.from_env(env)
    if ctx is None:
        return Acting(os_user())
    from envctl.github.client import GitHubClients
    from envctl.github.settings import GitHubSettings

    settings = GitHubSettings.from_env(env)
    settings.require_credentials()
    run = CiRun(ctx, GitHubClients(settings).for_installation(None))
    return Acting(run.dispatcher(), run)


def current_identity() -> str:
    return acting().login
