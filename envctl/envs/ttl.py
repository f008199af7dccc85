"""When environments expire: computing, reading and extending the expiry time."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from envctl.errors import ConfigError, Refused


def expiry(now: datetime, ttl: timedelta, max_ttl: timedelta) -> datetime:
    if ttl <= timedelta(0):
        raise ConfigError(f"--ttl must be positive, got {ttl}")
    if ttl > max_ttl:
        raise Refused(
            f"--ttl {_human(ttl)} is longer than the allowed maximum {_human(max_ttl)} (envs.max_ttl)",
            f"ask for at most {_human(max_ttl)}; extend later with `envctl extend NAME DURATION`",
        )
    return now + ttl


def extended(current: datetime | None, by: timedelta, now: datetime, max_ttl: timedelta) -> datetime:
    """Push the expiry `by` further (from now if already expired), never beyond now + max_ttl."""
    if by <= timedelta(0):
        raise ConfigError(f"the extension must be positive, got {by}")
    base = max(current or now, now)
    new = base + by
    if new - now > max_ttl:
        raise Refused(
            f"extending by {_human(by)} would expire at {format_time(new)}, more than "
            f"{_human(max_ttl)} from now (envs.max_ttl)",
            f"extend by at most {_human(max(max_ttl - (base - now), timedelta(0)))}",
        )
    return new


def is_expired(expires_at: datetime | None, now: datetime) -> bool:
    return expires_at is not None and expires_at <= now


def format_time(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str | None) -> datetime | None:
    """An RFC 3339 time as written by format_time (or Kubernetes); None for missing/garbage."""
    if not text:
        return None
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def _human(d: timedelta) -> str:
    seconds = int(d.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{v}{u}" for v, u in ((days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s")) if v]
    return "".join(parts) or "0s"
