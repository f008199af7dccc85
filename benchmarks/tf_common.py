"""Shared by the Terraform benchmarks: fixture projects, load averages, reports."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


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
    import platform
    import subprocess

    version = subprocess.run([shutil.which("terraform") or "terraform", "version"], capture_output=True, text=True)
    return {"python": platform.python_version(), "cpus": os.cpu_count(),
            "terraform": version.stdout.splitlines()[0] if version.stdout else "?",
            "note": "2-core machine shared with other engineers' builds and tests"}


def load() -> float:
    return round(os.getloadavg()[0], 2)
