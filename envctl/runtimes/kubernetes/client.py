"""A thin REST layer over the official client's ApiClient: paths in, JSON dicts out.

Why not the typed APIs or DynamicClient: manifests are already plain dicts, server-side apply
is just a PATCH with `application/apply-patch+yaml`, and DynamicClient's discovery costs
requests that `envctl up` (goal: Ready in <= 5 s) does not need. The official client still
does kubeconfig loading, auth, TLS and connection pooling.
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import urllib3
from kubernetes import client, config
from kubernetes.config.config_exception import ConfigException

from envctl.errors import ConfigError, EnvctlError

FIELD_MANAGER = "envctl"


class ApiError(EnvctlError):
    """The API server said no; `status` is the HTTP code, `reason` e.g. Forbidden, AlreadyExists."""

    def __init__(self, status: int, reason: str, message: str, body: dict[str, Any] | None = None):
        super().__init__(f"Kubernetes API: {message}" if message else f"Kubernetes API: HTTP {status}")
        self.status = status
        self.reason = reason
        self.api_message = message
        self.body = body or {}


@dataclass(frozen=True)
class Kind:
    api_version: str
    kind: str
    plural: str
    namespaced: bool = True

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        base = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{quote(namespace)}"
        base += f"/{self.plural}"
        return base + (f"/{quote(name)}" if name else "")


_KINDS = [
    Kind("v1", "Namespace", "namespaces", namespaced=False),
    Kind("v1", "ConfigMap", "configmaps"),
    Kind("v1", "Secret", "secrets"),
    Kind("v1", "Service", "services"),
    Kind("v1", "ServiceAccount", "serviceaccounts"),
    Kind("v1", "ResourceQuota", "resourcequotas"),
    Kind("v1", "LimitRange", "limitranges"),
    Kind("v1", "PersistentVolumeClaim", "persistentvolumeclaims"),
    Kind("v1", "Pod", "pods"),
    Kind("v1", "Event", "events"),
    Kind("v1", "Node", "nodes", namespaced=False),
    Kind("apps/v1", "Deployment", "deployments"),
    Kind("apps/v1", "StatefulSet", "statefulsets"),
    Kind("apps/v1", "ReplicaSet", "replicasets"),
    Kind("batch/v1", "CronJob", "cronjobs"),
    Kind("batch/v1", "Job", "jobs"),
    Kind("coordination.k8s.io/v1", "Lease", "leases"),
    Kind("discovery.k8s.io/v1", "EndpointSlice", "endpointslices"),
    Kind("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies"),
    Kind("networking.k8s.io/v1", "Ingress", "ingresses"),
    Kind("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings"),
    Kind("rbac.authorization.k8s.io/v1", "ClusterRole", "clusterroles", namespaced=False),
    Kind("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "clusterrolebindings", namespaced=False),
    Kind("scheduling.k8s.io/v1", "PriorityClass", "priorityclasses", namespaced=False),
    Kind("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy",
         "validatingadmissionpolicies", namespaced=False),
    Kind("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding",
         "validatingadmissionpolicybindings", namespaced=False),
]
KINDS: dict[tuple[str, str], Kind] = {(k.api_version, k.kind): k for k in _KINDS}


def kind_of(obj: dict[str, Any]) -> Kind:
    try:
        return KINDS[(obj["apiVersion"], obj["kind"])]
    except KeyError:
        raise RuntimeError(f"envctl does not know the kind {obj.get('apiVersion')}/{obj.get('kind')}") from None


def kind(name: str) -> Kind:
    return next(k for k in _KINDS if k.kind == name)


def load_configuration(kubeconfig: str | None = None, context: str | None = None) -> client.Configuration:
    cfg = client.Configuration()
    # Read KUBECONFIG now: the client library snapshots it once at import time.
    kubeconfig = kubeconfig or os.environ.get("KUBECONFIG") or None
    try:
        if kubeconfig or os.path.exists(os.path.expanduser("~/.kube/config")):
            config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=cfg)
        else:
            config.load_incluster_config(client_configuration=cfg)
    except (ConfigException, OSError) as err:
        raise ConfigError(
            f"no usable Kubernetes cluster configuration: {err}",
            "set KUBECONFIG (e.g. `eval $(scripts/control-plane env)`) or use --runtime local",
        ) from None
    cfg.connection_pool_maxsize = 32
    return cfg


class Kube:
    def __init__(self, kubeconfig: str | None = None, context: str | None = None,
                 configuration: client.Configuration | None = None) -> None:
        self.configuration = configuration or load_configuration(kubeconfig, context)
        self.api = client.ApiClient(self.configuration)
        self._once: client.ApiClient | None = None

    def close(self) -> None:
        self.api.close()
        if self._once is not None:
            self._once.close()

    @property
    def once(self) -> client.ApiClient:
        """A client that does not retry: for polls that would rather miss one answer than wait."""
        if self._once is None:
            cfg = copy.copy(self.configuration)
            cfg.retries = 0
            self._once = client.ApiClient(cfg)
        return self._once

    def request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout: float = 30.0,
        raw: bool = False,
        extra_headers: dict[str, str] | None = None,
        retry: bool = True,
    ) -> Any:
        headers = {"Accept": "application/json", "Content-Type": content_type, **(extra_headers or {})}
        api = self.api if retry else self.once
        _, url, headers, body, _ = api.param_serialize(
            method, path, query_params=[(k, v) for k, v in (query or {}).items() if v is not None],
            header_params=headers, body=body, auth_settings=["BearerToken"],
        )
        try:
            resp = api.call_api(method, url, header_params=headers, body=body,
                                _request_timeout=timeout)
            data = resp.read()
        except client.ApiException as err:  # TLS failures surface here with status 0
            raise ApiError(err.status or 0, str(err.reason), str(err.reason)) from None
        except (OSError, urllib3.exceptions.HTTPError) as err:
            raise EnvctlError(
                f"cannot reach the Kubernetes API at {self.configuration.host}: {err}",
                "is the cluster running? (`scripts/control-plane status`)",
            ) from None
        if not 200 <= resp.status < 300:
            try:
                status = json.loads(data)
            except ValueError:
                status = {"message": data.decode(errors="replace")[:500]}
            raise ApiError(resp.status, status.get("reason", ""), status.get("message", ""), status)
        if raw:
            return data.decode(errors="replace")
        return json.loads(data) if data else None

    # The verbs envctl uses.
    def get(self, path: str, **query: Any) -> Any:
        return self.request("GET", path, query=query)

    def get_or_none(self, path: str) -> Any:
        try:
            return self.get(path)
        except ApiError as err:
            if err.status == 404:
                return None
            raise

    def list(self, path: str, **query: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cont = None
        while True:
            page = self.get(path, limit=500, **{"continue": cont}, **query)
            # List items come without kind/apiVersion; put them back so they read like GETs.
            item_kind = str(page.get("kind", "")).removesuffix("List")
            for item in page.get("items") or []:
                item.setdefault("kind", item_kind)
                item.setdefault("apiVersion", page.get("apiVersion"))
                items.append(item)
            cont = page.get("metadata", {}).get("continue")
            if not cont:
                return items

    def create(self, obj: dict[str, Any]) -> Any:
        k = kind_of(obj)
        ns = obj["metadata"].get("namespace")
        return self.request("POST", k.path(ns), query={"fieldManager": FIELD_MANAGER}, body=obj)

    def apply(self, obj: dict[str, Any], force: bool = True) -> Any:
        """Server-side apply as field manager "envctl" (force: envctl owns what it renders)."""
        k = kind_of(obj)
        path = k.path(obj["metadata"].get("namespace"), obj["metadata"]["name"])
        # JSON is YAML, so the apply-patch+yaml body can be the object serialized as JSON.
        return self.request("PATCH", path, body=obj, content_type="application/apply-patch+yaml",
                            query={"fieldManager": FIELD_MANAGER, "force": "true" if force else None})

    def merge_patch(self, path: str, patch: dict[str, Any]) -> Any:
        return self.request("PATCH", path, body=patch, content_type="application/merge-patch+json",
                            query={"fieldManager": FIELD_MANAGER})

    def delete(self, path: str, **query: Any) -> bool:
        """False when it was already gone."""
        try:
            self.request("DELETE", path, query=query)
            return True
        except ApiError as err:
            if err.status == 404:
                return False
            raise

    def logs(self, namespace: str, pod: str, container: str, tail: int = 20,
             previous: bool = False, timeout: float = 5.0) -> str:
        return str(self.request(
            "GET", kind("Pod").path(namespace, pod) + "/log",
            query={"container": container, "tailLines": tail, "previous": "true" if previous else None},
            timeout=timeout, raw=True,
        ))

    def pod_proxy(self, namespace: str, pod: str, port: int, path: str, *, method: str = "GET",
                  body: Any = None, headers: dict[str, str] | None = None, timeout: float = 5.0) -> Any:
        """A pod's HTTP API through the API server (pods/proxy): works from wherever the API does,
        with nothing but a kubeconfig. The API server drops the Authorization header after
        authenticating the caller, so a pod's own credentials travel in another header."""
        return self.request(
            method, kind("Pod").path(namespace, f"{pod}:{port}") + "/proxy" + path,
            body=body, timeout=timeout, extra_headers=headers, retry=False,
        )

    def exec(self, namespace: str, pod: str, container: str, command: list[str], timeout: float = 30.0) -> str:
        """Run a command in a container (pods/exec, through the API server) and return its stdout."""
        from kubernetes.stream import stream

        # stream() swaps the ApiClient's transport for a websocket while it runs: on a client of
        # its own, so requests other threads make meanwhile still go out as plain HTTP.
        exec_api = client.ApiClient(self.configuration)
        try:
            out = stream(client.CoreV1Api(exec_api).connect_get_namespaced_pod_exec, pod, namespace,
                         container=container, command=command, stderr=False, stdin=False, stdout=True, tty=False,
                         _request_timeout=timeout)
        except client.ApiException as err:
            raise ApiError(err.status or 0, str(err.reason), str(err.reason)) from None
        except Exception as err:  # the websocket layer raises its own errors
            raise EnvctlError(f"exec in pod {namespace}/{pod} failed: {err}") from None
        finally:
            exec_api.close()
        return str(out)

    def whoami(self) -> dict[str, Any]:
        """The authenticated user (SelfSubjectReview: allowed for everyone, no RBAC needed)."""
        review = self.request("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                              body={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
        return dict(review["status"]["userInfo"])
