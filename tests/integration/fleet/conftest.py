"""A real local environment (charger-server replicas + simulator with charging sessions) driven
through the `envctl` CLI, as an SRE would after a scale-out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from envctl.bench import transactions
from envctl.runtimes.local import EnvRecord, LocalRuntime


class Env:
    def __init__(self, state_dir: Path, name: str, chargers: int) -> None:
        self.state_dir, self.name, self.chargers = state_dir, name, chargers
        self.runtime = LocalRuntime(state_dir)
        self.env_dir = self.runtime.env_dir(name)

    def environ(self) -> dict[str, str]:
        return {**os.environ, "ENVCTL_STATE_DIR": str(self.state_dir), "KUBECONFIG": str(self.state_dir / "none"),
                "COLUMNS": "200"}  # fmt: skip

    def cli(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "envctl", *args], env=self.environ(), capture_output=True,
                              text=True, timeout=timeout)  # fmt: skip

    def json(self, *args: str, timeout: float = 180) -> Any:
        done = self.cli(*args, "--output", "json", timeout=timeout)
        assert done.returncode == 0, f"envctl {' '.join(args)} exited {done.returncode}:\n{done.stderr}"
        return json.loads(done.stdout)

    def spawn(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-m", "envctl", *args], env=self.environ(), text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip

    def sim(self) -> dict[str, Any]:
        return dict(json.loads((self.env_dir / "sim-status.json").read_text()))

    def stats(self) -> dict[str, dict[str, Any]]:
        """Every live replica's /admin/stats, by replica id."""
        return {r.id: httpx.get(f"{r.admin_url}/admin/stats", timeout=5).json()
                for r in self.runtime.server_replicas(self.name) if r.alive}  # fmt: skip

    def connections(self) -> dict[str, int]:
        return {rid: int(s["connections"]) for rid, s in self.stats().items()}

    def wait_all_connected(self, timeout: float = 30) -> int:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if sum(self.connections().values()) >= self.chargers and int(self.sim().get("connected", 0)) >= self.chargers:
                break
            time.sleep(0.2)
        return sum(self.connections().values())

    def sim_reconnects_peak(self, since: float, until: float) -> int:
        """The chargers' side: reconnects per epoch second, as the simulator counted them."""
        time.sleep(1.5)  # the status file is rewritten about once a second
        series = (self.sim().get("per_second") or {}).get("reconnects") or []
        return max((n for sec, n in series if since - 1 <= sec <= until + 1), default=0)

    def ledger(self) -> dict[str, Any]:
        time.sleep(1.5)  # the simulator flushes its ledger at least once a second
        record = EnvRecord.load(self.env_dir)
        assert record.simulator is not None
        return transactions.count(record.simulator.ledger_dir, record.database_url)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    """600 chargers on 3 replicas, charging sessions running (60 per charger per hour: ~10 start
    every second), so transactions are in flight while chargers move."""
    e = Env(tmp_path / "state", "fleet", 600)
    e.json("up", e.name, "--runtime", "local", "--chargers", "600", "--replicas", "3", "--session-rate", "60",
           "--session-minutes", "1-2", "--meter-interval", "10")  # fmt: skip
    try:
        yield e
    finally:
        e.cli("down", e.name, "--runtime", "local")
