"""Shared by the benchmarks that drive a local fleet through the `envctl` CLI (rebalance, capacity
rehearsal): the CLI as a user runs it, and the chargers' own per-second counts."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


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


@contextlib.contextmanager
def temporary_postgres() -> Iterator[Any]:
    """A real PostgreSQL server in a temp dir for the benchmark's length (the tests' own server
    class: Debian's binaries, initdb, fsync on); yields it, `.create_database()` gives a URL."""
    from tests.fixtures.postgres import PostgresServer

    root = Path(tempfile.mkdtemp(prefix="envctl-bench-pg-"))
    os.chmod(root, 0o755)  # postgres runs as its own user
    server = PostgresServer(root)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
