"""The health judgement while a release runs: the new version's health against its baseline,
once a second while draining forward (abort when unhealthy, halve the rate when stressed).

Mixed into Engine (engine.py), which provides the plan, fleet, store, clock and `_sample_new`,
`_auto_abort`, `_pause`, `_unpause`; the judgement itself is health.py's, over two samples.
"""

from __future__ import annotations

from envctl.release import health, pacing
from envctl.release.fleet import HealthSample
from envctl.release.status import ReleaseStatus

WATCH_EVERY_S = 1.0


class HealthWatch:
    """Engine's judgement of the new version; its state (`_last_watch`, `_unready_since`) is set up in
    Engine.__init__."""

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
