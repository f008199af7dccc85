"""Where the approval policy comes from: a file or the cluster, never the actor's environment.

The rules of the gate (who may approve, whether the planner may approve their own plan, whether
only a GitHub Actions approval counts) must not be loosened by the person they bind. So:

  - local runtime: envctl.yaml `release.approval` (the fleet and its state files are the OS
    user's own; the file protects a team from mistakes, not a user from themselves);
  - Kubernetes: the ConfigMap `envctl-release-policy` (key `approval.yaml`) in envctl's own
    namespace (`release.policy_namespace`, default envctl-system), which only cluster admins can
    write: templates/rbac grants envctl's identities and release credentials ConfigMap rights only
    inside environment namespaces, and grants everyone read access to this one ConfigMap. A policy
    kept in an environment's namespace is refused: envctl itself can write there. Without the
    ConfigMap the cluster's defaults apply, which accept only approvals GitHub can prove.

The former overrides ENVCTL_RELEASE_APPROVERS, ENVCTL_RELEASE_FORBID_SELF_APPROVAL and
ENVCTL_RELEASE_REQUIRE_GITHUB_APPROVAL are refused when set, rather than silently ignored: a job
that relied on one to tighten the rules must learn that it no longer does.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from envctl.errors import ConfigError

if TYPE_CHECKING:
    from envctl.runtimes.kubernetes.client import Kube

POLICY_CONFIGMAP = "envctl-release-policy"
POLICY_KEY = "approval.yaml"
DEFAULT_POLICY_NAMESPACE = "envctl-system"
RETIRED_VARIABLES = ("ENVCTL_RELEASE_APPROVERS", "ENVCTL_RELEASE_FORBID_SELF_APPROVAL", "ENVCTL_RELEASE_REQUIRE_GITHUB_APPROVAL")


def same_login(a: str, b: str) -> bool:
    """GitHub logins are case-insensitive; so is this comparison (OS user names rarely differ only in case)."""
    return a.casefold() == b.casefold()


class ApprovalPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    approvers: list[str] = Field(default_factory=list)  # empty: anyone may approve
    # The planner (and, in CI, whoever dispatched the run) may not be the approver.
    forbid_self_approval: bool = True
    # ...except for a release of the local runtime approved by the OS user who planned it: the
    # processes and state files are that user's own, so a second-person rule would be theatre.
    local_self_approval: bool = True
    # Only approvals read from a GitHub Actions run may start a release (none given locally).
    require_github_approval: bool = False
    github_environment: str = "production"  # whose required reviewers approve, in release.yml
    workflow: str = ".github/workflows/release.yml"  # the only workflow whose runs may approve
    workflow_refs: list[str] = Field(default_factory=list)  # e.g. [refs/heads/main]; empty: any branch or tag
    _source: str = PrivateAttr(default="built-in defaults")  # where it was read from, for messages

    @property
    def source(self) -> str:
        return self._source

    @classmethod
    def load(cls, config_path: Path | None = None) -> ApprovalPolicy:
        """The local runtime's policy: envctl.yaml `release: {approval: {...}}`."""
        refuse_retired_variables()
        path, section = _release_section(config_path)
        data = section.get("approval")
        if data is not None and not isinstance(data, dict):
            raise ConfigError(f"{path.name}: release.approval must be a mapping")
        return _validate(data or {}, f"{path.name}: release.approval", str(path) if path.is_file() else "built-in defaults")

    @classmethod
    def from_cluster(cls, kube: Kube, env_namespace: str, config_path: Path | None = None) -> ApprovalPolicy:
        """The Kubernetes runtime's policy: the cluster's ConfigMap, whatever envctl.yaml says."""
        from envctl.runtimes.kubernetes.client import ApiError, kind

        refuse_retired_variables()
        path, section = _release_section(config_path)
        namespace = str(section.get("policy_namespace") or DEFAULT_POLICY_NAMESPACE)
        where = f"ConfigMap {namespace}/{POLICY_CONFIGMAP}"
        if namespace == env_namespace or _managed_by_envctl(kube, namespace):
            raise ConfigError(
                f"{path.name}: release.policy_namespace {namespace!r} is an environment's namespace, where envctl "
                "and release credentials can write ConfigMaps: a policy there would bind nobody",
                f"keep the policy in envctl's own namespace (default {DEFAULT_POLICY_NAMESPACE}), writable only by cluster admins",
            )
        try:
            cm = kube.get_or_none(kind("ConfigMap").path(namespace, POLICY_CONFIGMAP))
        except ApiError as err:
            if err.status != 403:
                raise
            raise ConfigError(
                f"cannot read the release policy ({where}): {err.api_message}",
                "ask a cluster admin to apply envctl's manifests (`envctl cluster manifests | kubectl apply -f -`): "
                "they let every identity read the policy",
            ) from None
        # A cluster without a policy accepts only approvals GitHub can prove (docs/release.md).
        defaults: dict[str, Any] = {"require_github_approval": True}
        if cm is None:
            return _validate(defaults, where, f"{where} (absent: the cluster's defaults)")
        raw = (cm.get("data") or {}).get(POLICY_KEY, "")
        try:
            data = yaml.safe_load(raw) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"{where}: {POLICY_KEY} is not YAML: {err}", "ask a cluster admin to fix it") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: {POLICY_KEY} must be a mapping", "ask a cluster admin to fix it")
        return _validate(defaults | data, where, where)

    def allows(self, login: str) -> bool:
        return not self.approvers or any(same_login(login, a) for a in self.approvers)


def refuse_retired_variables(env: dict[str, str] | None = None) -> None:
    env = dict(os.environ) if env is None else env
    found = [v for v in RETIRED_VARIABLES if v in env]
    if found:
        raise ConfigError(
            f"{', '.join(found)} {'is' if len(found) == 1 else 'are'} set, but the release policy is no longer read from "
            "the environment: whoever runs envctl could loosen the rules that bind them",
            f"unset {' and '.join(found)}; put the rules in envctl.yaml `release.approval` (local runtime) "
            "or ask a cluster admin to set them in the cluster (Kubernetes; docs/release.md)",
        )


def _release_section(config_path: Path | None) -> tuple[Path, dict[str, Any]]:
    from envctl.config import config_path as default_path
    from envctl.config import load_config

    path = config_path or default_path()
    if not path.is_file():
        return path, {}
    release = getattr(load_config(path), "release", None) or {}
    if not isinstance(release, dict):
        raise ConfigError(f"{path.name}: release must be a mapping")
    return path, release


def _managed_by_envctl(kube: Kube, namespace: str) -> bool:
    from envctl.runtimes.kubernetes.client import ApiError, kind

    try:
        ns = kube.get_or_none(kind("Namespace").path(name=namespace))
    except ApiError as err:
        if err.status == 403:  # an identity that cannot read namespaces cannot make a managed one either
            return False
        raise
    labels = ((ns or {}).get("metadata") or {}).get("labels") or {}
    return labels.get("app.kubernetes.io/managed-by") == "envctl"


def _validate(data: dict[str, Any], where: str, source: str) -> ApprovalPolicy:
    try:
        policy = ApprovalPolicy.model_validate(data)
    except ValidationError as err:
        fields = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
        raise ConfigError(f"{where} is invalid: {fields}", "fix it and run again") from None
    policy._source = source
    return policy
