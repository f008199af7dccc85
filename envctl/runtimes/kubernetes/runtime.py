"""Preview environments as Kubernetes namespaces: one namespace per environment, everything in it
rendered from templates/ and applied server-side as field manager "envctl".

`up` is idempotent and safe to race: creating the namespace is the lock (the API server lets
exactly one create win; the loser sees 409 and converges the same environment). Objects the
templates stop rendering are pruned by label. `down` deletes the namespace and waits until it is
gone; `gc` deletes expired ones. Nothing here touches a namespace without
app.kubernetes.io/managed-by=envctl (and templates/rbac enforces the same in the API server).
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from envctl.config import Config, load_config
from envctl.envs import naming
from envctl.envs.converge import differences, refuse_differences
from envctl.envs.limits import check_limits
from envctl.envs.model import EnvSpec, EnvStatus, utcnow, validate_name
from envctl.envs.ownership import check_may_converge, current_owner
from envctl.envs.ttl import expiry, extended, format_time, parse_time
from envctl.errors import EnvctlError, NotFound, Refused, Timeout
from envctl.runtimes.base import Progress, no_progress
from envctl.runtimes.kubernetes import render as r
from envctl.runtimes.kubernetes.client import ApiError, Kube, kind
from envctl.runtimes.kubernetes.rollout import wait_ready
from envctl.runtimes.kubernetes.state import SERVER, SERVER_ADMIN_PORT, SIMULATOR, env_status, is_managed, is_simulator, running_spec
from envctl.runtimes.kubernetes.teardown import Teardown

Obj = dict[str, Any]

# Namespaced kinds the templates may render: what prune looks at.
PRUNABLE = ["ConfigMap", "Secret", "Service", "ServiceAccount", "ResourceQuota", "LimitRange",
            "NetworkPolicy", "Ingress", "Deployment", "StatefulSet", "RoleBinding"]
WORKLOADS = {"Deployment", "StatefulSet", "Ingress"}
MANAGED_SELECTOR = f"{naming.MANAGED_BY}={naming.MANAGER}"


class KubernetesRuntime(Teardown):
    name = "kubernetes"

    def __init__(
        self,
        config: Config | None = None,
        kube: Kube | None = None,
        kubeconfig: str | None = None,
        clock: Callable[[], datetime] = utcnow,
        stats_timeout_s: float = 2.0,
    ) -> None:
        self.config = config or load_config()
        self._kube = kube
        self._kubeconfig = kubeconfig
        self.clock = clock
        self.stats_timeout_s = stats_timeout_s
        self._subject: dict[str, str] | None = None

    @property
    def kube(self) -> Kube:
        if self._kube is None:
            self._kube = Kube(self._kubeconfig)
        return self._kube

    @property
    def prefix(self) -> str:
        return self.config.kubernetes.namespace_prefix

    def namespace(self, name: str) -> str:
        return naming.namespace_for(name, self.prefix)

    # ------------------------------------------------------------------ up
    def up(self, spec: EnvSpec, progress: Progress = no_progress, recreate: bool = False) -> EnvStatus:
        cfg = self.config
        if recreate:
            self.down(spec.name)
        templates = r.templates_dir(cfg)
        requester = spec.owner or current_owner()
        now = self.clock()
        progress("claiming namespace", 0, 1)
        values = r.values_for(
            spec, cfg, owner=requester, created_at=now,
            expires_at=expiry(now, spec.ttl, cfg.envs.max_ttl),
            credentials=r.Credentials("", "", "", ""), subject={},
        )
        ns = self._claim(spec, r.render_namespace(values, templates), requester)
        values = self._existing_values(values, spec, ns)

        progress("applying manifests", 0, 1)
        rolebinding = r.render_rolebinding(values, templates)
        self.kube.apply(rolebinding)  # envctl's rights in the namespace: reading its ConfigMap needs them
        # An existing environment is converged, never reshaped by `up`: a request that differs is
        # refused naming the command that changes it, and what the request leaves out is kept.
        running = self._running_spec(ns)
        refuse_differences(spec.name, differences(spec, running))
        spec = replace(spec, **{k: v for k, v in running.items() if not spec.asks_for(k) and v is not None})
        values = self._existing_values(r.values_for(
            spec, cfg, owner=requester, created_at=now, expires_at=values.expires_at,
            credentials=r.Credentials("", "", "", ""), subject={},
        ), spec, ns)  # fmt: skip
        self._refuse_mid_release(spec.name, values.namespace)  # before anything of it changes
        self.kube.apply(r.render_namespace(values, templates))
        values.credentials = self._credentials(values.namespace)
        objects = r.render(values, templates)
        first = [o for o in objects if o["kind"] not in WORKLOADS and o["kind"] != "Namespace"]
        workloads = [o for o in objects if o["kind"] in WORKLOADS]
        # The chargers come last: a simulator started beside the servers connects every charger to
        # whichever replica turned Ready first, and connections never move by themselves.
        chargers = [o for o in workloads if is_simulator(o)]
        self._apply_all(first)
        self._wait_quota(values.namespace)
        self._apply_all([o for o in workloads if not is_simulator(o)])
        self._prune(spec.name, values.namespace, [*objects, rolebinding])

        timeout = spec.ready_timeout_s if spec.ready_timeout_s != 300.0 else cfg.kubernetes.ready_timeout.total_seconds()
        deadline = time.monotonic() + timeout
        wait_ready(self.kube, spec.name, values.namespace, timeout, progress)
        if chargers:
            self._apply_all(chargers)
            wait_ready(self.kube, spec.name, values.namespace, max(deadline - time.monotonic(), 1.0), progress)
        return self._wait_chargers(spec.name, spec.chargers, deadline, progress)

    def _wait_chargers(self, name: str, target: int, deadline: float, progress: Progress) -> EnvStatus:
        """The contract: `up` returns once every charger is connected, counted by the servers."""
        while True:
            status = self.status(name)
            progress("chargers connecting", status.chargers_connected, max(target, 1))
            if status.chargers_connected >= target:
                return status
            if time.monotonic() > deadline:
                raise Timeout(
                    f"environment {name} is running, but only {status.chargers_connected} of {target} chargers "
                    f"connected in time" + (f" ({status.message})" if status.message else ""),
                    f"see `envctl logs {name} --component simulator` and `envctl logs {name}`; "
                    "raise --timeout if the fleet is large",
                )
            time.sleep(0.25)

    def _existing_values(self, values: r.Values, spec: EnvSpec, ns: Obj) -> r.Values:
        """An existing environment keeps its owner, birth and expiry (`envctl extend` moves that)."""
        ann = ns["metadata"].get("annotations") or {}
        values.owner = ann.get(naming.ANN_OWNER) or values.owner
        values.created_at = parse_time(ann.get(naming.ANN_CREATED_AT)) or values.created_at
        values.expires_at = parse_time(ann.get(naming.ANN_EXPIRES)) or values.expires_at
        values.server_version = self._converged_version(spec, ns, ann)
        values.subject = self.subject()
        return values

    def _running_spec(self, ns: Obj) -> dict[str, Any]:
        path = kind("ConfigMap").path(ns["metadata"]["name"], "envctl-config")
        return running_spec(ns, (self._retry_rbac(lambda: self.kube.get_or_none(path)) or {}).get("data") or {})

    def _converged_version(self, spec: EnvSpec, ns: Obj, ann: dict[str, str]) -> str:
        """An existing environment keeps the server version it runs: changing it with `up` would
        replace every server pod at once, the outage releases exist to prevent."""
        running = ann.get(naming.ANN_SERVER_VERSION)
        if running and spec.server_version and spec.server_version != running:
            raise Refused(
                f"environment {spec.name} runs charger-server {running}; `up --server-version "
                f"{spec.server_version}` would drop every charger at once",
                f"release it instead: `envctl release plan --env {spec.name} --to {spec.server_version}`",
            )
        return running or spec.server_version or "v1"

    def _refuse_mid_release(self, name: str, namespace: str) -> None:
        release = self._retry_rbac(lambda: self._release_in_progress(name, namespace))
        if release:
            raise Refused(
                f"environment {name} is in the middle of release {release}; `up` would undo its progress",
                f"wait for it (`envctl release status {release}`) or abort it (`envctl release abort {release}`)",
            )

    def _release_in_progress(self, name: str, namespace: str) -> str | None:
        from envctl.release.stores.kubernetes import KubernetesReleaseStore

        return KubernetesReleaseStore(self.kube, namespace, name).in_progress()

    def _claim(self, spec: EnvSpec, ns_manifest: Obj, requester: str) -> Obj:
        """The namespace of this environment, created now (limits checked) or already there."""
        k, ns_name = self.kube, ns_manifest["metadata"]["name"]
        path = kind("Namespace").path(name=ns_name)
        existing = k.get_or_none(path)
        if existing and existing["metadata"].get("deletionTimestamp"):
            # A `down` is still finishing; the name becomes free once the namespace is gone.
            self._wait_gone(ns_name)
            existing = None
        if existing is None:
            self._check_limits(requester, exclude=ns_name)
            try:
                created = k.create(ns_manifest)
            except ApiError as err:
                if err.status != 409:
                    raise
                existing = k.get(path)  # someone else's `up` won the create: converge theirs
            else:
                try:
                    self._check_limits(requester, exclude=ns_name)
                except Refused:
                    # Lost a race against other creates: give the slot back.
                    k.delete(path)
                    raise
                return dict(created)
        if not is_managed(existing):
            raise Refused(
                f"namespace {ns_name} exists and is not managed by envctl",
                "choose another environment name; envctl never touches namespaces without "
                f"{naming.MANAGED_BY}={naming.MANAGER}",
            )
        ann = existing["metadata"].get("annotations") or {}
        check_may_converge(spec.name, ann.get(naming.ANN_OWNER), requester, spec.pr)
        return dict(existing)

    def _managed_namespaces(self) -> list[Obj]:
        items = self.kube.list(kind("Namespace").path(), labelSelector=MANAGED_SELECTOR)
        return [n for n in items if is_managed(n)]

    def _check_limits(self, owner: str, exclude: str) -> None:
        live = [n for n in self._managed_namespaces()
                if not n["metadata"].get("deletionTimestamp") and n["metadata"]["name"] != exclude]
        owners = [(n["metadata"].get("annotations") or {}).get(naming.ANN_OWNER) for n in live]
        check_limits(owners, owner, self.config.envs.max_environments, self.config.envs.max_per_owner)

    def subject(self) -> dict[str, str]:
        """Who envctl authenticates as, for the RoleBinding it gives itself in each namespace."""
        if self._subject is None:
            user = self.kube.whoami().get("username", "")
            if user.startswith("system:serviceaccount:"):
                _, _, sa_ns, sa_name = user.split(":", 3)
                self._subject = {"kind": "ServiceAccount", "name": sa_name, "namespace": sa_ns}
            else:
                self._subject = {"kind": "User", "name": user, "apiGroup": "rbac.authorization.k8s.io"}
        return self._subject

    def _credentials(self, namespace: str) -> r.Credentials:
        """Keep what the environment already has; generate only what is missing.

        New credentials are created (not applied) so that racing `up`s agree: one create wins,
        the others read the winner's values instead of rolling the pods with their own."""
        path = kind("Secret").path(namespace, "envctl-credentials")
        secret = self._retry_rbac(lambda: self.kube.get_or_none(path))
        data = {k: base64.b64decode(v).decode() for k, v in ((secret or {}).get("data") or {}).items()}
        creds = r.Credentials(
            admin_token=data.get("admin-token") or secrets.token_urlsafe(32),
            basic_auth_user=data.get("basic-auth-user") or "preview",
            basic_auth_password=data.get("basic-auth-password") or secrets.token_urlsafe(18),
            postgres_password=data.get("postgres-password") or secrets.token_urlsafe(18),
        )
        if secret is None:
            try:
                self.kube.create({
                    "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                    "metadata": {"name": "envctl-credentials", "namespace": namespace},
                    "stringData": {"admin-token": creds.admin_token, "basic-auth-user": creds.basic_auth_user,
                                   "basic-auth-password": creds.basic_auth_password,
                                   "postgres-password": creds.postgres_password},
                })
            except ApiError as err:
                if err.status != 409:
                    raise
                return self._credentials(namespace)
        return creds

    def _retry_rbac(self, call: Callable[[], Any], within_s: float = 5.0) -> Any:
        """RBAC caches in the API server lag a new RoleBinding by a moment: retry RBAC denials."""
        deadline = time.monotonic() + within_s
        while True:
            try:
                return call()
            except ApiError as err:
                if err.status != 403 or " cannot " not in err.api_message or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _apply_all(self, objects: list[Obj]) -> None:
        with ThreadPoolExecutor(max_workers=8) as pool:
            for f in [pool.submit(self._retry_rbac, lambda o=o: self.kube.apply(o)) for o in objects]:
                f.result()

    def _wait_quota(self, namespace: str, within_s: float = 10.0) -> None:
        """Pods created before the quota controller filled in status.hard are refused ("status
        unknown for quota") and retried with back-off; waiting a moment here is faster."""
        path = kind("ResourceQuota").path(namespace, "envctl-quota")
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            quota = self.kube.get_or_none(path)
            if quota is None or (quota.get("status") or {}).get("hard"):
                return
            time.sleep(0.05)

    def _prune(self, name: str, namespace: str, keep: list[Obj]) -> list[str]:
        wanted = {(o["kind"], o["metadata"]["name"]) for o in keep}
        selector = f"{MANAGED_SELECTOR},{naming.LABEL_ENV}={name}"

        def prune_kind(kind_name: str) -> list[str]:
            gone = []
            for obj in self.kube.list(kind(kind_name).path(namespace), labelSelector=selector):
                if kind_name == "Deployment" and (obj["metadata"].get("labels") or {}).get(
                        "app.kubernetes.io/name") == SERVER:
                    continue  # server versions come and go with releases, which retire them
                if (kind_name, obj["metadata"]["name"]) not in wanted:
                    self.kube.delete(kind(kind_name).path(namespace, obj["metadata"]["name"]),
                                     propagationPolicy="Background")
                    gone.append(f"{kind_name}/{obj['metadata']['name']}")
            return gone

        with ThreadPoolExecutor(max_workers=8) as pool:
            return [g for gs in pool.map(prune_kind, PRUNABLE) for g in gs]

    # ------------------------------------------------------------------ status / list
    def _namespace_obj(self, name: str) -> Obj:
        validate_name(name)
        ns = self.kube.get_or_none(kind("Namespace").path(name=self.namespace(name)))
        if ns is None or not is_managed(ns):
            raise NotFound(f"no Kubernetes environment named {name!r}", "see `envctl list --runtime kubernetes`")
        return dict(ns)

    def status(self, name: str) -> EnvStatus:
        ns = self._namespace_obj(name)
        namespace = ns["metadata"]["name"]
        workloads = self.kube.list(kind("Deployment").path(namespace)) + self.kube.list(
            kind("StatefulSet").path(namespace))
        pods = [p for p in self.kube.list(kind("Pod").path(namespace),
                                          labelSelector=f"app.kubernetes.io/name={SERVER}")
                if not p["metadata"].get("deletionTimestamp")]
        return env_status(ns, workloads, self.prefix, self.config.kubernetes.ingress, pods,
                          self._stats(namespace, pods))

    def _stats(self, namespace: str, pods: list[Obj]) -> dict[str, dict[str, Any] | None]:
        """Each server's /admin/stats through the API server's pod proxy (a kubeconfig is all it
        takes, from a laptop or a CI runner); None where the pod does not answer."""
        def ask(pod: Obj) -> dict[str, Any] | None:
            if not pod.get("status", {}).get("podIP"):
                return None
            try:
                return dict(self.kube.pod_proxy(namespace, pod["metadata"]["name"], SERVER_ADMIN_PORT,
                                                "/admin/stats", timeout=self.stats_timeout_s))
            except (EnvctlError, TypeError, ValueError):
                return None

        if not pods:
            return {}
        with ThreadPoolExecutor(max_workers=min(8, len(pods))) as pool:
            return dict(zip((p["metadata"]["name"] for p in pods), pool.map(ask, pods)))

    def list(self) -> list[EnvStatus]:
        namespaces = self._managed_namespaces()
        by_ns: dict[str, list[Obj]] = {}
        for d in self.kube.list(kind("Deployment").path(), labelSelector=MANAGED_SELECTOR):
            by_ns.setdefault(d["metadata"]["namespace"], []).append(d)
        ingress = self.config.kubernetes.ingress
        statuses = [env_status(n, by_ns.get(n["metadata"]["name"], []), self.prefix, ingress) for n in namespaces]
        return sorted(statuses, key=lambda s: s.name)

    # ------------------------------------------------------------------ extend / logs
    def extend(self, name: str, by: timedelta) -> datetime:
        ns = self._namespace_obj(name)
        now = self.clock()
        current = parse_time((ns["metadata"].get("annotations") or {}).get(naming.ANN_EXPIRES))
        new = extended(current, by, now, self.config.envs.max_ttl)
        self.kube.merge_patch(kind("Namespace").path(name=ns["metadata"]["name"]),
                              {"metadata": {"annotations": {naming.ANN_EXPIRES: format_time(new)}}})
        return new

    def logs(self, name: str, component: str = "server", tail: int = 100) -> dict[str, str]:
        """Pod name -> its last `tail` log lines, for the server or simulator pods."""
        namespace = self._namespace_obj(name)["metadata"]["name"]
        app = {"server": SERVER, "simulator": SIMULATOR, "postgres": "postgres"}[component]
        container = {"server": "server", "simulator": "simulator", "postgres": "postgres"}[component]
        pods = self.kube.list(kind("Pod").path(namespace), labelSelector=f"app.kubernetes.io/name={app}")
        if not pods:
            raise NotFound(f"environment {name!r} has no {component} pods", f"see `envctl status {name}`")
        out: dict[str, str] = {}
        for pod in pods:
            try:
                out[pod["metadata"]["name"]] = self.kube.logs(namespace, pod["metadata"]["name"], container, tail)
            except ApiError as err:
                raise EnvctlError(
                    f"cannot read logs of pod {pod['metadata']['name']}: {err.api_message}",
                    "the node must serve container logs (kwok's fake nodes do not)",
                ) from None
        return out

