"""Run the real `envctl` CLI in subprocesses against an isolated state directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


@dataclass
class Cli:
    env: dict[str, str]
    created: list[str]

    def run(
        self, *args: str, timeout: float = 120, check: bool = True, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "envctl", *args], capture_output=True, text=True, env=self.env, timeout=timeout,
            cwd=cwd,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"envctl {' '.join(args)} exited {done.returncode}:\n{done.stderr}\n{done.stdout}")
        return done

    def json(self, *args: str, timeout: float = 120) -> Any:
        return json.loads(self.run(*args, "--output", "json", timeout=timeout).stdout)

    def up(self, name: str, *args: str, timeout: float = 120) -> dict[str, Any]:
        self.created.append(name)
        return self.json("up", name, "--runtime", "local", *args, timeout=timeout)  # type: ignore[no-any-return]


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    env = {**os.environ, "ENVCTL_STATE_DIR": str(tmp_path / "state"), "KUBECONFIG": str(tmp_path / "none")}
    runner = Cli(env=env, created=[])
    yield runner
    for name in runner.created:
        runner.run("down", name, "--runtime", "local", check=False)
