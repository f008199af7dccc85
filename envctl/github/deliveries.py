"""Accepted webhook deliveries, durable in SQLite: the dedupe record and the job queue's backing store.

A delivery row is committed (synchronous=FULL) before the webhook answers 202, so an accepted
delivery survives a crash; `unfinished()` is what a restarted server resumes. The primary key is
GitHub's X-GitHub-Delivery id, so a replay cannot insert a second row. A signed body replayed
under a new delivery id is caught by its dedupe key (a comment's id: `comment:owner/name:ID`),
kept in `seen` in the same transaction: one comment runs its command once.

Every write is group-committed by one writer thread: whatever queued up while the previous
fsync ran (accepts, and the jobs' state changes: running, done, retry) goes into one transaction,
so a burst costs a few fsyncs instead of one each. There is one writing connection on purpose:
with a second one the two contend for SQLite's write lock, and the loser sleeps in SQLite's busy
handler (1, 2, 5, 10... ms), which the delivery waiting for its 202 measured as 40-80 ms spikes
while job threads were marking deliveries done. Reads use their own connection (WAL: readers
never block the writer).

states: queued -> running -> done | failed     (running -> queued again when retried later)
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from envctl.state import private_file

SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    id          TEXT PRIMARY KEY,
    event       TEXT NOT NULL,
    key         TEXT NOT NULL,
    body        BLOB NOT NULL,
    state       TEXT NOT NULL DEFAULT 'queued',
    attempts    INTEGER NOT NULL DEFAULT 0,
    received_at REAL NOT NULL,
    updated_at  REAL NOT NULL,
    not_before  REAL NOT NULL DEFAULT 0,
    result      TEXT
);
CREATE INDEX IF NOT EXISTS deliveries_unfinished ON deliveries(state) WHERE state IN ('queued', 'running');
CREATE TABLE IF NOT EXISTS seen (
    key         TEXT PRIMARY KEY,
    delivery    TEXT NOT NULL,
    received_at REAL NOT NULL
);
"""

KEEP_FINISHED_S = 30 * 86400  # GitHub lets people redeliver for a long while; remember that long
MAX_GROUP = 256

T = TypeVar("T")
Write = Callable[[sqlite3.Connection], Any]  # one statement or a few, run inside the group's transaction


@dataclass(frozen=True)
class Delivery:
    id: str
    event: str
    key: str
    body: bytes
    state: str = "queued"
    attempts: int = 0
    not_before: float = 0.0
    result: str | None = None
    dedupe: str | None = None  # what makes it unique besides its id (a comment's id); not stored in the row


class DeliveryStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()  # the read connection
        self._db = self._connect()
        self._db.executescript(SCHEMA)
        self._writer_db = self._connect()
        self._queue: list[tuple[Write, Future[Any]]] = []
        self._queued = threading.Condition()
        self._closed = False
        self._writer = threading.Thread(target=self._write_loop, name="envctl-deliveries", daemon=True)
        self._writer.start()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(str(private_file(self.path)), check_same_thread=False, isolation_level=None, timeout=30)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        return db

    @classmethod
    def in_state_dir(cls, state_dir: Path) -> DeliveryStore:
        return cls(state_dir / "github" / "deliveries.sqlite3")

    # --- writes: queued to the writer thread, committed in groups ------------------------------

    def write(self, op: Callable[[sqlite3.Connection], T]) -> Future[T]:
        """Queue a write; the future resolves (to what `op` returned) once it is durable."""
        done: Future[T] = Future()
        with self._queued:
            if self._closed:
                raise RuntimeError("delivery store is closed")
            self._queue.append((op, done))
            self._queued.notify()
        return done

    def accept_later(self, delivery: Delivery) -> Future[bool]:
        """accept() without blocking: the server awaits this future on its event loop, so a 202
        costs no thread hop besides the writer's."""
        return self.write(lambda db: _insert(db, delivery))

    def accept(self, delivery: Delivery) -> bool:
        """Persist a new delivery, durably; False when this id was seen before (a replay)."""
        return self.accept_later(delivery).result()

    def _write_loop(self) -> None:
        while True:
            with self._queued:
                while not self._queue and not self._closed:
                    self._queued.wait()
                if not self._queue:
                    return
                batch, self._queue = self._queue[:MAX_GROUP], self._queue[MAX_GROUP:]
            try:
                results = self._commit([op for op, _ in batch])
            except Exception:  # one bad write must not fail the others: commit them one by one
                for op, fut in batch:
                    try:
                        fut.set_result(self._commit([op])[0])
                    except Exception as err:  # the caller sees it; nothing of it was committed
                        fut.set_exception(err)
                continue
            for (_, fut), result in zip(batch, results):
                fut.set_result(result)

    def _commit(self, ops: list[Write]) -> list[Any]:
        db = self._writer_db
        db.execute("BEGIN IMMEDIATE")
        try:
            results = [op(db) for op in ops]
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return results

    def _set(self, delivery_id: str, state: str, result: str | None = None, not_before: float = 0.0,
             attempt: bool = False) -> None:
        now = time.time()
        self.write(lambda db: db.execute(
            "UPDATE deliveries SET state = ?, result = COALESCE(?, result), not_before = ?,"
            " attempts = attempts + ?, updated_at = ? WHERE id = ?",
            (state, result, not_before, 1 if attempt else 0, now, delivery_id),
        )).result()

    def mark_running(self, delivery_id: str) -> None:
        self._set(delivery_id, "running", attempt=True)

    def mark_done(self, delivery_id: str, result: str) -> None:
        self._set(delivery_id, "done", result)

    def mark_failed(self, delivery_id: str, result: str) -> None:
        self._set(delivery_id, "failed", result)

    def retry_at(self, delivery_id: str, not_before: float, why: str) -> None:
        self._set(delivery_id, "queued", why, not_before=not_before)

    # --- reads ---------------------------------------------------------------------------------

    def get(self, delivery_id: str) -> Delivery | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id, event, key, body, state, attempts, not_before, result FROM deliveries WHERE id = ?",
                (delivery_id,),
            ).fetchone()
        return Delivery(*row) if row else None

    def pushes_after(self, key: str, delivery_id: str) -> list[tuple[str, str]]:
        """(before, after) of every push (pull_request synchronize) to the same pull request that
        GitHub delivered after `delivery_id`, in arrival order. Deliveries of one key run in that
        order, so these are the pushes that came after a comment whose job is running now."""
        with self._lock:
            rows = self._db.execute(
                "SELECT body FROM deliveries WHERE key = ? AND event = 'pull_request'"
                " AND rowid > (SELECT rowid FROM deliveries WHERE id = ?) ORDER BY rowid",
                (key, delivery_id),
            ).fetchall()
        out = []
        for (body,) in rows:
            try:
                payload = json.loads(body)
            except ValueError:
                continue
            if payload.get("action") == "synchronize" and payload.get("before") and payload.get("after"):
                out.append((str(payload["before"]), str(payload["after"])))
        return out

    def unfinished(self) -> list[Delivery]:
        """Queued or interrupted (running) deliveries, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, event, key, body, state, attempts, not_before, result FROM deliveries"
                " WHERE state IN ('queued', 'running') ORDER BY received_at, rowid"
            ).fetchall()
        return [Delivery(*row) for row in rows]

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT state, COUNT(*) FROM deliveries GROUP BY state").fetchall()
        return {state: n for state, n in rows}

    def prune(self, older_than_s: float = KEEP_FINISHED_S) -> int:
        cutoff = time.time() - older_than_s

        def delete(db: sqlite3.Connection) -> int:
            db.execute("DELETE FROM seen WHERE received_at < ?", (cutoff,))
            return db.execute("DELETE FROM deliveries WHERE state IN ('done', 'failed') AND updated_at < ?",
                              (cutoff,)).rowcount

        return self.write(delete).result()

    def close(self) -> None:
        with self._queued:
            self._closed = True
            self._queued.notify_all()
        self._writer.join(10)
        with self._lock:
            self._db.close()
            self._writer_db.close()


def _insert(db: sqlite3.Connection, delivery: Delivery) -> bool:
    now = time.time()
    if delivery.dedupe is not None:
        seen = db.execute("INSERT OR IGNORE INTO seen (key, delivery, received_at) VALUES (?, ?, ?)",
                          (delivery.dedupe, delivery.id, now))
        if seen.rowcount == 0:
            return False  # the same comment under another delivery id: a replay
    cur = db.execute(
        "INSERT OR IGNORE INTO deliveries (id, event, key, body, received_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
        (delivery.id, delivery.event, delivery.key, delivery.body, now, now),
    )
    return cur.rowcount == 1
