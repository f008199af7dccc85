"""Draining at the budget: disconnect chargers from some replicas in batches the token bucket
grants, write-ahead (the status is saved before the chargers are disconnected), with a closed
loop that waits while too much of a second's budget is still on its way.

Mixed into Engine (engine.py), which provides the plan, fleet, store, clock, `_views` and the
health watch (`_watch`, health_watch.py) a forward drain consults once a second.
"""

from __future__ import annotations

from envctl.errors import EnvctlError
from envctl.release import pacing
from envctl.release.fleet import ReplicaView
from envctl.release.status import ReleaseStatus, StepRecord

IN_FLIGHT_S = 0.05  # at most this much of a second's budget may be on its way at once
HOLD_PATIENCE_S = 2.0


class PacedDrain:
    """Engine's paced disconnects; its state (`_offline_floor`, `_held_since`) is set up in Engine.__init__."""

    def _pace_out(self, status: ReleaseStatus, rec: StepRecord, rid: str, *, forward: bool) -> float | None:
        """Retiring closes every connection a replica still holds at once (chargers that came back
        to it, a drain that missed some): move those at the budget first. None: nothing left (or it
        stopped shrinking for verify_timeout_s; a stuck replica must not stall the release)."""
        holding = [v for v in self._views if v.id == rid and v.alive and v.connections > 0]
        if not holding:
            return None
        since: dict[str, list[float]] = rec.detail.setdefault("pacing_out", {})
        first, least = since.setdefault(rid, [self.clock(), float(holding[0].connections)])
        if holding[0].connections < least:
            since[rid] = [self.clock(), float(holding[0].connections)]
        elif self.clock() - first > self.plan.verify_timeout_s:
            return None
        # no health watch here: past verify (or while rolling back) there is nothing left to abort to
        return self._drain_tick(status, rec, holding, holding[0].connections, forward=forward, watch=False)

    def _moving(self, status: ReleaseStatus) -> int:
        """Chargers disconnected by us and not yet back on any replica (as the replicas count them)."""
        away = max(0, status.fleet_connections_at_start - status.connections_old - status.connections_new)
        if self._offline_floor is None or away < self._offline_floor:
            self._offline_floor = away
        return away - self._offline_floor

    def _hold_for_arrivals(self, status: ReleaseStatus, now: float) -> bool:
        """Closed loop on top of the bucket: the bucket bounds what we *send* per second, but a
        stalled process downstream (an old replica closing late, chargers reconnecting late) would
        deliver two seconds' worth in one. Waiting while more than IN_FLIGHT_S of the budget is
        still on its way bounds that backlog. Never for long: a charger that does not come back
        must not stall the release (health and verify judge that)."""
        limit = max(pacing.batch_size(status.bucket), status.bucket.effective_rate * IN_FLIGHT_S)
        if self._moving(status) <= limit:
            self._held_since = None
            return False
        self._held_since = self._held_since or now
        return now - self._held_since < HOLD_PATIENCE_S

    def _drain_tick(
        self, status: ReleaseStatus, rec: StepRecord, sources: list[ReplicaView], want: int, *, forward: bool,
        watch: bool | None = None,
    ) -> float:
        if (forward if watch is None else watch) and not self._watch(status):
            return 0.0
        now = self.clock()
        if self._hold_for_arrivals(status, now):
            return 0.01
        status.bucket, granted = pacing.take(status.bucket, want, now)
        if granted == 0:
            wait = pacing.seconds_until(status.bucket, min(want, pacing.batch_size(status.bucket)), now)
            return min(max(wait, 0.005), 1.0)
        shares = pacing.split_proportionally(granted, {v.id: v.connections for v in sources})
        self.store.save_status(status)  # write-ahead: the tokens are spent before the chargers are
        closed: dict[str, int] = {}
        for rid, n in shares.items():
            try:
                closed[rid] = self.fleet.disconnect(rid, n)
            except EnvctlError:
                closed[rid] = 0  # died or unreachable: its chargers are reconnecting on their own
        total = sum(closed.values())
        if forward:
            status.moved_forward += total
        else:
            status.moved_back += total
        self.store.append_event(
            self.plan.id,
            {"t": round(now, 4), "event": "disconnect", "step": rec.name, "granted": granted, "closed": total, "by_replica": closed},
        )
        rec.detail["closed"] = rec.detail.get("closed", 0) + total
        left = want - total
        if left <= 0:
            return 0.0
        wait = pacing.seconds_until(status.bucket, min(left, pacing.batch_size(status.bucket)), self.clock())
        return min(max(wait, 0.005), 1.0)
