"""What an environment is, independent of where it runs: the spec asked for and the status seen.

EnvStatus.to_dict() is the `envctl status --output json` contract (DESIGN.md); add fields freely,
rename none.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from envctl.errors import ConfigError

RuntimeName = Literal["local", "kubernetes"]
Phase = Literal["Pending", "Starting", "Ready", "Degraded", "Failed", "Stopped"]

# A DNS-1123 label, so a name works as a Kubernetes namespace suffix too.
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$")
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
# A version label is also a Kubernetes label value and part of a Deployment name, and it is passed
# to processes as an argument: letters, digits, '.', '_', '-', starting and ending alphanumeric.
_VERSION = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")
RECONNECT_POLICIES = ("immediate", "backoff")


def validate_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ConfigError(
            f"invalid environment name {name!r}",
            "use 1-40 lowercase letters, digits or '-', starting and ending with a letter or digit",
        )
    return name


def validate_version(version: str, option: str = "--server-version") -> str:
    if not _VERSION.match(version):
        raise ConfigError(
            f"invalid version {version!r} for {option}",
            "use 1-63 letters, digits, '.', '_' or '-', starting and ending with a letter or digit, e.g. v2 or 1.4.0",
        )
    return version


def parse_duration(text: str) -> timedelta:
    """'8h', '30m', '1d12h', '90s' -> timedelta."""
    match = _DURATION.fullmatch(text.strip()) if text else None
    if not match or not any(match.groups()):
        raise ConfigError(f"invalid duration {text!r}", "write it like 8h, 30m, 1d12h or 90s")
    days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class EnvSpec:
    name: str
    runtime: RuntimeName = "local"
    chargers: int = 10
    replicas: int = 1
    pr: int | None = None
    image: str | None = None
    ttl: timedelta = timedelta(hours=8)
    owner: str | None = None
    commit_sha: str | None = None
    server_version: str | None = None  # None: what the environment runs already, else v1
    database_url: str | None = None  # None: the runtime's embedded default (SQLite)
    reconnect: str = "immediate"
    session_rate: float = 0.0  # charging sessions per charger per hour
    session_minutes: str = "30"  # session length: "30" (15-45 min) or "5-10"
    meter_interval: float = 60.0  # MeterValues period during a session (s)
    heartbeat_interval: int = 60
    ready_timeout_s: float = 300.0
    extra: dict[str, Any] = field(default_factory=dict)

    # The fields the caller asked for by name (the CLI's given options); None: every field. An
    # existing environment is compared with these only, so `envctl up NAME` alone never differs.
    requested: frozenset[str] | None = None

    def __post_init__(self) -> None:
        """Everything wrong with the request is found here, before any process or object exists."""
        from envctl.charger.simulator.settings import parse_session_minutes

        validate_name(self.name)
        if self.chargers < 0:
            raise ConfigError(f"--chargers must be >= 0, got {self.chargers}")
        if self.replicas < 1:
            raise ConfigError(f"--replicas must be >= 1, got {self.replicas}")
        if self.server_version is not None:
            validate_version(self.server_version)
        if self.reconnect not in RECONNECT_POLICIES:
            raise ConfigError(f"--reconnect {self.reconnect!r} is not a reconnect policy", "use immediate or backoff")
        parse_session_minutes(self.session_minutes)
        if self.ttl <= timedelta(0):
            raise ConfigError(f"--ttl must be longer than 0s, got {self.ttl}", "e.g. --ttl 8h")
        if not self.ready_timeout_s > 0:
            raise ConfigError(f"--timeout must be more than 0 seconds, got {self.ready_timeout_s:g}", "e.g. --timeout 300")
        if self.session_rate < 0:
            raise ConfigError(f"--session-rate must be >= 0, got {self.session_rate:g}")
        if not self.meter_interval > 0:
            raise ConfigError(f"--meter-interval must be more than 0 seconds, got {self.meter_interval:g}")
        if self.heartbeat_interval < 1:
            raise ConfigError(f"--heartbeat-interval must be at least 1 second, got {self.heartbeat_interval}")

    def asks_for(self, field_name: str) -> bool:
        return self.requested is None or field_name in self.requested


@dataclass
class ServerStatus:
    id: str
    version: str
    ready: bool
    connections: int


@dataclass
class EnvStatus:
    name: str
    runtime: RuntimeName
    phase: Phase
    chargers_target: int
    chargers_connected: int
    servers: list[ServerStatus]
    endpoints: dict[str, str]
    expires_at: datetime | None
    pr: int | None = None
    owner: str | None = None
    created_at: datetime | None = None
    message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "runtime": self.runtime,
            "phase": self.phase,
            "chargers": {"target": self.chargers_target, "connected": self.chargers_connected},
            "servers": [asdict(s) for s in self.servers],
            "endpoints": self.endpoints,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "pr": self.pr,
            "owner": self.owner,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "message": self.message,
        }
