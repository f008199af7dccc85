"""`envctl scale` starts only what the machine and the fleet can use, and says what it is doing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.fleet.conftest import Env


@pytest.fixture
def small(tmp_path: Path) -> Iterator[Env]:
    e = Env(tmp_path / "state", "small", 4)
    e.json("up", e.name, "--runtime", "local", "--chargers", "4")
    try:
        yield e
    finally:
        e.cli("down", e.name, "--runtime", "local")


def test_scale_is_bounded_and_shows_its_progress(small: Env) -> None:
    too_many = small.cli("scale", small.name, "--replicas", "100", "--output", "json")
    beyond_chargers = small.cli("scale", small.name, "--replicas", "5", "--output", "json")
    up_too_many = small.cli("up", "other", "--runtime", "local", "--chargers", "200", "--replicas", "100",
                            "--output", "json")  # fmt: skip

    assert too_many.returncode == 4, too_many.stderr
    assert "more than envs.max_local_replicas (16)" in json.loads(too_many.stderr)["message"]
    assert beyond_chargers.returncode == 4, beyond_chargers.stderr
    assert "more than the environment's 4 chargers" in json.loads(beyond_chargers.stderr)["message"]
    assert up_too_many.returncode == 4, up_too_many.stderr
    assert "envs.max_local_replicas" in json.loads(up_too_many.stderr)["message"]
    assert not small.runtime.env_dir("other").exists()
    assert len(small.runtime.server_replicas(small.name)) == 1  # nothing was started

    done = small.cli("scale", small.name, "--replicas", "3")  # stderr is a pipe: lines, not a bar

    assert done.returncode == 0, done.stderr
    assert "starting replica 1/2" in done.stderr and "started 2/2 replicas" in done.stderr
    assert len([r for r in small.runtime.server_replicas(small.name) if r.alive]) == 3
