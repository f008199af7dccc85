"""The one entry point all front doors (CLI, webhook, CI) use to manage environments.

It only picks the runtime; the lifecycle itself lives in the runtime and in envs/.
"""

from __future__ import annotations

import os
from datetime import timedelta

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


def extend(name: str, by: timedelta, runtime: str | None = None) -> EnvStatus:
    chosen = get_runtime(runtime)
    chosen.extend(name, by)
    return chosen.status(name)
