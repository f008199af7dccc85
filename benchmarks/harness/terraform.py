"""Shared by the Terraform benchmarks: fixture projects, load averages, reports."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from benchmarks.report import machine

ROOT = Path(__file__).resolve().parents[2]


def project(directory: Path, state: Path, resources: int, label: str = "r") -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "main.tf").write_text(f"""terraform {{
  backend "local" {{
    path = "{state}"
  }}
}}
resource "terraform_data" "{label}" {{
  count = {resources}
  input = {{ name = "pr-${{count.index}}.preview.example.com", type = "CNAME", value = "ingress.example.com" }}
}}
""")


def quiet_terraform(base: Path) -> None:
    """No registry here: an empty CLI config (a filesystem mirror would be declared in it)."""
    rc = base / "terraformrc"
    rc.write_text("")
    os.environ["TF_CLI_CONFIG_FILE"] = str(rc)
    os.environ["CHECKPOINT_DISABLE"] = "1"


def environment() -> dict[str, Any]:
    version = subprocess.run([shutil.which("terraform") or "terraform", "version"], capture_output=True, text=True)
    return machine(terraform=version.stdout.splitlines()[0] if version.stdout else "?",
                   note="2-core machine shared with other engineers' builds and tests")
