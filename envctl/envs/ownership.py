"""Who an environment belongs to, and who may converge it."""

from __future__ import annotations

import getpass
import os

from envctl.errors import Refused


def current_owner() -> str:
    """The person (or CI actor) asking: ENVCTL_OWNER, then GITHUB_ACTOR, then the login name."""
    for var in ("ENVCTL_OWNER", "GITHUB_ACTOR"):
        if os.environ.get(var):
            return os.environ[var]
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def check_may_converge(name: str, existing_owner: str | None, requester: str, pr: int | None) -> None:
    """A PR environment belongs to its PR (anyone pushing to it may redeploy); a named one to its owner."""
    if pr is not None or existing_owner in (None, "", requester):
        return
    raise Refused(
        f"environment {name!r} belongs to {existing_owner}, not {requester}",
        f"pick another name, or ask {existing_owner} to run `envctl down {name}`",
    )
