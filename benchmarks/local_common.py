"""Shared by the benchmarks that drive a local fleet through the `envctl` CLI (rebalance, capacity
rehearsal): the CLI as a user runs it, and the chargers' own per-second counts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(REPO))


def envctl(env: dict[str, str], *args: str, timeout: float = 1800) -> Any:
    """`envctl ARGS --output json`, parsed; a failure ends the benchmark with its stderr."""
    done = subprocess.run([sys.executable, "-m", "envctl", *args, "--output", "json"], env=env, capture_output=True,
                          text=True, timeout=timeout)  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"envctl {' '.join(args)} exited {done.returncode}: {done.stderr[-3000:]}")
    return json.loads(done.stdout)


def down(env: dict[str, str], name: str) -> None:
    subprocess.run([sys.executable, "-m", "envctl", "down", name, "--runtime", "local"], env=env,
                   capture_output=True, timeout=300)  # fmt: skip


def sim_seconds(env_dir: Path, key: str, since: float, until: float) -> list[int]:
    """The simulator's per-second series `key` ("reconnects", "connect_failures") within [since, until)."""
    series = (json.loads((env_dir / "sim-status.json").read_text()).get("per_second") or {}).get(key) or []
    return [n for sec, n in series if since <= sec < until]
