"""Moving chargers between running replicas at a reconnect budget: the engine of `envctl rebalance`
and of `envctl scale` down.

WebSocket connections never move by themselves: a charger stays on the replica it reached until
something closes its connection. So a move is a close (1012, Service Restart) on a replica holding
too many, and the charger's immediate reconnect landing on one holding too few. Where it lands is
decided by who is *listening*: replicas at or above their target stop accepting new connections
(`POST /admin/listen {"accepting": false}`; the SO_REUSEPORT group, or the Service's endpoints via
/readyz, then routes only to the others), the emptiest one always keeps listening, and every
replica listens again when the move ends, however it ends.

Pacing and abort rules are the release engine's, not a copy: the same token bucket
(envctl/release/pacing.py, hard one-second ceiling, paced at the engine's PACE_SHARE of the budget),
the same closed-loop hold while more than IN_FLIGHT_S of the budget is still on its way, the same
health judgement once a second (envctl/release/health.py: unhealthy -> stop and report, stressed ->
rate halved, won back slowly).

    members  replicas that stay: each ends within +-tolerance of the mean
    leavers  replicas to empty (scale-down): they never listen, every charger leaves them
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from envctl.charger import rates
from envctl.errors import EnvctlError
from envctl.release import health, pacing
from envctl.release.engine import HOLD_PATIENCE_S, IN_FLIGHT_S, PACE_SHARE, WATCH_EVERY_S
from envctl.release.fleet import Fleet, HealthSample, ReplicaView, view_from_stats
from envctl.release.plan import HealthThresholds, PlanOptions

DEFAULT_BUDGET_PER_S: float = PlanOptions.model_fields["budget_per_s"].default
TOLERANCE = 0.05

Progress = Callable[[dict[str, Any]], None]


def _no_progress(_state: dict[str, Any]) -> None:
    return None


@dataclass
class MoveOptions:
    budget_per_s: float = DEFAULT_BUDGET_PER_S
    tolerance: float = TOLERANCE
    thresholds: HealthThresholds = field(default_factory=HealthThresholds)
    settle_s: float = 10.0  # how long to wait for the last moved chargers to land
    stall_s: float = 60.0  # no charger moved or landed for this long: give up


@dataclass
class MoveReport:
    moved: int
    duration_s: float
    peak_reconnects_per_s: int  # connects accepted by the replicas, exact per second, during the move
    peak_disconnects_per_s: int  # what the mover sent, per second
    spread_pct: float  # the widest member's distance from the mean, in % of the mean
    budget_per_s: float
    before: dict[str, int]
    after: dict[str, int]
    aborted: str | None = None

    @property
    def balanced(self) -> bool:
        return self.aborted is None

    def to_dict(self) -> dict[str, Any]:
        """The `envctl rebalance --output json` contract (DESIGN.md) plus the detail."""
        return {
            "moved": self.moved, "duration_s": round(self.duration_s, 2),
            "peak_reconnects_per_s": self.peak_reconnects_per_s, "spread_pct": round(self.spread_pct, 2),
            "peak_disconnects_per_s": self.peak_disconnects_per_s, "budget_per_s": self.budget_per_s,
            "before": self.before, "after": self.after, "aborted": self.aborted,
        }  # fmt: skip


def spread_pct(connections: Sequence[int]) -> float:
    if not connections:
        return 0.0
    mean = sum(connections) / len(connections)
    if mean <= 0:
        return 0.0
    return max(abs(c - mean) for c in connections) / mean * 100


class ArrivalGate:
    """The engine's closed loop: chargers we closed and no replica counts yet are in flight; while
    more than IN_FLIGHT_S of the budget is in flight, wait (never longer than HOLD_PATIENCE_S: a
    charger that does not come back must not stall the move)."""

    def __init__(self, connected_at_start: int) -> None:
        self.expected = connected_at_start
        self._floor: int | None = None  # chargers already away before we moved any
        self._held_since: float | None = None

    def in_flight(self, connected_now: int) -> int:
        away = max(0, self.expected - connected_now)
        if self._floor is None or away < self._floor:
            self._floor = away
        return away - self._floor

    def hold(self, bucket: pacing.BucketState, connected_now: int, now: float) -> bool:
        limit = max(pacing.batch_size(bucket), bucket.effective_rate * IN_FLIGHT_S)
        if self.in_flight(connected_now) <= limit:
            self._held_since = None
            return False
        self._held_since = self._held_since or now
        return now - self._held_since < HOLD_PATIENCE_S


class Mover:
    def __init__(
        self,
        fleet: Fleet,
        options: MoveOptions,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        progress: Progress = _no_progress,
        stop: threading.Event | None = None,
    ) -> None:
        self.fleet, self.opts = fleet, options
        self.clock, self.sleep, self.progress = clock, sleep, progress
        self.stop = stop or threading.Event()
        self._accepting: dict[str, bool] = {}
        self._sent: dict[int, int] = {}

    # -- listeners --------------------------------------------------------------------------------

    def _listen(self, replica_id: str, accepting: bool) -> None:
        if self._accepting.get(replica_id) == accepting:
            return
        self.fleet.set_accepting(replica_id, accepting)
        self._accepting[replica_id] = accepting

    def _route(self, members: list[ReplicaView], leavers: list[ReplicaView], mean: float) -> None:
        """Only replicas below their target take the chargers that reconnect; never none."""
        emptiest = min(members, key=lambda v: (v.connections, v.id))
        # Open the new listeners before closing the old ones, so there is no instant with none.
        wanted = {v.id: v.connections < mean or v.id == emptiest.id for v in members}
        for rid, on in sorted(wanted.items(), key=lambda kv: not kv[1]):
            self._listen(rid, on)
        for v in leavers:
            self._listen(v.id, False)

    def _restore(self, member_ids: list[str]) -> None:
        alive = {v.id for v in self.fleet.replicas() if v.alive}
        for rid in member_ids:
            if rid in alive:
                try:
                    self.fleet.set_accepting(rid, True)
                except EnvctlError:
                    pass  # died meanwhile: nothing left to reopen

    # -- the move ---------------------------------------------------------------------------------

    def run(self, member_ids: list[str], leaver_ids: Sequence[str] = ()) -> MoveReport:
        if not member_ids:
            raise EnvctlError("nothing to move chargers to: no replica stays")
        start = self.clock()
        everyone = [*member_ids, *leaver_ids]
        baseline = last = sample = self.fleet.health(everyone, start)
        views = _views(sample)
        before = {rid: views[rid].connections for rid in everyone if rid in views}
        self._accepting = {rid: views[rid].accepting for rid in before}
        gate = ArrivalGate(sum(before.values()))
        share = sum(before.values()) / len(member_ids)
        to_move = sum(max(0, before.get(r, 0) - math.ceil(share)) for r in member_ids) + sum(
            before.get(r, 0) for r in leaver_ids)
        bucket = pacing.new_bucket(self.opts.budget_per_s * PACE_SHARE, start)
        moved, aborted = 0, None
        last_change, last_seen = start, (moved, tuple(before.values()))
        try:
            while True:
                now = self.clock()
                sample = self.fleet.health(everyone, now)  # one read of every replica per tick
                views = _views(sample)
                members = [views[r] for r in member_ids if r in views]
                leavers = [views[r] for r in leaver_ids if r in views]
                if not members:
                    aborted = "every replica that was to stay has exited"
                    break
                connected = sum(v.connections for v in members + leavers)
                in_flight = gate.in_flight(connected)
                mean = (connected + in_flight) / len(members)
                if self._done(members, leavers, in_flight, mean, now - last_change):
                    break
                if self.stop.is_set():
                    aborted = "interrupted"
                    break
                seen = (moved, tuple(v.connections for v in members + leavers))
                if seen != last_seen:
                    last_change, last_seen = now, seen
                elif now - last_change > self.opts.stall_s:
                    aborted = f"no charger moved or landed for {self.opts.stall_s:.0f} s"
                    break
                if now - last.at >= WATCH_EVERY_S:
                    verdict = health.judge(baseline, sample, self.opts.thresholds)
                    if not verdict.healthy:
                        aborted = "unhealthy: " + "; ".join(verdict.reasons)
                        break
                    stressed = health.stressed(last, sample, self.opts.thresholds)
                    bucket = pacing.adjust_for_stress(bucket, stressed, sample.at - last.at)
                    last = sample
                self._route(members, leavers, mean)
                self.progress({"moved": moved, "to_move": to_move, "connections": {v.id: v.connections for v in members + leavers},
                               "in_flight": in_flight, "mean": mean, "factor": bucket.factor})  # fmt: skip
                if gate.hold(bucket, connected, now):
                    self.sleep(0.01)
                    continue
                target = math.ceil(mean)
                weights = {v.id: max(0, v.connections - target) for v in members} | {v.id: v.connections for v in leavers}
                want = min(sum(weights.values()), self._room_this_second(sample, now, in_flight, bucket))
                if want <= 0:  # all that is left is landing, or this second's budget is spoken for
                    self.sleep(min(0.05, max(0.005, int(now) + 1 - now)))
                    continue
                bucket, granted = pacing.take(bucket, want, now)
                if granted == 0:
                    wait = pacing.seconds_until(bucket, min(want, pacing.batch_size(bucket)), now)
                    self.sleep(min(max(wait, 0.005), 0.5))
                    continue
                for rid, n in pacing.split_proportionally(granted, weights).items():
                    try:
                        closed = self.fleet.disconnect(rid, n)
                    except EnvctlError:
                        closed = 0  # died or unreachable: its chargers reconnect on their own
                    moved += closed
                    self._sent[int(now)] = self._sent.get(int(now), 0) + closed
        finally:
            self._restore(member_ids)
        end = self.clock()
        final = self.fleet.health(everyone, end)
        after = {rid: int((final.per_replica.get(rid) or {}).get("connections", 0)) for rid in everyone}
        return MoveReport(
            moved=moved,
            duration_s=end - start,
            peak_reconnects_per_s=_peak_connects(final, start, end),
            peak_disconnects_per_s=max(self._sent.values(), default=0),
            spread_pct=spread_pct([after[r] for r in member_ids]),
            budget_per_s=self.opts.budget_per_s,
            before=before,
            after=after,
            aborted=aborted,
        )

    def _room_this_second(self, sample: HealthSample, now: float, in_flight: int, bucket: pacing.BucketState) -> int:
        """What the replicas may still see arrive in this wall-clock second: the budget, less the
        connects they already counted in it and the chargers still on their way (they land now).
        The bucket bounds what is *sent* in any one-second window; this bounds what *arrives* in
        each second the replicas count, late deliveries included."""
        second = int(now)
        arrived = sum(n for s in sample.per_replica.values() for sec, n in (s or {}).get("connects_per_second") or []
                      if sec == second)  # fmt: skip
        return math.floor(self.opts.budget_per_s * bucket.factor) - arrived - in_flight

    def _done(self, members: list[ReplicaView], leavers: list[ReplicaView], in_flight: int, mean: float,
              quiet_s: float) -> bool:  # fmt: skip
        if any(v.connections for v in leavers):
            return False
        band = self.opts.tolerance * mean
        within = all(abs(v.connections - mean) <= band for v in members)
        # Chargers still on their way would land on someone: wait for them, but not forever.
        return within and (in_flight == 0 or quiet_s > self.opts.settle_s)


def _views(sample: HealthSample) -> dict[str, ReplicaView]:
    """The replicas that answered, as the engine sees them (a silent one is gone or dying)."""
    return {rid: view_from_stats(rid, str(s.get("version", "")), True, s) for rid, s in sample.per_replica.items() if s}


def _peak_connects(sample: HealthSample, start: float, end: float) -> int:
    series = [(s or {}).get("connects_per_second") or [] for s in sample.per_replica.values()]
    return rates.peak(rates.merge(*series), since=start, until=end)
