"""The placeholder pool: rendered from templates/warm/ (pure), applied server-side, read back.

`envctl warm apply` renders the PriorityClass and the placeholder Deployment and applies them as
field manager "envctl"; the Deployment controller then keeps the count, recreating every
placeholder a preview preempts. `envctl warm status` counts placeholders that are scheduled and
running: each one is a preview that can start now, without waiting for a node.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import yaml

from envctl.config import Config
from envctl.errors import ConfigError, Refused
from envctl.runtimes.kubernetes import render as r
from envctl.runtimes.kubernetes.client import ApiError, Kube, kind
from envctl.warm.sizing import Requests, preview_requests

NAME = "envctl-warm-placeholder"
SELECTOR = f"app.kubernetes.io/name={NAME}"


@dataclass(frozen=True)
class PoolValues:
    placeholders: int
    namespace: str
    priority_class: str
    priority: int
    requests: Requests
    image: str
    image_pull_policy: str
    node_selector: dict[str, str]
    tolerations: list[dict[str, str]]


def pool_values(config: Config, placeholders: int | None = None) -> PoolValues:
    w, k = config.warm, config.kubernetes
    return PoolValues(
        placeholders=w.placeholders if placeholders is None else placeholders,
        namespace=w.namespace,
        priority_class=w.priority_class,
        priority=w.priority,
        requests=preview_requests(config, w.preview_replicas),
        image=k.image,
        image_pull_policy=k.image_pull_policy,
        node_selector=dict(k.node_selector),  # where previews go, placeholders go
        tolerations=[t.model_dump(exclude_none=True) for t in k.tolerations],
    )


def render_pool(values: PoolValues, templates: Path) -> list[dict[str, Any]]:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates / "warm")),
                             undefined=jinja2.StrictUndefined, autoescape=False)  # fmt: skip
    objects: list[dict[str, Any]] = []
    for file in sorted(p.name for p in (templates / "warm").glob("*.yaml.j2")):
        objects += [d for d in yaml.safe_load_all(env.get_template(file).render(w=values)) if d]
    return objects


def connect() -> Kube:
    """The cluster the pool lives in; warm capacity has no local form, so the hint names only KUBECONFIG."""
    try:
        return Kube()
    except ConfigError as err:
        raise ConfigError(
            err.message.replace("no usable", "warm capacity needs a cluster; no usable"),
            'set KUBECONFIG to the cluster\'s kubeconfig (e.g. `eval "$(scripts/control-plane env)"`)',
        ) from None


def apply(kube: Kube, config: Config, placeholders: int | None = None) -> PoolValues:
    values = pool_values(config, placeholders)
    ns = kube.get_or_none(kind("Namespace").path(name=values.namespace))
    if ns is None:
        try:
            kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": values.namespace}})
        except ApiError as err:
            if err.status != 403:
                raise
            raise Refused(
                f"namespace {values.namespace} for the warm pool does not exist, and envctl may not create it",
                "ask a cluster admin to install templates/rbac (it creates the namespace and envctl's rights in it)",
            ) from None
    for obj in render_pool(values, r.templates_dir(config)):
        kube.apply(obj)
    return values


def _scheduled(pod: dict[str, Any]) -> bool:
    return bool(pod.get("spec", {}).get("nodeName"))


def _running(pod: dict[str, Any]) -> bool:
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in pod.get("status", {}).get("conditions") or [])
    return _scheduled(pod) and ready


@dataclass
class PoolStatus:
    namespace: str
    wanted: int
    ready: int  # scheduled and running: the room is held
    pending: int  # waiting for a node (preempted and recreated, or never placed)
    terminating: int  # being preempted right now
    requests: dict[str, Any]
    nodes: dict[str, int] = field(default_factory=dict)

    @property
    def previews_startable_now(self) -> int:
        return self.ready

    def to_dict(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace, "placeholders": {"wanted": self.wanted, "ready": self.ready,
            "pending": self.pending, "terminating": self.terminating},
            "previews_startable_now": self.previews_startable_now, "requests_per_placeholder": self.requests,
            "nodes": self.nodes,
        }  # fmt: skip


def pool_status(deployment: dict[str, Any] | None, pods: list[dict[str, Any]], namespace: str,
                requests: Requests) -> PoolStatus:  # fmt: skip
    """Pure over the API objects."""
    live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    ready = [p for p in live if _running(p)]
    nodes: dict[str, int] = {}
    for p in ready:
        nodes[p["spec"]["nodeName"]] = nodes.get(p["spec"]["nodeName"], 0) + 1
    return PoolStatus(
        namespace=namespace,
        wanted=int(((deployment or {}).get("spec") or {}).get("replicas", 0)),
        ready=len(ready),
        pending=len([p for p in live if not _scheduled(p)]),
        terminating=len(pods) - len(live),
        requests=requests.to_dict(),
        nodes=dict(sorted(nodes.items())),
    )


def status(kube: Kube, config: Config) -> PoolStatus:
    ns = config.warm.namespace
    deployment = kube.get_or_none(kind("Deployment").path(ns, NAME))
    pods = kube.list(kind("Pod").path(ns), labelSelector=SELECTOR) if deployment is not None else []
    return pool_status(deployment, pods, ns, preview_requests(config, config.warm.preview_replicas))
