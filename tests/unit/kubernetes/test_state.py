"""An environment's status and phase, read off API objects."""

from __future__ import annotations

from typing import Any

from envctl.config import Ingress
from envctl.runtimes.kubernetes.state import env_status, phase_of

NS = {"metadata": {"name": "envctl-pr-42", "creationTimestamp": "2026-03-01T12:00:00Z",
                   "labels": {"app.kubernetes.io/managed-by": "envctl", "envctl.io/environment": "pr-42",
                              "envctl.io/pr": "42", "envctl.io/owner": "alice_example.com"},
                   "annotations": {"envctl.io/expires-at": "2026-03-01T20:00:00Z", "envctl.io/chargers": "10",
                                   "envctl.io/owner": "alice@example.com", "envctl.io/server-version": "v1"}}}


def dep(name: str, replicas: int, ready: int, failure: str | None = None) -> dict[str, Any]:
    conds = [{"type": "ReplicaFailure", "status": "True", "message": failure}] if failure else []
    return {"kind": "Deployment", "metadata": {"name": name, "generation": 1}, "spec": {"replicas": replicas},
            "status": {"observedGeneration": 1, "replicas": replicas, "updatedReplicas": ready,
                       "readyReplicas": ready, "availableReplicas": ready, "conditions": conds}}


def server_pod(name: str, ready: bool = True) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {"envctl.io/server-version": "v1"}},
            "status": {"podIP": "10.244.0.5", "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def test_phases() -> None:
    assert phase_of(NS, []) == "Pending"
    assert phase_of(NS, [dep("charger-server-v1", 2, 2), dep("charger-simulator", 1, 1)]) == "Ready"
    assert phase_of(NS, [dep("charger-server-v1", 2, 0)]) == "Starting"
    assert phase_of(NS, [dep("charger-server-v1", 2, 1)]) == "Degraded"
    assert phase_of(NS, [dep("charger-server-v1", 2, 0, failure="exceeded quota")]) == "Failed"
    terminating = {"metadata": {**NS["metadata"], "deletionTimestamp": "2026-03-01T13:00:00Z"}}
    assert phase_of(terminating, [dep("charger-server-v1", 1, 1)]) == "Stopped"


def test_status_contract_when_admin_api_unreachable() -> None:
    st = env_status(NS, [dep("charger-server-v1", 2, 2)], "envctl-", Ingress(), [server_pod("s-1"), server_pod("s-2")], {})
    d = st.to_dict()
    assert d["name"] == "pr-42" and d["runtime"] == "kubernetes" and d["phase"] == "Ready"
    assert d["chargers"] == {"target": 10, "connected": 0}
    assert d["servers"] == [{"id": "s-1", "version": "v1", "ready": True, "connections": 0},
                            {"id": "s-2", "version": "v1", "ready": True, "connections": 0}]
    assert d["endpoints"]["ocpp"] == "ws://charger-server.envctl-pr-42.svc:9000/ocpp"
    assert d["expires_at"] == "2026-03-01T20:00:00+00:00" and d["pr"] == 42 and d["owner"] == "alice@example.com"
    assert "unknown" in d["message"] and "did not answer" in d["message"]


def test_connections_come_from_admin_stats() -> None:
    stats = {"s-1": {"connections": 6, "draining": False, "version": "v2"}, "s-2": {"connections": 4}}
    st = env_status(NS, [dep("charger-server-v1", 2, 2)], "envctl-", Ingress(), [server_pod("s-1"), server_pod("s-2")], stats)
    assert st.chargers_connected == 10 and st.message is None
    assert [s.version for s in st.servers] == ["v2", "v1"]


def test_public_endpoint_with_ingress() -> None:
    st = env_status(NS, [], "envctl-", Ingress(enabled=True, domain="preview.example.com", tls_secret="wild"))
    assert st.endpoints["ocpp_public"] == "wss://pr-42.preview.example.com/ocpp"


def test_failed_status_says_why() -> None:
    st = env_status(NS, [dep("charger-server-v1", 1, 0, failure="exceeded quota: envctl-quota")], "envctl-", Ingress())
    assert st.phase == "Failed" and st.message and st.message.startswith("exceeded quota: envctl-quota")
