"""Accepted webhook deliveries, durable in SQLite: the dedupe record and the job queue's backing store.

A delivery row is committed (synchronous=FULL) before the webhook answers 202, so an accepted
delivery survives a crash; `unfinished()` is what a restarted server resumes. The primary key is
GitHub's X-GitHub-Delivery id, so a replay cannot insert a second row.

Accepts are group-committed: one writer thread inserts everything that queued up while the
previous fsync ran, in one transaction, so a burst costs a few fsyncs instead of one each.
State changes after that (running, done, retry) go through a second connection with
synchronous=NORMAL: losing one to a power cut only means an idempotent job runs again.

states: queued -> running -> done | failed     (running -> queued again when retried later)
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

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
"""

KEEP_FINISHED_S = 30 * 86400  # GitHub lets people redeliver for a long while; remember that long
MAX_GROUP = 256


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


class DeliveryStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()  # the state connection
        self._db = self._connect("NORMAL")
        self._db.executescript(SCHEMA)
        self._accept_db = self._connect("FULL")
        self._queue: list[tuple[Delivery, Future[bool]]] = []
        self._queued = threading.Condition()
        self._closed = False
        self._writer = threading.Thread(target=self._write_loop, name="envctl-deliveries", daemon=True)
        self._writer.start()

    def _connect(self, synchronous: str) -> sqlite3.Connection:
        db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=30)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={synchronous}")
        return db

    @classmethod
    def in_state_dir(cls, state_dir: Path) -> DeliveryStore:
        return cls(state_dir / "github" / "deliveries.sqlite3")

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def accept(self, delivery: Delivery) -> bool:
        """Persist a new delivery, durably; False when this id was seen before (a replay)."""
        done: Future[bool] = Future()
        with self._queued:
            if self._closed:
                raise RuntimeError("delivery store is closed")
            self._queue.append((delivery, done))
            self._queued.notify()
        return done.result()

    def _write_loop(self) -> None:
        while True:
            with self._queued:
                while not self._queue and not self._closed:
                    self._queued.wait()
                if not self._queue:
                    return
                batch, self._queue = self._queue[:MAX_GROUP], self._queue[MAX_GROUP:]
            try:
                results = self._insert(batch)
            except BaseException as err:  # the caller sees it; nothing was committed
                for _, fut in batch:
                    fut.set_exception(err)
                continue
            for (_, fut), inserted in zip(batch, results):
                fut.set_result(inserted)

    def _insert(self, batch: list[tuple[Delivery, Future[bool]]]) -> list[bool]:
        db = self._accept_db
        now = time.time()
        db.execute("BEGIN IMMEDIATE")
        try:
            results = []
            for delivery, _ in batch:
                cur = db.execute(
                    "INSERT OR IGNORE INTO deliveries (id, event, key, body, received_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (delivery.id, delivery.event, delivery.key, delivery.body, now, now),
                )
                results.append(cur.rowcount == 1)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return results

    def _set(self, delivery_id: str, state: str, result: str | None = None, not_before: float = 0.0,
             attempt: bool = False) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE deliveries SET state = ?, result = COALESCE(?, result), not_before = ?,"
                " attempts = attempts + ?, updated_at = ? WHERE id = ?",
                (state, result, not_before, 1 if attempt else 0, time.time(), delivery_id),
            )

    def mark_running(self, delivery_id: str) -> None:
        self._set(delivery_id, "running", attempt=True)

    def mark_done(self, delivery_id: str, result: str) -> None:
        self._set(delivery_id, "done", result)

    def mark_failed(self, delivery_id: str, result: str) -> None:
        self._set(delivery_id, "failed", result)

    def retry_at(self, delivery_id: str, not_before: float, why: str) -> None:
        self._set(delivery_id, "queued", why, not_before=not_before)

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
        with self._tx() as db:
            cur = db.execute(
                "DELETE FROM deliveries WHERE state IN ('done', 'failed') AND updated_at < ?",
                (time.time() - older_than_s,),
            )
            return cur.rowcount

    def close(self) -> None:
        with self._queued:
            self._closed = True
            self._queued.notify_all()
        self._writer.join(10)
        with self._lock:
            self._db.close()
            self._accept_db.close()
