"""envctl runs as a ServiceAccount bound to exactly templates/rbac: enough to do its job, and
unable to touch namespaces it does not manage.

Why RBAC plus a ValidatingAdmissionPolicy: namespaces are cluster-scoped and RBAC cannot grant
"delete only namespaces with label X", so RBAC grants the namespace verbs and the policy
(evaluated by the API server for envctl's identity only) demands the managed-by label on the
namespace before and after every write. Inside namespaces envctl holds rights only through the
RoleBinding it creates in the namespaces it manages, and the same policy stops it from writing
RoleBindings anywhere else.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from envctl.runtimes.kubernetes import render as r
from envctl.runtimes.kubernetes.client import ApiError, Kube, kind
from tests.integration.kubernetes.helpers import KWOK_PLACEMENT, REPO, Cli, real_placement
from tests.integration.kubernetes.kwok_nodes import add_node, remove_nodes
from tests.integration.kubernetes.release_policy import cluster_policy

pytestmark = pytest.mark.kubernetes

NS = kind("Namespace")
SA = r.RbacValues(namespace="envctl-system", name="envctl")


def token_kubeconfig(admin_kubeconfig: str, token: str, path: Path) -> str:
    cfg = yaml.safe_load(Path(admin_kubeconfig).read_text())
    ctx = next(c for c in cfg["contexts"] if c["name"] == cfg["current-context"])["context"]
    cluster = next(c for c in cfg["clusters"] if c["name"] == ctx["cluster"])
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "envctl",
        "clusters": [cluster],
        "users": [{"name": "envctl", "user": {"token": token}}],
        "contexts": [{"name": "envctl", "context": {"cluster": cluster["name"], "user": "envctl"}}],
    }))
    return str(path)


@pytest.fixture
def as_envctl(control_plane: Any, admin: Kube, tmp_path: Path) -> Iterator[tuple[Kube, str]]:
    """A kubeconfig for envctl's ServiceAccount, with the RBAC bundle installed and in force."""
    for obj in r.render_rbac(r.PACKAGED_TEMPLATES, SA):
        if obj["kind"] != "CronJob":  # the gc CronJob has a test of its own (test_previews_on_node)
            admin.apply(obj)
    req = admin.request(
        "POST", kind("ServiceAccount").path(SA.namespace, SA.name) + "/token",
        body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 3600}})
    kubeconfig = token_kubeconfig(control_plane.kubeconfig, req["status"]["token"], tmp_path / "envctl.kubeconfig")
    kube = Kube(kubeconfig)
    assert kube.whoami()["username"] == SA.username

    # The policy takes effect once the API server has loaded it: probe with a dry-run delete.
    probe = f"probe-{uuid.uuid4().hex[:6]}"
    admin.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": probe}})
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                kube.request("DELETE", NS.path(name=probe), query={"dryRun": "All"})
            except ApiError as err:
                if err.status == 403 and "labelled app.kubernetes.io/managed-by=envctl" in err.api_message:
                    break
                raise
            assert time.monotonic() < deadline, "the ValidatingAdmissionPolicy never took effect"
            time.sleep(0.2)
    finally:
        admin.delete(NS.path(name=probe))
    yield kube, kubeconfig
    kube.close()


