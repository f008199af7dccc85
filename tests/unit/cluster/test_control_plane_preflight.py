"""`scripts/control-plane start` on a machine without the node's host tools names them and the fix."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_start_without_nft_names_it_and_install_deps(tmp_path: Path) -> None:
    # a PATH with only what the wrapper itself needs: like a fresh machine before scripts/install-deps
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "dirname"):
        (bin_dir / tool).symlink_to(shutil.which(tool) or f"/usr/bin/{tool}")
    (bin_dir / "python3").symlink_to(sys.executable)
    env = {"HOME": os.environ["HOME"], "PATH": str(bin_dir), "ENVCTL_CP_DIR": str(tmp_path / "run")}
    done = subprocess.run([str(ROOT / "scripts" / "control-plane"), "start"], capture_output=True, text=True,
                          env=env, timeout=60)  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "FileNotFoundError" not in done.stderr, done.stderr
    assert "nft (Debian package nftables)" in done.stderr, done.stderr
    assert "scripts/install-deps" in done.stderr
    assert not (tmp_path / "run").exists()  # refused before anything started
