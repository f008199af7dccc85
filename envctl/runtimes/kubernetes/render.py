"""templates/ + values -> one environment's manifests. Pure: no cluster, no clock, no randomness.

The runtime gathers everything that varies (time, owner, generated credentials, its own
identity) into `Values` first, so the same values always render the same manifests.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
import yaml

from envctl.config import Config
from envctl.envs import naming
from envctl.envs.model import EnvSpec
from envctl.envs.ttl import format_time
from envctl.errors import ConfigError
from envctl.runtimes.kubernetes.state import server_deployment

Manifest = dict[str, Any]

# templates/ at the top of the repository, shipped inside the package as envctl/templates (a symlink
# in the source tree, real files in the wheel), so a plain `pip install` can render environments.
PACKAGED_TEMPLATES = Path(__file__).parents[2] / "templates"


@dataclass(frozen=True)
class Credentials:
    admin_token: str
    basic_auth_user: str
    basic_auth_password: str
    postgres_password: str

    @property
    def basic_auth_htpasswd(self) -> str:
        # htpasswd's {SHA} scheme, which ingress-nginx's basic auth understands.
        digest = base64.b64encode(hashlib.sha1(self.basic_auth_password.encode()).digest()).decode()
        return f"{self.basic_auth_user}:{{SHA}}{digest}"


@dataclass(frozen=True)
class Drain:
    rate_per_s: float
    connections: int  # per server replica
    seconds: int  # how long draining them takes
    grace_period_s: int  # terminationGracePeriodSeconds: draining + margin


@dataclass(frozen=True)
class IngressValues:
    enabled: bool
    host: str
    class_name: str | None
    namespace: str
    tls_secret: str | None


@dataclass
class Values:
    name: str
    namespace: str
    pr: int | None
    owner: str
    commit: str | None
    created_at: datetime
    expires_at: datetime
    created_by: str
    image: str
    image_pull_policy: str
    replicas: int
    chargers: int
    server_version: str
    credentials: Credentials
    subject: dict[str, str]  # who envctl is, for its RoleBinding in the namespace
    config: Config
    extra_labels: dict[str, str] = field(default_factory=dict)
    # What the simulator and the server are told about the fleet's behaviour (ConfigMap values).
    simulation: dict[str, str] = field(default_factory=dict)

    # Derived values the templates use.
    @property
    def labels(self) -> dict[str, str]:
        return {naming.MANAGED_BY: naming.MANAGER, naming.LABEL_ENV: self.name}

    @property
    def namespace_labels(self) -> dict[str, str]:
        labels = {**self.labels, naming.LABEL_OWNER: naming.label_value(self.owner)}
        if self.pr is not None:
            labels[naming.LABEL_PR] = str(self.pr)
        if self.commit:
            labels[naming.LABEL_COMMIT] = naming.label_value(self.commit)
        return {**labels, **self.extra_labels}

    @property
    def namespace_annotations(self) -> dict[str, str]:
        return {
            naming.ANN_EXPIRES: format_time(self.expires_at),
            naming.ANN_CREATED_AT: format_time(self.created_at),
            naming.ANN_CREATED_BY: self.created_by,
            naming.ANN_OWNER: self.owner,
            naming.ANN_CHARGERS: str(self.chargers),
            naming.ANN_REPLICAS: str(self.replicas),
            naming.ANN_SERVER_VERSION: self.server_version,
        }

    @property
    def server_version_label(self) -> str:
        return naming.label_value(self.server_version)

    @property
    def server_deployment(self) -> str:
        return server_deployment(self.server_version)

    @property
    def quota(self) -> Any:
        return self.config.kubernetes.quota

    @property
    def limits(self) -> Any:
        return self.config.kubernetes.limits

    @property
    def resources(self) -> dict[str, Any]:
        k = self.config.kubernetes
        return {"server": k.server, "simulator": k.simulator, "postgres": k.postgres}

    @property
    def database(self) -> Any:
        return self.config.kubernetes.database

    @property
    def node_selector(self) -> dict[str, str]:
        return self.config.kubernetes.node_selector

    @property
    def tolerations(self) -> list[dict[str, str]]:
        return [t.model_dump(exclude_none=True) for t in self.config.kubernetes.tolerations]

    @property
    def database_url(self) -> str:
        if self.database.kind == "postgres":
            return f"postgresql://envctl:{self.credentials.postgres_password}@postgres:5432/envctl"
        return "sqlite:////data/envctl.db"

    @property
    def ocpp_url(self) -> str:
        return "ws://charger-server:9000/ocpp"

    @property
    def drain(self) -> Drain:
        d = self.config.kubernetes.drain
        rate = round(d.rate_per_s or d.budget_per_s / self.replicas, 3)  # this replica's share of the budget
        connections = math.ceil(self.chargers / self.replicas)
        seconds = math.ceil(connections / rate)
        return Drain(rate, connections, seconds, seconds + d.margin_s)

    @property
    def ingress(self) -> IngressValues:
        i = self.config.kubernetes.ingress
        return IngressValues(
            i.enabled, naming.ingress_host(self.name, self.pr, i.domain), i.class_name,
            i.namespace, i.tls_secret,
        )

    @property
    def config_checksum(self) -> str:
        """Changes when settings or credentials the pods read change, so they roll."""
        material = json.dumps(
            [asdict(self.credentials), self.server_version, self.chargers, self.drain.seconds, self.simulation],
            sort_keys=True,
        )
        return hashlib.sha256(material.encode()).hexdigest()[:16]


def image_for(spec: EnvSpec, config: Config) -> str:
    """An explicit --image wins; a PR's commit picks its build through kubernetes.image_pattern."""
    if spec.image:
        return spec.image
    pattern = config.kubernetes.image_pattern
    if pattern and spec.commit_sha:
        return pattern.replace("{sha}", spec.commit_sha)
    return config.kubernetes.image