def test_envctl_does_its_job_with_exactly_the_shipped_roles(
    control_plane: Any, as_envctl: tuple[Kube, str], admin: Kube, tmp_path: Path
) -> None:
    _, kubeconfig = as_envctl
    cli = Cli({**os.environ, "KUBECONFIG": kubeconfig, "ENVCTL_CONFIG": str(tmp_path / "envctl.yaml"),
               "PYTHONPATH": str(REPO)}, tmp_path / "envctl.yaml", real_placement(control_plane))
    cli.write_config({"kubernetes": {"ingress": {"enabled": True}}})
    name = f"rbac-{uuid.uuid4().hex[:6]}"
    # One person plans and approves here, which the cluster's policy (set by its admin) must allow;
    # in CI the approval comes from GitHub's API.
    with cluster_policy(admin, {"forbid_self_approval": False, "require_github_approval": False}):
        try:
            status = cli.json("up", name, "--pr", "7", "--runtime", "kubernetes", "--chargers", "2")
            assert status["phase"] == "Ready"
            # Connected chargers are counted by the servers, read through the pod proxy as this identity.
            assert status["chargers"]["connected"] == 2 and not status.get("message")
            rb = admin.get(kind("RoleBinding").path(f"envctl-{name}", "envctl"))
            assert rb["subjects"] == [{"kind": "ServiceAccount", "name": SA.name, "namespace": SA.namespace}]
            assert cli.json("status", name, "--runtime", "kubernetes")["phase"] == "Ready"
            assert name in {e["name"] for e in cli.json("list", "--runtime", "kubernetes")}
            cli.json("extend", name, "1h", "--runtime", "kubernetes")
            # A graceful release with only the environment's rights: Deployments, the Service, pods
            # (proxy, deletion cost), EndpointSlices, its ConfigMaps and its Lease.
            plan = cli.json("release", "plan", "--env", name, "--runtime", "kubernetes", "--to", "v2", "--budget", "50",
                            "--hold", "0s")
            cli.json("release", "approve", plan["id"], "--env", name, "--runtime", "kubernetes")
            done = cli.json("release", "start", plan["id"], "--env", name, "--runtime", "kubernetes", timeout=300)
            assert done["phase"] == "Completed", done
            assert cli.json("release", "status", plan["id"], "--env", name, "--runtime", "kubernetes")["phase"] == "Completed"
            cli.json("gc", "--dry-run", "--runtime", "kubernetes")
            cli.write_config({"kubernetes": {"database": {"kind": "sqlite"}}})  # pruning Postgres needs delete rights
            assert cli.json("up", name, "--pr", "7", "--runtime", "kubernetes", "--chargers", "2")["phase"] == "Ready"
            assert admin.get_or_none(kind("StatefulSet").path(f"envctl-{name}", "postgres")) is None
            assert cli.json("down", name, "--runtime", "kubernetes")["removed"] is True
            assert admin.get_or_none(NS.path(name=f"envctl-{name}")) is None
        finally:
            admin.delete(NS.path(name=f"envctl-{name}"))


def test_envctl_cannot_touch_what_it_does_not_manage(as_envctl: tuple[Kube, str], admin: Kube) -> None:
    kube, _ = as_envctl
    victim = f"team-{uuid.uuid4().hex[:6]}"
    admin.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": victim, "labels": {"team": "x"}}})
    admin.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "keep", "namespace": victim}})

    def refused(call: Any, why: str) -> None:
        with pytest.raises(ApiError) as err:
            call()
        assert err.value.status == 403, err.value.api_message
        assert why in err.value.api_message, err.value.api_message

    try:
        by_policy = "labelled app.kubernetes.io/managed-by=envctl"
        refused(lambda: kube.delete(NS.path(name=victim)), by_policy)
        # Nor can it adopt the namespace by labelling it first, or create an unlabelled one.
        refused(lambda: kube.merge_patch(NS.path(name=victim),
                                         {"metadata": {"labels": {"app.kubernetes.io/managed-by": "envctl"}}}), by_policy)
        refused(lambda: kube.create({"apiVersion": "v1", "kind": "Namespace",
                                     "metadata": {"name": f"{victim}-new"}}), by_policy)
        # Nor grant itself rights there.
        refused(lambda: kube.create({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "envctl", "namespace": victim},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "envctl-environment"},
            "subjects": [{"kind": "ServiceAccount", "name": SA.name, "namespace": SA.namespace}]}), by_policy)
        # Inside other namespaces it has no rights at all (RBAC).
        refused(lambda: kube.delete(kind("ConfigMap").path(victim, "keep")), "cannot delete resource")
        refused(lambda: kube.list(kind("Secret").path()), "cannot list resource \"secrets\"")
        refused(lambda: kube.list(kind("Secret").path("kube-system")), "cannot list resource \"secrets\"")
        # Binding anything but envctl-environment is an escalation RBAC refuses.
        refused(lambda: admin_ns_rolebinding(kube), "forbidden")

        ns = admin.get(NS.path(name=victim))
        assert not ns["metadata"].get("deletionTimestamp") and ns["metadata"]["labels"] == {
            "team": "x", "kubernetes.io/metadata.name": victim}
        assert admin.get_or_none(kind("ConfigMap").path(victim, "keep")) is not None
    finally:
        admin.delete(NS.path(name=victim))


