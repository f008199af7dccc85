"""What terraform's environment holds: an allowlist, plus the project's credentials for this phase.

A pull request's Terraform is code from whoever opened it (a fork, for instance): `file()` and
`filebase64()` read `/proc/self/environ`, and an output prints it into the plan comment. So
terraform never gets envctl's environment wholesale. It gets:

- the names below that a terraform process needs to run (PATH, HOME, TF_CLI_CONFIG_FILE, proxies,
  CA bundles, locale) and nothing that carries a credential;
- the project's credentials for the phase it runs (`credentials.plan` or `credentials.apply` in
  envctl.yaml on the base branch): `TARGET: SOURCE` copies envctl's variable SOURCE into
  terraform's TARGET, so plan and apply can get different values under the same name. Plan gets
  only the plan set (the narrower one); the apply set never reaches a plan.

envctl's own credentials (CREDENTIAL_VARS: the webhook secret, the GitHub token, the App key) are
never a source: the config is refused. Every value that does reach terraform is also a secret the
redactor knows (held_secrets), because a plan can print its own environment.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Literal

Phase = Literal["plan", "apply"]

PASS_THROUGH = (
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "TMPDIR", "TZ", "LANG", "LANGUAGE", "TERM",
    "TF_CLI_CONFIG_FILE", "TF_PLUGIN_CACHE_DIR", "TF_PLUGIN_CACHE_MAY_BREAK_DEPENDENCY_LOCK_FILE",
    "TF_LOG", "TF_LOG_PATH", "TF_REGISTRY_CLIENT_TIMEOUT",
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "GOMAXPROCS", "GODEBUG",
)  # fmt: skip
PASS_PREFIXES = ("LC_",)

# envctl's own credentials: never handed to terraform, never a credentials source, always redacted
CREDENTIAL_VARS = (
    "ENVCTL_WEBHOOK_SECRET", "ENVCTL_GITHUB_TOKEN", "GITHUB_TOKEN", "GH_TOKEN",
    "ENVCTL_GITHUB_APP_PRIVATE_KEY", "ENVCTL_DASHBOARD_TOKEN", "ACTIONS_RUNTIME_TOKEN",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
)  # fmt: skip
CREDENTIAL_PREFIXES = ("ENVCTL_",)  # anything of envctl's is envctl's, not terraform's


def is_envctl_credential(name: str) -> bool:
    return name in CREDENTIAL_VARS or name.startswith(CREDENTIAL_PREFIXES)


def base_env(source: Mapping[str, str] | None = None) -> dict[str, str]:
    """The allowlisted part of `source` (default: envctl's environment)."""
    source = os.environ if source is None else source
    return {k: v for k, v in source.items()
            if (k in PASS_THROUGH or k.startswith(PASS_PREFIXES)) and not is_envctl_credential(k)}


def resolve(mapping: Mapping[str, str], source: Mapping[str, str] | None = None) -> dict[str, str]:
    """TARGET -> value of SOURCE in envctl's environment; unset sources are left out (terraform
    then reports the missing credential itself, in its own words)."""
    source = os.environ if source is None else source
    return {target: source[name] for target, name in mapping.items() if source.get(name)}


def terraform_env(credentials: Mapping[str, str], data_dir: str, source: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {**base_env(source), **credentials}
    env.update(TF_DATA_DIR=data_dir, TF_IN_AUTOMATION="1", TF_INPUT="0", CHECKPOINT_DISABLE="1")
    return env


def held_secrets(source: Mapping[str, str] | None = None, extra: Iterable[str | None] = ()) -> set[str]:
    """The secrets envctl holds in `source` (its credential variables), plus `extra` values.

    A PEM key is also held line by line: a plan that reads part of the key file must not print
    that part either."""
    source = os.environ if source is None else source
    values = [source.get(name) for name in CREDENTIAL_VARS] + list(extra)
    held: set[str] = set()
    for value in values:
        if not value:
            continue
        held.add(value)
        held.add(value.strip())
        if "PRIVATE KEY" in value:
            held.update(line.strip() for line in value.splitlines() if len(line.strip()) >= 16 and "-----" not in line)
    return {v for v in held if v}