def check_database(spec: EnvSpec, config: Config) -> None:
    if config.kubernetes.database.kind == "sqlite" and spec.replicas > 1:
        raise ConfigError(
            f"{spec.replicas} server replicas cannot share SQLite: each pod would have its own database "
            "(colliding transaction ids, resends not idempotent across replicas, data lost with a pod)",
            "use kubernetes.database.kind: postgres in envctl.yaml (the default), or --replicas 1",
        )


def values_for(
    spec: EnvSpec,
    config: Config,
    *,
    owner: str,
    created_at: datetime,
    expires_at: datetime,
    credentials: Credentials,
    subject: dict[str, str],
    created_by: str = "envctl",
) -> Values:
    check_database(spec, config)
    return Values(
        name=spec.name,
        namespace=naming.namespace_for(spec.name, config.kubernetes.namespace_prefix),
        pr=spec.pr,
        owner=owner,
        commit=spec.commit_sha,
        created_at=created_at,
        expires_at=expires_at,
        created_by=created_by,
        image=image_for(spec, config),
        image_pull_policy=config.kubernetes.image_pull_policy,
        replicas=spec.replicas,
        chargers=spec.chargers,
        server_version=spec.server_version or "v1",
        credentials=credentials,
        subject=subject,
        config=config,
        simulation={
            "SESSION_RATE": str(spec.session_rate), "SESSION_MINUTES": spec.session_minutes,
            "METER_INTERVAL": str(spec.meter_interval), "HEARTBEAT_INTERVAL": str(spec.heartbeat_interval),
            "RECONNECT": spec.reconnect,
        },
    )


def templates_dir(config: Config) -> Path:
    path = config.kubernetes.templates_dir or PACKAGED_TEMPLATES
    if not (path / "00-namespace.yaml.j2").is_file():
        raise ConfigError(
            f"no envctl templates in {path}",
            "set kubernetes.templates_dir in envctl.yaml to the templates/ folder",
        )
    return path


def _environment(path: Path) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(path)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["combine"] = lambda a, b: {**a, **b}
    return env


def _load(text: str, source: str) -> list[Manifest]:
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError as err:  # a template bug, not a user error
        raise RuntimeError(f"template {source} rendered invalid YAML: {err}\n{text}") from err
    return [d for d in docs if d]


def render(values: Values, path: Path) -> list[Manifest]:
    """Every object of the environment, in apply order (file order, then document order)."""
    env = _environment(path)
    objects: list[Manifest] = []
    for file in sorted(p.name for p in path.glob("*.yaml.j2")):
        objects += _load(env.get_template(file).render(v=values), file)
    for obj in objects:
        # The prune and gc selectors rely on these two labels: never leave them to a template.
        labels = obj.setdefault("metadata", {}).setdefault("labels", {})
        labels.update(values.labels)
    return objects


def render_namespace(values: Values, path: Path) -> Manifest:
    """Just the Namespace: created first, on its own, as the environment's lock."""
    obj = _load(_environment(path).get_template("00-namespace.yaml.j2").render(v=values), "namespace")[0]
    obj["metadata"]["labels"].update(values.labels)
    return obj


def render_rolebinding(values: Values, path: Path) -> Manifest:
    env = _environment(path)
    return _load(env.get_template("rbac/environment-rolebinding.yaml.j2").render(v=values), "rbac")[0]


@dataclass(frozen=True)
class RbacValues:
    namespace: str = "envctl-system"
    name: str = "envctl"
    image: str = "ghcr.io/example/envctl:latest"  # what the gc CronJob runs
    gc_schedule: str = "*/5 * * * *"
    gc_name: str = "envctl-gc"
    warm_namespace: str = "envctl-warm"  # the placeholder pool's (warm.namespace in envctl.yaml)

    @property
    def username(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.name}"

    @property
    def gc_username(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.gc_name}"


def render_rbac(path: Path, rbac: RbacValues = RbacValues()) -> list[Manifest]:
    """What a cluster admin installs once so envctl can run as its own ServiceAccount."""
    env = _environment(path)
    objects: list[Manifest] = []
    for file in sorted(p.name for p in (path / "rbac").glob("[0-9]*.yaml.j2")):
        objects += _load(env.get_template(f"rbac/{file}").render(r=rbac), file)
    return objects
