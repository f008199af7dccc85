"""How much room one preview environment needs: the sum of its pods' requests, read from the very
manifests `envctl up` would apply, so a placeholder always matches what it holds room for."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from envctl.capacity.requests import ResourceRequests
from envctl.config import Config, quantity_value
from envctl.envs.model import EnvSpec
from envctl.runtimes.kubernetes import render as r

WORKLOADS = ("Deployment", "StatefulSet")


@dataclass(frozen=True)
class Requests(ResourceRequests):
    pods: int

    def to_dict(self) -> dict[str, Any]:
        return {"cpu": self.cpu, "memory": self.memory, "pods": self.pods}


def _container_requests(container: dict[str, Any], defaults: Any) -> tuple[float, float]:
    req = (container.get("resources") or {}).get("requests") or {}
    cpu = quantity_value(str(req.get("cpu", defaults.default_cpu)))
    memory = quantity_value(str(req.get("memory", defaults.default_memory)))
    return cpu, memory


def requests_of(objects: list[dict[str, Any]], defaults: Any) -> Requests:
    """Summed requests of every pod the workloads among `objects` run (LimitRange defaults for
    containers that say nothing, as the API server would fill in)."""
    cpu = memory = 0.0
    pods = 0
    for obj in objects:
        if obj.get("kind") not in WORKLOADS:
            continue
        replicas = int(obj["spec"].get("replicas", 1))
        for container in obj["spec"]["template"]["spec"].get("containers", []):
            c, m = _container_requests(container, defaults)
            cpu, memory = cpu + replicas * c, memory + replicas * m
        pods += replicas
    return Requests(math.ceil(round(cpu * 1000, 6)), math.ceil(memory), pods)


def preview_requests(config: Config, replicas: int) -> Requests:
    now = datetime(2000, 1, 1, tzinfo=timezone.utc)  # any fixed time: requests do not depend on it
    values = r.values_for(
        EnvSpec(name="warm-sizing", replicas=replicas, chargers=1), config, owner="envctl", created_at=now,
        expires_at=now, credentials=r.Credentials("", "", "", ""), subject={},
    )  # fmt: skip
    return requests_of(r.render(values, r.templates_dir(config)), config.kubernetes.limits)
