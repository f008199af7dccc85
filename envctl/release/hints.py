"""Commands that hints print, written out in full so they can be copied and pasted.

A hint that drops `--env` fails wherever several environments exist, and one that drops
`--runtime` fails for a local environment on a machine where a cluster is configured (the
default runtime is then kubernetes). So every release command a hint names carries both.
"""

from __future__ import annotations

import shlex


def release_cmd(verb: str, plan_id: str | None, env: str, runtime: str, *extra: str) -> str:
    """`envctl release VERB PLAN_ID --env ENV --runtime RUNTIME [EXTRA...]`, quoted for a shell, in backticks."""
    args = ["envctl", "release", verb, *([plan_id] if plan_id else []), *extra, "--env", env, "--runtime", runtime]
    return f"`{shlex.join(args)}`"
