"""Shared by the kubernetes_* benchmarks: the control plane's kubeconfig and a JSON report."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def kubeconfig() -> str:
    """$KUBECONFIG if set, else the one `scripts/control-plane start` made (started if needed)."""
    if os.environ.get("KUBECONFIG"):
        return os.environ["KUBECONFIG"]
    script = str(REPO / "scripts" / "control-plane")
    if subprocess.run([script, "status"], capture_output=True).returncode != 0:
        subprocess.run([script, "start"], check=True)
    out = subprocess.run([script, "env"], capture_output=True, text=True, check=True).stdout.strip()
    return out.split("=", 1)[1]


def envctl(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "envctl", *args], capture_output=True, text=True, env=env,
                          cwd=REPO)


def summary(samples: list[float]) -> dict[str, float]:
    return {"min_s": round(min(samples), 3), "median_s": round(statistics.median(samples), 3),
            "max_s": round(max(samples), 3), "n": len(samples)}


def write(report: Path, data: dict[str, Any]) -> None:
    data["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version(),
                       "load_avg_1m": round(os.getloadavg()[0], 2)}
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(json.dumps(data, indent=2) + "\n")
    print(json.dumps(data, indent=2))
