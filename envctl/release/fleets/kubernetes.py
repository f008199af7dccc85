"""The Fleet of a Kubernetes environment: one Deployment per server version, reached through the
API server (a kubeconfig is all an orchestrator needs, on a laptop or a CI runner).

* Replicas are the server pods; a replica's id is its pod name.
* `start` creates (or scales up by one) the Deployment `charger-server-<version>`, a copy of the
  running version's pod template with the new version (and image) in it.
* New connections follow the Service: `set_accepting` points its selector at the versions that
  accept (existing connections are never cut by a Service change) and tells the pod's server too.
* `disconnect` and the stats go to each pod's admin API through the pod proxy; the admin token
  travels in X-Envctl-Admin-Token because the API server drops the Authorization header.
* `retire` removes one pod by scaling its Deployment down with that pod marked cheapest to delete;
  the pod's preStop hook sheds whatever it still holds at its share of the budget (the same drain
  a `kubectl delete` or a node drain gets), and an emptied Deployment is deleted.
"""

from __future__ import annotations

import base64
import copy
import json
import time
from collections.abc import Sequence
from typing import Any

from envctl.charger.server.admin_client import DISCONNECT, LISTEN, STATS, ReplicaUnreachable
from envctl.envs import naming
from envctl.errors import EnvctlError, NotFound, Timeout
from envctl.release.fleet import HealthSample, ReplicaView, sum_health, view_from_stats
from envctl.runtimes.kubernetes.client import ApiError, Kube, kind
from envctl.runtimes.kubernetes.state import SERVER, SERVER_ADMIN_PORT, server_deployment

ADMIN_TOKEN_HEADER = "X-Envctl-Admin-Token"
VERSION_LABEL = "envctl.io/server-version"
VERSION_ANNOTATION = "envctl.io/server-version"  # the version as typed; the label is sanitised
DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
POD = kind("Pod")
DEPLOYMENT = kind("Deployment")
SERVICE = kind("Service")
ENDPOINT_SLICE = kind("EndpointSlice")
KUBE_PROXY_SYNC_S = 1.0


