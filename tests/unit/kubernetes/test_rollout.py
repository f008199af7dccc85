"""Readiness of workloads and the diagnosis of why an environment did not become ready."""

from __future__ import annotations

from typing import Any

from envctl.errors import EnvctlError, Refused, Timeout
from envctl.runtimes.kubernetes.rollout import _failure, diagnose, explain, readiness

QUOTA_MSG = ('pods "charger-server-x" is forbidden: exceeded quota: envctl-quota, requested: '
             "requests.cpu=2, used: requests.cpu=0, limited: requests.cpu=1")


def deployment(name: str = "charger-server", replicas: int = 2, ready: int = 2, generation: int = 1,
               observed: int = 1, conditions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"kind": "Deployment", "metadata": {"name": name, "generation": generation},
            "spec": {"replicas": replicas},
            "status": {"observedGeneration": observed, "replicas": replicas, "updatedReplicas": ready,
                       "readyReplicas": ready, "availableReplicas": ready, "conditions": conditions or []}}


def pod(name: str, waiting: str | None = None, message: str = "", last_exit: int | None = None) -> dict[str, Any]:
    cs: dict[str, Any] = {"name": "server", "state": {"running": {}}}
    if waiting:
        cs["state"] = {"waiting": {"reason": waiting, "message": message}}
    if last_exit is not None:
        cs["lastState"] = {"terminated": {"exitCode": last_exit, "reason": "Error"}}
    return {"kind": "Pod", "metadata": {"name": name}, "status": {"containerStatuses": [cs]}}


def test_ready_only_when_the_controller_saw_the_latest_spec() -> None:
    assert readiness(deployment()).done
    assert not readiness(deployment(generation=2, observed=1)).done
    assert not readiness(deployment(ready=1)).done
    state = readiness(deployment(replicas=3, ready=1))
    assert (state.name, state.desired, state.ready) == ("deployment/charger-server", 3, 1)


def test_old_replicas_still_running_is_not_ready() -> None:
    d = deployment()
    d["status"]["replicas"] = 3  # surge pod of the old ReplicaSet not gone yet
    assert not readiness(d).done


def test_statefulset_readiness() -> None:
    sts = {"kind": "StatefulSet", "metadata": {"name": "postgres", "generation": 1}, "spec": {"replicas": 1},
           "status": {"observedGeneration": 1, "readyReplicas": 1, "currentRevision": "a", "updateRevision": "a"}}
    assert readiness(sts).done
    sts["status"]["updateRevision"] = "b"
    assert not readiness(sts).done


def test_quota_from_replicaset_condition_is_fatal_and_refused() -> None:
    rs = {"kind": "ReplicaSet", "metadata": {"name": "charger-server-abc"},
          "status": {"conditions": [{"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
                                     "message": QUOTA_MSG}]}}
    problems = diagnose([deployment(ready=0)], [rs], [], [])
    assert [(p.kind, p.subject, p.fatal) for p in problems] == [("quota", "replicaset/charger-server-abc", True)]
    err = _failure("pr-42", problems, [], {})
    assert isinstance(err, Refused)
    assert "exceeded quota: envctl-quota" in err.message and "kubernetes.quota" in (err.hint or "")


def test_quota_from_statefulset_event() -> None:
    ev = {"type": "Warning", "reason": "FailedCreate", "message": "create Pod postgres-0 failed: " + QUOTA_MSG,
          "involvedObject": {"kind": "StatefulSet", "name": "postgres"}}
    problems = diagnose([], [], [], [ev])
    assert problems[0].kind == "quota" and problems[0].subject == "statefulset/postgres"


def test_image_pull_backoff_with_events() -> None:
    p = pod("charger-server-1", "ImagePullBackOff", 'Back-off pulling image "nope:1"')
    ev = {"type": "Warning", "reason": "Failed", "message": 'Failed to pull image "nope:1": not found',
          "involvedObject": {"kind": "Pod", "name": "charger-server-1"}, "lastTimestamp": "2026-01-01T00:00:00Z"}
    problems = diagnose([deployment(ready=0)], [], [p], [ev])
    assert [(x.kind, x.fatal, x.pod) for x in problems] == [("image", True, "charger-server-1")]
    message, hint = explain("pr-42", problems, [ev], {})
    assert "ImagePullBackOff" in message and 'Failed to pull image "nope:1"' in message
    assert hint and "--image" in hint
    assert type(_failure("pr-42", problems, [ev], {})) is EnvctlError


def test_crash_loop_shows_exit_code_and_last_log_lines() -> None:
    p = pod("charger-server-2", "CrashLoopBackOff", "back-off 10s", last_exit=3)
    problems = diagnose([], [], [p], [])
    assert problems[0].kind == "crash" and "last exit code 3" in problems[0].message
    message, _ = explain("pr-42", problems, [], {"charger-server-2": "booting\nerror: no database\n"})
    assert "last log lines:" in message and "error: no database" in message


def test_unschedulable_is_reported_but_not_fatal() -> None:
    p = {"kind": "Pod", "metadata": {"name": "x"},
         "status": {"conditions": [{"type": "PodScheduled", "status": "False", "message": "0/2 nodes are available"}]}}
    problems = diagnose([], [], [p], [])
    assert problems[0].kind == "unschedulable" and not problems[0].fatal
    err = _failure("pr-42", problems, [], {}, waited="deployment/charger-server 0/1 ready")
    assert isinstance(err, Timeout) and "0/2 nodes are available" in err.message
    assert "still waiting for: deployment/charger-server 0/1 ready" in err.message


def test_healthy_pods_have_no_problems() -> None:
    assert diagnose([deployment()], [], [pod("a"), pod("b")], []) == []


def test_a_kubelet_that_has_not_synced_a_secret_yet_is_waited_for_a_missing_key_is_not() -> None:
    lag = pod("charger-server-a", "CreateContainerConfigError",
              "failed to sync secret cache: timed out waiting for the condition")
    missing = pod("charger-server-b", "CreateContainerConfigError", 'secret "envctl-admin" not found')
    problems = {p.pod: p for p in diagnose([deployment(ready=0)], [], [lag, missing], [])}
    assert problems["charger-server-a"].fatal is False  # the kubelet retries by itself: `up` keeps waiting
    assert problems["charger-server-b"].fatal is True
