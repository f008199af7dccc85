"""Health verdicts from two samples of the new version's counters."""

from __future__ import annotations

from envctl.release.fleet import HealthSample, sum_health
from envctl.release.health import judge, stressed
from envctl.release.plan import HealthThresholds

T = HealthThresholds()


def sample(at: float, **kw: float) -> HealthSample:
    base = dict(replicas=2, replicas_ready=2, connections=0, connects_total=0, callerrors_total=0,
                messages_total=0, handler_p99_ms=5.0, client_connects_total=0, client_connect_failures_total=0)  # fmt: skip
    return HealthSample(at=at, **(base | kw))  # type: ignore[arg-type]


def test_healthy_canary() -> None:
    v = judge(sample(0), sample(30, client_connects_total=250, messages_total=900, callerrors_total=1), T)
    assert v.healthy, v.reasons


def test_callerrors_fail_the_canary() -> None:
    v = judge(sample(0), sample(30, messages_total=500, callerrors_total=400), T)
    assert not v.healthy and "CALLERROR rate" in v.reasons[0]


def test_too_few_messages_are_not_judged() -> None:
    assert judge(sample(0), sample(30, messages_total=5, callerrors_total=5), T).healthy


def test_connect_failures_and_dead_replicas_fail() -> None:
    v = judge(sample(0), sample(5, client_connects_total=50, client_connect_failures_total=50), T)
    assert any("connect success" in r for r in v.reasons)
    v = judge(sample(0), sample(5, replicas_ready=1), T)
    assert any("1 of 2 new replicas ready" in r for r in v.reasons)


def test_latency_fails_and_stresses() -> None:
    assert not judge(sample(0), sample(1, handler_p99_ms=5000), T).healthy
    assert stressed(sample(0), sample(1, handler_p99_ms=400), T)
    assert not stressed(sample(0), sample(1, handler_p99_ms=40), T)
    assert stressed(sample(0), sample(1, client_connects_total=100, client_connect_failures_total=10), T)


def test_sum_health_counts_silent_replicas_as_not_ready() -> None:
    s = sum_health(1.0, {"r3": {"connections": 7, "messages_total": 3, "handler_p99_ms": 9}, "r4": None})
    assert (s.replicas, s.replicas_ready, s.connections, s.client_connects_total) == (2, 1, 7, None)
