"""The release engine: a reconcile loop over a persisted ReleaseStatus.

Each reconcile walks one straight list of steps (forward, or rollback once aborted); finished
steps are skipped, the first unfinished one does a small increment and may return early with a
requeue delay. Status is saved after every reconcile and, write-ahead, before every disconnect
batch, so an orchestrator killed at any instant resumes with no finished step redone and no
tokens spent twice.

forward:  start_new → switch_traffic → canary_drain → canary_hold → drain_rest → verify → retire_old
rollback: rollback_switch → rollback_drain → rollback_verify → retire_new
"""

from __future__ import annotations

import math
import os
import socket
import time
from collections.abc import Callable

from envctl.errors import EnvctlError, Refused
from envctl.release import health, pacing
from envctl.release.fleet import Fleet, HealthSample, ReplicaView
from envctl.release.plan import ReleasePlan
from envctl.release.status import (
    FORWARD_STEPS,
    ROLLBACK_STEPS,
    TERMINAL,
    Abort,
    Condition,
    ReleaseStatus,
    StepRecord,
    release_phase,
)
from envctl.release.store import ReleaseStore

Observer = Callable[[ReleasePlan, ReleaseStatus], None]
WATCH_EVERY_S = 1.0


IN_FLIGHT_S = 0.05  # at most this much of a second's budget may be on its way at once
# The engine paces at 95 % of the budget: what it sends is capped exactly, but replicas and chargers
# that stall for a moment deliver late, and the headroom keeps those seconds within the budget
# (measured at 30,000 chargers: 545-571/s at 100 %, see docs/benchmarks.md).
PACE_SHARE = 0.95
HOLD_PATIENCE_S = 2.0


def _no_observer(_plan: ReleasePlan, _status: ReleaseStatus) -> None:
    return None


def new_status(plan: ReleasePlan, started_by: str, approved_by: str, now: float) -> ReleaseStatus:
    return ReleaseStatus(
        plan_id=plan.id,
        plan_hash=plan.hash,
        started_at=now,
        started_by=started_by,
        approved_by=approved_by,
        bucket=pacing.new_bucket(plan.budget_per_s * PACE_SHARE, now),
    )


