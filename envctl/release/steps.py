"""The release's steps, forward and rollback: each does one small increment of its work.

Mixed into Engine (engine.py), which calls `_<step name>(status, rec)` for the first unfinished
step of its list: None when the step is done, else how long to wait before the next reconcile.
The engine provides the plan, fleet, store, clock and the facts read from the fleet (`_views`,
`_old()`, `_new()`); draining at the budget is in draining.py, the health judgement in
health_watch.py.
"""

from __future__ import annotations

import math

from envctl.errors import EnvctlError
from envctl.release.health_watch import WATCH_EVERY_S
from envctl.release.status import ReleaseStatus, StepRecord


class ReleaseSteps:
    """The step methods of Engine, one per name in status.FORWARD_STEPS and ROLLBACK_STEPS."""

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
        return self._retire(status, rec, sorted(self._old_ids), forward=True)

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
        return self._retire(status, rec, list(status.new_replica_ids), forward=False)

    def _retire(self, status: ReleaseStatus, rec: StepRecord, ids: list[str], forward: bool) -> float | None:
        """Retire `ids` in order, each once its leftover chargers are paced out; the step's detail
        remembers which are gone, so a resumed step skips them."""
        retired: list[str] = rec.detail.setdefault("retired", [])
        for rid in [r for r in ids if r not in retired]:
            delay = self._pace_out(status, rec, rid, forward=forward)
            if delay is not None:
                return delay
            self.fleet.retire(rid)
            retired.append(rid)
            self.store.save_status(status)
        return None

    # -- shared by the steps ---------------------------------------------------------------------

    def _expected(self, status: ReleaseStatus) -> int:
        tolerated = math.floor(status.fleet_connections_at_start * self.plan.verify_tolerance)
        return max(0, status.fleet_connections_at_start - tolerated)
