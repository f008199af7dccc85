"""The cluster's release policy is readable by everyone and writable by none of envctl's identities."""

from __future__ import annotations

from envctl.release.policy import POLICY_CONFIGMAP
from envctl.runtimes.kubernetes import render as r

WRITE = {"create", "update", "patch", "delete", "deletecollection", "*"}


def test_the_rbac_bundle_lets_everyone_read_the_release_policy_and_nobody_write_it() -> None:
    values = r.RbacValues(namespace="ops", name="bot")
    objs = r.render_rbac(r.PACKAGED_TEMPLATES, values)
    roles = {o["metadata"]["name"]: o for o in objs if o["kind"] == "ClusterRole"}
    bindings = [o for o in objs if o["kind"] == "RoleBinding" and o["metadata"].get("namespace") == "ops"]
    reader = next(b for b in bindings if b["roleRef"]["name"] == "envctl-release-policy-reader")
    assert reader["subjects"] == [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "system:authenticated"}]
    assert roles["envctl-release-policy-reader"]["rules"] == [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"], "resourceNames": [POLICY_CONFIGMAP]}
    ]
    # Nothing bound in envctl's namespace, and nothing cluster-wide, writes ConfigMaps.
    for binding in bindings + [o for o in objs if o["kind"] == "ClusterRoleBinding"]:
        for rule in roles[binding["roleRef"]["name"]]["rules"]:
            if {"configmaps", "*"} & set(rule["resources"]):
                assert not WRITE & set(rule["verbs"]), (binding["metadata"]["name"], rule)
    # The bundle does not ship the policy itself: re-applying it must not reset what an admin wrote.
    assert not [o for o in objs if o["kind"] == "ConfigMap"]
