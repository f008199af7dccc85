"""The warm pool, pure parts: a placeholder's size comes from the preview's own manifests; the
templates keep placeholders below every workload; status counts what holds room."""

from __future__ import annotations

from typing import Any

from envctl.config import parse_config
from envctl.runtimes.kubernetes import render as r
from envctl.warm import pool
from envctl.warm.sizing import Requests, preview_requests


def test_a_placeholder_is_as_big_as_one_preview_environment() -> None:
    # default: server 100m/128Mi + simulator 100m/128Mi + Postgres 100m/256Mi
    assert preview_requests(parse_config({}), replicas=1) == Requests(300, 512 * 2**20, 3)
    # three server replicas of 250m/200Mi: 3 x 250m + simulator 100m + Postgres 100m
    cfg = parse_config({"kubernetes": {"server": {"cpu": "250m", "memory": "200Mi"}}})
    assert preview_requests(cfg, replicas=3) == Requests(3 * 250 + 200, (3 * 200 + 128 + 256) * 2**20, 5)
    # one replica on SQLite: no Postgres pod
    assert preview_requests(parse_config({"kubernetes": {"database": {"kind": "sqlite"}}}), 1) == Requests(200, 256 * 2**20, 2)


def test_templates_keep_placeholders_below_every_workload_and_where_previews_go() -> None:
    tolerate = {"key": "pool", "operator": "Exists", "effect": "NoSchedule"}
    cfg = parse_config({"warm": {"placeholders": 3},
                        "kubernetes": {"node_selector": {"pool": "previews"}, "tolerations": [tolerate], "image": "img:1"}})
    objs = {o["kind"]: o for o in pool.render_pool(pool.pool_values(cfg), r.PACKAGED_TEMPLATES)}
    pc = objs["PriorityClass"]
    assert pc["value"] < 0 and pc["preemptionPolicy"] == "Never" and pc["globalDefault"] is False
    dep = objs["Deployment"]
    assert dep["metadata"]["namespace"] == "envctl-warm" and dep["spec"]["replicas"] == 3
    spec = dep["spec"]["template"]["spec"]
    assert spec["priorityClassName"] == pc["metadata"]["name"]
    assert spec["nodeSelector"] == {"pool": "previews"} and spec["tolerations"] == [tolerate]
    (c,) = spec["containers"]
    assert c["image"] == "img:1" and c["resources"]["requests"] == {"cpu": "300m", "memory": "512Mi"}
    assert "sigwait" in c["command"][-1]  # does nothing until told to stop
    assert pool.pool_values(cfg, placeholders=0).placeholders == 0  # --count wins over envctl.yaml


def pod(name: str, node: str | None, ready: bool, deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta, "spec": {"nodeName": node} if node else {},
            "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}  # fmt: skip


def test_status_counts_only_placeholders_that_hold_room() -> None:
    pods = [pod("a", "n1", True), pod("b", "n1", True), pod("c", "n2", False), pod("d", None, False),
            pod("e", "n2", True, deleting=True)]  # fmt: skip
    s = pool.pool_status({"spec": {"replicas": 4}}, pods, "envctl-warm", Requests(200, 2**28, 2))
    assert (s.wanted, s.ready, s.pending, s.terminating, s.previews_startable_now) == (4, 2, 1, 1, 2)
    assert s.to_dict()["nodes"] == {"n1": 2}
    assert pool.pool_status(None, [], "envctl-warm", Requests(1, 1, 1)).to_dict()["placeholders"]["wanted"] == 0
