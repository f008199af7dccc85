"""Everything an edge process can be told, as one dataclass, with its checks."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

from envctl.edge.backends import Backend
from envctl.errors import ConfigError


@dataclass
class EdgeConfig:
    host: str = "127.0.0.1"
    port: int = 9000
    admin_host: str = "127.0.0.1"
    admin_port: int = 0
    reuse_port: bool = False
    edge_id: str = field(default_factory=lambda: f"edge-{socket.gethostname()}-{os.getpid()}")
    backends: list[Backend] = field(default_factory=list)
    budget_per_s: float = 100.0  # moves per second, fleet-wide (every edge process together)
    processes: int = 1  # edge processes sharing the port: each paces at budget / processes
    open_timeout: float = 5.0  # a backend's handshake, on connect and on a move
    idle_timeout: float = 30.0  # how long a move waits for its charger to have no CALL outstanding
    call_timeout: float = 30.0  # a CALL unanswered this long counts as timed out (OCPP's own timeout)
    max_frame_bytes: int = 65536
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None  # ask chargers for a client certificate signed by this CA
    backend_ca: Path | None = None  # verify wss:// backends against this CA
    admin_token: str | None = None  # ENVCTL_ADMIN_TOKEN: required by every mutating admin route
    probe_interval: float = 1.0  # how often a backend marked down is tried again (TCP connect)

    def check(self) -> None:
        if self.budget_per_s <= 0:
            raise ConfigError("--budget must be > 0 (moves per second, fleet-wide)")
        if self.processes < 1:
            raise ConfigError("--processes must be >= 1 (edge processes sharing the port)")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError("--tls-cert and --tls-key go together", hint="pass both, or neither for plain ws://")
        if self.tls_client_ca is not None and self.tls_cert is None:
            raise ConfigError("--tls-client-ca needs --tls-cert/--tls-key: client certificates need wss://")
        if self.open_timeout <= 0 or self.idle_timeout <= 0 or self.call_timeout <= 0:
            raise ConfigError("--open-timeout, --idle-timeout and --call-timeout must be positive")
        if self.max_frame_bytes < 1024:
            raise ConfigError("--max-frame-bytes must be at least 1024")
        if self.admin_token is not None and len(self.admin_token) < 16:
            raise ConfigError("ENVCTL_ADMIN_TOKEN is shorter than 16 characters",
                              hint="generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'")
        ids = [b.id for b in self.backends]
        if len(ids) != len(set(ids)):
            raise ConfigError("two --backend flags share an id", hint="give each backend its own ID=")
