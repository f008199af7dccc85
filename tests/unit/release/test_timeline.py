"""A release's timeline from its journal: per-second sends forward and back, steps, aborts, the PNG."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from envctl.release.fleet import ReplicaView
from envctl.release.pacing import BucketState
from envctl.release.plan import PlanOptions, compute_plan
from envctl.release.status import ReleaseStatus
from envctl.release.timeline import timeline
from envctl.release.timeline_plot import plot_timeline

T0 = 1_800_000_000.0
PLAN = compute_plan(
    env="demo", runtime="local", replicas=[ReplicaView("r1", "v1", True, True, True, False, 100)],
    options=PlanOptions(to_version="v2", budget_per_s=50), planner="alice",
    now=datetime(2027, 1, 15, tzinfo=timezone.utc), plan_id="demo-1",
)  # fmt: skip


def status(finished: float | None = None) -> ReleaseStatus:
    return ReleaseStatus(plan_id="demo-1", plan_hash=PLAN.hash, started_at=T0, started_by="alice", approved_by="bob",
                         bucket=BucketState(tokens=0, updated_at=T0, rate_per_s=50, burst=10), finished_at=finished)  # fmt: skip


EVENTS = [
    {"t": T0 + 0.01, "event": "step_started", "step": "start_new"},
    {"t": T0 + 1.20, "event": "step_done", "step": "start_new"},
    {"t": T0 + 1.30, "event": "step_started", "step": "drain_rest"},
    {"t": T0 + 1.40, "event": "disconnect", "step": "drain_rest", "granted": 20, "closed": 20},
    {"t": T0 + 1.90, "event": "disconnect", "step": "drain_rest", "granted": 25, "closed": 24},
    {"t": T0 + 2.10, "event": "disconnect", "step": "drain_rest", "granted": 30, "closed": 30},
    {"t": T0 + 2.50, "event": "abort", "reason": "CALLERROR ratio 0.4 > 0.02", "automatic": True},
    {"t": T0 + 3.05, "event": "step_started", "step": "rollback_drain"},
    {"t": T0 + 3.50, "event": "disconnect", "step": "rollback_drain", "granted": 44, "closed": 44},
]


def test_sends_are_counted_per_second_forward_and_back() -> None:
    tl = timeline(PLAN, status(finished=T0 + 4.2), EVENTS)
    by_t = {row["t"]: row for row in tl["seconds"]}
    assert [by_t[i]["forward"] for i in range(4)] == [0, 44, 30, 0]
    assert [by_t[i]["back"] for i in range(4)] == [0, 0, 0, 44]
    assert by_t[3]["moved_forward"] == 74 and by_t[3]["moved_back"] == 44
    assert tl["peak_per_s"] == 44 and tl["budget_per_s"] == 50
    assert len(tl["seconds"]) == 6  # through the second the release finished in
    assert [(s["step"], s["end"]) for s in tl["steps"]] == [("start_new", 1.2), ("drain_rest", None), ("rollback_drain", None)]
    assert tl["aborts"] == [{"t": 2.5, "reason": "CALLERROR ratio 0.4 > 0.02", "automatic": True}]


def test_a_release_that_never_started_has_an_empty_timeline() -> None:
    tl = timeline(PLAN, None, [])
    assert tl["seconds"] == [] and tl["peak_per_s"] == 0


def test_the_png_is_written(tmp_path: Path) -> None:
    doc = {"plan": PLAN.to_dict(), "status": {"phase": "Aborted"},
           "timeline": timeline(PLAN, status(T0 + 4.2), EVENTS)}
    out = tmp_path / "sub" / "timeline.png"
    plot_timeline(doc, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
