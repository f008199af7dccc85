"""The reconnect budget is fleet-wide and kept: measured from the servers' own counters, the
disconnect rate is within 10 % of the paced rate and no 1 s window of the engine's own record
exceeds the budget."""

from __future__ import annotations

import threading
import time

import httpx

from envctl.release.engine import PACE_SHARE
from envctl.release.pacing import default_burst
from tests.integration.release.conftest import Rig, max_in_window

CHARGERS = 300
REPLICAS = 3
BUDGET = 100.0
POLL_S = 0.1


def poll_old_disconnects(rig: Rig, stop: threading.Event, out: list[tuple[float, int]]) -> None:
    """Sum of disconnects_total over the old replicas, as seen from outside, 10 times a second."""
    old = [(r.id, r.admin_url) for r in rig.replicas()]
    last: dict[str, int] = {}
    with httpx.Client(timeout=0.5) as http:
        while not stop.is_set():
            for rid, url in old:
                try:
                    last[rid] = int(http.get(f"{url}/admin/stats").json()["disconnects_total"])
                except (httpx.HTTPError, KeyError, ValueError):
                    pass  # retired at the end: its last value stands
            out.append((time.time(), sum(last.values())))
            stop.wait(POLL_S)


def test_measured_disconnect_rate_follows_the_fleet_wide_budget(rig: Rig) -> None:
    plan = rig.plan(rig.next_version(), "--budget", str(BUDGET), "--hold", "0s", "--canary-share", "0.05")
    rig.approve(plan["id"])
    samples: list[tuple[float, int]] = []
    stop = threading.Event()
    poller = threading.Thread(target=poll_old_disconnects, args=(rig, stop, samples))
    poller.start()
    try:
        res = rig.cli("release", "start", plan["id"], "--env", rig.name, "--output", "json")
    finally:
        stop.set()
        poller.join()
    assert res.returncode == 0, res.stderr

    status = rig.store.load_status(plan["id"])
    assert status is not None
    drain = status.step("drain_rest")
    assert drain is not None and drain.finished_at is not None
    # The rest of the fleet (all but the canary) moved at the paced share of the budget (the rest is
    # headroom for late deliveries), spread over all 3 old replicas.
    window = [(t, n) for t, n in samples if drain.started_at <= t <= drain.finished_at]
    (t0, n0), (t1, n1) = window[0], window[-1]
    rate, target = (n1 - n0) / (t1 - t0), BUDGET * PACE_SHARE
    assert abs(rate - target) / target < 0.10, f"measured {rate:.1f}/s, pacing at {target}/s of a {BUDGET}/s budget"
    burst = default_burst(BUDGET)
    for i, (ta, na) in enumerate(samples):
        later = [n for t, n in samples[i:] if t <= ta + 1.0]
        assert later[-1] - na <= BUDGET + burst + BUDGET * POLL_S  # one poll of sampling slack
    events = rig.store.events(plan["id"])
    assert max_in_window(events) <= BUDGET  # the engine's own record, to the millisecond: a hard ceiling
    by_replica: dict[str, int] = {}
    for e in events:
        for rid, n in e.get("by_replica", {}).items():
            by_replica[rid] = by_replica.get(rid, 0) + n
    assert len(by_replica) == REPLICAS and min(by_replica.values()) >= CHARGERS / REPLICAS * 0.8
    assert rig.wait_all_connected() == CHARGERS
