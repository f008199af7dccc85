"""Taking a Kubernetes environment down: `down` (refused mid-release unless forced, releases kept in
this machine's history, chargers stopped before the namespace goes) and `gc` of expired ones.

A part of KubernetesRuntime (runtime.py), kept apart because ending an environment is its own
concern: what must happen before the namespace is deleted, and in which order.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from envctl.config import Config
from envctl.envs import naming
from envctl.envs.gc import Candidate, select_expired
from envctl.envs.model import validate_name
from envctl.envs.ttl import parse_time
from envctl.errors import NotFound, Refused, Timeout
from envctl.runtimes.kubernetes.client import Kube, kind
from envctl.runtimes.kubernetes.state import SIMULATOR, is_managed, is_simulator

Obj = dict[str, Any]


class Teardown:
    """Mixed into KubernetesRuntime, which provides these."""

    config: Config
    clock: Callable[[], datetime]
    kube: Kube
    prefix: str

    def namespace(self, name: str) -> str: ...
    def _release_in_progress(self, name: str, namespace: str) -> str | None: ...
    def _managed_namespaces(self) -> list[Obj]: ...

    def down(self, name: str, wait: bool = True, force: bool = False, actor: str = "envctl") -> bool:
        validate_name(name)
        namespace = self.namespace(name)
        ns = self.kube.get_or_none(kind("Namespace").path(name=namespace))
        if ns is None:
            self._hint_namespace_name(name)
            return False
        if not is_managed(ns):
            raise Refused(f"namespace {namespace} is not managed by envctl; leaving it alone",
                          "delete it yourself if it really should go")
        release = None if ns["metadata"].get("deletionTimestamp") else self._release_in_progress(name, namespace)
        if release and not force:
            raise Refused(
                f"release {release} of {name} is in progress; `down` would cut it short",
                f"wait for it (`envctl release status {release} --env {name}`), abort it (`envctl release abort "
                f"{release} --env {name}`), or `envctl down {name} --force` aborts it first",
            )
        if release:
            self._abort_release(name, namespace, release, actor)
        if not ns["metadata"].get("deletionTimestamp"):
            self._archive_releases(name, namespace)
            if wait:
                self._stop_pods(namespace)
            self.kube.delete(kind("Namespace").path(name=namespace), propagationPolicy="Background")
        if wait:
            self._wait_gone(namespace)
        return True

    def _abort_release(self, name: str, namespace: str, plan_id: str, actor: str) -> None:
        """Ask the release to abort and wait until no orchestrator drives it (rolled back, or its
        lease lapsed because it died), so the namespace is not deleted under a live rollback."""
        from envctl.release.status import Abort
        from envctl.release.stores.kubernetes import LEASE_S, KubernetesReleaseStore

        store = KubernetesReleaseStore(self.kube, namespace, name)
        store.request_abort(plan_id, Abort(requested_at=time.time(), reason=f"`envctl down {name} --force`", by=actor))
        wait_s = max(self.config.kubernetes.down_timeout.total_seconds(), LEASE_S + 3)
        with store.lease(plan_id, f"envctl down {name} --force", wait_s=wait_s):
            pass

    def _archive_releases(self, name: str, namespace: str) -> None:
        """The release documents die with the namespace: keep a copy in this machine's history."""
        from envctl.envs import history
        from envctl.release.archive import copy_releases
        from envctl.release.store import FileReleaseStore
        from envctl.release.stores.kubernetes import KubernetesReleaseStore

        copy_releases(KubernetesReleaseStore(self.kube, namespace, name),
                      FileReleaseStore(history.releases_dir(name), env=name))

    def _hint_namespace_name(self, name: str) -> None:
        """`envctl down envctl-pr-77` names the namespace (what kubectl shows), not the environment."""
        meant = naming.name_from_namespace(name, self.prefix)
        if meant == name or not meant:
            return
        ns = self.kube.get_or_none(kind("Namespace").path(name=name))
        if ns is not None and is_managed(ns):
            raise NotFound(
                f"{name!r} is the namespace of environment {meant!r}, not an environment name",
                f"run `envctl down {meant}`",
            )

    def _stop_pods(self, namespace: str) -> None:
        """Stop the chargers first, then everything else, and wait for the pods to go.

        With the simulator gone the servers hold no connections, so their preStop drain has
        nothing to shed; and the namespace controller, finding pods still terminating, would
        re-check only after their whole grace period, while with the pods already gone the
        namespace disappears at once."""
        workloads = self.kube.list(kind("Deployment").path(namespace)) + self.kube.list(
            kind("StatefulSet").path(namespace))
        deadline = time.monotonic() + self.config.kubernetes.down_timeout.total_seconds()
        pods_path = kind("Pod").path(namespace)
        simulators = [w for w in workloads if is_simulator(w)]
        for group, selector in ((simulators, f"app.kubernetes.io/name={SIMULATOR}"), (workloads, None)):
            for w in group:
                self.kube.merge_patch(kind(w["kind"]).path(namespace, w["metadata"]["name"]), {"spec": {"replicas": 0}})
            query = {"labelSelector": selector} if selector else {}
            while group and self.kube.list(pods_path, **query) and time.monotonic() < deadline:
                time.sleep(0.1)

    def _wait_gone(self, namespace: str) -> None:
        path = kind("Namespace").path(name=namespace)
        deadline = time.monotonic() + self.config.kubernetes.down_timeout.total_seconds()
        while True:
            ns = self.kube.get_or_none(path)
            if ns is None:
                return
            if time.monotonic() > deadline:
                waiting = [c.get("message") for c in ns.get("status", {}).get("conditions") or []
                           if c.get("status") == "True"]
                raise Timeout(f"namespace {namespace} is still being deleted: {'; '.join(waiting) or 'no reason given'}",
                              "try again later, or raise kubernetes.down_timeout in envctl.yaml")
            time.sleep(0.2)

    def gc(self, dry_run: bool = False) -> list[str]:
        """Delete every expired environment (without waiting); return their names."""
        now = self.clock()
        namespaces = self._managed_namespaces()
        candidates = [
            Candidate(
                name=n["metadata"]["name"], managed=is_managed(n),
                expires_at=parse_time((n["metadata"].get("annotations") or {}).get(naming.ANN_EXPIRES)),
                terminating=bool(n["metadata"].get("deletionTimestamp")),
            )
            for n in namespaces
        ]
        expired = [c.name for c in select_expired(candidates, now)]
        if not dry_run and expired:
            def delete(ns: str) -> None:
                self.kube.delete(kind("Namespace").path(name=ns), propagationPolicy="Background")

            with ThreadPoolExecutor(max_workers=16) as pool:
                list(pool.map(delete, expired))
        return [naming.name_from_namespace(ns, self.prefix) for ns in expired]
