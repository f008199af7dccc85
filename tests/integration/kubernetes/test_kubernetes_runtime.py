"""The Kubernetes runtime's handling of API objects, against the real control plane.

These tests are about objects (what is applied, pruned, refused, collected), so their pods go to
kwok's fake nodes (KWOK_PLACEMENT) and they ask for no chargers. Everything about pods that run
is in test_previews_on_node.py, on the real node. Each test uses its own environment names and
envctl.yaml and removes what it created, so the tests can share one control plane.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from envctl.config import parse_config
from envctl.envs.model import EnvSpec, utcnow
from envctl.envs.ttl import format_time, parse_time
from envctl.errors import Refused
from envctl.runtimes.kubernetes import KubernetesRuntime
from envctl.runtimes.kubernetes.client import ApiError, Kube, kind
from tests.integration.kubernetes.helpers import KWOK_PLACEMENT, NS, REPO, Cli, merged, objects_in, unique

pytestmark = pytest.mark.kubernetes


@pytest.fixture
def cli(control_plane: Any, tmp_path: Path) -> Cli:
    env = {**os.environ, "KUBECONFIG": control_plane.kubeconfig, "ENVCTL_CONFIG": str(tmp_path / "envctl.yaml"),
           "PYTHONPATH": str(REPO)}
    c = Cli(env, tmp_path / "envctl.yaml", KWOK_PLACEMENT)
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
    return KubernetesRuntime(config=parse_config(merged({"kubernetes": KWOK_PLACEMENT}, config or {})),
                             kubeconfig=control_plane.kubeconfig)


# ---------------------------------------------------------------------------------------------


def test_up_again_converges_without_changing_credentials_and_prunes(
    cli: Cli, admin: Kube, cleanup: list[str]
) -> None:
    name = unique("conv")
    ns = f"envctl-{name}"
    cleanup.append(ns)
    cli.json("up", name, "--runtime", "kubernetes", "--chargers", "0")
    uid = admin.get(NS.path(name=ns))["metadata"]["uid"]
    secret = admin.get(kind("Secret").path(ns, "envctl-credentials"))["data"]
    assert ("StatefulSet", "postgres") in objects_in(admin, ns)

    # The templates stop rendering Postgres: its StatefulSet and Service are pruned by label.
    cli.write_config({"kubernetes": {"database": {"kind": "sqlite"}}})
    status = cli.json("up", name, "--runtime", "kubernetes", "--chargers", "0")
    assert status["phase"] == "Ready"
    after = objects_in(admin, ns)
    assert ("StatefulSet", "postgres") not in after and ("Service", "postgres") not in after
    assert ("Deployment", "charger-server-v1") in after
    assert admin.get(NS.path(name=ns))["metadata"]["uid"] == uid
    again = admin.get(kind("Secret").path(ns, "envctl-credentials"))["data"]
    assert {k: again[k] for k in ("admin-token", "basic-auth-password")} == {
        k: secret[k] for k in ("admin-token", "basic-auth-password")}


def test_quota_and_limits_are_enforced_by_admission(cli: Cli, admin: Kube, cleanup: list[str]) -> None:
    name = unique("quota")
    ns = f"envctl-{name}"
    cleanup.append(ns)
    # Three servers at 100m each plus Postgres' 100m cannot fit in 250m.
    cli.write_config({"kubernetes": {"quota": {"cpu": "250m"}, "ready_timeout": "60s"}})

    p = cli.run("up", name, "--runtime", "kubernetes", "--replicas", "3", "--chargers", "0")

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


def test_concurrent_up_for_one_pr_yields_one_environment(cli: Cli, admin: Kube, cleanup: list[str]) -> None:
    pr = str(50000 + uuid.uuid4().int % 10000)
    name = f"pr-{pr}"
    cleanup.append(f"envctl-{name}")
    with ThreadPoolExecutor(4) as pool:
        runs = list(pool.map(
            lambda _: cli.run("up", name, "--pr", pr, "--runtime", "kubernetes", "--chargers", "0", "--output", "json"),
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


def test_up_of_an_existing_environment_is_idempotent_and_refuses_a_different_request(
    cli: Cli, admin: Kube, cleanup: list[str]
) -> None:
    name = unique("same")
    ns = f"envctl-{name}"
    cleanup.append(ns)
    cli.json("up", name, "--runtime", "kubernetes", "--chargers", "0", "--session-rate", "6")
    uid = admin.get(NS.path(name=ns))["metadata"]["uid"]
    deployment = kind("Deployment").path(ns, "charger-server-v1")
    generation = admin.get(deployment)["metadata"]["generation"]

    again = cli.json("up", name, "--runtime", "kubernetes", "--chargers", "0", "--session-rate", "6")
    bare = cli.json("up", name, "--runtime", "kubernetes")  # leaves out what it does not ask: kept
    other = cli.run("up", name, "--runtime", "kubernetes", "--chargers", "0", "--replicas", "3",
                    "--session-rate", "60", "--output", "json")  # fmt: skip

    assert again["phase"] == bare["phase"] == "Ready"
    assert admin.get(NS.path(name=ns))["metadata"]["uid"] == uid
    assert admin.get(deployment)["metadata"]["generation"] == generation  # nothing rolled
    assert admin.get(kind("ConfigMap").path(ns, "envctl-config"))["data"]["SESSION_RATE"] == "6.0"
    assert other.returncode == 4, other.stderr
    said = json.loads(other.stderr)
    assert "--replicas 1 now, 3 asked" in said["message"] and "--session-rate 6 now, 60 asked" in said["message"]
    assert f"envctl scale {name} --replicas 3" in said["hint"] and "--recreate" in said["hint"]
    assert admin.get(deployment)["spec"]["replicas"] == 1
