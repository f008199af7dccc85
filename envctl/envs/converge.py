"""`envctl up NAME` on an environment that exists: what the request changes, and what does change it.

`up` of a running environment is idempotent only when the request matches what runs. It never
deletes an environment to apply different numbers (that wiped databases with open transactions);
it names each difference and the command that makes it: `scale` for replicas, a release for the
server version, `extend` for the expiry, and `up --recreate` (which says it deletes the data) for
what only a new environment can change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from envctl.envs.model import EnvSpec
from envctl.errors import Refused

# EnvSpec field -> the option that sets it. Fields not listed (owner, timeout, ...) describe the
# request, not the environment.
OPTIONS = {
    "chargers": "--chargers",
    "replicas": "--replicas",
    "server_version": "--server-version",
    "ttl": "--ttl",
    "pr": "--pr",
    "database_url": "--database-url",
    "reconnect": "--reconnect",
    "session_rate": "--session-rate",
    "session_minutes": "--session-minutes",
    "meter_interval": "--meter-interval",
    "heartbeat_interval": "--heartbeat-interval",
}


@dataclass(frozen=True)
class Difference:
    field: str
    running: Any
    asked: Any

    def describe(self) -> str:
        show = _show_duration if self.field == "ttl" else _show
        return f"{OPTIONS[self.field]} {show(self.running)} now, {show(self.asked)} asked"


def differences(spec: EnvSpec, running: dict[str, Any]) -> list[Difference]:
    """What the request asks for that differs from `running` (field -> value the environment has).

    Only fields the caller asked for count, and a field the runtime cannot tell (absent from
    `running`) is not compared. `server_version` None means "what it runs", so it never differs."""
    out = []
    for name in OPTIONS:
        if name not in running or not spec.asks_for(name):
            continue
        asked = getattr(spec, name)
        if name == "server_version" and asked is None:
            continue
        if not _same(running[name], asked):
            out.append(Difference(name, running[name], asked))
    return out


def refuse_differences(name: str, diffs: list[Difference]) -> None:
    if not diffs:
        return
    hints = []
    fields = {d.field for d in diffs}
    by_field = {d.field: d for d in diffs}
    if "replicas" in fields:
        hints.append(f"`envctl scale {name} --replicas {by_field['replicas'].asked}` changes the replicas without a restart")
    if "server_version" in fields:
        hints.append(f"`envctl release plan --env {name} --to {by_field['server_version'].asked}` moves it to another "
                     "version without dropping chargers")  # fmt: skip
    if "ttl" in fields:
        hints.append(f"`envctl extend {name} DURATION` pushes its expiry")
    rest = fields - {"replicas", "server_version", "ttl"}
    if rest:
        options = ", ".join(OPTIONS[f] for f in OPTIONS if f in rest)
        hints.append(f"only a new environment changes {options}: add --recreate (this deletes its database and "
                     f"open transactions) or run `envctl down {name}` first")  # fmt: skip
    raise Refused(
        f"environment {name} already exists and differs from this request: " + "; ".join(d.describe() for d in diffs),
        "; ".join(hints) + f". Without these options, `envctl up {name}` checks it and restarts whatever crashed",
    )


def _same(running: Any, asked: Any) -> bool:
    if isinstance(asked, timedelta):
        asked = asked.total_seconds()
    if isinstance(running, timedelta):
        running = running.total_seconds()
    if isinstance(asked, (int, float)) and isinstance(running, (int, float)):
        return float(asked) == float(running)
    return bool(asked == running)


def _show_duration(value: Any) -> str:
    seconds = int(value.total_seconds() if isinstance(value, timedelta) else float(value))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{v}{u}" for v, u in ((days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s")) if v]
    return "".join(parts) or "0s"


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
