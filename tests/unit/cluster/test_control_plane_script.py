"""`scripts/control-plane` as a user meets it: start on a bare machine names what to install; env points
envctl at the cluster and, with the real node, at the images imported into it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "scripts"))

from cluster.control_plane import write_envctl_config  # noqa: E402

from envctl.config import load_config  # noqa: E402


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


def test_env_points_envctl_at_the_images_the_node_imported(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    env = {**os.environ, "ENVCTL_CP_DIR": str(run)}
    script = [str(ROOT / "scripts" / "control-plane"), "env"]
    bare = subprocess.run(script, capture_output=True, text=True, env=env, timeout=60, check=True).stdout
    assert bare.splitlines() == [f"export KUBECONFIG={run / 'kubeconfig'}"]  # kwok only: nothing to run
    # what `start` writes once the real node has imported its images
    write_envctl_config(run, {"envctl": "envctl.local/envctl:abc123", "postgres": "envctl.local/postgres:def456",
                              "pause": "envctl.local/pause:3.9"})  # fmt: skip
    lines = subprocess.run(script, capture_output=True, text=True, env=env, timeout=60, check=True).stdout.splitlines()
    assert lines[0] == f"export KUBECONFIG={run / 'kubeconfig'}"
    assert lines[1] == f"export ENVCTL_CONFIG={run / 'envctl.yaml'}"
    config = load_config(lines[1].split("=", 1)[1])
    assert config.kubernetes.image == "envctl.local/envctl:abc123"  # not the default, which nobody can pull
    assert config.kubernetes.image_pull_policy == "Never"
    assert config.kubernetes.database.postgres_image == "envctl.local/postgres:def456"
