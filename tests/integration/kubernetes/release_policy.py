"""Setting a cluster's release policy as its admin does (the ConfigMap envctl reads on Kubernetes)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import yaml

from envctl.release.policy import DEFAULT_POLICY_NAMESPACE, POLICY_CONFIGMAP, POLICY_KEY
from envctl.runtimes.kubernetes.client import ApiError, Kube, kind

CONFIGMAP = kind("ConfigMap")


@contextlib.contextmanager
def cluster_policy(admin: Kube, approval: dict[str, Any], namespace: str = DEFAULT_POLICY_NAMESPACE) -> Iterator[None]:
    """The policy in force while the block runs; the cluster's defaults again afterwards."""
    with contextlib.suppress(ApiError):  # already there (the RBAC bundle creates it too)
        admin.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    path = CONFIGMAP.path(namespace, POLICY_CONFIGMAP)
    admin.delete(path)
    admin.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": POLICY_CONFIGMAP, "namespace": namespace},
                  "data": {POLICY_KEY: yaml.safe_dump(approval)}})
    try:
        yield
    finally:
        admin.delete(path)
