"""Waiting for an environment's workloads to become Ready, and saying why when they do not.

`readiness` and `diagnose` are pure functions over API objects (unit-tested with plain dicts);
`wait_ready` polls the API and calls them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from envctl.errors import EnvctlError, Refused, Timeout
from envctl.runtimes.base import Progress
from envctl.runtimes.kubernetes.client import ApiError, Kube, kind

Obj = dict[str, Any]

# Waiting reasons that will not fix themselves by waiting longer.
_FATAL_WAITING = {
    "ImagePullBackOff": "image",
    "ErrImagePull": "image",
    "InvalidImageName": "image",
    "ErrImageNeverPull": "image",
    "CrashLoopBackOff": "crash",
    "CreateContainerConfigError": "config",
    "CreateContainerError": "config",
}
# ...except this CreateContainerConfigError: the kubelet had not yet synced the pod's Secrets and
# ConfigMaps (a busy node's informer lag, seen here under load) and retries by itself; the pod
# starts on a later sync, so it is waited for like any pod that is not ready yet.
_KUBELET_CACHE_LAG = "failed to sync"


@dataclass(frozen=True)
class Problem:
    kind: str  # quota, limits, image, crash, config, unschedulable, other
    subject: str  # "deployment/charger-server", "pod/charger-server-abc"
    message: str
    fatal: bool
    pod: str | None = None
    container: str | None = None


@dataclass(frozen=True)
class WorkloadState:
    name: str  # deployment/charger-server
    desired: int
    ready: int
    done: bool


def readiness(workload: Obj) -> WorkloadState:
    """Ready when the controller saw the latest spec and every wanted replica is updated and ready."""
    meta, spec, status = workload["metadata"], workload.get("spec", {}), workload.get("status", {})
    desired = int(spec.get("replicas", 1))
    ready = int(status.get("readyReplicas", 0))
    observed = int(status.get("observedGeneration", 0)) >= int(meta.get("generation", 1))
    updated = int(status.get("updatedReplicas", 0))
    total = int(status.get("replicas", 0))
    if workload["kind"] == "StatefulSet":
        same_revision = status.get("currentRevision") == status.get("updateRevision")
        done = observed and ready >= desired and (same_revision or updated >= desired)
    else:
        available = int(status.get("availableReplicas", 0))
        done = observed and updated == desired and ready >= desired and available >= desired and total == desired
    return WorkloadState(f"{workload['kind'].lower()}/{meta['name']}", desired, min(ready, desired), done)


def _forbidden_kind(message: str) -> str:
    if "exceeded quota" in message:
        return "quota"
    if "LimitRange" in message or "maximum" in message and "per Container" in message:
        return "limits"
    return "other"


def diagnose(workloads: list[Obj], replicasets: list[Obj], pods: list[Obj], events: list[Obj]) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[str] = set()

    def add(p: Problem) -> None:
        key = f"{p.kind}|{p.subject}|{p.message}"
        if key not in seen:
            seen.add(key)
            problems.append(p)

    # Pod creation refused by admission (quota, LimitRange) shows as ReplicaFailure on the
    # ReplicaSet, copied to its Deployment; a StatefulSet only leaves a FailedCreate event.
    for obj in [*workloads, *replicasets]:
        for cond in obj.get("status", {}).get("conditions") or []:
            if cond.get("type") == "ReplicaFailure" and cond.get("status") == "True":
                msg = cond.get("message", cond.get("reason", ""))
                k = _forbidden_kind(msg)
                add(Problem(k, f"{obj['kind'].lower()}/{obj['metadata']['name']}", msg, k != "other"))
    for ev in events:
        if ev.get("type") == "Warning" and ev.get("reason") == "FailedCreate":
            msg = ev.get("message", "")
            k = _forbidden_kind(msg)
            involved = ev.get("involvedObject", {})
            add(Problem(k, f"{involved.get('kind', '').lower()}/{involved.get('name')}", msg, k != "other"))

    for pod in pods:
        name = pod["metadata"]["name"]
        status = pod.get("status", {})
        for cs in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]:
            waiting = (cs.get("state") or {}).get("waiting") or {}
            reason = waiting.get("reason")
            if reason in _FATAL_WAITING:
                msg = f"container {cs.get('name')}: {reason}"
                if waiting.get("message"):
                    msg += f": {waiting['message']}"
                last = (cs.get("lastState") or {}).get("terminated")
                if last:
                    msg += f" (last exit code {last.get('exitCode')}, {last.get('reason', 'terminated')})"
                fatal = not (reason == "CreateContainerConfigError" and _KUBELET_CACHE_LAG in waiting.get("message", ""))
                add(Problem(_FATAL_WAITING[reason], f"pod/{name}", msg, fatal, name, cs.get("name")))
        for cond in status.get("conditions") or []:
            if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
                add(Problem("unschedulable", f"pod/{name}", cond.get("message", "not scheduled"), False, name))
    return problems


def pod_events(events: list[Obj], pod: str, limit: int = 5) -> list[str]:
    mine = [e for e in events if e.get("involvedObject", {}).get("name") == pod and e.get("type") == "Warning"]
    mine.sort(key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")
    return [f"{e.get('reason')}: {e.get('message')}" for e in mine[-limit:]]


_HINTS = {
    "quota": "the namespace's ResourceQuota is too small for what the pods request: raise "
             "kubernetes.quota in envctl.yaml, or lower kubernetes.server / kubernetes.simulator "
             "requests or --replicas",
    "limits": "a container asks for more than the LimitRange allows: raise kubernetes.limits.max_* "
              "or lower the container's resources in envctl.yaml",
    "image": "check --image / kubernetes.image: the tag must exist and the cluster must be able to pull it",
    "crash": "the container keeps exiting; the log lines above say why (`envctl logs NAME`)",
    "config": "a ConfigMap or Secret key the pod needs is missing; run `envctl up` again to re-render",
    "unschedulable": "no node fits the pods: check kubernetes.node_selector and the cluster's capacity",
}


def explain(env: str, problems: list[Problem], events: list[Obj], logs: dict[str, str]) -> tuple[str, str | None]:
    lines = [f"environment {env!r} did not become ready:"]
    for p in problems:
        lines.append(f"  {p.subject}: {p.message}")
        if p.pod:
            lines += [f"    event {e}" for e in pod_events(events, p.pod)]
            if logs.get(p.pod):
                lines.append("    last log lines:")
                lines += [f"      {line}" for line in logs[p.pod].rstrip().splitlines()[-10:]]
    kinds = list(dict.fromkeys(p.kind for p in problems))
    hint = "; ".join(_HINTS[k] for k in kinds if k in _HINTS) or None
    return "\n".join(lines), hint


def _failure(env: str, problems: list[Problem], events: list[Obj], logs: dict[str, str],
             waited: str | None = None) -> EnvctlError:
    message, hint = explain(env, problems, events, logs)
    if waited:
        message = f"{message}\n  still waiting for: {waited}" if problems else (
            f"environment {env!r} did not become ready: still waiting for {waited}")
    if any(p.kind in ("quota", "limits") for p in problems):
        return Refused(message, hint)
    if waited and not any(p.fatal for p in problems):
        return Timeout(message, hint or "the pods may need longer: raise kubernetes.ready_timeout")
    return EnvctlError(message, hint)


def wait_ready(
    kube: Kube,
    env: str,
    namespace: str,
    timeout_s: float,
    progress: Progress,
    interval_s: float = 0.1,
    clock: Callable[[], float] = time.monotonic,
) -> list[WorkloadState]:
    """Poll until every Deployment and StatefulSet is Ready; fail fast on problems that stay."""
    deadline = clock() + timeout_s
    deps_path, sts_path = kind("Deployment").path(namespace), kind("StatefulSet").path(namespace)
    pods_path = kind("Pod").path(namespace)
    rs_path, ev_path = kind("ReplicaSet").path(namespace), kind("Event").path(namespace)
    states: list[WorkloadState] = []
    checks = 0
    while True:
        workloads = kube.list(deps_path) + kube.list(sts_path)
        states = [readiness(w) for w in workloads]
        desired = sum(s.desired for s in states)
        ready = sum(s.ready for s in states)
        pending = [s for s in states if not s.done]
        progress(
            "ready" if not pending else "waiting for " + ", ".join(f"{s.name} {s.ready}/{s.desired}" for s in pending),
            ready, max(desired, 1),
        )
        if states and not pending:
            return states
        checks += 1
        timed_out = clock() >= deadline
        # Pods and events cost two more requests; look at them every few polls and at the end.
        if timed_out or checks % 5 == 0 or any(
            c.get("type") == "ReplicaFailure" for w in workloads for c in w.get("status", {}).get("conditions") or []
        ):
            pods = kube.list(pods_path)
            events = kube.list(ev_path)
            problems = diagnose(workloads, kube.list(rs_path), pods, events)
            fatal = [p for p in problems if p.fatal]
            if fatal or timed_out:
                chosen = fatal or problems
                logs = _logs(kube, namespace, chosen)
                waited = ", ".join(f"{s.name} {s.ready}/{s.desired} ready" for s in pending) if timed_out else None
                raise _failure(env, chosen, events, logs, waited or (None if fatal else "workloads"))
        time.sleep(interval_s)


def _logs(kube: Kube, namespace: str, problems: list[Problem]) -> dict[str, str]:
    """Last lines of the failing containers; best effort (a node may not serve logs)."""
    logs: dict[str, str] = {}
    for p in problems:
        if p.pod and p.container and p.kind == "crash" and p.pod not in logs:
            for previous in (True, False):
                try:
                    logs[p.pod] = kube.logs(namespace, p.pod, p.container, tail=20, previous=previous, timeout=3)
                    break
                except (ApiError, EnvctlError):
                    continue
    return logs
