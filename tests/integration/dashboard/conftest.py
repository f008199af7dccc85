"""A local fleet and a real dashboard process over it, per test module."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.dashboard import Dashboard, running_dashboard
from tests.integration.release.conftest import Rig


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("dashstate")
    old = os.environ.get("ENVCTL_STATE_DIR")
    os.environ["ENVCTL_STATE_DIR"] = str(path)
    yield path
    if old is None:
        os.environ.pop("ENVCTL_STATE_DIR", None)
    else:
        os.environ["ENVCTL_STATE_DIR"] = old


@pytest.fixture(scope="module")
def fleet(state_dir: Path, request: pytest.FixtureRequest) -> Iterator[Rig]:
    """A module may set CHARGERS / REPLICAS / ENV_NAME / UP_ARGS; default 40 chargers on 2 replicas of v1."""
    chargers, replicas = getattr(request.module, "CHARGERS", 40), getattr(request.module, "REPLICAS", 2)
    rig = Rig(state_dir, getattr(request.module, "ENV_NAME", "dash"), chargers)
    # through the CLI, as a user would (and so the replicas are not children of the test process)
    res = rig.cli("up", rig.name, "--runtime", "local", "--chargers", str(chargers), "--replicas", str(replicas),
                  "--server-version", "v1", "--output", "json", *getattr(request.module, "UP_ARGS", ()))  # fmt: skip
    assert res.returncode == 0, res.stderr
    try:
        yield rig
    finally:
        rig.runtime.down(rig.name, force=True)  # a test may leave a release unfinished: it goes with the fleet


@pytest.fixture(scope="module")
def dashboard(state_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    with running_dashboard(state_dir, tmp_path_factory.mktemp("dashlogs")) as dash:
        yield dash
