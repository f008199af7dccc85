"""Everything `envctl server` can be told, as one dataclass, plus loading of the files it names."""

from __future__ import annotations

import json
import math
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

from envctl.charger.server.admission import DEFAULT_MAX_ACCEPT_RATE
from envctl.errors import ConfigError

BOOT_STATUSES = ("Accepted", "Pending", "Rejected")


@dataclass
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 9000
    admin_host: str = "127.0.0.1"
    admin_port: int = 0
    reuse_port: bool = False
    database_url: str = "sqlite:///envctl-charger.db"
    version: str = "dev"
    replica_id: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    allowlist: frozenset[str] | None = None
    basic_auth: dict[str, str] | None = None  # charger id -> "pbkdf2_sha256$iters$salt$hash"
    tls_cert: Path | None = None
    tls_key: Path | None = None
    heartbeat_interval: int = 300
    boot_status: str = "Accepted"
    call_timeout: float = 30.0
    max_frame_bytes: int = 65536
    id_tags: frozenset[str] | None = None  # None: every idTag is Accepted
    ready_file: Path | None = None
    ping_interval: float | None = 60.0  # WebSocket keepalive; OCPP heartbeats are the main liveness signal
    shutdown_timeout: float = 10.0
    # Bearer token the mutating admin endpoints require (ENVCTL_ADMIN_TOKEN); None: open, as before.
    admin_token: str | None = None
    # Where the other replicas reach this one's admin API to forward a charger's calls; None:
    # http://<admin host>:<admin port> once bound (a wildcard host becomes this machine's name).
    advertise_admin_url: str | None = None
    max_accept_rate: float = DEFAULT_MAX_ACCEPT_RATE  # new handshakes per second; 0 = unlimited
    # Connections accepted whose WebSocket handshake has not finished, on this replica and from one
    # source address; 0: derived from the descriptor limit (handshakes.py).
    max_pending_handshakes: int = 0
    max_pending_handshakes_per_source: int = 0

    def check(self) -> None:
        if self.boot_status not in BOOT_STATUSES:
            raise ConfigError(f"--boot-status {self.boot_status!r} is not one of {', '.join(BOOT_STATUSES)}")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError("--tls-cert and --tls-key go together", hint="pass both, or neither for plain ws://")
        if self.max_frame_bytes < 1024:
            raise ConfigError("--max-frame-bytes must be at least 1024")
        if not all(math.isfinite(x) for x in (self.call_timeout, self.max_accept_rate, self.shutdown_timeout,
                                              self.ping_interval or 0.0)):
            raise ConfigError("--call-timeout, --max-accept-rate and the other durations and rates must be finite numbers")
        if self.call_timeout <= 0 or self.heartbeat_interval <= 0:
            raise ConfigError("--call-timeout and --heartbeat-interval must be positive")
        if self.max_accept_rate < 0:
            raise ConfigError("--max-accept-rate must be >= 0", hint="0 turns admission control off")
        if self.max_pending_handshakes < 0 or self.max_pending_handshakes_per_source < 0:
            raise ConfigError("--max-pending-handshakes and --max-pending-handshakes-per-source must be >= 0",
                              hint="0 derives them from the descriptor limit (ulimit -n)")
        if self.admin_token is not None and len(self.admin_token) < 16:
            raise ConfigError("ENVCTL_ADMIN_TOKEN is shorter than 16 characters",
                              hint="generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'")
        if self.advertise_admin_url is not None and not self.advertise_admin_url.startswith(("http://", "https://")):
            raise ConfigError(f"--advertise-admin-url {self.advertise_admin_url!r} is not an http(s) URL",
                              hint="e.g. http://10.0.0.7:9100")


def read_id_list(path: Path, what: str) -> frozenset[str]:
    """One id per line; blank lines and '#' comments ignored."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {what} file {path}: {exc.strerror}") from None
    return frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#"))


def read_basic_auth(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read --basic-auth-file {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--basic-auth-file {path} is not JSON: {exc}") from None
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise ConfigError(
            f"--basic-auth-file {path} must be a JSON object {{charger id: hash}}",
            hint='make hashes with: python -c "from envctl.charger.server.auth import hash_password; '
            "print(hash_password('secret'))\"",
        )
    bad = [k for k, v in data.items() if not v.startswith("pbkdf2_sha256$") or v.count("$") != 3]
    if bad:
        raise ConfigError(
            f"--basic-auth-file {path}: entries for {', '.join(sorted(bad)[:5])} are not pbkdf2_sha256$iters$salt$hash"
        )
    return data
