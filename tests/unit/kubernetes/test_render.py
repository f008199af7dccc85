"""Rendering templates/ into one environment's manifests (pure: no cluster)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import yaml

from envctl.errors import ConfigError
from envctl.runtimes.kubernetes import render as r

T = r.PACKAGED_TEMPLATES


def by_kind(objs: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for o in objs:
        out.setdefault(o["kind"], []).append(o)
    return out


def container(objs: list[dict[str, Any]], deployment: str) -> dict[str, Any]:
    dep = next(o for o in objs if o["kind"] == "Deployment" and o["metadata"]["name"] == deployment)
    return dep["spec"]["template"]["spec"]["containers"][0]


def env_of(c: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in c["env"]}


def test_default_environment_has_every_object(make_values: Callable[..., r.Values]) -> None:
    objs = r.render(make_values(pr=42), T)
    kinds = sorted((o["kind"], o["metadata"]["name"]) for o in objs)
    assert kinds == sorted([
        ("Namespace", "envctl-pr-42"), ("ResourceQuota", "envctl-quota"), ("LimitRange", "envctl-limits"),
        ("NetworkPolicy", "envctl-isolation"), ("ServiceAccount", "charger"),
        ("Secret", "envctl-credentials"), ("Secret", "envctl-basic-auth"), ("ConfigMap", "envctl-config"),
        ("Service", "charger-server"), ("Deployment", "charger-server-v1"), ("Deployment", "charger-simulator"),
        # Postgres by default: the replicas share one store that outlives any of their pods.
        ("Service", "postgres"), ("StatefulSet", "postgres"),
    ])
    # Every namespaced object lives in the environment's namespace.
    assert {o["metadata"].get("namespace") for o in objs if o["kind"] != "Namespace"} == {"envctl-pr-42"}


def test_every_object_carries_the_prune_labels(make_values: Callable[..., r.Values]) -> None:
    objs = r.render(make_values(config={"kubernetes": {"database": {"kind": "postgres"}, "ingress": {"enabled": True}}}), T)
    for o in objs:
        assert o["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "envctl", o["kind"]
        assert o["metadata"]["labels"]["envctl.io/environment"] == "pr-42", o["kind"]


def test_namespace_labels_and_annotations(make_values: Callable[..., r.Values]) -> None:
    ns = r.render(make_values(pr=42, commit_sha="0123abc", owner="alice@example.com"), T)[0]
    assert ns["kind"] == "Namespace"
    assert ns["metadata"]["labels"] == {
        "app.kubernetes.io/managed-by": "envctl", "envctl.io/environment": "pr-42", "envctl.io/pr": "42",
        "envctl.io/owner": "alice_example.com", "envctl.io/commit": "0123abc",
    }
    ann = ns["metadata"]["annotations"]
    assert ann["envctl.io/expires-at"] == "2026-03-01T20:00:00Z"
    assert ann["envctl.io/created-by"] == "envctl"
    assert ann["envctl.io/owner"] == "alice@example.com"


def test_values_cannot_inject_yaml(make_values: Callable[..., r.Values]) -> None:
    evil = 'o\'brien: "x"\n- {kind: Secret}\n#'
    values = make_values(owner=evil)
    values.server_version = "v1\nextra: yes"  # EnvSpec refuses it (tests/unit/test_env_spec.py); the templates escape anyway
    objs = r.render(values, T)
    assert objs[0]["metadata"]["annotations"]["envctl.io/owner"] == evil
    cm = next(o for o in objs if o["kind"] == "ConfigMap")
    assert cm["data"]["SERVER_VERSION"] == "v1\nextra: yes"
    assert len(objs) == 13


def test_quota_and_limits_come_from_config(make_values: Callable[..., r.Values]) -> None:
    cfg = {"kubernetes": {"quota": {"cpu": "3", "memory": "3Gi", "pods": 7}, "limits": {"max_cpu": "1500m"}}}
    objs = by_kind(r.render(make_values(config=cfg), T))
    hard = objs["ResourceQuota"][0]["spec"]["hard"]
    assert hard["requests.cpu"] == "3" and hard["requests.memory"] == "3Gi" and hard["pods"] == "7"
    limit = objs["LimitRange"][0]["spec"]["limits"][0]
    assert limit["type"] == "Container" and limit["max"]["cpu"] == "1500m"


def test_server_probes_drain_and_grace_period(make_values: Callable[..., r.Values]) -> None:
    cfg = {"kubernetes": {"drain": {"budget_per_s": 100, "margin_s": 15}}}  # 25/s per replica
    objs = r.render(make_values(config=cfg, chargers=1000, replicas=4), T)
    dep = next(o for o in objs if o["kind"] == "Deployment" and o["metadata"]["name"] == "charger-server-v1")
    assert dep["spec"]["replicas"] == 4
    pod = dep["spec"]["template"]["spec"]
    # 1000 chargers over 4 replicas = 250 each; at 25/s that is 10 s of draining, + 15 s margin.
    assert pod["terminationGracePeriodSeconds"] == 25
    c = pod["containers"][0]
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "admin"}
    assert {"name": "admin", "containerPort": 9100} in c["ports"]
    hook = c["lifecycle"]["preStop"]["exec"]["command"]
    script = hook[-1]
    assert "/admin/drain" in script and '"rate_per_s": 25.0' in script
    assert "deadline = time.monotonic() + 25" in script and "/admin/stats" in script  # waits for them to go
    compile(script, "preStop", "exec")  # the hook is valid Python
    assert c["args"][0] == "server" and "--admin-port" in c["args"] and "--replica-id" in c["args"]


def test_sqlite_when_asked_for_one_replica(make_values: Callable[..., r.Values]) -> None:
    objs = r.render(make_values(config={"kubernetes": {"database": {"kind": "sqlite"}}}), T)
    assert "StatefulSet" not in by_kind(objs)
    secret = next(o for o in objs if o["metadata"]["name"] == "envctl-credentials")
    assert secret["stringData"]["database-url"] == "sqlite:////data/envctl.db"
    assert container(objs, "charger-server-v1")["volumeMounts"] == [{"name": "data", "mountPath": "/data"}]


def test_sqlite_with_several_replicas_is_refused_saying_why(make_values: Callable[..., r.Values]) -> None:
    with pytest.raises(ConfigError) as err:
        make_values(config={"kubernetes": {"database": {"kind": "sqlite"}}}, replicas=2)
    assert "cannot share SQLite" in err.value.message and "postgres" in (err.value.hint or "")


def test_postgres_statefulset_by_default(make_values: Callable[..., r.Values]) -> None:
    objs = by_kind(r.render(make_values(), T))
    sts = objs["StatefulSet"][0]
    assert sts["metadata"]["name"] == "postgres"
    assert "volumeClaimTemplates" not in sts["spec"]  # emptyDir: no storage class needed
    secret = next(o for o in objs["Secret"] if o["metadata"]["name"] == "envctl-credentials")
    assert secret["stringData"]["database-url"] == "postgresql://envctl:pg-pw@postgres:5432/envctl"
    assert secret["stringData"]["postgres-password"] == "pg-pw"
    assert any(s["spec"].get("clusterIP") == "None" for s in objs["Service"])


def test_postgres_storage_uses_a_claim(make_values: Callable[..., r.Values]) -> None:
    cfg = {"kubernetes": {"database": {"kind": "postgres", "postgres_storage": "1Gi"}}}
    sts = by_kind(r.render(make_values(config=cfg), T))["StatefulSet"][0]
    assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "1Gi"


def test_ingress_host_from_pr(make_values: Callable[..., r.Values]) -> None:
    cfg = {"kubernetes": {"ingress": {"enabled": True, "class_name": "nginx", "domain": "preview.example.com"}}}
    ing = by_kind(r.render(make_values(config=cfg, pr=42), T))["Ingress"][0]
    assert ing["spec"]["rules"][0]["host"] == "pr-42.preview.example.com"
    assert ing["spec"]["ingressClassName"] == "nginx"
    assert ing["metadata"]["annotations"]["nginx.ingress.kubernetes.io/auth-secret"] == "envctl-basic-auth"
    named = by_kind(r.render(make_values(config=cfg, name="feature-x"), T))["Ingress"][0]
    assert named["spec"]["rules"][0]["host"] == "feature-x.preview.example.com"
    assert "Ingress" not in by_kind(r.render(make_values(), T))


def test_network_policy_admits_own_namespace_and_ingress_only(make_values: Callable[..., r.Values]) -> None:
    cfg = {"kubernetes": {"ingress": {"namespace": "edge"}}}
    pol = by_kind(r.render(make_values(config=cfg), T))["NetworkPolicy"][0]["spec"]
    assert pol["podSelector"] == {} and pol["policyTypes"] == ["Ingress"]
    assert pol["ingress"] == [{"from": [
        {"podSelector": {}},
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "edge"}}},
    ]}]


def test_basic_auth_is_htpasswd_sha(make_values: Callable[..., r.Values]) -> None:
    objs = r.render(make_values(), T)
    auth = next(o for o in objs if o["metadata"]["name"] == "envctl-basic-auth")["stringData"]["auth"]
    assert auth.startswith("preview:{SHA}") and len(auth) == len("preview:{SHA}") + 28


def test_config_change_rolls_pods(make_values: Callable[..., r.Values]) -> None:
    a = r.render(make_values(chargers=10), T)
    b = r.render(make_values(chargers=20), T)
    get = lambda objs: next(o for o in objs if o["metadata"]["name"] == "charger-server-v1" and o["kind"] == "Deployment")[  # noqa: E731
        "spec"]["template"]["metadata"]["annotations"]["envctl.io/config-checksum"]
    assert get(a) != get(b)
    assert r.render(make_values(chargers=10), T) == a  # same values, same manifests


def test_each_version_has_its_deployment_and_the_service_routes_to_it(make_values: Callable[..., r.Values]) -> None:
    objs = r.render(make_values(server_version="2.0-rc.1"), T)
    [dep] = [o for o in objs if o["kind"] == "Deployment" and o["metadata"]["name"].startswith("charger-server-")]
    assert dep["metadata"]["name"] == "charger-server-2-0-rc-1"
    assert dep["spec"]["selector"]["matchLabels"]["envctl.io/server-version"] == "2.0-rc.1"
    assert dep["spec"]["template"]["metadata"]["annotations"]["envctl.io/server-version"] == "2.0-rc.1"
    [svc] = [o for o in objs if o["kind"] == "Service" and o["metadata"]["name"] == "charger-server"]
    assert svc["spec"]["selector"]["envctl.io/server-version"] == "2.0-rc.1"


def test_node_selector_reaches_every_pod(make_values: Callable[..., r.Values]) -> None:
    objs = r.render(make_values(config={"kubernetes": {"node_selector": {"pool": "previews"}}}), T)
    for dep in by_kind(objs)["Deployment"]:
        assert dep["spec"]["template"]["spec"]["nodeSelector"] == {"pool": "previews"}


def test_no_chargers_means_no_simulator_pod(make_values: Callable[..., r.Values]) -> None:
    objs = r.render(make_values(chargers=0), T)
    sim = next(o for o in objs if o["metadata"]["name"] == "charger-simulator")
    assert sim["spec"]["replicas"] == 0


def test_rolebinding_binds_envctl_environment_to_the_caller(make_values: Callable[..., r.Values]) -> None:
    rb = r.render_rolebinding(make_values(), T)
    assert rb["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "envctl-environment"}
    assert rb["subjects"] == [{"kind": "User", "name": "admin", "apiGroup": "rbac.authorization.k8s.io"}]
    assert rb["metadata"]["namespace"] == "envctl-pr-42"


def test_rbac_bundle() -> None:
    objs = r.render_rbac(T, r.RbacValues(namespace="ops", name="bot"))
    kinds = {(o["kind"], o["metadata"]["name"]) for o in objs}
    assert ("ClusterRole", "envctl") in kinds and ("ClusterRole", "envctl-environment") in kinds
    assert ("ValidatingAdmissionPolicy", "envctl-managed-namespaces-only") in kinds
    cluster = next(o for o in objs if o["kind"] == "ClusterRole" and o["metadata"]["name"] == "envctl")
    # Cluster-wide, envctl may not read Secrets or write anything but namespaces, rolebindings and
    # (never deleting them) the warm pool's PriorityClass, which the admission policy keeps below every workload.
    for rule in cluster["rules"]:
        assert "secrets" not in rule["resources"]
        if set(rule["verbs"]) & {"create", "patch", "update", "delete"}:
            assert set(rule["resources"]) <= {"namespaces", "rolebindings", "priorityclasses"}
        if "priorityclasses" in rule["resources"]:
            assert "delete" not in rule["verbs"]
    vap_checks = " ".join(v["expression"] for v in next(
        o for o in objs if o["kind"] == "ValidatingAdmissionPolicy")["spec"]["validations"])
    assert "object.value < 0" in vap_checks and "preemptionPolicy == 'Never'" in vap_checks
    # The warm pool's rights exist only inside its namespace, which is not a preview environment.
    warm_ns = next(o for o in objs if o["kind"] == "Namespace" and o["metadata"]["name"] == "envctl-warm")
    assert "app.kubernetes.io/managed-by" not in warm_ns["metadata"]["labels"]
    warm_rb = next(o for o in objs if o["kind"] == "RoleBinding")
    assert warm_rb["metadata"]["namespace"] == "envctl-warm" and warm_rb["roleRef"]["name"] == "envctl-warm-pool"
    assert warm_rb["subjects"] == [{"kind": "ServiceAccount", "name": "bot", "namespace": "ops"}]
    bind = next(rule for rule in cluster["rules"] if "bind" in rule["verbs"])
    assert bind["resourceNames"] == ["envctl-environment"]
    vap = next(o for o in objs if o["kind"] == "ValidatingAdmissionPolicy")
    assert vap["spec"]["matchConditions"][0]["expression"] == (
        "request.userInfo.username in ['system:serviceaccount:ops:bot', 'system:serviceaccount:ops:envctl-gc']")
    crb = next(o for o in objs if o["kind"] == "ClusterRoleBinding")
    assert crb["subjects"] == [{"kind": "ServiceAccount", "name": "bot", "namespace": "ops"}]


def test_templates_are_yaml_documents_after_rendering(make_values: Callable[..., r.Values]) -> None:
    # Round trip: what envctl sends is plain data that YAML serializes and reads back unchanged.
    objs = r.render(make_values(config={"kubernetes": {"database": {"kind": "postgres"}, "ingress": {"enabled": True}}}), T)
    assert list(yaml.safe_load_all(yaml.safe_dump_all(objs))) == objs
