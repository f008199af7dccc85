"""Session fixture: a real Kubernetes control plane on loopback.

``control_plane`` runs ``scripts/control-plane start`` once per test session
(etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok with
fake nodes; the first run builds the binaries, which takes many minutes --
CI warms the cache with ``scripts/control-plane build``).  If the control
plane cannot start the tests that use it ERROR with the reason: they are
never skipped.  It is stopped at the end of the session only if this session
started it (a control plane someone left running is reused and left alone).
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "scripts" / "control-plane"
# First start may have to build everything (many minutes on 2 cores).
START_TIMEOUT = float(os.environ.get("ENVCTL_CP_START_TIMEOUT", "5400"))


@dataclass
class ControlPlane:
    kubeconfig: str
    run_dir: Path
    bin_dir: Path
    server: str
    kubernetes_version: str
    started_here: bool

    @property
    def kubectl(self) -> str:
        return str(self.bin_dir / "kubectl")

    def kubectl_run(self, *args: str, check=True, timeout=60) -> subprocess.CompletedProcess:
        return subprocess.run([self.kubectl, f"--kubeconfig={self.kubeconfig}", *args],
                              capture_output=True, text=True, check=check, timeout=timeout)


def _run(cmd: str, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([str(SCRIPT), cmd], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="session")
def control_plane():
    status = _run("status", 60)
    started_here = status.returncode != 0
    if started_here:
        try:
            p = _run("start", START_TIMEOUT)
        except subprocess.TimeoutExpired as e:
            raise RuntimeError(
                f"scripts/control-plane start timed out after {START_TIMEOUT:.0f}s:\n"
                f"{(e.stderr or b'')[-4000:]!r}") from None
        if p.returncode != 0:
            _run("stop", 120)
            raise RuntimeError(
                f"scripts/control-plane start failed (exit {p.returncode}):\n"
                f"{p.stderr[-6000:]}")
    env = _run("env", 60).stdout.strip()
    assert env.startswith("export KUBECONFIG="), env
    kubeconfig = env.split("=", 1)[1]
    run_dir = Path(kubeconfig).parent
    state = json.loads((run_dir / "state.json").read_text())
    cp = ControlPlane(kubeconfig=kubeconfig, run_dir=run_dir, bin_dir=Path(state["bin"]),
                      server=state["server"], kubernetes_version=state["kubernetes"],
                      started_here=started_here)
    try:
        yield cp
    finally:
        if started_here:
            _run("stop", 300)
