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


def test_a_replica_missing_one_read_is_not_yet_dead() -> None:
    silent = sample(1, replicas=2, replicas_ready=1)
    assert judge(sample(0), silent, T, unready_for_s=0.0).healthy  # one missed stats read
    assert judge(sample(0), silent, T, unready_for_s=T.max_unready_s - 0.1).healthy
    late = judge(sample(0), silent, T, unready_for_s=T.max_unready_s)
    assert not late.healthy and any("1 of 2 new replicas ready" in r for r in late.reasons)
    assert not judge(sample(0), silent, T).healthy  # judged alone (no history): as before


def test_latency_over_a_handful_of_messages_is_not_judged() -> None:
    # one slow first message among 30 is their p99: not a verdict, neither abort nor slow down
    assert judge(sample(0), sample(1, handler_p99_ms=5000, handler_p99_samples=30), T).healthy
    assert not stressed(sample(0), sample(1, handler_p99_ms=400, handler_p99_samples=30), T)
    assert not judge(sample(0), sample(1, handler_p99_ms=5000, handler_p99_samples=T.min_latency_samples), T).healthy
    s = sum_health(1.0, {"r3": {"handler_p99_ms": 9, "handler_p99_samples": 400},
                         "r4": {"handler_p99_ms": 1500, "handler_p99_samples": 12}})
    assert (s.handler_p99_ms, s.handler_p99_samples) == (1500, 12)  # the slowest replica, with its own count


def test_sum_health_counts_silent_replicas_as_not_ready() -> None:
    s = sum_health(1.0, {"r3": {"connections": 7, "messages_total": 3, "handler_p99_ms": 9}, "r4": None})
    assert (s.replicas, s.replicas_ready, s.connections, s.client_connects_total) == (2, 1, 7, None)


def rates_sample(at: float, per_second: dict[str, list[list[int]]]) -> HealthSample:
    """The new replicas' /admin/stats carry their exact connects per epoch second."""
    per_replica = {rid: {"connects_per_second": s} for rid, s in per_second.items()}
    return HealthSample(**(sample(at).__dict__ | {"per_replica": per_replica}))


def test_reconnect_rate_over_budget_aborts_only_past_the_margin_for_long_enough() -> None:
    t = HealthThresholds(max_rate_over_budget_ratio=0.25, max_rate_over_budget_s=2)
    # budget 100/s: the limit is 125/s; the two new replicas' counts add up per second
    storm = {"r3": [[101, 70], [102, 70], [103, 70], [104, 10]], "r4": [[101, 60], [102, 60], [103, 60]]}
    v = judge(sample(0), rates_sample(105.5, storm), t, budget_per_s=100, since=100.2)
    assert not v.healthy and "reached 130/s" in v.reasons[0] and "for 3 s" in v.reasons[0]
    two_seconds = {"r3": [[101, 130], [102, 130], [103, 20]]}
    assert judge(sample(0), rates_sample(105.5, two_seconds), t, budget_per_s=100, since=100.2).healthy
    within_margin = {"r3": [[s, 124] for s in range(101, 110)]}
    assert judge(sample(0), rates_sample(111.0, within_margin), t, budget_per_s=100, since=100.2).healthy
    before_release = {"r3": [[s, 900] for s in range(90, 101)]}  # the up that built the fleet does not count
    assert judge(sample(0), rates_sample(111.0, before_release), t, budget_per_s=100, since=100.2).healthy
    running_second = {"r3": [[101, 130], [102, 130], [103, 130]]}  # second 103 is still running at 103.5
    assert judge(sample(0), rates_sample(103.5, running_second), t, budget_per_s=100, since=100.2).healthy
    assert judge(sample(0), rates_sample(103.5, running_second), t).healthy  # no budget given: not judged
