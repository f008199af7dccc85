"""The image the test node runs is the Dockerfile's image: same entrypoint, command, user, ports,
environment and working directory (scripts/cluster/images.py builds it without Docker)."""

from __future__ import annotations

import json
import sys
import tarfile
from typing import Any

import pytest

from tests.integration.kubernetes.helpers import REPO
from tests.unit.kubernetes.test_dockerfile import instructions

sys.path.insert(0, str(REPO / "scripts"))
from cluster import images  # noqa: E402

pytestmark = pytest.mark.kubernetes


def image_config(archive: Any) -> dict[str, Any]:
    with tarfile.open(archive) as tar:
        def blob(digest: str) -> Any:
            member = tar.extractfile("blobs/sha256/" + digest.split(":", 1)[1])
            assert member is not None
            return json.load(member)
        index = json.load(tar.extractfile("index.json"))  # type: ignore[arg-type]
        manifest = blob(index["manifests"][0]["digest"])
        return dict(blob(manifest["config"]["digest"])["config"])


def test_node_image_matches_the_dockerfile(control_plane: Any) -> None:
    ref = control_plane.images["envctl"]
    archive = images.CACHE / f"envctl-{ref.rsplit(':', 1)[1]}.oci.tar"
    cfg = image_config(archive)
    ins = instructions()
    docker = {op: rest for op, rest in ins}
    assert cfg["Entrypoint"] == json.loads(docker["ENTRYPOINT"])
    assert cfg["Cmd"] == json.loads(docker["CMD"])
    assert cfg["User"] == docker["USER"]
    assert sorted(cfg["ExposedPorts"]) == sorted(f"{p}/tcp" for p in docker["EXPOSE"].split())
    assert cfg["WorkingDir"] == docker["WORKDIR"]
    env = dict(e.split("=", 1) for e in cfg["Env"])
    for assignment in docker["ENV"].split():
        key, value = assignment.split("=", 1)
        assert env[key] == value, key
    # What the Dockerfile installs is what the recipe installs.
    run = " ".join(rest for op, rest in ins if op == "RUN")
    for pkg in images.ENVCTL_PACKAGES:
        assert pkg in run, pkg
    assert "python3 -m venv /opt/envctl" in run and "useradd --uid 10001" in run
