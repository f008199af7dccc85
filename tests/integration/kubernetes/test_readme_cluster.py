"""README.md's cluster block, as shown, in order, on a fresh clone and this machine's real node.

The block runs in one bash session (its `eval "$(scripts/control-plane env)"` must reach the lines
after it), inside the virtualenv the README's install line makes. Two lines are left to the
machine's owner when the cluster was already up before the test (this machine's cluster is shared
by every Kubernetes-marked test): `scripts/install-deps` (root, apt) and the final
`scripts/control-plane stop`; `start` still runs, and answers "already running".
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

from tests.readme_commands import ROOT, blocks, fresh_clone, shell_env

pytestmark = [pytest.mark.kubernetes, pytest.mark.slow, pytest.mark.timeout(1800)]

LEFT_TO_THE_OWNER = ("scripts/install-deps", "scripts/control-plane stop")


def _install_line() -> str:
    first = blocks()[0].lines[0]
    return first.split(" && envctl ")[0]  # the README's install, without the local demo it starts


def test_the_readme_cluster_block_runs_on_the_real_node(tmp_path: Path) -> None:
    was_up = subprocess.run([str(ROOT / "scripts" / "control-plane"), "status"], capture_output=True).returncode == 0
    cluster = [b for b in blocks() if b.kind == "cluster"]
    assert len(cluster) == 1
    clone = fresh_clone(tmp_path / "envctl")
    script = ["set -eo pipefail", _install_line()]
    for n, line in enumerate(cluster[0].lines):
        if was_up and any(line.startswith(cmd) for cmd in LEFT_TO_THE_OWNER):
            continue
        script += [f"echo {shlex.quote(f'::README line {n + 1}: {line}')} >&2", line]
    env = shell_env(tmp_path / "state")
    done = subprocess.run(["bash", "--noprofile", "--norc", "-c", "\n".join(script)], cwd=clone, env=env,
                          capture_output=True, text=True, timeout=1700)  # fmt: skip
    failed_at = [ln for ln in done.stderr.splitlines() if ln.startswith("::README line")][-1:]
    assert done.returncode == 0, f"{failed_at} exited {done.returncode}:\n{done.stderr[-6000:]}"
    # the preview ran the node's imported image (no ImagePullBackOff) and `down --pr 42` removed it
    listed = subprocess.run(["bash", "-c", f". .venv/bin/activate && eval \"$({ROOT}/scripts/control-plane env)\" "
                             "&& envctl list --runtime kubernetes --output json"],
                            cwd=clone, env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert listed.returncode == 0 and "pr-42" not in listed.stdout, listed.stderr
