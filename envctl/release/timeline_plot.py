"""The PNG of a release's timeline: chargers moved, disconnects per second against the budget, steps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: CI runners have no display

import matplotlib.pyplot as plt  # noqa: E402

_STEP_COLOURS = ("#dbe9f6", "#fbe5d6")


def plot_timeline(doc: dict[str, Any], path: Path) -> None:
    """`doc`: {"plan": plan dict, "status": status dict, "timeline": timeline()}."""
    tl, plan, status = doc["timeline"], doc["plan"], doc["status"]
    t = [r["t"] for r in tl["seconds"]] or [0]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6.5), sharex=True)
    span = max(1.0, t[-1] + 1)
    for i, step in enumerate(tl["steps"]):
        end = step["end"] if step["end"] is not None else span
        for ax in (top, bottom):
            ax.axvspan(step["start"], end, color=_STEP_COLOURS[i % 2], alpha=0.6, linewidth=0)
        if end - step["start"] >= 0.04 * span:  # a label per step wide enough to carry one
            top.text(step["start"], 1.0, step["step"], transform=top.get_xaxis_transform(), rotation=20,
                     fontsize=7, va="bottom")
    rows = tl["seconds"] or [{"moved_forward": 0, "moved_back": 0, "forward": 0, "back": 0}]
    ends = [0, *(r + 1 for r in t)]  # a second's total is reached at its end
    top.step(ends, [0, *(r["moved_forward"] for r in rows)], where="post", label="moved to the new version", color="tab:green")
    if any(r["moved_back"] for r in rows):
        top.step(ends, [0, *(r["moved_back"] for r in rows)], where="post", label="moved back (rollback)", color="tab:red")
    top.axhline(plan["connections"], color="grey", linestyle=":", linewidth=1, label="connections planned")
    top.set_ylabel("chargers")
    top.legend(loc="center right", fontsize=8)
    bottom.bar(t, [r["forward"] for r in rows], width=1.0, align="edge", color="tab:orange", label="disconnects/s (forward)")
    if any(r["back"] for r in rows):
        bottom.bar(t, [r["back"] for r in rows], width=1.0, align="edge", color="tab:red", alpha=0.7, label="disconnects/s (rollback)")
    bottom.axhline(plan["budget_per_s"], color="black", linestyle="--", linewidth=1, label="budget")
    for abort in tl["aborts"]:
        bottom.axvline(abort["t"], color="red", linewidth=1)
    bottom.set_ylabel("per second")
    bottom.set_xlabel("seconds since the release started")
    bottom.legend(loc="upper right", fontsize=8)
    phase = status.get("phase", "Pending")
    fig.suptitle(
        f"release {plan['id']}: {', '.join(plan['from_versions'])} → {plan['to_version']} ({phase}), "
        f"budget {plan['budget_per_s']:g}/s, peak {tl['peak_per_s']}/s"
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
