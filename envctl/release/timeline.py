"""A release's timeline, rebuilt from its journal (events.jsonl): what the orchestrator did, per second.

The engine journals every step start/end and every disconnect batch with the chargers it closed,
so the timeline needs nothing else: per wall-clock second since the release began, the chargers
sent to the new version (forward steps) and back to the old one (rollback steps), and where each
step began and ended. It shows what the orchestrator *sent*; reconnects as the chargers saw
them are in a rehearsal's report (`envctl bench release`), which samples the simulator.
"""

from __future__ import annotations

import math
from typing import Any

from envctl.release.plan import ReleasePlan
from envctl.release.status import ROLLBACK_STEPS, ReleaseStatus


def timeline(plan: ReleasePlan, status: ReleaseStatus | None, events: list[dict[str, Any]]) -> dict[str, Any]:
    """Pure: {"budget_per_s", "seconds": [{"t", "forward", "back", "moved_forward", "moved_back"}], "steps": [...], "peak_per_s"}."""
    times = [float(e["t"]) for e in events if isinstance(e.get("t"), (int, float))]
    if status is None and not times:
        return {"budget_per_s": plan.budget_per_s, "seconds": [], "steps": [], "peak_per_s": 0, "aborts": []}
    t0 = status.started_at if status is not None else min(times)
    end = max([*times, status.finished_at or t0] if status is not None else times)
    n = max(1, math.ceil(end - t0) + 1)
    forward, back = [0] * n, [0] * n
    steps: dict[str, dict[str, Any]] = {}
    aborts = []
    for e in events:
        t = float(e.get("t", t0)) - t0
        i = min(n - 1, max(0, int(t)))
        kind = e.get("event")
        if kind == "disconnect":
            (back if e.get("step") in ROLLBACK_STEPS else forward)[i] += int(e.get("closed", 0))
        elif kind == "step_started":
            steps.setdefault(e["step"], {"step": e["step"], "start": round(t, 3), "end": None})
        elif kind == "step_done":
            steps.setdefault(e["step"], {"step": e["step"], "start": round(t, 3), "end": None})["end"] = round(t, 3)
        elif kind == "abort":
            aborts.append({"t": round(t, 3), "reason": e.get("reason", ""), "automatic": bool(e.get("automatic"))})
    seconds, moved_f, moved_b = [], 0, 0
    for i in range(n):
        moved_f += forward[i]
        moved_b += back[i]
        seconds.append({"t": i, "forward": forward[i], "back": back[i], "moved_forward": moved_f, "moved_back": moved_b})
    return {
        "budget_per_s": plan.budget_per_s,
        "seconds": seconds,
        "steps": sorted(steps.values(), key=lambda s: s["start"]),
        "peak_per_s": max([*forward, *back, 0]),
        "aborts": aborts,
    }
