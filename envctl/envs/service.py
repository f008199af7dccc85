"""The one entry point all front doors (CLI, webhook, CI) use to manage environments.

It only picks the runtime; the lifecycle itself lives in the runtime and in envs/.
"""

from __future__ import annotations

import os
from datetime import timedelta

from envctl.envs import history
from envctl.envs.model import EnvStatus, RuntimeName
from envctl.errors import ConfigError
from envctl.runtimes.base import Runtime


def cluster_configured() -> bool:
    """A cluster counts as configured when a kubeconfig is reachable (KUBECONFIG or ~/.kube/config)."""
    paths = [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    paths.append(os.path.expanduser("~/.kube/config"))
    return any(os.path.isfile(p) for p in paths)


def default_runtime() -> RuntimeName:
    return "kubernetes" if cluster_configured() else "local"


def get_runtime(name: str | None = None) -> Runtime:
    chosen = name or default_runtime()
    if chosen == "local":
        from envctl.runtimes.local import LocalRuntime

        return LocalRuntime()
    if chosen == "kubernetes":
        from envctl.runtimes.kubernetes import KubernetesRuntime  # type: ignore[import-not-found]

        return KubernetesRuntime()  # type: ignore[no-any-return]
    raise ConfigError(f"unknown runtime {chosen!r}", "use --runtime local or --runtime kubernetes")


def extend(name: str, by: timedelta, runtime: str | None = None, actor: str | None = None, via: str = "cli") -> EnvStatus:
    chosen = get_runtime(runtime)
    expires = chosen.extend(name, by)
    if actor is not None:
        history.record(name, "extend", actor, via, by_s=by.total_seconds(), expires_at=expires.isoformat())
    return chosen.status(name)


def down(name: str, runtime: str | None = None, actor: str | None = None, via: str = "cli", force: bool = False) -> bool:
    """Remove an environment (idempotent); the history keeps who asked, even once it is gone.

    A release in progress is refused unless `force`, which aborts it first."""
    removed = get_runtime(runtime).down(name, force=force, actor=actor or "envctl")
    if actor is not None and removed:
        history.record(name, "down", actor, via, **({"force": True} if force else {}))
    return removed
