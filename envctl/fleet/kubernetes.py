"""`envctl scale` on the Kubernetes runtime: the charger-server Deployment's replicas, stepped.

Scaling up is one change; the new pods are waited for like `envctl up` waits (rollout diagnosis
included). Scaling down goes one replica at a time and waits until the removed pod is gone:
each pod's preStop hook drains its chargers at kubernetes.drain.rate_per_s, so one pod at a time
keeps the fleet's reconnect rate at that budget instead of a multiple of it.
"""

from __future__ import annotations

import time

from envctl.envs.model import validate_name
from envctl.errors import NotFound, Timeout
from envctl.fleet.service import ScaleResult
from envctl.runtimes.kubernetes import KubernetesRuntime
from envctl.runtimes.kubernetes.client import kind
from envctl.runtimes.kubernetes.rollout import wait_ready
from envctl.runtimes.kubernetes.state import SERVER

GONE_MARGIN_S = 30.0  # after the grace period: the kubelet and the API record the pod's end


def _server_pods(rt: KubernetesRuntime, namespace: str) -> list[str]:
    """Every server pod, terminating ones included: a draining pod still holds chargers."""
    pods = rt.kube.list(kind("Pod").path(namespace), labelSelector=f"app.kubernetes.io/name={SERVER}")
    return sorted(p["metadata"]["name"] for p in pods)


def scale(env: str, replicas: int, runtime: KubernetesRuntime | None = None) -> ScaleResult:
    rt = runtime or KubernetesRuntime()
    namespace = rt.namespace(validate_name(env))
    drain = rt.config.kubernetes.drain
    ready_timeout = rt.config.kubernetes.ready_timeout.total_seconds()
    deployment = rt.kube.get_or_none(kind("Deployment").path(namespace, SERVER))
    if deployment is None:
        raise NotFound(f"no Kubernetes environment named {env!r}", "see `envctl list --runtime kubernetes`")
    before = int(deployment["spec"].get("replicas", 1))
    # The longest one pod may take to stop: its whole grace period (preStop drain + margin).
    grace_s = float(deployment["spec"]["template"]["spec"].get("terminationGracePeriodSeconds", 30))
    result = ScaleResult(env=env, runtime="kubernetes", replicas_before=before, replicas=replicas)
    pods_before = set(_server_pods(rt, namespace))
    if replicas >= before:
        rt.scale_servers(env, replicas)
        wait_ready(rt.kube, env, namespace, ready_timeout, lambda *_: None)
        result.started = sorted(set(_server_pods(rt, namespace)) - pods_before)
    else:
        for target in range(before - 1, replicas - 1, -1):
            rt.scale_servers(env, target)
            _wait_pods(rt, namespace, target, drain_s=grace_s + GONE_MARGIN_S)
        result.retired = sorted(pods_before - set(_server_pods(rt, namespace)))
    result.note = (
        f"removed pods drained through their preStop hook at {drain.rate_per_s:g}/s, one pod at a time"
        if replicas < before
        else "new pods start empty: chargers stay where they are until moved (rebalance is local-only so far)"
        if replicas > before
        else None
    )
    return result


def _wait_pods(rt: KubernetesRuntime, namespace: str, count: int, drain_s: float) -> None:
    deadline = time.monotonic() + drain_s
    while len(_server_pods(rt, namespace)) > count:
        if time.monotonic() > deadline:
            raise Timeout(
                f"a charger-server pod in {namespace} was still draining after {drain_s:.0f} s",
                "its preStop hook sheds chargers at kubernetes.drain.rate_per_s; see `envctl logs`",
            )
        time.sleep(0.2)
