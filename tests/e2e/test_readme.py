"""README.md as a new user meets it: on a fresh clone, every command of its local code blocks, in
order, as shown, works (the cluster block runs in tests/integration/kubernetes/test_readme_cluster.py).

The commands are read from the README itself, so changing the README changes the test. The only
line not run is `scripts/test`, the suite this test is part of. The install line runs for real
(a new virtualenv, `pip install -c constraints.txt -e .`): it is most of this test's time.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.readme_commands import SUITE, blocks, fresh_clone, run_line, serve_line, shell_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]


def test_the_readme_runs_in_order_on_a_fresh_clone(tmp_path: Path) -> None:
    clone = fresh_clone(tmp_path / "envctl")
    env = shell_env(tmp_path / "state", KUBECONFIG=str(tmp_path / "no-cluster"))  # local runtime by default
    local = [b for b in blocks() if b.kind != "cluster"]
    assert [b.kind for b in local] == ["local", "local", "local", "servers"], local
    venv, took = False, []
    try:
        for block in local:
            for line in block.lines:
                if line == SUITE:
                    continue
                started = time.monotonic()
                if block.kind == "servers":
                    problem = serve_line(line, clone, env, tmp_path / f"serve-{len(took)}.log")
                    assert not problem, f"README line failed: {line}\n{problem}"
                else:
                    done = run_line(line, clone, env, venv, timeout=600)
                    assert done.returncode == 0, (f"README line failed (exit {done.returncode}): {line}\n"
                                                  f"{done.stderr[-4000:]}\n{done.stdout[-2000:]}")  # fmt: skip
                    venv = venv or ". .venv/bin/activate" in line
                took.append((line[:60], round(time.monotonic() - started, 1)))
        # what the README promised it made is there, and nothing is left running
        for made in ("timeline.png", "r.json", "r.png", "capacity-profile.json", "load.png"):
            assert (clone / made).is_file(), made
        assert json.loads(run_line("envctl list --output json", clone, env, True, 60).stdout) == []
    finally:
        print("\n".join(f"{t:>6} s  {line}" for line, t in took))
        if venv:
            run_line("envctl down demo", clone, env, True, 120)
