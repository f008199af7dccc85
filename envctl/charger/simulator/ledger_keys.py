"""How one transaction message is named on both sides, the simulator's ledger and the server's database.

Both the ledger's reader (what chargers sent) and the reconciliation (against what the server
stored) build these keys; they live apart from both so that neither imports the other's module.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any


def ts(value: Any) -> str:
    """Normalise a timestamp to ISO-8601 UTC with milliseconds, so DB datetimes compare with ours."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC).isoformat(timespec="milliseconds")
    return str(value)


def sample_key(charger: str, tid: Any, connector: Any, at: Any, sv: Mapping[str, Any]) -> tuple[Any, ...]:
    return (charger, int(tid or 0), int(connector), ts(at), sv.get("measurand") or "", sv.get("phase") or "",
            sv.get("location") or "", sv.get("context") or "")


def untransacted(sample_key: tuple[Any, ...]) -> tuple[Any, ...]:
    """A sample's key without its transaction id (the second field)."""
    return sample_key[:1] + sample_key[2:]
