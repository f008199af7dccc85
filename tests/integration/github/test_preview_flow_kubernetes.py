"""Pull-request previews on the real control plane: webhook (uvicorn) -> Kubernetes runtime -> fake GitHub.

The webhook runs in this process with KUBECONFIG pointing at the `control_plane` fixture; what it
created is checked with the official kubernetes client, independently of envctl's own client.
Forged signatures, replays and bursts are runtime-independent and covered with the local runtime.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from envctl.config import parse_config
from envctl.envs.ttl import parse_time
from envctl.github.markdown import MARKER, REPLY_MARKER
from envctl.github.settings import GitHubSettings, PreviewPolicy
from envctl.runtimes.kubernetes import KubernetesRuntime
from tests.fakes import payloads
from tests.fakes.github_api import FakeGitHub
from tests.fixtures.control_plane import ControlPlane
from tests.integration.github.conftest import REPO, SECRET, RunningServer
from tests.integration.kubernetes.helpers import real_placement

pytestmark = pytest.mark.kubernetes

SHA = "3" * 40
SHA2 = "4" * 40
# Roomy limits: other sessions' environments may share the control plane.
CONFIG = {"envs": {"max_environments": 5000, "max_per_owner": 5000}}
IMAGE_PATTERN = "envctl.local/charger-server:{sha}"


def image_for(sha: str) -> str:
    return IMAGE_PATTERN.replace("{sha}", sha)


@pytest.fixture
def kube_env(control_plane: ControlPlane, state_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The webhook's runtime talks to the control plane (state_dir pointed KUBECONFIG elsewhere).

    Previews run on the real node, each PR's commit picking "its" image through image_pattern:
    the node holds the envctl image under one name per commit, as a registry would after CI."""
    for sha in (SHA, SHA2):
        control_plane.ctr("images", "tag", "--force", control_plane.images["envctl"], image_for(sha))
    cfg = tmp_path / "envctl.yaml"
    placement = real_placement(control_plane)
    del placement["image"]
    cfg.write_text(json.dumps({**CONFIG, "kubernetes": {**placement, "image_pattern": IMAGE_PATTERN}}))
    monkeypatch.setenv("KUBECONFIG", control_plane.kubeconfig)
    monkeypatch.setenv("ENVCTL_CONFIG", str(cfg))
    return control_plane.kubeconfig


@pytest.fixture
def settings(fake_github: FakeGitHub, state_dir: Path, kube_env: str) -> GitHubSettings:
    """Overrides the conftest's: the same webhook, configured for the kubernetes runtime."""
    return GitHubSettings(
        webhook_secret=SECRET, api_url=fake_github.url, token=fake_github.token, state_dir=state_dir,
        workers=4, write_interval_s=0, secondary_rate_wait_s=1, max_rate_limit_wait_s=5,
        policy=PreviewPolicy(chargers=2, runtime="kubernetes", ttl="1h"),
    )  # fmt: skip


@pytest.fixture
def k8s(control_plane: ControlPlane) -> Iterator[client.ApiClient]:
    api = config.new_client_from_config(config_file=control_plane.kubeconfig)
    yield api
    api.close()


@pytest.fixture
def pr_number(control_plane: ControlPlane) -> Iterator[int]:
    """A PR number no other session uses; its namespace is deleted (and waited for) afterwards."""
    number = 60000 + uuid.uuid4().int % 30000
    yield number
    KubernetesRuntime(config=parse_config(CONFIG), kubeconfig=control_plane.kubeconfig).down(f"pr-{number}")


def namespace(api: client.ApiClient, number: int) -> Any:
    try:
        return client.CoreV1Api(api).read_namespace(f"envctl-pr-{number}")
    except ApiException as err:
        if err.status == 404:
            return None
        raise


def sticky(fake: FakeGitHub, number: int) -> dict[str, Any]:
    [comment] = [c for c in fake.issue_comments(REPO, number) if c["body"].startswith(MARKER)]
    return comment


def comment(body: str, number: int, login: str, comment_id: int) -> dict[str, Any]:
    return payloads.comment(body, number=number, login=login, comment_id=comment_id, repo=REPO)


