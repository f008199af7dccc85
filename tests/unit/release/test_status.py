"""The phase is a pure function of plan and status; the ETA follows connections left and the hold."""

from __future__ import annotations

from datetime import datetime, timezone

from envctl.release import pacing
from envctl.release.fleet import ReplicaView
from envctl.release.plan import PlanOptions, compute_plan
from envctl.release.status import Abort, Condition, ReleaseStatus, StepRecord, eta_s, release_phase, summary

PLAN = compute_plan(
    env="demo", runtime="local", replicas=[ReplicaView("r1", "v1", True, True, True, False, 1000)],
    options=PlanOptions(to_version="v2", budget_per_s=100, hold_s=30), planner="alice",
    now=datetime(2026, 11, 28, tzinfo=timezone.utc), plan_id="demo-1",
)  # fmt: skip


def status_with(*done: str, **extra: object) -> ReleaseStatus:
    st = ReleaseStatus(
        plan_id=PLAN.id, plan_hash=PLAN.hash, started_at=0.0, started_by="a", approved_by="b",
        bucket=pacing.new_bucket(100.0, 0.0),
    )  # fmt: skip
    st.steps = [StepRecord(name=n, started_at=1.0, finished_at=2.0) for n in done]
    for k, v in extra.items():
        setattr(st, k, v)
    return st


def test_phases() -> None:
    assert release_phase(PLAN, None) == "Pending"
    assert release_phase(PLAN, status_with()) == "Progressing"
    assert release_phase(PLAN, status_with("start_new", pause_conditions=[Condition(reason="CanaryHold", start_time=5)])) == "Paused"
    forward = ("start_new", "switch_traffic", "canary_drain", "canary_hold", "drain_rest", "verify", "retire_old")
    assert release_phase(PLAN, status_with(*forward)) == "Completed"
    abort = Abort(requested_at=3.0, reason="x", by="bob")
    assert release_phase(PLAN, status_with("start_new", abort=abort)) == "Aborting"
    assert release_phase(PLAN, status_with("start_new", "rollback_switch", "rollback_drain", "rollback_verify", "retire_new", abort=abort)) == "Aborted"
    assert release_phase(PLAN, status_with("start_new", failure="no old replica")) == "Failed"


def test_the_same_facts_give_the_same_phase_after_a_round_trip() -> None:
    st = status_with("start_new", "switch_traffic", abort=Abort(requested_at=3.0, reason="x", by="bob"))
    again = ReleaseStatus.model_validate_json(st.model_dump_json())
    assert release_phase(PLAN, again) == release_phase(PLAN, st) == "Aborting"
    assert again.current_step() == "rollback_switch"


def test_current_step_and_eta() -> None:
    st = status_with("start_new", "switch_traffic", "canary_drain", connections_old=900)
    st.pause_conditions = [Condition(reason="CanaryHold", start_time=100.0)]
    assert st.current_step() == "canary_hold"
    # 900 left at 100/s plus 20 s of the 30 s hold left
    assert eta_s(PLAN, st, now=110.0) == 29.0
    doc = summary(PLAN, st, 110.0)
    assert doc["phase"] == "Paused" and doc["step"] == "canary_hold" and doc["rate_per_s"] == 100.0


def test_status_json_timestamps_are_iso_8601_utc_strings() -> None:
    st = status_with("start_new", pause_conditions=[Condition(reason="CanaryHold", start_time=1_796_000_000.5)],
                     abort=Abort(requested_at=1_796_000_060.0, reason="x", by="bob"))  # fmt: skip
    st.started_at, st.finished_at = 1_796_000_000.0, 1_796_000_120.25
    doc = summary(PLAN, st, 1_796_000_120.25)
    assert doc["started_at"] == "2026-11-30T00:53:20.000+00:00"
    assert doc["finished_at"] == "2026-11-30T00:55:20.250+00:00"
    assert doc["steps"][0]["started_at"] == "1970-01-01T00:00:01.000+00:00"
    assert doc["pause_conditions"][0]["start_time"] == "2026-11-30T00:53:20.500+00:00"
    assert doc["abort"]["requested_at"] == "2026-11-30T00:54:20.000+00:00"
    for key in ("started_at", "finished_at"):  # what a script does with them
        assert datetime.fromisoformat(doc[key]).tzinfo == timezone.utc
