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
from datetime import timedelta
from pathlib import Path
from typing import Any

from envctl.charger.store.base import Pending, Takeover, format_ts, utcnow
from envctl.charger.store.group_commit import GroupCommitStore, Outcome
from envctl.charger.store.migrations import migrations_for
from envctl.state import private_file
from envctl.charger.store.reads import ReadQueries
from envctl.charger.store.sqlite_batch import BatchResult, apply_batch

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 30_000
MAX_BATCH = 5_000
_STOP = object()
# The previous owner polls the takeover log this often: within 1 s of a takeover its old
# connection is closed, at the price of one indexed read (usually of no rows) per interval.
TAKEOVER_POLL_S = 0.2
TAKEOVER_LOG_KEEP_S = 600  # rows older than this are deleted (a replica that old has restarted)


def connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000)
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    _wal(conn)
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def _wal(conn: sqlite3.Connection) -> None:
    """Switch a new file to WAL, waiting for another process doing the same.

    Replicas of one local environment open their shared file at the same moment; turning a new
    file to WAL needs its exclusive lock, and SQLite answers "database is locked" at once for it
    rather than calling the busy handler (a 3-process test caught a replica dying on it)."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


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


class SqliteStore(ReadQueries, GroupCommitStore):
    def __init__(self, url: str, path: str, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self.path = path
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._reader: sqlite3.Connection | None = None
        self._read_lock = threading.Lock()
        self._last_takeovers = 0

    async def _open_backend(self) -> None:
        if self.path != ":memory:":
            private_file(Path(self.path))  # idTags: 0600, and SQLite gives its -wal and -shm the same mode
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
                if isinstance(first, _Cleanup):  # housekeeping, outside any batch
                    first.run(conn)
                    continue
                batch: list[Pending] = [first]
                while len(batch) < MAX_BATCH:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is _STOP:
                        stopping = True
                        break
                    if isinstance(item, _Cleanup):
                        item.run(conn)
                        continue
                    batch.append(item)
                started = time.perf_counter()
                outcomes = self._commit(conn, batch)
                elapsed = time.perf_counter() - started
                self.takeovers_sent += self._last_takeovers
                try:
                    self._loop.call_soon_threadsafe(self._resolve, batch, outcomes, elapsed)
                except RuntimeError:  # loop closed: nobody is waiting any more
                    pass
        finally:
            conn.close()

    def _commit(self, conn: sqlite3.Connection, batch: list[Pending]) -> list[Outcome]:
        self._last_takeovers = 0
        try:
            conn.execute("BEGIN IMMEDIATE")
            result = apply_batch(conn, batch, self.replica_id)
            conn.execute("COMMIT")
            self._committed(result)
            return result.outcomes
        except Exception:
            log.warning("batch of %d writes failed; retrying one by one", len(batch), exc_info=True)
            _rollback(conn)
        # One poison write must not fail its neighbours: each alone in its own transaction.
        results: list[Outcome] = []
        for p in batch:
            try:
                conn.execute("BEGIN IMMEDIATE")
                result = apply_batch(conn, [p], self.replica_id)
                conn.execute("COMMIT")
                self._committed(result)
                results.extend(result.outcomes)
            except Exception as exc:
                _rollback(conn)
                results.append((False, exc))
        return results

    def _committed(self, result: BatchResult) -> None:
        self._set_epochs(result.claimed)  # before the next batch: writes queued meanwhile are fenced right
        self._last_takeovers += len(result.takeovers)

    # -- takeovers: poll the log for rows addressed to this replica ---------------------------
    async def _watch_takeovers(self) -> None:
        cursor = int((await self._read("SELECT coalesce(max(seq), 0) AS n FROM owner_takeovers"))[0]["n"])
        polls = 0
        while True:
            await asyncio.sleep(TAKEOVER_POLL_S)
            try:
                rows = await self._read(
                    "SELECT seq, charger_id, epoch, replica_id FROM owner_takeovers "
                    "WHERE prev_replica_id = ? AND seq > ? ORDER BY seq", (self.replica_id, cursor))
            except sqlite3.Error:
                log.warning("reading the takeover log failed; retrying", exc_info=True)
                continue
            if rows:
                cursor = int(rows[-1]["seq"])
                self._takeovers_arrived(
                    [Takeover(r["charger_id"], int(r["epoch"]), r["replica_id"], str(self.replica_id)) for r in rows])
            polls += 1
            if polls % int(60 / TAKEOVER_POLL_S) == 0:
                self._submit_cleanup()

    def _submit_cleanup(self) -> None:
        cutoff = format_ts(utcnow() - timedelta(seconds=TAKEOVER_LOG_KEEP_S))
        self._queue.put(_Cleanup(cutoff))

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

    def _in_list(self, n: int) -> str:
        return "IN (SELECT value FROM json_each(?))"

    def _list(self, values: list[Any]) -> Any:
        return json.dumps(values)

    def stats(self) -> dict[str, Any]:
        return super().stats() | {"queued": self._queue.qsize()}


def _rollback(conn: sqlite3.Connection) -> None:
    try:
        conn.execute("ROLLBACK")
    except sqlite3.Error:
        pass


class _Cleanup:
    """Trim the takeover log; runs in the writer thread between batches."""

    def __init__(self, cutoff: str) -> None:
        self.cutoff = cutoff

    def run(self, conn: sqlite3.Connection) -> None:
        try:
            conn.execute("DELETE FROM owner_takeovers WHERE at < ?", (self.cutoff,))
        except sqlite3.Error:
            log.warning("cleaning the takeover log failed", exc_info=True)
