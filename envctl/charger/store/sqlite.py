"""SQLite backend: WAL journal, one writer thread doing group commit, reads on their own connection.

Why a thread: sqlite3 calls block, and a commit must not stall every charger's event loop.
Why synchronous=NORMAL in WAL mode: a commit is a write() into the WAL without an fsync, which
survives the *process* being killed (-9) — the data is in the OS page cache — but not a power
cut. That is the durability the release rehearsals need, at a fraction of an fsync's cost.
Several server processes may share the file: BEGIN IMMEDIATE takes the write lock up front and
busy_timeout makes a writer wait for another process instead of failing with SQLITE_BUSY.
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from envctl.charger.store.base import (
    BOOT,
    LAZY,
    METER,
    START,
    STOP,
    BootRecord,
    MeterSample,
    Pending,
    StartRecord,
    StatusRecord,
    StopRecord,
    format_ts,
    group,
    utcnow,
)
from envctl.charger.store.reads import ReadQueries
from envctl.charger.store.group_commit import GroupCommitStore, Outcome
from envctl.charger.store.migrations import migrations_for

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 30_000
MAX_BATCH = 5_000
_STOP = object()


def connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000)
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def migrate(conn: sqlite3.Connection) -> int:
    conn.execute("BEGIN IMMEDIATE")  # serialises replicas migrating the same file
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
            "applied_at TEXT NOT NULL)"
        )
        current = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0]
        for m in migrations_for("sqlite"):
            if m.version <= current:
                continue
            for statement in _statements(m.sql):
                conn.execute(statement)
            conn.execute("INSERT INTO schema_version VALUES (?, ?, ?)", (m.version, m.name, format_ts(utcnow())))
            current = m.version
        conn.execute("COMMIT")
        return int(current)
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _statements(sql: str) -> list[str]:
    # executescript() would COMMIT our transaction; our migration files have no ';' inside strings
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


# Every statement below is multi-row: the sqlite3 module releases the GIL around each
# sqlite3_step() and must win it back from the busy event loop afterwards (up to a 5 ms switch
# interval each time). executemany() steps once per row, so a batch of 500 rows could wait 500
# times; one multi-row statement steps once. Results come back as one JSON row for the same reason.
MAX_VARIABLES = 32_766  # SQLITE_MAX_VARIABLE_NUMBER since SQLite 3.32

_BOOT_HEAD = """INSERT INTO chargers (id, vendor, model, serial_number, firmware_version, boot_payload, boot_count,
                      first_boot_at, last_boot_at, last_seen_at, replica_id) VALUES """
_BOOT_ROW = "(?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?)"
_BOOT_TAIL = """ ON CONFLICT (id) DO UPDATE SET vendor = excluded.vendor, model = excluded.model,
    serial_number = excluded.serial_number, firmware_version = excluded.firmware_version,
    boot_payload = excluded.boot_payload, boot_count = chargers.boot_count + 1,
    last_boot_at = excluded.last_boot_at, last_seen_at = excluded.last_seen_at, replica_id = excluded.replica_id"""
_START_HEAD = """INSERT INTO transactions (charger_id, connector_id, id_tag, meter_start, started_at, reservation_id,
                          created_at, replica_id) VALUES """
_START_ROW = "(?, ?, ?, ?, ?, ?, ?, ?)"
_START_TAIL = " ON CONFLICT (charger_id, connector_id, id_tag, meter_start, started_at) DO NOTHING"
# The ids of the rows just inserted *or already there* (a resend), as one JSON array.
_START_IDS_HEAD = """SELECT json_group_array(json_array(t.id, t.charger_id, t.connector_id, t.id_tag, t.meter_start,
                                         t.started_at))
