"""Where the dashboard listens and which token guards it.

Bound to loopback, reading needs no credentials (only people on this machine can reach it) and
every action needs the token. Bound to anything else, the token guards reading too, and without
a token the dashboard refuses to start: an exposed page that anyone can read or act on is never
what an operator meant.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

from envctl.errors import ConfigError

TOKEN_ENV = "ENVCTL_DASHBOARD_TOKEN"
TOKENS_FILE_ENV = "ENVCTL_DASHBOARD_TOKENS_FILE"
MIN_TOKEN_CHARS = 16
SHARED_TOKEN_HOLDER = "dashboard token holder"


def is_loopback(host: str) -> bool:
    """True when every address `host` resolves to is a loopback address (127.0.0.0/8, ::1)."""
    if host in ("", "0.0.0.0", "::"):
        return False  # every interface
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror as err:
        raise ConfigError(f"cannot resolve --host {host!r}: {err}", "give an IP address, e.g. 127.0.0.1") from err
    return bool(infos) and all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)


def _check_token(token: str, where: str) -> str:
    if len(token) < MIN_TOKEN_CHARS:
        raise ConfigError(
            f"the token in {where} is {len(token)} characters long; at least {MIN_TOKEN_CHARS} are needed",
            "generate one, e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`",
        )
    return token


def load_tokens(shared: str | None, tokens_file: str | None) -> dict[str, str]:
    """token -> who holds it. The shared token names nobody in particular; a tokens file (one
    `NAME TOKEN` per line, written by whoever runs the dashboard) gives each person their own, so
    the history says who aborted, not merely that someone with the token did."""
    tokens: dict[str, str] = {}
    if shared:
        tokens[_check_token(shared, TOKEN_ENV)] = SHARED_TOKEN_HOLDER
    if tokens_file:
        try:
            lines = open(tokens_file).read().splitlines()
        except OSError as err:
            raise ConfigError(f"cannot read {TOKENS_FILE_ENV}={tokens_file}: {err}") from err
        for n, line in enumerate(lines, 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            parts = line.split()
            if len(parts) != 2:
                raise ConfigError(f"{tokens_file} line {n}: expected `NAME TOKEN`", "one person per line, e.g. `alice 3kX...`")
            name, token = parts
            tokens[_check_token(token, f"{tokens_file} line {n}")] = name
    return tokens


@dataclass(frozen=True)
class DashboardSettings:
    host: str = "127.0.0.1"
    port: int = 8090
    tokens: dict[str, str] = field(default_factory=dict)  # token -> holder
    exposed: bool = False  # bound beyond loopback: reading needs a token as well
    terraform_root: Path = field(default_factory=Path.cwd)  # whose saved Terraform plans to show

    @classmethod
    def for_bind(cls, host: str, port: int, terraform_root: Path | None = None) -> DashboardSettings:
        tokens = load_tokens(os.environ.get(TOKEN_ENV) or None, os.environ.get(TOKENS_FILE_ENV) or None)
        exposed = not is_loopback(host)
        if exposed and not tokens:
            raise ConfigError(
                f"refusing to serve the dashboard on {host}, beyond loopback, without a token",
                f"set {TOKEN_ENV} (everyone reaching {host}:{port} would otherwise see and act), "
                "or bind to 127.0.0.1",
            )
        return cls(host=host, port=port, tokens=tokens, exposed=exposed, terraform_root=terraform_root or Path.cwd())

    @property
    def actions_enabled(self) -> bool:
        return bool(self.tokens)
