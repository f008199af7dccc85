"""`envctl scale` on the Kubernetes runtime, through the release engine's Kubernetes fleet
(`release/fleets/kubernetes.py`: one Deployment per server version, pods reached by the pod proxy).

Scaling up is `fleet.start(version, n)` (the version's Deployment grows by n) and a wait like
`envctl up`'s (rollout diagnosis included). Scaling down retires one pod at a time, the emptiest
first (`fleet.retire`: marked cheapest to delete, the Deployment shrinks by one), and waits until
the pod is gone: its preStop hook sheds its chargers at its share of the budget, so one pod at a
time keeps the fleet's reconnect rate at that budget instead of a multiple of it.
"""

from __future__ import annotations

import time

from envctl.envs import naming
from envctl.envs.model import validate_name
from envctl.errors import NotFound, Refused, Timeout
from envctl.fleet.scale_result import ScaleResult
from envctl.release.hints import release_cmd
from envctl.release.fleets.kubernetes import VERSION_ANNOTATION, VERSION_LABEL, KubernetesFleet
from envctl.runtimes.kubernetes import KubernetesRuntime
from envctl.runtimes.kubernetes.client import kind
from envctl.runtimes.kubernetes.rollout import wait_ready
from envctl.runtimes.kubernetes.state import SERVER, is_managed

GONE_MARGIN_S = 30.0  # after the grace period: the kubelet and the API record the pod's end
POD, DEPLOYMENT = kind("Pod"), kind("Deployment")


def scale(env: str, replicas: int, runtime: KubernetesRuntime | None = None) -> ScaleResult:
    rt = runtime or KubernetesRuntime()
    namespace = rt.namespace(validate_name(env))
    ns = rt.kube.get_or_none(kind("Namespace").path(name=namespace))
    if ns is None or not is_managed(ns):
        raise NotFound(f"no Kubernetes environment named {env!r}", "see `envctl list --runtime kubernetes`")
    deployments = [d for d in rt.kube.list(DEPLOYMENT.path(namespace), labelSelector=f"app.kubernetes.io/name={SERVER}")
                   if not d["metadata"].get("deletionTimestamp")]  # fmt: skip
    if len(deployments) != 1:
        versions = sorted((d["metadata"].get("labels") or {}).get(VERSION_LABEL, "?") for d in deployments)
        raise Refused(
            f"{env} runs {len(deployments)} charger-server versions ({', '.join(versions) or 'none'}): "
            "a release is moving chargers between them",
            f"wait until it has finished ({release_cmd('status', None, env, 'kubernetes')}), then scale",
        )
    (dep,) = deployments
    version = (dep["metadata"].get("annotations") or {}).get(VERSION_ANNOTATION) or dep["metadata"]["labels"][VERSION_LABEL]
    before = int(dep["spec"].get("replicas", 1))
    # The longest one pod may take to stop: its whole grace period (preStop drain + margin).
    grace_s = float(dep["spec"]["template"]["spec"].get("terminationGracePeriodSeconds", 30))
    fleet = KubernetesFleet(rt.kube, namespace)
    result = ScaleResult(env=env, runtime="kubernetes", replicas_before=before, replicas=replicas)
    if replicas > before:
        result.started = fleet.start(version, replicas - before)
        wait_ready(rt.kube, env, namespace, rt.config.kubernetes.ready_timeout.total_seconds(), lambda *_: None)
        result.note = "new pods start empty: chargers stay where they are until moved (rebalance is local-only so far)"
    for _ in range(before - replicas):
        serving = [v for v in fleet.replicas() if v.alive and not v.draining]
        victim = min(serving, key=lambda v: (v.connections, v.id))  # the emptiest: fewest chargers to shed
        fleet.retire(victim.id)
        _wait_gone(rt, namespace, victim.id, grace_s + GONE_MARGIN_S)
        result.retired.append(victim.id)
    if result.retired:
        result.note = "removed pods shed their chargers through their preStop hook at the budget, one pod at a time"
    rt.kube.merge_patch(kind("Namespace").path(name=namespace),
                        {"metadata": {"annotations": {naming.ANN_REPLICAS: str(replicas)}}})  # fmt: skip
    return result


def _wait_gone(rt: KubernetesRuntime, namespace: str, pod: str, within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while rt.kube.get_or_none(POD.path(namespace, pod)) is not None:
        if time.monotonic() > deadline:
            raise Timeout(
                f"charger-server pod {pod} in {namespace} was still draining after {within_s:.0f} s",
                "its preStop hook sheds its chargers at its share of the budget; see `envctl logs`",
            )
        time.sleep(0.2)
