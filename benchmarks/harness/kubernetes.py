"""Shared by the kubernetes_* benchmarks: the control plane's kubeconfig and a JSON report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.report import machine, write_report

REPO = Path(__file__).resolve().parents[2]


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


def timed_up(env: dict[str, str], name: str, chargers: int, replicas: int) -> tuple[float, dict[str, Any]]:
    """`envctl up --runtime kubernetes` as a user runs it: (seconds, its JSON); a failure ends the benchmark."""
    started = time.monotonic()
    done = envctl(env, "up", name, "--runtime", "kubernetes", "--chargers", str(chargers),
                  "--replicas", str(replicas), "--output", "json")
    took = time.monotonic() - started
    if done.returncode != 0:
        sys.exit(f"up {name} failed: {done.stderr}")
    return took, json.loads(done.stdout)


def write(report: Path, data: dict[str, Any]) -> None:
    write_report(report, data | {"machine": machine()})
