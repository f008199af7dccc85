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


def validate_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ConfigError(
            f"invalid environment name {name!r}",
            "use 1-40 lowercase letters, digits or '-', starting and ending with a letter or digit",
        )
    return name


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

    def __post_init__(self) -> None:
        validate_name(self.name)
        if self.chargers < 0:
            raise ConfigError(f"--chargers must be >= 0, got {self.chargers}")
        if self.replicas < 1:
            raise ConfigError(f"--replicas must be >= 1, got {self.replicas}")


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
