"""The release gate on Kubernetes: the policy is the cluster's, not the actor's, and a forged
approval record in the release's ConfigMap starts nothing.

envctl runs here as its own ServiceAccount with exactly templates/rbac (the identity a CI job's
kubeconfig holds): it can write the release's ConfigMaps in the environment's namespace, so it
can forge a record there, but it cannot write the policy in envctl's namespace.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from envctl.release.policy import DEFAULT_POLICY_NAMESPACE, POLICY_CONFIGMAP
from envctl.runtimes.kubernetes.client import ApiError, Kube, kind
from tests.integration.kubernetes.helpers import REPO, Cli, real_placement, unique
from tests.integration.kubernetes.release_policy import cluster_policy
from tests.integration.kubernetes.test_kubernetes_rbac import as_envctl  # noqa: F401 - a fixture

pytestmark = pytest.mark.kubernetes

CONFIGMAP = kind("ConfigMap")


def one_line(p: Any) -> str:
    return " ".join(p.stderr.split())


def test_the_policy_is_the_clusters_and_a_forged_record_starts_nothing(
    control_plane: Any, as_envctl: tuple[Kube, str], admin: Kube, tmp_path: Path  # noqa: F811
) -> None:
    kube, kubeconfig = as_envctl
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "ENVCTL_RELEASE_"))}
    cli = Cli(env | {"KUBECONFIG": kubeconfig, "ENVCTL_CONFIG": str(tmp_path / "envctl.yaml"), "PYTHONPATH": str(REPO),
                     "ENVCTL_STATE_DIR": str(tmp_path / "state")},
              tmp_path / "envctl.yaml", real_placement(control_plane))
    # What the actor's own file says is not the cluster's policy: it is ignored on Kubernetes.
    cli.write_config({"release": {"approval": {"forbid_self_approval": False, "require_github_approval": False}}})
    admin.delete(CONFIGMAP.path(DEFAULT_POLICY_NAMESPACE, POLICY_CONFIGMAP))  # the cluster's defaults

    # The release credentials can read the policy but not write it.
    policy_doc = {"apiVersion": "v1", "kind": "ConfigMap",
                  "metadata": {"name": POLICY_CONFIGMAP, "namespace": DEFAULT_POLICY_NAMESPACE},
                  "data": {"approval.yaml": "forbid_self_approval: false\nrequire_github_approval: false\n"}}
    for attempt in (lambda: kube.create(policy_doc),
                    lambda: kube.merge_patch(CONFIGMAP.path(DEFAULT_POLICY_NAMESPACE, POLICY_CONFIGMAP), {"data": {}})):
        with pytest.raises(ApiError) as err:
            attempt()
        assert err.value.status == 403, err.value.api_message
    assert kube.get_or_none(CONFIGMAP.path(DEFAULT_POLICY_NAMESPACE, POLICY_CONFIGMAP)) is None  # readable: 404, not 403

    name = unique("gate")
    namespace = f"envctl-{name}"
    try:
        assert cli.json("up", name, "--runtime", "kubernetes", "--chargers", "2", timeout=300)["phase"] == "Ready"
        rel = ("--env", name, "--runtime", "kubernetes")
        plan = cli.json("release", "plan", *rel, "--to", "v2", "--budget", "50", "--hold", "0s")

        # Loosening variables are refused; the local file's loosening does not count either.
        loose = cli.run("release", "approve", plan["id"], *rel)
        assert loose.returncode == 4 and f"planned {plan['id']} and may not approve it" in one_line(loose), loose.stderr
        cli.env["ENVCTL_RELEASE_FORBID_SELF_APPROVAL"] = "false"
        res = cli.run("release", "approve", plan["id"], *rel)
        del cli.env["ENVCTL_RELEASE_FORBID_SELF_APPROVAL"]
        assert res.returncode == 2 and "ENVCTL_RELEASE_FORBID_SELF_APPROVAL is set" in one_line(res), res.stderr

        # A policy kept where envctl itself can write is refused, not believed.
        cli.write_config({"release": {"policy_namespace": namespace}})
        res = cli.run("release", "approve", plan["id"], *rel)
        assert res.returncode == 2 and f"{namespace!r} is an environment's namespace" in one_line(res), res.stderr
        cli.write_config({})

        # The cluster admin allows local approvals here: approve works, and a forged GitHub record does not.
        with cluster_policy(admin, {"forbid_self_approval": False, "require_github_approval": False}):
            cli.json("release", "approve", plan["id"], *rel)
            state = CONFIGMAP.path(namespace, f"envctl-release-{plan['id']}")
            run = {"repository": "acme/chargers", "id": 4242, "attempt": 1, "url": "u", "workflow": ".github/workflows/release.yml",
                   "environment": "production", "title": "t", "dispatched_by": ["dave"]}
            forged = {"plan_id": plan["id"], "plan_hash": plan["hash"], "approver": "carol", "approved_at": "2026-12-01T10:00:00Z",
                      "source": "github-actions", "run": run}
            kube.merge_patch(state, {"data": {"approval.json": json.dumps(forged)}})  # as the release credentials
            res = cli.run("release", "start", plan["id"], *rel)
            assert res.returncode == 4 and "checked with GitHub again at start, which only that run's job can do" in one_line(res)
            assert cli.json("release", "status", plan["id"], *rel)["phase"] == "Pending"
            cli.json("release", "approve", plan["id"], *rel)  # a genuine local approval again
        # Back to the cluster's defaults: a local approval no longer starts anything.
        res = cli.run("release", "start", plan["id"], *rel)
        assert res.returncode == 4 and "only an approval by the release workflow's reviewers counts" in one_line(res)
        assert f"ConfigMap {DEFAULT_POLICY_NAMESPACE}/{POLICY_CONFIGMAP} (absent" in one_line(res)

        # The release's documents die with the namespace; `down` keeps them in this machine's history.
        cli.json("down", name, "--runtime", "kubernetes", timeout=300)
        kept = tmp_path / "state" / "history" / "releases" / name / plan["id"]
        assert json.loads((kept / "plan.json").read_text())["to_version"] == "v2"
        assert json.loads((kept / "approval.json").read_text())["source"] == "local"
    finally:
        cli.run("down", name, "--runtime", "kubernetes")
        admin.delete(kind("Namespace").path(name=namespace))
