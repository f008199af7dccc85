"""What the Kubernetes tests share: running envctl as a user does, and where their pods go.

Two placements, chosen per test:
* ``real_placement``: pods run on the real node (containerd + kubelet) from the images the
  control plane imported. Everything about running processes is tested this way.
* ``KWOK_PLACEMENT``: pods go to kwok's fake nodes, which mark them Running without running
  anything. Only for what is about API objects (pruning, limits, quotas, gc over hundreds of
  namespaces): kwok cannot catch a probe that never passes, a process that crashes, an address
  nobody listens on, a Service that routes nowhere, or DNS that does not resolve.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from envctl.runtimes.kubernetes.client import Kube, kind

REPO = Path(__file__).resolve().parents[3]
NS = kind("Namespace")

KWOK_PLACEMENT: dict[str, Any] = {
    "node_selector": {"type": "kwok"},
    "tolerations": [{"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}],
}


def real_placement(control_plane: Any) -> dict[str, Any]:
    assert control_plane.real_node, "this test needs the real node (ENVCTL_CP_REAL_NODE must not be 0)"
    return {
        "image": control_plane.images["envctl"],
        "image_pull_policy": "Never",  # imported into the node; nothing to pull from
        "database": {"postgres_image": control_plane.images["postgres"]},
    }


def merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


@dataclass
class Cli:
    env: dict[str, str]
    config: Path
    kubernetes: dict[str, Any] = field(default_factory=dict)  # placement every config gets

    def write_config(self, data: dict[str, Any]) -> None:
        # Roomy limits unless a test is about limits: other tests' environments may exist.
        data = merged({"envs": {"max_environments": 5000, "max_per_owner": 5000},
                       "kubernetes": self.kubernetes}, data)
        self.config.write_text(yaml.safe_dump(data))

    def run(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "envctl", *args], capture_output=True, text=True,
                              env=self.env, cwd=REPO, timeout=timeout)

    def json(self, *args: str, timeout: float = 180) -> Any:
        p = self.run(*args, "--output", "json", timeout=timeout)
        assert p.returncode == 0, f"envctl {' '.join(args)} exited {p.returncode}:\n{p.stderr}"
        return json.loads(p.stdout)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def objects_in(kube: Kube, namespace: str) -> set[tuple[str, str]]:
    found = set()
    for k in ["ConfigMap", "Secret", "Service", "ServiceAccount", "ResourceQuota", "LimitRange", "NetworkPolicy",
              "Ingress", "Deployment", "StatefulSet", "RoleBinding"]:
        for o in kube.list(kind(k).path(namespace), labelSelector="app.kubernetes.io/managed-by=envctl"):
            found.add((k, o["metadata"]["name"]))
    return found


def pods(admin: Kube, namespace: str, app: str) -> list[dict[str, Any]]:
    return [p for p in admin.list(kind("Pod").path(namespace), labelSelector=f"app.kubernetes.io/name={app}")
            if not p["metadata"].get("deletionTimestamp")]


def ready(pod: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions") or [])


def wait_until(what: str, cond: Any, timeout: float, every: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f} s waiting for {what}"
        time.sleep(every)


def database_url(admin: Kube, namespace: str) -> str:
    """The environment's Postgres, reached at its pod address (the node's pod network is local)."""
    data = admin.get(kind("Secret").path(namespace, "envctl-credentials"))["data"]
    password = base64.b64decode(data["postgres-password"]).decode()
    [pg] = pods(admin, namespace, "postgres")
    return f"postgresql://envctl:{password}@{pg['status']['podIP']}:5432/envctl"


def ledger_from_simulator(cli: Cli, admin: Kube, namespace: str, dest: Path) -> None:
    """The simulator's ledger, copied out of its pod (kubectl exec through the API server)."""
    [sim] = pods(admin, namespace, "charger-simulator")
    dest.mkdir(parents=True, exist_ok=True)
    kubectl = cli.env.get("KUBECTL") or "kubectl"
    pod = sim["metadata"]["name"]
    listing = subprocess.run([kubectl, "-n", namespace, "exec", pod, "--", "ls", "/status/ledger"],
                             capture_output=True, text=True, env=cli.env, timeout=60)
    assert listing.returncode == 0, listing.stderr
    for fname in listing.stdout.split():
        out = subprocess.run([kubectl, "-n", namespace, "exec", pod, "--", "cat", f"/status/ledger/{fname}"],
                             capture_output=True, env=cli.env, timeout=120)
        assert out.returncode == 0, out.stderr
        (dest / fname).write_bytes(out.stdout)
