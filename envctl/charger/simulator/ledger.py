"""The simulator's record of every transaction message, and a reader that summarises it.

Why: a release is judged by whether transactions survived it. The simulator writes down every
transaction message it made and what the server answered; reconcile.py compares the whole history
(starts, stops with their meterStop, every MeterValues sample, energy per transaction) with the
server's database.

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
                                   # meter: transaction_id, timestamp, connector, meter_value (the
                                   #        MeterValues meterValue list as sent: every sample's value)
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
    ``LedgerSummary.acknowledged_stops``   rows {charger, transaction_id, timestamp, meter_stop}
    ``LedgerSummary.acknowledged_samples`` [(sample key, value)] of acknowledged MeterValues
    ``reconcile.reconcile(summary, server_transactions, server_samples=None)`` -> the counters;
        each server transaction is a mapping with charger, connector, id_tag, meter_start, timestamp (ISO string or datetime), transaction_id (and meter_stop when stopped).
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from typing import IO, Any

import orjson

from envctl.charger.simulator.ledger_keys import sample_key, untransacted
from envctl.state import open_private

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
            self._fh = open_private(ledger_path(ledger_dir, worker), "ab", buffering=1 << 16)  # idTags inside

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
    return _read(ledger_dir)[0]


def _read(ledger_dir: str) -> tuple[list[dict[str, Any]], float | None]:
    """(latest state per message id, horizon): each file holds every change of its worker up to its
    last line (writes are flushed in order), so the earliest of the files' last updated_at is the
    instant up to which the ledger knows everything, even while the simulator still runs."""
    latest: dict[str, dict[str, Any]] = {}
    horizon: float | None = None
    for path in sorted(glob.glob(os.path.join(ledger_dir, FILE_GLOB))):
        last = 0.0
        with open(path, "rb") as fh:
            for line in fh:
                if not line.strip():
                    continue
                try:
                    row = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue  # a torn last line after a hard kill
                latest[row["id"]] = row
                last = max(last, float(row.get("updated_at") or 0.0))
        if last:
            horizon = last if horizon is None else min(horizon, last)
    return list(latest.values()), horizon


@dataclass
class LedgerSummary:
    started: int = 0  # StartTransaction messages created (one per session)
    acknowledged: int = 0  # ... of which the server answered with a transactionId
    pending: int = 0  # ... still queued or in flight when the ledger was read
    dropped: int = 0  # ... given up after TransactionMessageAttempts
    by_kind: dict[str, dict[str, int]] = field(default_factory=dict)  # kind -> state -> count
    acknowledged_starts: list[dict[str, Any]] = field(default_factory=list)
    unacknowledged_starts: list[dict[str, Any]] = field(default_factory=list)  # queued, in flight or dropped
    acknowledged_stops: list[dict[str, Any]] = field(default_factory=list)
    stop_attempts: list[dict[str, Any]] = field(default_factory=list)  # every stop that names a transaction
    acknowledged_samples: list[tuple[tuple[Any, ...], str]] = field(default_factory=list)
    sent_sample_keys: set[tuple[Any, ...]] = field(default_factory=set)  # sent at least once (acked or not)
    # created but not sent yet as far as the ledger knows; keyed without the transaction id, which a
    # message queued before its start was answered does not carry yet (see ledger_keys.untransacted)
    unsent_sample_keys: set[tuple[Any, ...]] = field(default_factory=set)
    resent: int = 0  # messages sent more than once (resends after drops, retries)
    horizon: float | None = None  # unix time up to which the ledger recorded everything (see _read)

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
    rows, s.horizon = _read(ledger_dir)
    for row in rows:
        kind, state = row["kind"], row["state"]
        s.by_kind.setdefault(kind, {}).setdefault(state, 0)
        s.by_kind[kind][state] += 1
        if row.get("attempts", 0) > 1:
            s.resent += 1
        key = row["key"]
        if kind == "start":
            s.started += 1
            start = {"charger": row["charger"], "connector": key["connector"], "id_tag": key["id_tag"],
                     "meter_start": key["meter_start"], "timestamp": key["timestamp"],
                     "transaction_id": row["transaction_id"]}
            if state == "acknowledged":
                s.acknowledged += 1
                s.acknowledged_starts.append(start)
            else:
                s.unacknowledged_starts.append(start)
                if state == "dropped":
                    s.dropped += 1
                else:
                    s.pending += 1
        elif kind == "stop" and row.get("transaction_id") is not None:
            stop = {"charger": row["charger"], "transaction_id": row["transaction_id"],
                    "timestamp": key["timestamp"], "meter_stop": key.get("meter_stop")}
            s.stop_attempts.append(stop)
            if state == "acknowledged":
                s.acknowledged_stops.append(stop)
        elif kind == "meter":
            tid, connector = row.get("transaction_id"), key.get("connector", 0)
            sent = row.get("attempts", 0) >= 1 or state == "acknowledged"
            for mv in key.get("meter_value") or []:
                for sv in mv["sampledValue"]:
                    sk = sample_key(row["charger"], tid, connector, mv["timestamp"], sv)
                    if not sent:
                        s.unsent_sample_keys.add(untransacted(sk))
                        continue
                    if tid is None:
                        continue
                    s.sent_sample_keys.add(sk)
                    if state == "acknowledged":
                        s.acknowledged_samples.append((sk, str(sv["value"])))
    return s