class KubernetesFleet:
    def __init__(self, kube: Kube, namespace: str, timeout_s: float = 3.0) -> None:
        self.kube = kube
        self.namespace = namespace
        self.timeout_s = timeout_s
        self._token: str | None = None

    # -- the admin API of one pod, through the API server ----------------------------------------

    @property
    def token(self) -> str:
        if self._token is None:
            secret = self.kube.get(kind("Secret").path(self.namespace, "envctl-credentials"))
            self._token = base64.b64decode(secret["data"]["admin-token"]).decode()
        return self._token

    def _admin(self, pod: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        try:
            return self.kube.pod_proxy(self.namespace, pod, SERVER_ADMIN_PORT, path, method=method, body=body,
                                       headers={ADMIN_TOKEN_HEADER: self.token}, timeout=self.timeout_s)
        except EnvctlError as err:
            raise ReplicaUnreachable(f"replica {pod}: {method} {path}: {err.message}") from None

    def _stats(self, pod: str) -> dict[str, Any] | None:
        try:
            data = self._admin(pod, "GET", STATS)
        except ReplicaUnreachable:
            return None
        return data if isinstance(data, dict) else None

    # -- lookups ---------------------------------------------------------------------------------

    def _pods(self) -> list[dict[str, Any]]:
        return self.kube.list(POD.path(self.namespace), labelSelector=f"app.kubernetes.io/name={SERVER}")

    @staticmethod
    def _version(pod: dict[str, Any]) -> str:
        meta = pod["metadata"]
        return str((meta.get("annotations") or {}).get(VERSION_ANNOTATION)
                   or (meta.get("labels") or {}).get(VERSION_LABEL, ""))

    @staticmethod
    def _alive(pod: dict[str, Any]) -> bool:
        """Starting counts as alive (not ready); a server that exited, or keeps exiting, does not."""
        status = pod.get("status", {})
        if status.get("phase") in ("Failed", "Succeeded"):
            return False
        for c in status.get("containerStatuses") or []:
            state = c.get("state") or {}
            if "terminated" in state or (state.get("waiting") or {}).get("reason") == "CrashLoopBackOff":
                return False
            if int(c.get("restartCount", 0)) > 0 and "running" not in state:
                return False
        return True

    def _deployments(self) -> list[dict[str, Any]]:
        return self.kube.list(DEPLOYMENT.path(self.namespace), labelSelector=f"app.kubernetes.io/name={SERVER}")

    # -- Fleet -----------------------------------------------------------------------------------

    def replicas(self) -> list[ReplicaView]:
        views = []
        for pod in self._pods():
            name, alive = pod["metadata"]["name"], self._alive(pod)
            stats = self._stats(name) if alive else None
            view = view_from_stats(name, self._version(pod), alive, stats)
            if pod["metadata"].get("deletionTimestamp") and view.alive:
                # Being deleted: its preStop hook is shedding what it holds; it takes nothing new.
                view = ReplicaView(view.id, view.version, True, view.ready, False, True, view.connections)
            views.append(view)
        return views

    def start(self, version: str, count: int, extra_args: Sequence[str] = (), image: str | None = None) -> list[str]:
        """Scale the version's Deployment up by `count` (creating it from the running version's
        pod template); returns the new pods' names once the ReplicaSet has created them."""
        name = server_deployment(version)
        before = {p["metadata"]["name"] for p in self._pods()}
        existing = self.kube.get_or_none(DEPLOYMENT.path(self.namespace, name))
        if existing is None:
            self.kube.apply(self._deployment_for(version, count, list(extra_args), image))
            wanted = count
        else:
            wanted = int(existing["spec"].get("replicas", 0)) + count
            self.kube.merge_patch(DEPLOYMENT.path(self.namespace, name), {"spec": {"replicas": wanted}})
        deadline = time.monotonic() + 30
        while True:
            mine = [p for p in self._pods() if self._version(p) == version
                    and not p["metadata"].get("deletionTimestamp")]
            fresh = [p["metadata"]["name"] for p in mine if p["metadata"]["name"] not in before]
            if len(fresh) >= count:
                return sorted(fresh)[:count]
            if time.monotonic() > deadline:
                raise Timeout(f"{name}: the ReplicaSet did not create {count} pod(s) in 30 s",
                              f"see `kubectl -n {self.namespace} describe deployment {name}` (quota?)")
            time.sleep(0.1)

    def _deployment_for(self, version: str, replicas: int, extra_args: list[str], image: str | None) -> dict[str, Any]:
        """A copy of a running version's Deployment, for `version`."""
        sources = self._deployments()
        if not sources:
            raise NotFound(f"namespace {self.namespace} has no charger-server Deployment to release from",
                           "create the environment with `envctl up` first")
        src = copy.deepcopy(max(sources, key=lambda d: int(d.get("status", {}).get("readyReplicas", 0))))
        label = naming.label_value(version)
        meta = src["metadata"]
        labels = {**(meta.get("labels") or {}), VERSION_LABEL: label}
        spec = src["spec"]
        template = spec["template"]
        template["metadata"]["labels"][VERSION_LABEL] = label
        template["metadata"].setdefault("annotations", {})[VERSION_ANNOTATION] = version
        spec["selector"]["matchLabels"][VERSION_LABEL] = label
        container = template["spec"]["containers"][0]
        container["env"] = [e for e in container.get("env", []) if e["name"] != "SERVER_VERSION"]
        container["env"].append({"name": "SERVER_VERSION", "value": version})
        container["args"] = [*container.get("args", []), *extra_args]
        if image:
            container["image"] = image
        return {
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": server_deployment(version), "namespace": self.namespace, "labels": labels,
                         "annotations": {VERSION_ANNOTATION: version}},
            "spec": {"replicas": replicas, "selector": spec["selector"], "template": template,
                     "strategy": spec.get("strategy", {"type": "RollingUpdate"})},
        }

    def set_accepting(self, replica_id: str, accepting: bool) -> None:
        """On: the server listens, then the Service may route to it. Off: the Service stops routing
        to it first, and only once the Service's endpoints (what kube-proxy programs) no longer
        list it does the server stop listening, so no charger reconnecting meanwhile is refused."""
        pod = self.kube.get_or_none(POD.path(self.namespace, replica_id))
        if pod is None:
            raise ReplicaUnreachable(f"replica {replica_id} is gone")
        if accepting:
            self._admin(replica_id, "POST", LISTEN, {"accepting": True})
            self._route_to(self._version(pod), True)
            return
        self._route_to(self._version(pod), False)
        self._wait_unrouted(replica_id)
        self._admin(replica_id, "POST", LISTEN, {"accepting": False})

    def _wait_unrouted(self, replica_id: str, within_s: float = 10.0) -> None:
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            slices = self.kube.list(ENDPOINT_SLICE.path(self.namespace),
                                    labelSelector=f"kubernetes.io/service-name={SERVER}")
            routed = {(e.get("targetRef") or {}).get("name") for s in slices for e in s.get("endpoints") or []}
            if replica_id not in routed:
                time.sleep(KUBE_PROXY_SYNC_S)  # kube-proxy programs the change a moment later
                return
            time.sleep(0.1)

    def _route_to(self, version: str, accepting: bool) -> None:
        """The Service selects the versions that take new connections: one version, or (while two
        accept, during a rollback switch) every server pod."""
        path = SERVICE.path(self.namespace, SERVER)
        service = self.kube.get(path)
        current = (service["spec"].get("selector") or {}).get(VERSION_LABEL)
        label = naming.label_value(version)
        if accepting and current not in (None, label):
            selector: str | None = None  # both versions accept for a moment: route to all
        elif accepting:
            selector = label
        elif current == label or current is None:
            others = {naming.label_value(self._version(p)) for p in self._pods()} - {label}
            selector = sorted(others)[0] if len(others) == 1 else None
        else:
            return
        if selector != current:
            self.kube.merge_patch(path, {"spec": {"selector": {VERSION_LABEL: selector}}})

    def disconnect(self, replica_id: str, count: int) -> int:
        data = self._admin(replica_id, "POST", DISCONNECT, {"count": count})
        return int(data.get("closed", 0)) if isinstance(data, dict) else 0

    def health(self, replica_ids: Sequence[str], at: float) -> HealthSample:
        return sum_health(at, {rid: self._stats(rid) for rid in replica_ids})

    def retire(self, replica_id: str) -> None:
        pod = self.kube.get_or_none(POD.path(self.namespace, replica_id))
        if pod is None or pod["metadata"].get("deletionTimestamp"):
            return  # already going: retiring is idempotent (a resumed orchestrator repeats it)
        name = server_deployment(self._version(pod))
        dep = self.kube.get_or_none(DEPLOYMENT.path(self.namespace, name))
        if dep is None:
            self.kube.delete(POD.path(self.namespace, replica_id))
            return
        self.kube.merge_patch(POD.path(self.namespace, replica_id), {"metadata": {"annotations": {DELETION_COST: "-1000"}}})
        left = max(0, int(dep["spec"].get("replicas", 1)) - 1)
        if left == 0:
            self.kube.delete(DEPLOYMENT.path(self.namespace, name), propagationPolicy="Background")
            self._record_running_version(gone=name)
        else:
            self.kube.merge_patch(DEPLOYMENT.path(self.namespace, name), {"spec": {"replicas": left}})

    def _record_running_version(self, gone: str) -> None:
        """With one version left, the environment runs it: `envctl up` converges to it from now on."""
        left = {(d["metadata"].get("annotations") or {}).get(VERSION_ANNOTATION) for d in self._deployments()
                if d["metadata"]["name"] != gone and not d["metadata"].get("deletionTimestamp")}
        left.discard(None)
        if len(left) == 1:
            self.kube.merge_patch(kind("Namespace").path(name=self.namespace),
                                  {"metadata": {"annotations": {naming.ANN_SERVER_VERSION: left.pop()}}})

    def replica_stats(self) -> list[tuple[str, str, dict[str, Any] | None]]:
        """(pod, version, /admin/stats or None) of every server pod, for samplers watching from outside."""
        return [(p["metadata"]["name"], self._version(p), self._stats(p["metadata"]["name"]) if self._alive(p) else None)
                for p in self._pods()]

    def simulator_status(self) -> dict[str, Any] | None:
        """The environment's simulator's status file, read in its pod (rehearsals; production has none)."""
        sims = [p for p in self.kube.list(POD.path(self.namespace), labelSelector="app.kubernetes.io/name=charger-simulator")
                if p.get("status", {}).get("phase") == "Running"]
        if not sims:
            return None
        try:
            raw = self.kube.exec(self.namespace, sims[0]["metadata"]["name"], "simulator", ["cat", "/status/sim.json"])
            data = json.loads(raw)
        except (EnvctlError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def expected_chargers(self) -> int | None:
        try:
            ns = self.kube.get(kind("Namespace").path(name=self.namespace))
        except ApiError:
            return None
        value = (ns["metadata"].get("annotations") or {}).get(naming.ANN_CHARGERS)
        return int(value) if value and value.isdigit() else None
