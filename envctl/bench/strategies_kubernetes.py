"""The same three ways to move a fleet, on Kubernetes (see strategies.py for what each means).

recreate  the server Deployment's rollout with strategy Recreate: every old pod gets SIGTERM at
          once, the new ones start after they are gone.
rolling   the default RollingUpdate (maxSurge 1, maxUnavailable 0): one new pod, ready, then one
          old pod gets SIGTERM, and so on.
          Both are what an ordinary deploy does: the new version's pod template, no preStop drain,
          `grace_s` from SIGTERM to SIGKILL; each old server closes its chargers when it stops.
graceful  the release engine (strategies.graceful) with the Kubernetes fleet and release store.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any

from envctl.errors import Timeout
from envctl.release.fleets.kubernetes import KubernetesFleet
from envctl.release.stores.kubernetes import KubernetesReleaseStore
from envctl.runtimes.kubernetes.client import Kube, kind
from envctl.runtimes.kubernetes.state import SERVER, server_deployment

DEPLOYMENT, POD = kind("Deployment"), kind("Pod")


@dataclass
class KubeStrategyContext:
    kube: Kube
    env: str
    namespace: str
    fleet: KubernetesFleet
    from_version: str
    to_version: str
    replicas: int
    budget_per_s: float
    grace_s: float = 30.0
    hold_s: float = 10.0
    canary_share: float = 0.05
    new_replica_args: list[str] = field(default_factory=list)
    rollout_timeout_s: float = 600.0
    runtime_name = "kubernetes"

    @property
    def store(self) -> KubernetesReleaseStore:
        return KubernetesReleaseStore(self.kube, self.namespace, self.env)


def _ordinary_deploy(ctx: KubeStrategyContext, strategy: dict[str, Any]) -> dict[str, Any]:
    """Change the running Deployment's pod template to the new version, as `kubectl set image` /
    a CD tool would, and wait for the rollout to finish."""
    path = DEPLOYMENT.path(ctx.namespace, server_deployment(ctx.from_version))
    dep = ctx.kube.get(path)
    spec = copy.deepcopy(dep["spec"])
    pod = spec["template"]["spec"]
    container = pod["containers"][0]
    container["env"] = [e for e in container.get("env", []) if e["name"] != "SERVER_VERSION"]
    container["env"].append({"name": "SERVER_VERSION", "value": ctx.to_version})
    container["args"] = [*container.get("args", []), *ctx.new_replica_args]
    container.pop("lifecycle", None)  # no preStop drain: the server closes its chargers on SIGTERM
    pod["terminationGracePeriodSeconds"] = int(ctx.grace_s)
    spec["strategy"] = strategy
    dep["spec"] = spec
    t0 = time.time()
    ctx.kube.request("PUT", path, body=dep)
    generation = int(ctx.kube.get(path)["metadata"]["generation"])
    deadline = time.monotonic() + ctx.rollout_timeout_s
    rollout_s: float | None = None
    while True:
        current = ctx.kube.get(path)
        st = current.get("status", {})
        if rollout_s is None and (
                int(st.get("observedGeneration", 0)) >= generation and int(st.get("updatedReplicas", 0)) == ctx.replicas
                and int(st.get("readyReplicas", 0)) == ctx.replicas and int(st.get("replicas", 0)) == ctx.replicas):
            rollout_s = round(time.time() - t0, 2)
        # The Deployment calls the rollout done while old pods are still terminating with their
        # chargers: the deploy is over only when the last of them is gone.
        if rollout_s is not None and not _terminating(ctx):
            return {"strategy": strategy["type"], "rollout_s": rollout_s,
                    "old_pods_gone_s": round(time.time() - t0, 2)}
        if time.monotonic() > deadline:
            raise Timeout(f"the {strategy['type']} rollout did not finish in {ctx.rollout_timeout_s:.0f} s")
        time.sleep(0.2)


def _terminating(ctx: KubeStrategyContext) -> bool:
    pods = ctx.kube.list(POD.path(ctx.namespace), labelSelector=f"app.kubernetes.io/name={SERVER}")
    return any(p["metadata"].get("deletionTimestamp") for p in pods)


def recreate(ctx: KubeStrategyContext) -> dict[str, Any]:
    return _ordinary_deploy(ctx, {"type": "Recreate"})


def rolling(ctx: KubeStrategyContext) -> dict[str, Any]:
    return _ordinary_deploy(ctx, {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}})