class Engine:
    def __init__(
        self,
        plan: ReleasePlan,
        fleet: Fleet,
        store: ReleaseStore,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        tick_s: float = 0.1,
        observer: Observer = _no_observer,
        lease_wait_s: float = 0.0,
    ) -> None:
        self.plan, self.fleet, self.store = plan, fleet, store
        self.clock, self.sleep, self.tick_s = clock, sleep, tick_s
        self.observer = observer
        self.lease_wait_s = lease_wait_s  # a resume waits for a dead orchestrator's lease to expire
        self._last_watch: HealthSample | None = None
        self._views: list[ReplicaView] = []
        self._offline_floor: int | None = None  # chargers already away before we moved any
        self._held_since: float | None = None
        self._unready_since: float | None = None  # when a new replica last stopped answering

    # -- the loop ------------------------------------------------------------------------------

    def run(self, status: ReleaseStatus) -> ReleaseStatus:
        """Drive the release to a terminal phase, holding the lease the whole time."""
        if status.plan_hash != self.plan.hash:
            raise Refused(
                f"release {self.plan.id} was started from a different plan than the one stored now",
                "the plan file was changed after the release started; restore it or abort the release",
            )
        holder = f"pid {os.getpid()} on {socket.gethostname()}"
        with self.store.lease(self.plan.id, holder, wait_s=self.lease_wait_s):
            self.store.save_status(status)
            while release_phase(self.plan, status) not in TERMINAL:
                delay = self.reconcile(status)
                self.store.save_status(status)
                self.observer(self.plan, status)
                if release_phase(self.plan, status) in TERMINAL:
                    break
                self.sleep(max(0.0, delay))
        return status

    def reconcile(self, status: ReleaseStatus) -> float:
        """One increment; returns how long to wait before the next one."""
        self._read_abort_flag(status)
        self._views = self.fleet.replicas()
        self._count_connections(status)
        for name in ROLLBACK_STEPS if status.abort else FORWARD_STEPS:
            if status.done(name):
                continue
            rec = status.step(name)
            if rec is None:
                rec = StepRecord(name=name, started_at=self.clock())
                status.steps.append(rec)
                # Recorded before it is journaled: a crash in between must not start it twice.
                self.store.save_status(status)
                self.store.append_event(self.plan.id, {"t": rec.started_at, "event": "step_started", "step": name})
            aborted_before = status.abort is not None
            delay: float | None = getattr(self, f"_{name}")(status, rec)
            if status.abort is not None and not aborted_before:
                return 0.0  # the step aborted the release: the next reconcile starts rolling back
            if delay is not None or status.failure:
                return delay or 0.0
            rec.finished_at = self.clock()
            status.message = f"{name} done"
            self.store.append_event(self.plan.id, {"t": rec.finished_at, "event": "step_done", "step": name, **rec.detail})
            self.store.save_status(status)
            self._views = self.fleet.replicas()
            self._count_connections(status)
        status.finished_at = self.clock()
        return 0.0

    # -- facts from the fleet ------------------------------------------------------------------

    @property
    def _old_ids(self) -> set[str]:
        return {r.id for r in self.plan.old_replicas}

    def _old(self) -> list[ReplicaView]:
        return [v for v in self._views if v.id in self._old_ids and v.alive]

    def _new(self, status: ReleaseStatus) -> list[ReplicaView]:
        ids = set(status.new_replica_ids)
        return [v for v in self._views if v.id in ids]

    def _count_connections(self, status: ReleaseStatus) -> None:
        status.connections_old = sum(v.connections for v in self._old())
        status.connections_new = sum(v.connections for v in self._new(status) if v.alive)

    def _read_abort_flag(self, status: ReleaseStatus) -> None:
        if status.abort is not None:
            return
        flag = self.store.load_abort(self.plan.id)
        if flag is None:
            return
        if status.step("retire_old") is not None:
            status.message = "abort requested after the old replicas began retiring: too late to roll back"
            return
        self._begin_abort(status, flag)

    def _begin_abort(self, status: ReleaseStatus, abort: Abort) -> None:
        status.abort = abort
        status.pause_conditions = []
        status.message = f"aborting: {abort.reason}"
        self.store.append_event(self.plan.id, {"t": self.clock(), "event": "abort", **abort.model_dump()})

    def _auto_abort(self, status: ReleaseStatus, reason: str) -> None:
        abort = self.store.request_abort(
            self.plan.id, Abort(requested_at=self.clock(), reason=reason, by="envctl (health check)", automatic=True)
        )
        self._begin_abort(status, abort)

    def _pause(self, status: ReleaseStatus, reason: str, message: str = "") -> Condition:
        cond = status.condition(reason)
        if cond is None:
            cond = Condition(reason=reason, start_time=self.clock(), message=message)
            status.pause_conditions.append(cond)
        return cond

    def _unpause(self, status: ReleaseStatus, reason: str) -> None:
        status.pause_conditions = [c for c in status.pause_conditions if c.reason != reason]

    def _sample_new(self, status: ReleaseStatus) -> HealthSample:
        return self.fleet.health(status.new_replica_ids, self.clock())

    # -- forward steps -------------------------------------------------------------------------

    def _start_new(self, status: ReleaseStatus, rec: StepRecord) -> float | None:
        if not status.fleet_connections_at_start:
            status.fleet_connections_at_start = sum(v.connections for v in self._views if v.alive)
        # Replicas of the target version outside the plan's old set are ours, even those started
        # by an orchestrator killed before it could record them: adopt, never start twice.
        found = [v.id for v in self._views if v.id not in self._old_ids and v.version == self.plan.to_version]
        status.new_replica_ids = list(dict.fromkeys(status.new_replica_ids + found))
        new = self._new(status)
        dead = [v.id for v in new if not v.alive]
        if dead:
            self._auto_abort(status, f"new replica {', '.join(dead)} ({self.plan.to_version}) exited")
            return 0.0
        missing = self.plan.new_replicas - len(new)
        if missing > 0:  # one per reconcile, each recorded before the next is started
            status.message = f"starting replica {len(new) + 1}/{self.plan.new_replicas} of {self.plan.to_version}"
            self.store.save_status(status)
            try:
                started = self.fleet.start(self.plan.to_version, 1, self.plan.new_replica_args, image=self.plan.image)
            except EnvctlError as err:
                self._views = self.fleet.replicas()
                found = [v.id for v in self._views if v.id not in self._old_ids and v.version == self.plan.to_version]
                status.new_replica_ids = list(dict.fromkeys(status.new_replica_ids + found))
                self._auto_abort(status, f"{self.plan.to_version} failed to start: {err.message}")
                return 0.0
            status.new_replica_ids = list(dict.fromkeys(status.new_replica_ids + started))
            status.replicas_started += len(started)
            rec.detail["started"] = rec.detail.get("started", []) + started
            self.store.save_status(status)
            return 0.0
        if all(v.ready for v in new):
            self._unpause(status, "WaitingForReady")
            return None
        cond = self._pause(status, "WaitingForReady", f"waiting for {self.plan.to_version} replicas to be ready")
        if self.clock() - cond.start_time > self.plan.ready_timeout_s:
            self._auto_abort(status, f"new replicas not ready after {self.plan.ready_timeout_s:.0f} s")
            return 0.0
        return 0.5

    def _switch_traffic(self, status: ReleaseStatus, rec: StepRecord) -> float | None:
        for v in self._new(status):
            self.fleet.set_accepting(v.id, True)
        for v in self._old():
            self.fleet.set_accepting(v.id, False)
        baseline = self._sample_new(status)
        status.health_baseline = baseline.to_dict()
        return None

    def _canary_drain(self, status: ReleaseStatus, rec: StepRecord) -> float | None:
        old_now = status.connections_old
        if status.canary_old_remaining is None:
            status.old_connections_at_start = old_now
            status.canary_old_remaining = old_now - min(old_now, math.ceil(old_now * self.plan.canary_share))
            rec.detail["canary_target"] = old_now - status.canary_old_remaining
            self.store.save_status(status)
        if old_now <= status.canary_old_remaining:
            return None
        return self._drain_tick(status, rec, self._old(), old_now - status.canary_old_remaining, forward=True)

    def _canary_hold(self, status: ReleaseStatus, rec: StepRecord) -> float | None:
        cond = self._pause(status, "CanaryHold", f"holding {self.plan.hold_s:.0f} s to judge {self.plan.to_version}")
        verdict = self._judge(status)
        if not verdict.healthy:
            self._auto_abort(status, "canary unhealthy: " + "; ".join(verdict.reasons))
            return 0.0
        left = cond.start_time + self.plan.hold_s - self.clock()
        if left > 0:
            return min(left, WATCH_EVERY_S)
        self._unpause(status, "CanaryHold")
        rec.detail["verdict"] = verdict.to_dict()
        return None

    def _drain_rest(self, status: ReleaseStatus, rec: StepRecord) -> float | None:
        if status.connections_old <= 0:
            return None
        return self._drain_tick(status, rec, self._old(), status.connections_old, forward=True)

    def _verify(self, status: ReleaseStatus, rec: StepRecord) -> float | None:
        expected = self._expected(status)
        if status.connections_new >= expected and status.connections_old == 0:
            self._unpause(status, "WaitingForChargers")
            rec.detail["connected_new"] = status.connections_new
            return None
        verdict = self._judge(status)
        if not verdict.healthy:
            self._auto_abort(status, "new version unhealthy: " + "; ".join(verdict.reasons))
            return 0.0
        cond = self._pause(status, "WaitingForChargers", f"waiting for {expected} chargers on {self.plan.to_version}")
        if self.clock() - cond.start_time > self.plan.verify_timeout_s:
            self._auto_abort(
                status,
                f"only {status.connections_new} of {expected} chargers back on {self.plan.to_version} "
                f"after {self.plan.verify_timeout_s:.0f} s",
            )
            return 0.0
        return 0.5

    def _retire_old(self, status: ReleaseStatus, rec: StepRecord) -> float | None:
        retired: list[str] = rec.detail.setdefault("retired", [])
        for rid in sorted(self._old_ids - set(retired)):
            delay = self._pace_out(status, rec, rid, forward=True)
            if delay is not None:
                return delay
            self.fleet.retire(rid)
            retired.append(rid)
            self.store.save_status(status)
        return None

    # -- rollback steps ------------------------------------------------------------------------

    def _rollback_switch(self, status: ReleaseStatus, rec: StepRecord) -> float | None:
        old = self._old()
        if not old:
            status.failure = "no old replica is left to roll back to; start one of " + ", ".join(self.plan.from_versions)
            return 0.0
        for v in old:
            self.fleet.set_accepting(v.id, True)
        for v in self._new(status):
            if v.alive:
                try:
                    self.fleet.set_accepting(v.id, False)
                except EnvctlError:
                    pass  # a dying replica takes no connections anyway
        return None

    def _rollback_drain(self, status: ReleaseStatus, rec: StepRecord) -> float | None:
        new = [v for v in self._new(status) if v.alive and v.connections > 0]
        if not new:
            return None
        return self._drain_tick(status, rec, new, sum(v.connections for v in new), forward=False)

    def _rollback_verify(self, status: ReleaseStatus, rec: StepRecord) -> float | None:
        expected = self._expected(status)
        cond = self._pause(status, "WaitingForChargers", f"waiting for {expected} chargers back on the old version")
        if status.connections_old >= expected or self.clock() - cond.start_time > self.plan.verify_timeout_s:
            self._unpause(status, "WaitingForChargers")
            rec.detail["connected_old"] = status.connections_old
            rec.detail["expected"] = expected
            return None
        return 0.5

    def _retire_new(self, status: ReleaseStatus, rec: StepRecord) -> float | None:
        retired: list[str] = rec.detail.setdefault("retired", [])
        for rid in [r for r in status.new_replica_ids if r not in retired]:
            delay = self._pace_out(status, rec, rid, forward=False)
            if delay is not None:
                return delay
            self.fleet.retire(rid)
            retired.append(rid)
            self.store.save_status(status)
        return None

    # -- shared pieces -------------------------------------------------------------------------

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

    def _expected(self, status: ReleaseStatus) -> int:
        tolerated = math.floor(status.fleet_connections_at_start * self.plan.verify_tolerance)
        return max(0, status.fleet_connections_at_start - tolerated)

    def _judge(self, status: ReleaseStatus) -> health.Verdict:
        now = self._sample_new(status)
        base = HealthSample(**status.health_baseline) if status.health_baseline else now
        if now.replicas_ready >= now.replicas:
            self._unready_since = None
        elif self._unready_since is None:
            self._unready_since = now.at
        verdict = health.judge(base, now, self.plan.thresholds, budget_per_s=self.plan.budget_per_s,
                               since=status.started_at,
                               unready_for_s=None if self._unready_since is None else now.at - self._unready_since)
        status.verdict = verdict.to_dict()
        status.last_health = now.to_dict()
        return verdict

    def _watch(self, status: ReleaseStatus) -> bool:
        """Once a second while draining forward: abort when unhealthy, slow down when stressed."""
        now = self.clock()
        if self._last_watch is not None and now - self._last_watch.at < WATCH_EVERY_S:
            return True
        verdict = self._judge(status)
        if not verdict.healthy:
            self._auto_abort(status, f"{self.plan.to_version} unhealthy while draining: " + "; ".join(verdict.reasons))
            return False
        sample = HealthSample(**status.last_health) if status.last_health else None
        if self._last_watch is not None and sample is not None:
            is_stressed = health.stressed(self._last_watch, sample, self.plan.thresholds)
            before = status.bucket.factor
            status.bucket = pacing.adjust_for_stress(status.bucket, is_stressed, sample.at - self._last_watch.at)
            if status.bucket.factor != before:
                self.store.append_event(
                    self.plan.id, {"t": now, "event": "rate", "factor": status.bucket.factor, "stressed": is_stressed}
                )
            if is_stressed:
                self._pause(status, "Stressed", "the new version shows stress: rate halved")
            else:
                self._unpause(status, "Stressed")
        self._last_watch = sample
        return True

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