FROM (SELECT column1 AS c, column2 AS k, column3 AS tag, column4 AS m, column5 AS s FROM (VALUES """
_START_IDS_ROW = "(?, ?, ?, ?, ?)"
_START_IDS_TAIL = """)) AS v
JOIN transactions t ON t.charger_id = v.c AND t.connector_id = v.k AND t.id_tag = v.tag AND t.meter_start = v.m
                   AND t.started_at = v.s"""
_STOP_HEAD = """INSERT INTO transaction_stops (transaction_id, charger_id, id_tag, meter_stop, stopped_at, reason,
                               created_at) VALUES """
_STOP_ROW = "(?, ?, ?, ?, ?, ?, ?)"
_STOP_TAIL = " ON CONFLICT (transaction_id) DO NOTHING"
_METER_HEAD = """INSERT INTO meter_values (charger_id, connector_id, transaction_id, ts, measurand, phase, location,
                          context, unit, value) VALUES """
_METER_ROW = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_METER_TAIL = " ON CONFLICT DO NOTHING"
_SEEN_HEAD = """UPDATE chargers SET last_seen_at = v.ts
FROM (SELECT column1 AS id, column2 AS ts FROM (VALUES """
_SEEN_ROW = "(?, ?)"
_SEEN_TAIL = ")) AS v WHERE chargers.id = v.id"
_STATUS_HEAD = """INSERT INTO connector_status (charger_id, connector_id, status, error_code, info, updated_at) VALUES """
_STATUS_ROW = "(?, ?, ?, ?, ?, ?)"
_STATUS_TAIL = """ ON CONFLICT (charger_id, connector_id) DO UPDATE SET status = excluded.status,
    error_code = excluded.error_code, info = excluded.info, updated_at = excluded.updated_at"""


def _many(conn: sqlite3.Connection, head: str, row: str, tail: str, rows: list[tuple[Any, ...]]) -> list[Any]:
    """Run head + row,row,... + tail over `rows` in as few statements as the variable limit allows."""
    if not rows:
        return []
    per = max(1, MAX_VARIABLES // len(rows[0]))
    out: list[Any] = []
    for i in range(0, len(rows), per):
        chunk = rows[i: i + per]
        cur = conn.execute(head + ",".join([row] * len(chunk)) + tail, [v for r in chunk for v in r])
        out.append(cur.fetchone() if cur.description else None)
    return out


class SqliteStore(ReadQueries, GroupCommitStore):
    def __init__(self, url: str, path: str, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self.path = path
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._reader: sqlite3.Connection | None = None
        self._read_lock = threading.Lock()

    async def _open_backend(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        writer = await asyncio.to_thread(self._open_writer)
        self._reader = await asyncio.to_thread(connect, self.path)
        self._thread = threading.Thread(target=self._writer_main, args=(writer,), name="sqlite-writer", daemon=True)
        self._thread.start()

    def _open_writer(self) -> sqlite3.Connection:
        conn = connect(self.path)
        migrate(conn)
        return conn

    async def _stop_writer(self) -> None:
        self._queue.put(_STOP)
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)

    async def _close_backend(self) -> None:
        if self._reader is not None:
            self._reader.close()

    def _submit(self, pending: Pending) -> None:
        self._queue.put(pending)

    # -- the writer thread -------------------------------------------------------------------
    def _writer_main(self, conn: sqlite3.Connection) -> None:
        assert self._loop is not None
        stopping = False
        try:
            while not stopping:
                first = self._queue.get()
                if first is _STOP:
                    break
                batch: list[Pending] = [first]
                while len(batch) < MAX_BATCH:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is _STOP:
                        stopping = True
                        break
                    batch.append(item)
                started = time.perf_counter()
                outcomes = self._commit(conn, batch)
                elapsed = time.perf_counter() - started
                try:
                    self._loop.call_soon_threadsafe(self._resolve, batch, outcomes, elapsed)
                except RuntimeError:  # loop closed: nobody is waiting any more
                    pass
        finally:
            conn.close()

    def _commit(self, conn: sqlite3.Connection, batch: list[Pending]) -> list[Outcome]:
        try:
            conn.execute("BEGIN IMMEDIATE")
            outcomes = self._apply(conn, batch)
            conn.execute("COMMIT")
            return outcomes
        except Exception:
            log.warning("batch of %d writes failed; retrying one by one", len(batch), exc_info=True)
            _rollback(conn)
        # One poison write must not fail its neighbours: each alone in its own transaction.
        results: list[Outcome] = []
        for p in batch:
            try:
                conn.execute("BEGIN IMMEDIATE")
                results.extend(self._apply(conn, [p]))
                conn.execute("COMMIT")
            except Exception as exc:
                _rollback(conn)
                results.append((False, exc))
        return results

    def _apply(self, conn: sqlite3.Connection, batch: list[Pending]) -> list[Outcome]:
        by_kind = group(batch)
        value: dict[int, Any] = {}
        now = format_ts(utcnow())
        if by_kind[BOOT]:
            boots = {p.item.charger_id: p.item for p in by_kind[BOOT]}  # one row per charger and statement
            _many(conn, _BOOT_HEAD, _BOOT_ROW, _BOOT_TAIL, [_boot_row(b, self.replica_id) for b in boots.values()])
        if by_kind[START]:
            starts = {_start_key(p.item): p.item for p in by_kind[START]}
            _many(conn, _START_HEAD, _START_ROW, _START_TAIL, [
                (s.charger_id, s.connector_id, s.id_tag, s.meter_start, key[4], s.reservation_id, now, self.replica_id)
                for key, s in starts.items()])
            ids: dict[tuple[Any, ...], int] = {}
            for found in _many(conn, _START_IDS_HEAD, _START_IDS_ROW, _START_IDS_TAIL, list(starts)):
                for tx_id, *key in json.loads(found[0]):
                    ids[tuple(key)] = tx_id
            for p in by_kind[START]:
                value[id(p)] = ids[_start_key(p.item)]
        if by_kind[STOP]:
            _many(conn, _STOP_HEAD, _STOP_ROW, _STOP_TAIL, [_stop_row(p.item, now) for p in by_kind[STOP]])
        if by_kind[METER]:
            _many(conn, _METER_HEAD, _METER_ROW, _METER_TAIL, [_meter_row(m) for p in by_kind[METER] for m in p.item])
        for p in by_kind[LAZY]:
            seen, statuses = p.item
            _many(conn, _SEEN_HEAD, _SEEN_ROW, _SEEN_TAIL, [(cid, format_ts(ts)) for cid, ts in seen.items()])
            _many(conn, _STATUS_HEAD, _STATUS_ROW, _STATUS_TAIL, [_status_row(s) for s in statuses])
        return [(True, value.get(id(p))) for p in batch]

    # -- reads ---------------------------------------------------------------------------------
    async def _read(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        def run() -> list[Any]:
            assert self._reader is not None
            with self._read_lock:
                cur = self._reader.execute(sql, args)
                cols = [d[0] for d in cur.description]
                return [dict(zip(cols, r)) for r in cur.fetchall()]

        return await asyncio.to_thread(run)

    async def schema_version(self) -> int:
        rows = await self._read("SELECT coalesce(max(version), 0) AS v FROM schema_version")
        return int(rows[0]["v"])

    async def _rows(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        return [dict(r) for r in await self._read(sql, args)]

    def _param(self, n: int) -> str:
        return "?"

    def stats(self) -> dict[str, Any]:
        return super().stats() | {"queued": self._queue.qsize()}


def _rollback(conn: sqlite3.Connection) -> None:
    try:
        conn.execute("ROLLBACK")
    except sqlite3.Error:
        pass


def _boot_row(b: BootRecord, replica_id: str | None) -> tuple[Any, ...]:
    at = format_ts(b.at)
    return (b.charger_id, b.vendor, b.model, b.serial_number, b.firmware_version,
            json.dumps(b.payload, separators=(",", ":")), at, at, at, replica_id)


def _start_key(s: StartRecord) -> tuple[str, int, str, int, str]:
    return (s.charger_id, s.connector_id, s.id_tag, s.meter_start, format_ts(s.started_at))


def _stop_row(s: StopRecord, now: str) -> tuple[Any, ...]:
    return (s.transaction_id, s.charger_id, s.id_tag, s.meter_stop, format_ts(s.stopped_at), s.reason, now)


def _meter_row(m: MeterSample) -> tuple[Any, ...]:
    return (m.charger_id, m.connector_id, m.transaction_id, format_ts(m.ts), m.measurand, m.phase, m.location,
            m.context, m.unit, m.value)


def _status_row(s: StatusRecord) -> tuple[Any, ...]:
    return (s.charger_id, s.connector_id, s.status, s.error_code, s.info, format_ts(s.at))

