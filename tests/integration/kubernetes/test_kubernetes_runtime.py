"""The Kubernetes runtime against the real control plane (kube-apiserver, controllers, kwok).

Each test uses its own environment names and envctl.yaml and removes what it created, so the
tests can share one control plane (and whatever else runs on it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from envctl.config import parse_config
from envctl.envs.model import EnvSpec, utcnow
from envctl.envs.ttl import format_time, parse_time
from envctl.errors import Refused
from envctl.runtimes.kubernetes import KubernetesRuntime
from envctl.runtimes.kubernetes.client import ApiError, Kube, kind

pytestmark = pytest.mark.kubernetes

REPO = Path(__file__).resolve().parents[3]
NS = kind("Namespace")


@dataclass
class Cli:
    env: dict[str, str]
    config: Path

    def write_config(self, data: dict[str, Any]) -> None:
        # Roomy limits unless a test is about limits: other tests' environments may exist.
        data = {**data, "envs": {"max_environments": 5000, "max_per_owner": 5000, **data.get("envs", {})}}
        self.config.write_text(yaml.safe_dump(data))

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "envctl", *args], capture_output=True, text=True,
                              env=self.env, cwd=REPO, timeout=timeout)

    def json(self, *args: str, timeout: float = 120) -> Any:
        p = self.run(*args, "--output", "json", timeout=timeout)
        assert p.returncode == 0, f"envctl {' '.join(args)} exited {p.returncode}:\n{p.stderr}"
        return json.loads(p.stdout)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def kube_for(kubeconfig: str) -> Kube:
    return Kube(kubeconfig)


@pytest.fixture
def admin(control_plane: Any) -> Iterator[Kube]:
    kube = kube_for(control_plane.kubeconfig)
    yield kube
    kube.close()


@pytest.fixture
def cli(control_plane: Any, tmp_path: Path) -> Cli:
    env = {**os.environ, "KUBECONFIG": control_plane.kubeconfig, "ENVCTL_CONFIG": str(tmp_path / "envctl.yaml"),
           "PYTHONPATH": str(REPO)}
    c = Cli(env, tmp_path / "envctl.yaml")
    c.write_config({})
    return c


@pytest.fixture
def cleanup(admin: Kube) -> Iterator[list[str]]:
    """Namespaces to delete after the test, whatever happened."""
    names: list[str] = []
    yield names
    for ns in names:
        admin.delete(NS.path(name=ns))


def runtime_for(control_plane: Any, config: dict[str, Any] | None = None) -> KubernetesRuntime:
    return KubernetesRuntime(config=parse_config(config or {}), kubeconfig=control_plane.kubeconfig)


def objects_in(kube: Kube, namespace: str) -> set[tuple[str, str]]:
    found = set()
    for k in ["ConfigMap", "Secret", "Service", "ServiceAccount", "ResourceQuota", "LimitRange", "NetworkPolicy",
              "Ingress", "Deployment", "StatefulSet", "RoleBinding"]:
        for o in kube.list(kind(k).path(namespace), labelSelector="app.kubernetes.io/managed-by=envctl"):
            found.add((k, o["metadata"]["name"]))
    return found


# ---------------------------------------------------------------------------------------------


def test_up_for_a_pr_creates_every_object_and_reaches_ready(cli: Cli, admin: Kube, cleanup: list[str]) -> None:
    pr = str(40000 + uuid.uuid4().int % 10000)
    name = f"pr-{pr}"
    cleanup.append(f"envctl-{name}")
    cli.write_config({"kubernetes": {"ingress": {"enabled": True, "domain": "preview.example.com"}}})

    status = cli.json("up", name, "--pr", pr, "--runtime", "kubernetes", "--chargers", "5", "--replicas", "2")

    assert status["phase"] == "Ready" and status["runtime"] == "kubernetes"
    assert status["chargers"]["target"] == 5
    assert [s["ready"] for s in status["servers"]] == [True, True]
    # kwok runs no processes: connections are unknown, and the status says so instead of guessing.
    assert status["chargers"]["connected"] == 0 and "unknown" in status["message"]
    assert status["endpoints"]["ocpp_public"] == f"ws://pr-{pr}.preview.example.com/ocpp"

    ns = admin.get(NS.path(name=f"envctl-{name}"))
    labels, ann = ns["metadata"]["labels"], ns["metadata"]["annotations"]
    assert labels["app.kubernetes.io/managed-by"] == "envctl"
    assert labels["envctl.io/environment"] == name and labels["envctl.io/pr"] == pr
    assert labels["envctl.io/owner"] and ann["envctl.io/created-by"] == "envctl"
    expires = parse_time(ann["envctl.io/expires-at"])
    assert expires is not None and timedelta(hours=7) < expires - utcnow() <= timedelta(hours=8)

    assert objects_in(admin, f"envctl-{name}") == {
        ("ResourceQuota", "envctl-quota"), ("LimitRange", "envctl-limits"), ("NetworkPolicy", "envctl-isolation"),
        ("ServiceAccount", "charger"), ("Secret", "envctl-credentials"), ("Secret", "envctl-basic-auth"),
        ("ConfigMap", "envctl-config"), ("Service", "charger-server"), ("Deployment", "charger-server"),
        ("Deployment", "charger-simulator"), ("Ingress", "charger-server"), ("RoleBinding", "envctl"),
    }
    dep = admin.get(kind("Deployment").path(f"envctl-{name}", "charger-server"))
    assert any(m["manager"] == "envctl" and m["operation"] == "Apply" for m in dep["metadata"]["managedFields"])
    pods = admin.list(kind("Pod").path(f"envctl-{name}"))
    assert len(pods) == 3
    for p in pods:
        assert {"type": "Ready", "status": "True"}.items() <= next(
            c for c in p["status"]["conditions"] if c["type"] == "Ready").items()
        # LimitRange defaults and the templates' requests reached the pods through admission.
        assert p["spec"]["containers"][0]["resources"]["requests"]["cpu"] == "100m"

    # status and list tell the same story.
    assert cli.json("status", name, "--runtime", "kubernetes")["phase"] == "Ready"
    listed = {e["name"]: e for e in cli.json("list", "--runtime", "kubernetes")}
    assert listed[name]["pr"] == int(pr) and listed[name]["phase"] == "Ready"


def test_up_again_converges_without_changing_credentials_and_prunes(
    cli: Cli, admin: Kube, cleanup: list[str]
) -> None:
    name = unique("conv")
    ns = f"envctl-{name}"
    cleanup.append(ns)
    cli.write_config({"kubernetes": {"database": {"kind": "postgres"}}})
    cli.json("up", name, "--runtime", "kubernetes", "--chargers", "2")
    uid = admin.get(NS.path(name=ns))["metadata"]["uid"]
    secret = admin.get(kind("Secret").path(ns, "envctl-credentials"))["data"]
    assert ("StatefulSet", "postgres") in objects_in(admin, ns)

    # The templates stop rendering Postgres: its StatefulSet and Service are pruned by label.
    cli.write_config({})
    status = cli.json("up", name, "--runtime", "kubernetes", "--chargers", "2")
    assert status["phase"] == "Ready"
    after = objects_in(admin, ns)
    assert ("StatefulSet", "postgres") not in after and ("Service", "postgres") not in after
    assert ("Deployment", "charger-server") in after
    assert admin.get(NS.path(name=ns))["metadata"]["uid"] == uid
    again = admin.get(kind("Secret").path(ns, "envctl-credentials"))["data"]
    assert {k: again[k] for k in ("admin-token", "basic-auth-password")} == {
        k: secret[k] for k in ("admin-token", "basic-auth-password")}


def test_quota_and_limits_are_enforced_by_admission(cli: Cli, admin: Kube, cleanup: list[str]) -> None:
    name = unique("quota")
    ns = f"envctl-{name}"
    cleanup.append(ns)
    # Three servers at 100m each plus the simulator's 100m cannot fit in 250m.
    cli.write_config({"kubernetes": {"quota": {"cpu": "250m"}, "ready_timeout": "60s"}})

    p = cli.run("up", name, "--runtime", "kubernetes", "--replicas", "3", "--chargers", "1")

    assert p.returncode == 4, p.stderr  # Refused
    err = " ".join(p.stderr.split())  # rich wraps long lines
    assert "exceeded quota: envctl-quota" in err and "requests.cpu" in err
    assert "raise kubernetes.quota in envctl.yaml" in err  # the hint says what to change
    assert cli.json("status", name, "--runtime", "kubernetes")["phase"] == "Failed"

    # A pod asking for more than the LimitRange maximum is rejected by the admission chain itself.
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "too-big", "namespace": ns},
           "spec": {"containers": [{"name": "c", "image": "x", "resources": {
               "requests": {"cpu": "3", "memory": "64Mi"}, "limits": {"cpu": "3", "memory": "64Mi"}}}]}}
    with pytest.raises(ApiError) as err:
        admin.create(pod)
    assert err.value.status == 403 and "maximum cpu usage per Container is 2" in err.value.api_message


def test_down_removes_the_namespace_completely(cli: Cli, admin: Kube) -> None:
    name = unique("down")
    cli.json("up", name, "--runtime", "kubernetes", "--chargers", "1")
    assert cli.json("down", name, "--runtime", "kubernetes")["removed"] is True
    assert admin.get_or_none(NS.path(name=f"envctl-{name}")) is None
    assert cli.json("down", name, "--runtime", "kubernetes")["removed"] is False
    assert cli.run("status", name, "--runtime", "kubernetes").returncode == 3


def test_concurrent_up_for_one_pr_yields_one_environment(cli: Cli, admin: Kube, cleanup: list[str]) -> None:
    pr = str(50000 + uuid.uuid4().int % 10000)
    name = f"pr-{pr}"
    cleanup.append(f"envctl-{name}")
    with ThreadPoolExecutor(4) as pool:
        runs = list(pool.map(
            lambda _: cli.run("up", name, "--pr", pr, "--runtime", "kubernetes", "--chargers", "3", "--output", "json"),
            range(4)))
    assert [p.returncode for p in runs] == [0, 0, 0, 0], [p.stderr for p in runs]
    namespaces = admin.list(NS.path(), labelSelector=f"envctl.io/pr={pr}")
    assert [n["metadata"]["name"] for n in namespaces] == [f"envctl-{name}"]
    # They agreed on one set of credentials, so the pods were not rolled by a losing `up`.
    rs = admin.list(kind("ReplicaSet").path(f"envctl-{name}"), labelSelector="app.kubernetes.io/name=charger-server")
    assert len(rs) == 1
    assert {json.loads(p.stdout)["phase"] for p in runs} == {"Ready"}


def test_gc_deletes_exactly_the_expired_among_200(cli: Cli, admin: Kube, cleanup: list[str]) -> None:
    run = uuid.uuid4().hex[:6]
    now = utcnow()

    def ns(i: int, managed: bool, expired: bool) -> dict[str, Any]:
        labels = {"gc-test": run, "envctl.io/environment": f"gc{run}-{i}"}
        if managed:
            labels["app.kubernetes.io/managed-by"] = "envctl"
        at = now - timedelta(minutes=5 + i) if expired else now + timedelta(hours=1 + i)
        return {"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": f"envctl-gc{run}-{i}", "labels": labels,
                             "annotations": {"envctl.io/expires-at": format_time(at)}}}

    wanted = [ns(i, managed=True, expired=i % 5 < 2) for i in range(200)]  # 80 expired, 120 not
    # Expired by annotation but not envctl's (no label / another manager): never touched.
    foreign = [ns(200 + i, managed=False, expired=True) for i in range(3)]
    other = ns(210, managed=False, expired=True)
    other["metadata"]["labels"]["app.kubernetes.io/managed-by"] = "helm"
    everything = [*wanted, *foreign, other]
    cleanup.extend(o["metadata"]["name"] for o in everything)
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(admin.create, everything))
    expired = {o["metadata"]["name"].removeprefix("envctl-") for o in wanted
               if parse_time(o["metadata"]["annotations"]["envctl.io/expires-at"]) < now}  # type: ignore[operator]
    assert len(expired) == 80

    dry = cli.json("gc", "--dry-run", "--runtime", "kubernetes")
    mine = {n for n in dry["expired"] if n.startswith(f"gc{run}-")}
    assert mine == expired
    assert all(admin.get(NS.path(name=o["metadata"]["name"]))["metadata"].get("deletionTimestamp") is None
               for o in everything)  # dry run changed nothing

    done = cli.json("gc", "--runtime", "kubernetes")
    assert {n for n in done["expired"] if n.startswith(f"gc{run}-")} == expired
    state = {n["metadata"]["name"]: n for n in admin.list(NS.path(), labelSelector=f"gc-test={run}")}
    for o in everything:
        name = o["metadata"]["name"]
        going = name not in state or bool(state[name]["metadata"].get("deletionTimestamp"))
        assert going == (name.removeprefix("envctl-") in expired), name


def test_bad_envctl_yaml_is_refused_naming_the_field(cli: Cli) -> None:
    cli.config.write_text("kubernetes:\n  quota:\n    cpu: lots\n")
    p = cli.run("up", unique("bad"), "--runtime", "kubernetes")
    assert p.returncode == 2
    assert "envctl.yaml: kubernetes.quota.cpu: not a Kubernetes quantity: 'lots'" in " ".join(p.stderr.split())


def test_limits_refuse_with_the_limit_and_what_to_do(control_plane: Any, admin: Kube, cleanup: list[str]) -> None:
    owner = unique("owner")
    a, b = unique("lim"), unique("lim")
    cleanup += [f"envctl-{a}", f"envctl-{b}"]
    rt = runtime_for(control_plane, {"envs": {"max_per_owner": 1}})
    rt.up(EnvSpec(name=a, runtime="kubernetes", chargers=0, owner=owner))
    with pytest.raises(Refused) as err:
        rt.up(EnvSpec(name=b, runtime="kubernetes", chargers=0, owner=owner))
    assert f"{owner} already has 1 environments and envs.max_per_owner is 1" in err.value.message
    assert "envctl down" in (err.value.hint or "")
    assert admin.get_or_none(NS.path(name=f"envctl-{b}")) is None
    # Converging an existing environment is not a new one: allowed at the limit.
    rt.up(EnvSpec(name=a, runtime="kubernetes", chargers=0, owner=owner))

    existing = len([s for s in rt.list() if s.phase != "Stopped"])  # namespaces being deleted do not count
    total = runtime_for(control_plane, {"envs": {"max_environments": existing}})
    with pytest.raises(Refused, match=f"envs.max_environments is {existing}"):
        total.up(EnvSpec(name=b, runtime="kubernetes", chargers=0, owner=unique("someone")))


def test_extend_moves_the_expiry(cli: Cli, admin: Kube, cleanup: list[str]) -> None:
    name = unique("ext")
    cleanup.append(f"envctl-{name}")
    cli.json("up", name, "--runtime", "kubernetes", "--chargers", "0", "--ttl", "1h")
    before = parse_time(admin.get(NS.path(name=f"envctl-{name}"))["metadata"]["annotations"]["envctl.io/expires-at"])
    out = cli.json("extend", name, "4h", "--runtime", "kubernetes")
    after = parse_time(admin.get(NS.path(name=f"envctl-{name}"))["metadata"]["annotations"]["envctl.io/expires-at"])
    assert before and after and after - before == timedelta(hours=4)
    assert parse_time(out["expires_at"]) == after
    p = cli.run("extend", name, "30d", "--runtime", "kubernetes")
    assert p.returncode == 4 and "envs.max_ttl" in " ".join(p.stderr.split())


def test_namespaces_envctl_does_not_manage_are_left_alone(cli: Cli, admin: Kube, cleanup: list[str]) -> None:
    name = unique("foreign")
    cleanup.append(f"envctl-{name}")
    admin.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"envctl-{name}"}})
    down = cli.run("down", name, "--runtime", "kubernetes")
    up = cli.run("up", name, "--runtime", "kubernetes")
    assert down.returncode == 4 and "not managed by envctl" in " ".join(down.stderr.split())
    assert up.returncode == 4 and "not managed by envctl" in " ".join(up.stderr.split())
    ns = admin.get(NS.path(name=f"envctl-{name}"))
    assert not ns["metadata"].get("deletionTimestamp") and "app.kubernetes.io/managed-by" not in (
        ns["metadata"].get("labels") or {})


def test_logs_say_why_they_are_unavailable_on_fake_nodes(cli: Cli, cleanup: list[str]) -> None:
    name = unique("logs")
    cleanup.append(f"envctl-{name}")
    cli.json("up", name, "--runtime", "kubernetes", "--chargers", "0")
    p = cli.run("logs", name, "--runtime", "kubernetes")
    assert p.returncode == 1 and "cannot read logs of pod charger-server-" in " ".join(p.stderr.split())


def test_image_pull_failure_is_explained_with_events(cli: Cli, admin: Kube, cleanup: list[str]) -> None:
    """Pods land on a node kwok does not manage; the test plays its kubelet and fails the pull."""
    run = uuid.uuid4().hex[:6]
    node = f"kubelet-{run}"
    res = {"cpu": "8", "memory": "16Gi", "pods": "110"}
    admin.request("POST", "/api/v1/nodes", body={"apiVersion": "v1", "kind": "Node",
                  "metadata": {"name": node, "labels": {"envctl-test-node": run}},
                  "status": {"capacity": res, "allocatable": res,
                             "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]}})
    name = unique("pull")
    ns = f"envctl-{name}"
    cleanup.append(ns)
    cli.write_config({"kubernetes": {"node_selector": {"envctl-test-node": run}, "ready_timeout": "90s"}})
    image = f"registry.example.com/envctl:nope-{run}"
    try:
        with ThreadPoolExecutor(1) as pool:
            up = pool.submit(cli.run, "up", name, "--runtime", "kubernetes", "--chargers", "1", "--image", image)
            failed: set[str] = set()
            deadline = time.monotonic() + 60
            while not up.done() and time.monotonic() < deadline:
                for pod in admin.list(kind("Pod").path(ns)) if admin.get_or_none(NS.path(name=ns)) else []:
                    pname = pod["metadata"]["name"]
                    if pod["spec"].get("nodeName") != node or pname in failed:
                        continue
                    c = pod["spec"]["containers"][0]["name"]
                    admin.request("PATCH", kind("Pod").path(ns, pname) + "/status",
                                  content_type="application/merge-patch+json", body={"status": {
                                      "phase": "Pending",
                                      "containerStatuses": [{"name": c, "image": image, "imageID": "", "ready": False,
                                                             "restartCount": 0, "state": {"waiting": {
                                                                 "reason": "ImagePullBackOff",
                                                                 "message": f'Back-off pulling image "{image}"'}}}]}})
                    admin.create({"apiVersion": "v1", "kind": "Event", "type": "Warning", "reason": "Failed",
                                  "metadata": {"name": f"{pname}.pull", "namespace": ns},
                                  "involvedObject": {"kind": "Pod", "name": pname, "namespace": ns},
                                  "message": f'Failed to pull image "{image}": manifest unknown',
                                  "source": {"component": "kubelet", "host": node}})
                    failed.add(pname)
                time.sleep(0.1)
            p = up.result(timeout=120)
    finally:
        admin.delete(f"/api/v1/nodes/{node}")
    assert p.returncode == 1, p.stderr
    err = " ".join(p.stderr.split())  # rich wraps long lines
    assert "did not become ready" in err and "ImagePullBackOff" in err
    assert f'Failed to pull image "{image}": manifest unknown' in err  # from the pod's events
    assert "check --image" in err  # the hint
