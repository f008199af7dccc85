"""Judging the new version from two health samples: healthy, unhealthy (abort), or stressed (slow down).

Ratios are only judged once a window holds enough events (min_samples), so one early CALLERROR
in a quiet window does not roll back a release, and an empty window never passes as "100 %".

The reconnect rate is judged too, not only health: the servers count accepted connects per
wall-clock second (envctl/charger/rates.py), and when the fleet-wide count exceeds the budget by
more than `max_rate_over_budget_ratio` for more than `max_rate_over_budget_s` consecutive seconds
since the release started, something other than the engine is moving chargers (a replica crash,
a network blip) and the release is aborted and rolled back. During a forward release only the
new replicas accept connections, so their counts are the fleet's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from envctl.charger import rates
from envctl.release.fleet import HealthSample
from envctl.release.plan import HealthThresholds


@dataclass
class Verdict:
    healthy: bool
    reasons: list[str] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"healthy": self.healthy, "reasons": self.reasons, "metrics": self.metrics}


def _delta(now: int | None, before: int | None) -> int | None:
    if now is None or before is None:
        return None
    return max(0, now - before)


def window_metrics(before: HealthSample, now: HealthSample) -> dict[str, Any]:
    attempts_ok = _delta(now.client_connects_total, before.client_connects_total)
    attempts_failed = _delta(now.client_connect_failures_total, before.client_connect_failures_total)
    messages = max(0, now.messages_total - before.messages_total)
    callerrors = max(0, now.callerrors_total - before.callerrors_total)
    attempts = None if attempts_ok is None or attempts_failed is None else attempts_ok + attempts_failed
    return {
        "window_s": round(now.at - before.at, 2),
        "replicas": now.replicas,
        "replicas_ready": now.replicas_ready,
        "connections": now.connections,
        "server_connects": max(0, now.connects_total - before.connects_total),
        "connect_attempts": attempts,
        "connect_failures": attempts_failed,
        "connect_success_ratio": None if not attempts else round((attempts_ok or 0) / attempts, 4),
        "messages": messages,
        "callerrors": callerrors,
        "callerror_ratio": round(callerrors / messages, 4) if messages else None,
        "handler_p99_ms": now.handler_p99_ms,
    }


def rate_over_budget(now: HealthSample, budget_per_s: float, t: HealthThresholds, since: float) -> str | None:
    """Why the fleet-wide reconnect rate breaks the budget rule, or None. Only whole seconds after
    `since` (the release's start) and before `now` are counted: a second still running is partial."""
    merged = rates.merge(*((s.get("connects_per_second") or []) for s in now.per_replica.values()))
    limit = budget_per_s * (1 + t.max_rate_over_budget_ratio)
    run = longest = peak = 0
    for sec in range(int(since) + 1, int(now.at)):
        n = merged.get(sec, 0)
        run = run + 1 if n > limit else 0
        if run > longest:
            longest = run
        if run:
            peak = max(peak, n)
    if longest <= t.max_rate_over_budget_s:
        return None
    return (f"fleet-wide reconnects reached {peak}/s, over the budget of {budget_per_s:g}/s by more than "
            f"{t.max_rate_over_budget_ratio:.0%} for {longest} s (limit {t.max_rate_over_budget_s} s)")


def judge(
    before: HealthSample,
    now: HealthSample,
    t: HealthThresholds,
    *,
    budget_per_s: float | None = None,
    since: float | None = None,
    unready_for_s: float | None = None,
) -> Verdict:
    """`unready_for_s`: how long some new replica has not answered (None: judge this sample alone).
    A replica busy with a burst of reconnects can miss one stats read; only silence that lasts
    `max_unready_s` is a dead or wedged replica."""
    m = window_metrics(before, now)
    reasons = []
    if budget_per_s is not None and since is not None:
        storm = rate_over_budget(now, budget_per_s, t, since)
        if storm is not None:
            reasons.append(storm)
    if now.replicas == 0 or (now.replicas_ready / now.replicas < t.min_ready_ratio
                             and (unready_for_s is None or unready_for_s >= t.max_unready_s)):
        reasons.append(f"only {now.replicas_ready} of {now.replicas} new replicas ready")
    if m["connect_attempts"] is not None and m["connect_attempts"] >= t.min_samples:
        if m["connect_success_ratio"] < t.min_connect_success_ratio:
            reasons.append(
                f"connect success {m['connect_success_ratio']:.1%} < {t.min_connect_success_ratio:.1%}"
                f" ({m['connect_failures']} of {m['connect_attempts']} attempts failed)"
            )
    if m["messages"] >= t.min_samples and m["callerror_ratio"] > t.max_callerror_ratio:
        reasons.append(
            f"CALLERROR rate {m['callerror_ratio']:.1%} > {t.max_callerror_ratio:.1%}"
            f" ({m['callerrors']} of {m['messages']} messages)"
        )
    if now.handler_p99_ms > t.max_handler_p99_ms and _latency_judgeable(now, t):
        reasons.append(f"handler p99 {now.handler_p99_ms:.0f} ms > {t.max_handler_p99_ms:.0f} ms")
    return Verdict(healthy=not reasons, reasons=reasons, metrics=m)


def stressed(before: HealthSample, now: HealthSample, t: HealthThresholds) -> bool:
    """Early signs of overload: some connects failing, or latency rising well before the abort line."""
    m = window_metrics(before, now)
    failures = m["connect_failures"] or 0
    attempts = m["connect_attempts"] or 0
    if attempts and failures / attempts > t.stress_connect_failure_ratio and failures >= 3:
        return True
    return now.handler_p99_ms > t.stress_handler_p99_ms and _latency_judgeable(now, t)


def _latency_judgeable(now: HealthSample, t: HealthThresholds) -> bool:
    """A p99 over a few dozen messages is their slowest one (a replica's first query, one pause of a
    starved machine): judge latency only once the window holds enough messages to have a tail."""
    return now.handler_p99_samples is None or now.handler_p99_samples >= t.min_latency_samples