def admin_ns_rolebinding(kube: Kube) -> Any:
    """Try to bind cluster-admin inside a namespace envctl manages."""
    ns = f"envctl-esc-{uuid.uuid4().hex[:6]}"
    kube.create({"apiVersion": "v1", "kind": "Namespace",
                 "metadata": {"name": ns, "labels": {"app.kubernetes.io/managed-by": "envctl"}}})
    try:
        return kube.create({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "escalate", "namespace": ns},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"kind": "ServiceAccount", "name": SA.name, "namespace": SA.namespace}]})
    finally:
        kube.delete(NS.path(name=ns))


def test_the_warm_pool_and_scale_work_with_the_shipped_roles_and_no_more(
    as_envctl: tuple[Kube, str], admin: Kube, tmp_path: Path
) -> None:
    """templates/rbac extended for PriorityClasses: envctl keeps the warm pool in its namespace and
    its class below every workload; it cannot make a class that outranks anyone, nor delete one."""
    kube, kubeconfig = as_envctl
    pool = f"rbac-warm-{uuid.uuid4().hex[:6]}"
    cli = Cli({**os.environ, "KUBECONFIG": kubeconfig, "ENVCTL_CONFIG": str(tmp_path / "envctl.yaml"),
               "PYTHONPATH": str(REPO)}, tmp_path / "envctl.yaml",
              {**KWOK_PLACEMENT, "node_selector": {"envctl.io/test-pool": pool}})  # fmt: skip
    cli.write_config({"warm": {"namespace": SA.warm_namespace, "priority_class": f"envctl-{pool}"}})
    add_node(admin, f"{pool}-node", pool, cpu="4")
    by_policy = "below every workload"

    def refused(call: Any, why: str) -> None:
        with pytest.raises(ApiError) as err:
            call()
        assert err.value.status == 403 and why in err.value.api_message, err.value.api_message

    def priority_class(name: str, value: int, **extra: Any) -> dict[str, Any]:
        return {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": name},
                "value": value, "preemptionPolicy": "Never", **extra}  # fmt: skip

    try:
        assert cli.json("warm", "apply", "--count", "1")["wanted"] == 1
        deadline = time.monotonic() + 60
        while cli.json("warm", "status")["previews_startable_now"] != 1:
            assert time.monotonic() < deadline, "the placeholder never held room"
            time.sleep(0.3)
        assert admin.get(kind("PriorityClass").path(name=f"envctl-{pool}"))["value"] < 0

        refused(lambda: kube.create(priority_class(f"envctl-{pool}-high", 1000)), by_policy)
        refused(lambda: kube.create(priority_class(f"team-{pool}", -5)), by_policy)
        refused(lambda: kube.create(priority_class(f"envctl-{pool}-x", -5, preemptionPolicy="PreemptLowerPriority")), by_policy)
        refused(lambda: kube.merge_patch(kind("PriorityClass").path(name=f"envctl-{pool}"), {"globalDefault": True}), by_policy)
        refused(lambda: kube.delete(kind("PriorityClass").path(name=f"envctl-{pool}")), "cannot delete resource")
        refused(lambda: kube.delete(kind("Deployment").path(SA.warm_namespace, "envctl-warm-placeholder")),
                "cannot delete resource")  # fmt: skip
        refused(lambda: kube.list(kind("Secret").path(SA.warm_namespace)), "cannot list resource \"secrets\"")

        name = f"rbac-scale-{uuid.uuid4().hex[:6]}"
        try:
            cli.json("up", name, "--runtime", "kubernetes", "--chargers", "0")
            scaled = cli.json("scale", name, "--replicas", "2", "--runtime", "kubernetes")
            assert scaled["replicas"] == 2 and len(scaled["started"]) == 1
        finally:
            admin.delete(NS.path(name=f"envctl-{name}"))
    finally:
        admin.delete(kind("Deployment").path(SA.warm_namespace, "envctl-warm-placeholder"))
        admin.delete(kind("PriorityClass").path(name=f"envctl-{pool}"))
        remove_nodes(admin, pool)
