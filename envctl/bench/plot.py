"""The PNG timeline of a rehearsal: connections on old vs new, reconnects/s and failures/s."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: CI and servers have no display

import matplotlib.pyplot as plt  # noqa: E402


def plot(report: dict[str, Any], path: Path) -> None:
    rows = report["timeline"]
    t = [r["t"] for r in rows]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6.5), sharex=True)
    top.plot(t, [r["connected_old"] for r in rows], label="connected to old", color="tab:blue")
    top.plot(t, [r["connected_new"] for r in rows], label="connected to new", color="tab:green")
    top.axhline(report["chargers"], color="grey", linestyle=":", linewidth=1, label="fleet")
    top.set_ylabel("chargers")
    top.legend(loc="center right")
    bottom.plot(t, [r["reconnects"] for r in rows], label="reconnects/s", color="tab:orange")
    bottom.plot(t, [r["failures"] for r in rows], label="connect failures/s", color="tab:red")
    if report.get("budget_per_s"):
        bottom.axhline(report["budget_per_s"], color="grey", linestyle="--", linewidth=1, label="budget")
    bottom.set_ylabel("per second")
    bottom.set_xlabel("seconds since the release began")
    bottom.legend(loc="upper right")
    budget = f", budget {report['budget_per_s']:g}/s" if report.get("budget_per_s") else ""
    fig.suptitle(
        f"{report['strategy']} release of {report['chargers']} chargers{budget}: "
        f"peak {report['peak_reconnects_per_s']:.0f} reconnects/s, {report['connect_failures']} failures"
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