def test_writer_up_extend_then_close_on_the_cluster(
    webhook: RunningServer, fake_github: FakeGitHub, k8s: client.ApiClient, pr_number: int
) -> None:
    n, env = pr_number, f"pr-{pr_number}"
    fake_github.add_pull(REPO, n, SHA)
    fake_github.set_permission(REPO, "alice", "write")
    assert webhook.send("issue_comment", comment("/preview up", n, "alice", 1)).status_code == 202
    webhook.wait_idle(180)

    ns = namespace(k8s, n)
    assert ns is not None, fake_github.issue_comments(REPO, n)  # the sticky comment says why
    assert ns.status.phase == "Active"
    assert ns.metadata.labels["app.kubernetes.io/managed-by"] == "envctl"
    assert ns.metadata.labels["envctl.io/pr"] == str(n) and ns.metadata.labels["envctl.io/environment"] == env
    assert ns.metadata.annotations["envctl.io/owner"] == "alice"
    deployments = client.AppsV1Api(k8s).list_namespaced_deployment(f"envctl-pr-{n}").items
    assert "charger-server-v1" in {d.metadata.name for d in deployments}
    for d in deployments:
        assert d.spec.replicas >= 1 and d.status.ready_replicas == d.spec.replicas, d.metadata.name
        # The commit alice asked for, built into its own image.
        assert d.spec.template.spec.containers[0].image == image_for(SHA), d.metadata.name

    [deployment] = fake_github.deployment_list(REPO, env)
    assert deployment["sha"] == SHA and deployment["transient_environment"] is True
    assert fake_github.status_states(deployment["id"]) == ["in_progress", "success"]
    url = fake_github.statuses[deployment["id"]][-1]["environment_url"]
    assert url == f"http://charger-server.envctl-{env}.svc:9100"
    body = str(sticky(fake_github, n)["body"])
    assert f"🟢 Preview `{env}` is ready" in body and "| Runtime | kubernetes |" in body
    assert "| Requested by | @alice |" in body and "| Chargers | 2/2 connected |" in body  # they really run

    expires = parse_time(ns.metadata.annotations["envctl.io/expires-at"])
    assert expires is not None
    edits = sticky(fake_github, n)["_edits"]
    webhook.send("issue_comment", comment("/preview extend 4h", n, "alice", 2))
    webhook.wait_idle(60)
    moved = parse_time(namespace(k8s, n).metadata.annotations["envctl.io/expires-at"])
    assert moved == expires + timedelta(hours=4)
    extended = sticky(fake_github, n)  # the same comment, edited in place
    assert extended["_edits"] > edits and f"| Expires | {moved:%Y-%m-%d %H:%M} UTC" in str(extended["body"])

    # A push after the comment does not change what runs until someone asks again.
    fake_github.add_pull(REPO, n, SHA2)
    webhook.send("pull_request", payloads.pull_request("synchronize", number=n, sha=SHA2, repo=REPO))
    webhook.wait_idle(60)
    server = client.AppsV1Api(k8s).read_namespaced_deployment("charger-server-v1", f"envctl-pr-{n}")
    assert server.spec.template.spec.containers[0].image == image_for(SHA)
    assert "`444444444444`" in str(sticky(fake_github, n)["body"])  # says the preview is behind
    webhook.send("issue_comment", comment("/preview up", n, "alice", 3))
    webhook.wait_idle(180)
    server = client.AppsV1Api(k8s).read_namespaced_deployment("charger-server-v1", f"envctl-pr-{n}")
    assert server.spec.template.spec.containers[0].image == image_for(SHA2)

    webhook.send("pull_request", payloads.pull_request("closed", number=n, sha=SHA, repo=REPO))
    webhook.wait_idle(120)
    assert namespace(k8s, n) is None  # down waits until the namespace is gone
    assert fake_github.status_states(deployment["id"])[-1] == "inactive"
    assert "was torn down" in str(sticky(fake_github, n)["body"])


def test_reader_up_is_refused_and_creates_nothing(
    webhook: RunningServer, fake_github: FakeGitHub, k8s: client.ApiClient, pr_number: int
) -> None:
    n = pr_number
    fake_github.add_pull(REPO, n, SHA)
    fake_github.set_permission(REPO, "rita", "read")
    assert webhook.send("issue_comment", comment("/preview up", n, "rita", 7)).status_code == 202
    webhook.wait_idle(60)

    [reply] = fake_github.issue_comments(REPO, n)
    assert reply["body"].startswith(REPLY_MARKER.format(id=7)) and "(yours: `read`)" in reply["body"]
    assert fake_github.deployment_list(REPO) == []
    assert namespace(k8s, n) is None
    labelled = client.CoreV1Api(k8s).list_namespace(label_selector=f"envctl.io/pr={n}").items
    assert labelled == []
