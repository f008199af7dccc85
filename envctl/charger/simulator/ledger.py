"""The simulator's record of every transaction message, and a reader that summarises it.

Why: a release is judged by whether transactions survived it. The simulator writes down what it
started and what the server acknowledged; comparing that with the server's database gives
"lost" (acknowledged here, missing there) and "duplicated" (one start, several rows there).

Files
    ``{ledger_dir}/ledger-w{worker}.jsonl`` - one file per worker process, UTF-8 JSON lines,
    appended on every change of a message (created, sent, acknowledged, CALLERROR, timeout,
    dropped) and flushed at least once a second and on stop. The fleet clears old
    ``ledger-w*.jsonl`` files when it starts, so use one ledger dir per run.

Line (the full current state of one message; the last line for an ``id`` wins)::

    {"id": "CP000001:3",          # charger id ":" per-charger sequence number, unique per run
     "charger": "CP000001",
     "kind": "start" | "stop" | "meter",
     "key": {...},                 # start: connector, id_tag, meter_start, timestamp
                                   # stop:  transaction_id, timestamp (+ meter_stop, reason)
                                   # meter: transaction_id, timestamp (+ connector)
     "start_id": "CP000001:1",     # stop/meter: the id of their session's start message
     "state": "queued" | "sent" | "acknowledged" | "dropped",
     "attempts": 2,                # times sent (resends after a reconnect included)
     "failures": 1,                # CALLERROR / timeout answers (TransactionMessageAttempts counts these)
     "acknowledged": true,
     "transaction_id": 17,         # start: what the server returned; stop/meter: the id they carried
     "error": null | "CALLERROR InternalError: ..." | "timeout" | "start not acknowledged",
     "created_at": 1700000000.123, "sent_at": ..., "acked_at": ..., "updated_at": ...}  # unix seconds

Reader API
    ``read_rows(ledger_dir) -> list[dict]``         latest state per message id
    ``summarise(ledger_dir) -> LedgerSummary``      counts per kind/state + the comparison rows
    ``LedgerSummary.started / .acknowledged / .pending / .dropped``   start messages
    ``LedgerSummary.acknowledged_starts``  rows {charger, connector, id_tag, meter_start,
                                                 timestamp, transaction_id}
    ``LedgerSummary.acknowledged_stops``   rows {charger, transaction_id, timestamp}
    ``reconcile(summary, server_transactions) -> {"lost", "duplicated", ...}`` where each server
        transaction is a mapping with charger, connector, id_tag, meter_start, timestamp
        (ISO string or datetime) and transaction_id.
"""

from __future__ import annotations

import datetime as dt
import glob
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

import orjson

FILE_GLOB = "ledger-w*.jsonl"


def ledger_path(ledger_dir: str, worker: int) -> str:
    return os.path.join(ledger_dir, f"ledger-w{worker}.jsonl")


def clear(ledger_dir: str) -> None:
    os.makedirs(ledger_dir, exist_ok=True)
    for path in glob.glob(os.path.join(ledger_dir, FILE_GLOB)):
        os.unlink(path)


class LedgerWriter:
    """Appends message states to this worker's file; `None` dir makes it a no-op."""

    __slots__ = ("_fh",)

    def __init__(self, ledger_dir: str | None, worker: int) -> None:
        self._fh: IO[bytes] | None = None
        if ledger_dir:
            os.makedirs(ledger_dir, exist_ok=True)
            self._fh = open(ledger_path(ledger_dir, worker), "ab", buffering=1 << 16)  # noqa: SIM115

    def write(self, row: dict[str, Any]) -> None:
        if self._fh is not None:
            self._fh.write(orjson.dumps(row) + b"\n")

    def flush(self) -> None:
        if self._fh is not None:
            self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None


def read_rows(ledger_dir: str) -> list[dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    for path in sorted(glob.glob(os.path.join(ledger_dir, FILE_GLOB))):
        with open(path, "rb") as fh:
            for line in fh:
                if not line.strip():
                    continue
                try:
                    row = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue  # a torn last line after a hard kill
                latest[row["id"]] = row
    return list(latest.values())


@dataclass
class LedgerSummary:
    started: int = 0  # StartTransaction messages created (one per session)
    acknowledged: int = 0  # ... of which the server answered with a transactionId
    pending: int = 0  # ... still queued or in flight when the ledger was read
    dropped: int = 0  # ... given up after TransactionMessageAttempts
    by_kind: dict[str, dict[str, int]] = field(default_factory=dict)  # kind -> state -> count
    acknowledged_starts: list[dict[str, Any]] = field(default_factory=list)
    acknowledged_stops: list[dict[str, Any]] = field(default_factory=list)
    resent: int = 0  # messages sent more than once (resends after drops, retries)

    def to_dict(self) -> dict[str, Any]:
        return {
            "started": self.started,
            "acknowledged": self.acknowledged,
            "pending": self.pending,
            "dropped": self.dropped,
            "resent": self.resent,
            "by_kind": self.by_kind,
        }


def summarise(ledger_dir: str) -> LedgerSummary:
    s = LedgerSummary()
    for row in read_rows(ledger_dir):
        kind, state = row["kind"], row["state"]
        s.by_kind.setdefault(kind, {}).setdefault(state, 0)
        s.by_kind[kind][state] += 1
        if row.get("attempts", 0) > 1:
            s.resent += 1
        if kind == "start":
            s.started += 1
            if state == "acknowledged":
                s.acknowledged += 1
                key = row["key"]
                s.acknowledged_starts.append(
                    {
                        "charger": row["charger"],
                        "connector": key["connector"],
                        "id_tag": key["id_tag"],
                        "meter_start": key["meter_start"],
                        "timestamp": key["timestamp"],
                        "transaction_id": row["transaction_id"],
                    }
                )
            elif state == "dropped":
                s.dropped += 1
            else:
                s.pending += 1
        elif kind == "stop" and state == "acknowledged":
            s.acknowledged_stops.append(
                {
                    "charger": row["charger"],
                    "transaction_id": row["transaction_id"],
                    "timestamp": row["key"]["timestamp"],
                }
            )
    return s


def _ts(value: Any) -> str:
    """Normalise a timestamp to ISO-8601 UTC with milliseconds, so DB datetimes compare with ours."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC).isoformat(timespec="milliseconds")
    return str(value)


def reconcile(summary: LedgerSummary, server_transactions: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """lost: starts we saw acknowledged that the server has no row for (by key);
    duplicated: extra server rows for one start key; id_mismatch: server id differs from ours."""
    server_keys: Counter[tuple[Any, ...]] = Counter()
    server_ids: dict[tuple[Any, ...], set[Any]] = {}
    for t in server_transactions:
        key = (t["charger"], int(t["connector"]), t["id_tag"], int(t["meter_start"]), _ts(t["timestamp"]))
        server_keys[key] += 1
        server_ids.setdefault(key, set()).add(t["transaction_id"])
    lost = duplicated = mismatch = 0
    for row in summary.acknowledged_starts:
        key = (row["charger"], int(row["connector"]), row["id_tag"], int(row["meter_start"]), _ts(row["timestamp"]))
        n = server_keys.get(key, 0)
        if n == 0:
            lost += 1
        elif row["transaction_id"] not in server_ids[key]:
            mismatch += 1
    duplicated = sum(n - 1 for n in server_keys.values() if n > 1)
    return {
        "started": summary.started,
        "acknowledged": summary.acknowledged,
        "pending": summary.pending,
        "lost": lost,
        "duplicated": duplicated,
        "id_mismatch": mismatch,
    }
