"""Plans are computed from the fleet and sealed by a hash over their canonical JSON."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from envctl.errors import ConfigError
from envctl.release.fleet import ReplicaView
from envctl.release.plan import PlanOptions, ReleasePlan, compute_plan

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)


def fleet(*conns: int, version: str = "v1") -> list[ReplicaView]:
    return [ReplicaView(f"r{i + 1}", version, True, True, True, False, c) for i, c in enumerate(conns)]


def plan_for(replicas: list[ReplicaView], **opts: object) -> ReleasePlan:
    return compute_plan(
        env="demo", runtime="local", replicas=replicas, options=PlanOptions(to_version="v2", **opts),  # type: ignore[arg-type]
        planner="alice", now=NOW, plan_id="demo-1",
    )  # fmt: skip


def test_plan_follows_the_live_fleet() -> None:
    plan = plan_for(fleet(3000, 2000), budget_per_s=100, canary_share=0.05, hold_s=30)
    assert plan.connections == 5000
    assert plan.canary_connections == 250
    assert plan.new_replicas == 2
    assert [(r.id, r.connections) for r in plan.old_replicas] == [("r1", 3000), ("r2", 2000)]
    assert plan.from_versions == ["v1"]
    # 2 starts + 5000 / 100 per s + 30 s hold + verify allowance
    assert plan.estimated_duration_s == pytest.approx(2 * 10 + 50 + 30 + 5)


def test_hash_changes_with_any_field_and_is_stable_across_serialisation() -> None:
    plan = plan_for(fleet(100))
    again = ReleasePlan.model_validate_json(plan.model_dump_json())
    assert again.hash == plan.hash and plan.hash.startswith("sha256:")
    assert plan.model_copy(update={"budget_per_s": 101.0}).hash != plan.hash
    assert plan.model_copy(update={"hold_s": 29.0}).hash != plan.hash


def test_replicas_already_on_the_target_are_not_planned_to_drain() -> None:
    replicas = fleet(100) + [ReplicaView("r9", "v2", True, True, True, False, 40)]
    plan = plan_for(replicas)
    assert [r.id for r in plan.old_replicas] == ["r1"]
    assert plan.connections == 100


def test_nothing_to_release_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="already on it: r1"):
        plan_for(fleet(10, version="v2"))


@pytest.mark.parametrize(
    ("opts", "message"),
    [({"budget_per_s": 0}, "--budget"), ({"canary_share": 1.5}, "--canary-share"), ({"hold_s": -1}, "--hold")],
)
def test_bad_options_name_the_flag(opts: dict[str, float], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        plan_for(fleet(10), **opts)
