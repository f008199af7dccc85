"""An environment's status, read off its namespace, workloads and pods. Pure over API objects.

The servers' connection counts come from their admin API through the API server's pod proxy.
Where a pod does not answer (starting, or no process behind it, as on kwok's fake nodes) the
status counts 0 for it and says so in "message" rather than guessing.
"""

from __future__ import annotations

import re
from typing import Any

from envctl.envs import naming
from envctl.envs.model import EnvStatus, Phase, ServerStatus
from envctl.envs.ttl import parse_time
from envctl.runtimes.kubernetes.rollout import readiness

Obj = dict[str, Any]
SERVER = "charger-server"
SIMULATOR = "charger-simulator"
SERVER_ADMIN_PORT = 9100


def server_deployment(version: str) -> str:
    """charger-server-<version>, one Deployment per server version, as a DNS label."""
    slug = re.sub(r"[^a-z0-9-]+", "-", version.lower()).strip("-")[:40] or "default"
    return f"{SERVER}-{slug}"


def is_managed(ns: Obj) -> bool:
    return (ns.get("metadata", {}).get("labels") or {}).get(naming.MANAGED_BY) == naming.MANAGER


def phase_of(ns: Obj, workloads: list[Obj]) -> Phase:
    if ns["metadata"].get("deletionTimestamp"):
        return "Stopped"
    if not workloads:
        return "Pending"
    conditions = [c for w in workloads for c in w.get("status", {}).get("conditions") or []]
    if any(c.get("type") == "ReplicaFailure" and c.get("status") == "True" for c in conditions):
        return "Failed"
    states = [readiness(w) for w in workloads]
    if all(s.done for s in states):
        return "Ready"
    # Some servers serve (a replica lost, a rollout stuck) versus none serving yet.
    server = [s for s in states if s.name.startswith(f"deployment/{SERVER}-")]
    return "Degraded" if server and server[0].ready > 0 else "Starting"


def _pod_ready(pod: Obj) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in pod.get("status", {}).get("conditions") or []
    )


def endpoints(namespace: str, name: str, pr: int | None, ingress: Any) -> dict[str, str]:
    eps = {
        "ocpp": f"ws://{SERVER}.{namespace}.svc:9000/ocpp",
        "admin": f"http://{SERVER}.{namespace}.svc:9100",
    }
    if ingress.enabled:
        scheme = "wss" if ingress.tls_secret else "ws"
        eps["ocpp_public"] = f"{scheme}://{naming.ingress_host(name, pr, ingress.domain)}/ocpp"
    return eps


def env_status(
    ns: Obj,
    workloads: list[Obj],
    prefix: str,
    ingress: Any,
    pods: list[Obj] | None = None,
    stats: dict[str, dict[str, Any] | None] | None = None,
) -> EnvStatus:
    """`pods=None` (as in `list`) skips the per-server view; `stats` maps pod name -> /admin/stats."""
    meta = ns["metadata"]
    labels, ann = meta.get("labels") or {}, meta.get("annotations") or {}
    name = labels.get(naming.LABEL_ENV) or naming.name_from_namespace(meta["name"], prefix)
    pr_text = labels.get(naming.LABEL_PR)
    pr = int(pr_text) if pr_text and pr_text.isdigit() else None
    phase = phase_of(ns, workloads)
    servers: list[ServerStatus] = []
    connected = 0
    message: str | None = None
    if pods is not None:
        stats = stats or {}
        for pod in sorted(pods, key=lambda p: p["metadata"]["name"]):
            pname = pod["metadata"]["name"]
            s = stats.get(pname)
            servers.append(ServerStatus(
                id=pname,
                version=(s or {}).get("version") or (pod["metadata"].get("labels") or {}).get(
                    "envctl.io/server-version", ann.get(naming.ANN_SERVER_VERSION, "")),
                ready=_pod_ready(pod),
                connections=int((s or {}).get("connections") or 0),
            ))
            connected += int((s or {}).get("connections") or 0)
        unreachable = [p["metadata"]["name"] for p in pods if stats.get(p["metadata"]["name"]) is None]
        if unreachable:
            message = (
                f"chargers connected unknown for {len(unreachable)} of {len(pods)} server pod(s): "
                "their admin API did not answer through the API server's pod proxy (still starting, "
                "or no process behind the pod, e.g. on kwok's fake nodes); counted as 0"
            )
    else:
        message = "list does not probe servers; run `envctl status NAME` for servers and connections"
    if phase == "Failed":
        failures = [
            c.get("message", "") for w in workloads for c in w.get("status", {}).get("conditions") or []
            if c.get("type") == "ReplicaFailure" and c.get("status") == "True"
        ]
        message = "; ".join(failures) + (f"; {message}" if message else "")
    return EnvStatus(
        name=name,
        runtime="kubernetes",
        phase=phase,
        chargers_target=int(ann.get(naming.ANN_CHARGERS, "0") or 0),
        chargers_connected=connected,
        servers=servers,
        endpoints=endpoints(meta["name"], name, pr, ingress),
        expires_at=parse_time(ann.get(naming.ANN_EXPIRES)),
        pr=pr,
        owner=ann.get(naming.ANN_OWNER) or labels.get(naming.LABEL_OWNER),
        created_at=parse_time(ann.get(naming.ANN_CREATED_AT) or meta.get("creationTimestamp")),
        message=message,
    )


# EnvSpec field -> (key in the envctl-config ConfigMap, how to read it back)
_SIMULATION = {
    "session_rate": ("SESSION_RATE", float), "session_minutes": ("SESSION_MINUTES", str),
    "meter_interval": ("METER_INTERVAL", float), "heartbeat_interval": ("HEARTBEAT_INTERVAL", lambda v: int(float(v))),
    "reconnect": ("RECONNECT", str),
}


def running_spec(ns: Obj, config_data: dict[str, str]) -> dict[str, Any]:
    """What an environment has, in EnvSpec's terms (envs/converge.py compares a request with it):
    its namespace's annotations and the simulation values of its envctl-config ConfigMap."""
    ann, labels = ns["metadata"].get("annotations") or {}, ns["metadata"].get("labels") or {}
    running: dict[str, Any] = {}
    for field_name, key in (("chargers", naming.ANN_CHARGERS), ("replicas", naming.ANN_REPLICAS)):
        if (ann.get(key) or "").isdigit():
            running[field_name] = int(ann[key])
    if ann.get(naming.ANN_SERVER_VERSION):
        running["server_version"] = ann[naming.ANN_SERVER_VERSION]
    pr = labels.get(naming.LABEL_PR)
    running["pr"] = int(pr) if pr and pr.isdigit() else None
    for field_name, (key, read) in _SIMULATION.items():
        if key in config_data:
            try:
                running[field_name] = read(config_data[key])  # type: ignore[operator]
            except ValueError:
                continue  # edited by hand into something unreadable: not compared
    return running


def is_simulator(workload: dict[str, Any]) -> bool:
    return (workload["metadata"].get("labels") or {}).get("app.kubernetes.io/name") == SIMULATOR
