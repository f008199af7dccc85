"""How an environment's name maps to Kubernetes names, label values and hostnames."""

from __future__ import annotations

import re

from envctl.envs.model import validate_name

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "envctl"
LABEL_ENV = "envctl.io/environment"
LABEL_PR = "envctl.io/pr"
LABEL_OWNER = "envctl.io/owner"
LABEL_COMMIT = "envctl.io/commit"
ANN_EXPIRES = "envctl.io/expires-at"
ANN_CREATED_BY = "envctl.io/created-by"
ANN_CREATED_AT = "envctl.io/created-at"
ANN_OWNER = "envctl.io/owner"  # the owner as typed; the label is its sanitized form
ANN_CHARGERS = "envctl.io/chargers"
ANN_REPLICAS = "envctl.io/replicas"
ANN_SERVER_VERSION = "envctl.io/server-version"
# A release's state ConfigMaps (envctl/release/stores/kubernetes.py) carry this label.
LABEL_RELEASE_PART = "envctl.io/release-part"

_LABEL_BAD = re.compile(r"[^A-Za-z0-9_.-]+")


def env_name_for_pr(pr: int) -> str:
    return validate_name(f"pr-{pr}")


def namespace_for(name: str, prefix: str) -> str:
    return f"{prefix}{validate_name(name)}"


def name_from_namespace(namespace: str, prefix: str) -> str:
    return namespace[len(prefix):] if prefix and namespace.startswith(prefix) else namespace


def label_value(text: str) -> str:
    """Any text as a valid label value: <=63 chars of [A-Za-z0-9_.-], alphanumeric at both ends."""
    value = _LABEL_BAD.sub("_", text)[:63].strip("_.-")
    return value


def ingress_host(name: str, pr: int | None, domain: str) -> str:
    """pr-42.preview.example.com for a PR environment, NAME.preview.example.com otherwise."""
    return f"pr-{pr}.{domain}" if pr is not None else f"{name}.{domain}"
