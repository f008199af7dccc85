"""The ``control_plane`` session fixture lives in the plugin tests/fixtures/control_plane.py
(registered in tests/conftest.py) so that the GitHub preview tests can use it too.

Only the names are re-exported here: importing the fixture function itself into this conftest
would register a second session-scoped definition, and a session running both test directories
would then set the control plane up twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from envctl.runtimes.kubernetes.client import Kube
from tests.fixtures.control_plane import REPO, SCRIPT, START_TIMEOUT, ControlPlane

__all__ = ["REPO", "SCRIPT", "START_TIMEOUT", "ControlPlane"]


@pytest.fixture
def admin(control_plane: Any) -> Iterator[Kube]:
    """envctl's own client as the cluster admin, to set up and check what envctl did."""
    kube = Kube(control_plane.kubeconfig)
    yield kube
    kube.close()
