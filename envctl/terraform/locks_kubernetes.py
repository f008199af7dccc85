"""Project locks as coordination.k8s.io/v1 Leases, for when a cluster is configured.

One Lease per (repository, dir, workspace), named from a digest of that key. Creation is the
acquire: the API server lets exactly one create succeed (409 AlreadyExists for the others), so
two envctl processes on different machines cannot both hold a lock. The holder's details ride
in an annotation; release deletes with a resourceVersion precondition, so a lock re-taken in
between is never deleted by mistake. Leases here carry no duration: a lock is held by a pull
request until it is released, not by a process that must keep renewing it.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from envctl.runtimes.kubernetes.client import ApiError, Kube
from envctl.terraform.locks import Acquired, Lock, key_digest, lock_key

ANNOTATION = "envctl.io/terraform-lock"
LABEL = "envctl.io/terraform-lock"
MAX_CONFLICT_RETRIES = 5


class LeaseLockStore:
    def __init__(self, kube: Kube, namespace: str = "default") -> None:
        self.kube = kube
        self.namespace = namespace

    def _path(self, name: str | None = None) -> str:
        base = f"/apis/coordination.k8s.io/v1/namespaces/{self.namespace}/leases"
        return f"{base}/{name}" if name else base

    @staticmethod
    def _name(key: str) -> str:
        return f"envctl-tf-{key_digest(key)}"

    def _body(self, lock: Lock, resource_version: str | None = None) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "name": self._name(lock.key), "namespace": self.namespace,
            "labels": {LABEL: "true", "app.kubernetes.io/managed-by": "envctl"},
            "annotations": {ANNOTATION: json.dumps(asdict(lock), sort_keys=True)},
        }  # fmt: skip
        if resource_version:
            meta["resourceVersion"] = resource_version
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta,
                "spec": {"holderIdentity": lock.holder}}

    @staticmethod
    def _lock(obj: dict[str, Any]) -> Lock:
        return Lock(**json.loads(obj["metadata"]["annotations"][ANNOTATION]))

    def _read(self, key: str) -> dict[str, Any] | None:
        return self.kube.get_or_none(self._path(self._name(key)))  # type: ignore[no-any-return]

    def acquire(self, lock: Lock) -> Acquired:
        for _ in range(MAX_CONFLICT_RETRIES):
            try:
                self.kube.request("POST", self._path(), body=self._body(lock))
                return Acquired(True, lock)
            except ApiError as err:
                if err.status != 409:
                    raise
            current = self._read(lock.key)
            if current is None:
                continue  # released between our create and read: try again
            held = self._lock(current)
            if held.pull != lock.pull:
                return Acquired(False, held)
            refreshed = Lock(**{**asdict(lock), "created_at": held.created_at})
            try:
                self.kube.request("PUT", self._path(self._name(lock.key)),
                                  body=self._body(refreshed, current["metadata"]["resourceVersion"]))
                return Acquired(True, refreshed)
            except ApiError as err:
                if err.status not in (404, 409):
                    raise
        raise RuntimeError(f"lock {lock.key} kept changing under us")

    def get(self, repo: str, directory: str, workspace: str) -> Lock | None:
        current = self._read(lock_key(repo, directory, workspace))
        return self._lock(current) if current else None

    def _delete(self, obj: dict[str, Any]) -> bool:
        try:
            self.kube.request("DELETE", self._path(obj["metadata"]["name"]),
                              body={"preconditions": {"resourceVersion": obj["metadata"]["resourceVersion"]}})
            return True
        except ApiError as err:
            if err.status in (404, 409):
                return False
            raise

    def release(self, repo: str, directory: str, workspace: str, pull: int | None = None) -> Lock | None:
        current = self._read(lock_key(repo, directory, workspace))
        if current is None:
            return None
        held = self._lock(current)
        if pull is not None and held.pull != pull:
            return None
        return held if self._delete(current) else None

    def _items(self) -> list[dict[str, Any]]:
        return self.kube.list(self._path(), labelSelector=f"{LABEL}=true")

    def release_pull(self, repo: str, pull: int) -> list[Lock]:
        released = []
        for obj in self._items():
            held = self._lock(obj)
            if held.repo == repo and held.pull == pull and self._delete(obj):
                released.append(held)
        return released

    def list(self, repo: str | None = None) -> list[Lock]:
        locks = [self._lock(obj) for obj in self._items()]
        return sorted((lk for lk in locks if repo is None or lk.repo == repo), key=lambda lk: lk.key)
