"""Timestamps in envctl's JSON (CLI `--output json`, the dashboard's API, the webhook's): ISO 8601
strings in UTC with milliseconds, e.g. "2026-12-07T23:45:01.123+00:00", like `expires_at`.

Inside, state keeps what suits it (release status persists epoch seconds: the engine does
arithmetic on them across restarts); documents for people and scripts convert at the edge with
iso(), and a reader of such a document gets seconds back with epoch(). Durations stay numbers
(`*_s`, a report's `timeline[].t` = seconds since the start).
"""

from __future__ import annotations

from datetime import datetime, timezone


def iso(t: float | None) -> str | None:
    """Epoch seconds -> ISO 8601 UTC (None stays None)."""
    if t is None:
        return None
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="milliseconds")


def epoch(value: str | float | None) -> float | None:
    """An ISO 8601 timestamp from envctl's JSON (or epoch seconds, as older documents have them) -> seconds."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return float(value)
    parsed = datetime.fromisoformat(value)
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).timestamp()
