"""Project locks as Leases on a real kube-apiserver (the `control_plane` fixture)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from envctl.runtimes.kubernetes.client import Kube
from envctl.terraform.locks import Lock
from envctl.terraform.locks_kubernetes import LABEL, LeaseLockStore
from tests.fixtures.control_plane import ControlPlane
from tests.integration.terraform.conftest import Cli

pytestmark = pytest.mark.kubernetes


@pytest.fixture
def repo_name() -> str:
    return f"o/r-{uuid.uuid4().hex[:8]}"  # locks of other tests' repositories are left alone


@pytest.fixture
def store(control_plane: ControlPlane, repo_name: str) -> Iterator[LeaseLockStore]:
    kube = Kube(kubeconfig=control_plane.kubeconfig)
    store = LeaseLockStore(kube, "default")
    yield store
    for lk in store.list(repo_name):
        store.release(lk.repo, lk.dir, lk.workspace)
    kube.close()


def lock(repo: str, pull: int, directory: str = "infra/app") -> Lock:
    return Lock(repo, directory, "default", pull, "app", f"user{pull}", f"{pull:040x}", "2026-01-01T00:00:00Z")


def test_leases_hold_one_pull_request_per_project(store: LeaseLockStore, repo_name: str,
                                                  control_plane: ControlPlane) -> None:
    assert store.acquire(lock(repo_name, 1)).ok
    refused = store.acquire(lock(repo_name, 2))
    assert not refused.ok and refused.lock.pull == 1 and refused.lock.user == "user1"
    assert store.acquire(lock(repo_name, 1)).ok  # the holder refreshes it
    assert store.acquire(lock(repo_name, 2, "infra/db")).ok
    leases = control_plane.kubectl_run("get", "leases", "-n", "default", "-l", f"{LABEL}=true", "-o",
                                       "jsonpath={.items[*].spec.holderIdentity}").stdout.split()
    assert {f"{repo_name}#1", f"{repo_name}#2"} <= set(leases)
    assert store.release(repo_name, "infra/app", "default", pull=2) is None  # not the holder
    assert [lk.pull for lk in store.release_pull(repo_name, 2)] == [2]
    released = store.release(repo_name, "infra/app", "default", pull=1)
    assert released is not None and released.pull == 1
    assert store.list(repo_name) == []


def test_of_many_concurrent_acquirers_exactly_one_wins(store: LeaseLockStore, repo_name: str) -> None:
    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(lambda pull: (pull, store.acquire(lock(repo_name, pull)).ok), range(1, 9)))
    winners = [pull for pull, ok in outcomes if ok]
    assert len(winners) == 1
    assert [lk.pull for lk in store.list(repo_name)] == winners


def test_the_cli_uses_leases_when_a_cluster_is_configured(store: LeaseLockStore, repo_name: str, cli: Cli,
                                                          code_dir: Path, control_plane: ControlPlane) -> None:
    store.acquire(lock(repo_name, 5))
    env = {"KUBECONFIG": control_plane.kubeconfig}
    listed = cli("tf", "locks", "--repo", repo_name, "--output", "json", env=env)
    assert listed.code == 0, listed.err
    assert [(lk["pull"], lk["project"]) for lk in listed.json()["locks"]] == [(5, "app")]
    (code_dir / "envctl.yaml").write_text("terraform:\n  projects:\n    - name: app\n      dir: infra/app\n")
    (code_dir / "infra" / "app").mkdir(parents=True)
    (code_dir / "infra" / "app" / "main.tf").write_text('resource "terraform_data" "x" {}\n')
    released = cli("tf", "unlock", "--project", "app", "--repo", repo_name, "--output", "json", env=env)
    assert released.code == 0 and released.json()["released"][0]["pull"] == 5
    assert store.list(repo_name) == []
