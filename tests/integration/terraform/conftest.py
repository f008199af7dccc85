"""Run the real `envctl tf ...` CLI as a user would, in a directory of Terraform code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]


@dataclass
class CliRun:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@dataclass
class Cli:
    cwd: Path
    transcript: list[CliRun]

    def __call__(self, *args: str, env: dict[str, str] | None = None, timeout: float = 300) -> CliRun:
        done = subprocess.run([sys.executable, "-m", "envctl", *args], cwd=self.cwd, capture_output=True, text=True,
                              timeout=timeout, env={**os.environ, "PYTHONPATH": str(REPO_ROOT), **(env or {})})
        run = CliRun(done.returncode, done.stdout, done.stderr)
        self.transcript.append(run)
        return run


@pytest.fixture
def code_dir(tmp_path: Path) -> Path:
    """A git repository, as a user's code is: projects are found anywhere below its root."""
    path = tmp_path / "code"
    path.mkdir()
    subprocess.run(["git", "init", "-q", str(path)], check=True, capture_output=True, timeout=30)
    return path


@pytest.fixture
def cli(code_dir: Path, tf_env: Path) -> Cli:
    return Cli(code_dir, [])
