"""The release engine: a reconcile loop over a persisted ReleaseStatus.

Each reconcile walks one straight list of steps (forward, or rollback once aborted); finished
steps are skipped, the first unfinished one does a small increment and may return early with a
requeue delay. Status is saved after every reconcile and, write-ahead, before every disconnect
batch, so an orchestrator killed at any instant resumes with no finished step redone and no
tokens spent twice.

forward:  start_new → switch_traffic → canary_drain → canary_hold → drain_rest → verify → retire_old
rollback: rollback_switch → rollback_drain → rollback_verify → retire_new

This module is the loop and the facts it reads from the fleet; the steps are in steps.py, the
paced drain in draining.py, the health judgement while releasing in health_watch.py.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable

from envctl.errors import Refused
from envctl.release import pacing
from envctl.release.draining import HOLD_PATIENCE_S, IN_FLIGHT_S, PacedDrain
from envctl.release.fleet import Fleet, HealthSample, ReplicaView
from envctl.release.health_watch import WATCH_EVERY_S, HealthWatch
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
from envctl.release.steps import ReleaseSteps
from envctl.release.store import ReleaseStore

# fleet/mover.py and capacity/ pace the same way and import these from here
__all__ = ["HOLD_PATIENCE_S", "IN_FLIGHT_S", "PACE_SHARE", "WATCH_EVERY_S", "Engine", "Observer", "new_status"]

Observer = Callable[[ReleasePlan, ReleaseStatus], None]

# The engine paces at 95 % of the budget: what it sends is capped exactly, but replicas and chargers
# that stall for a moment deliver late, and the headroom keeps those seconds within the budget
# (measured at 30,000 chargers: 545-571/s at 100 %, see docs/benchmarks.md).
PACE_SHARE = 0.95


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


class Engine(ReleaseSteps, PacedDrain, HealthWatch):
    """The reconcile loop and the facts it reads from the fleet; the steps (steps.py), the paced
    drain (draining.py) and the health watch (health_watch.py) are mixed in and share its state."""

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
