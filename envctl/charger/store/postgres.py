"""PostgreSQL backend (asyncpg): one writer task doing group commit with set-based statements.

The statements of one batch are in postgres_batch.py. Ids come from the table's identity column,
so replicas sharing the database never hand out the same transactionId. Takeovers of this
replica's chargers arrive by LISTEN on its own channel, on a connection of its own; after that
connection is lost and re-established, the chargers still connected here are checked against the
owner table once, so a notification missed meanwhile still closes the older connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import asyncpg

from envctl.charger.store.base import Pending, Takeover
from envctl.charger.store.group_commit import GroupCommitStore, Outcome
from envctl.charger.store.migrations import migrations_for
from envctl.charger.store.postgres_batch import apply_batch, parse_payload, takeover_channel
from envctl.charger.store.reads import ReadQueries

log = logging.getLogger(__name__)

MAX_BATCH = 5_000
LISTEN_RETRY_S = 1.0
_MIGRATION_LOCK = 0x656E7663746C  # pg_advisory_xact_lock key: serialises replicas migrating together


class PostgresStore(ReadQueries, GroupCommitStore):
    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self._pool: asyncpg.Pool | None = None
        self._pending: list[Pending] = []
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._stopping = False
        self._listening = asyncio.Event()

    async def _open_backend(self) -> None:
        self._pool = await self._connect_when_up()
        async with self._pool.acquire() as conn:
            await migrate(conn)
        self._writer = asyncio.get_running_loop().create_task(self._writer_main(), name="pg-writer")

    async def open(self) -> None:
        await super().open()
        if self._watch_task is not None:  # no charger is taken over unnoticed: LISTEN before serving
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(10):
                    await self._listening.wait()

    async def _connect_when_up(self, within_s: float = 120.0) -> asyncpg.Pool:
        """A server starting beside its database (a new preview, a restarted Postgres pod) waits
        for it instead of crashing: a crash loop would back off far longer than Postgres takes."""
        deadline = time.monotonic() + within_s
        delay = 0.1
        while True:
            try:
                return await asyncpg.create_pool(self.url, min_size=1, max_size=4)
            except (OSError, asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError) as err:
                if time.monotonic() + delay > deadline:
                    raise
                log.warning("database not reachable yet (%s); retrying in %.1f s", err, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.5)  # cheap to retry; Postgres may be seconds from ready

    async def _stop_writer(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._writer is not None:
            await self._writer

    async def _close_backend(self) -> None:
        if self._pool is not None:
            await self._pool.close()

    def _submit(self, pending: Pending) -> None:
        self._pending.append(pending)
        self._wake.set()

    async def _writer_main(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                started = time.perf_counter()
                outcomes = await self._commit(batch)
                self._resolve(batch, outcomes, time.perf_counter() - started)
            if self._stopping:
                return

    async def _commit(self, batch: list[Pending]) -> list[Outcome]:
        assert self._pool is not None
        try:
            async with self._pool.acquire() as conn:
                async with conn.transaction():
                    result = await apply_batch(conn, batch, self.replica_id)
                self._committed(result.claimed, len(result.takeovers))
                return result.outcomes
        except Exception:
            log.warning("batch of %d writes failed; retrying one by one", len(batch), exc_info=True)
        results: list[Outcome] = []
        for p in batch:
            try:
                async with self._pool.acquire() as conn:
                    async with conn.transaction():
                        result = await apply_batch(conn, [p], self.replica_id)
                    self._committed(result.claimed, len(result.takeovers))
                    results.extend(result.outcomes)
            except Exception as exc:
                results.append((False, exc))
        return results

    def _committed(self, claimed: dict[Any, int], takeovers: int) -> None:
        self._set_epochs(claimed)  # before the next batch: writes queued meanwhile are fenced right
        self.takeovers_sent += takeovers

    # -- takeovers: LISTEN on this replica's channel ---------------------------------------------
    async def _watch_takeovers(self) -> None:
        assert self.replica_id is not None
        me, channel = self.replica_id, takeover_channel(self.replica_id)
        first = True
        while True:
            lost = asyncio.Event()
            try:
                conn = await asyncpg.connect(self.url)
            except (OSError, asyncpg.PostgresError):
                log.warning("LISTEN connection failed; retrying in %.0f s", LISTEN_RETRY_S, exc_info=True)
                await asyncio.sleep(LISTEN_RETRY_S)
                continue
            try:
                conn.add_termination_listener(lambda _c: lost.set())
                await conn.add_listener(
                    channel, lambda _c, _pid, _ch, payload: self._takeovers_arrived(parse_payload(payload, me))
                )
                if not first:
                    await self._catch_up()
                first = False
                self._listening.set()
                await lost.wait()
                log.warning("LISTEN connection lost; reconnecting")
            finally:
                if not conn.is_closed():
                    await conn.close()

    async def _catch_up(self) -> None:
        """Chargers connected here whose owner row says another replica holds them now."""
        rows = await self._fetch(
            "SELECT charger_id, epoch, replica_id FROM charger_owners WHERE charger_id = ANY($1::text[]) "
            "AND replica_id <> $2", self.connected_ids(), self.replica_id,
        )
        me = str(self.replica_id)
        self._takeovers_arrived([Takeover(r["charger_id"], int(r["epoch"]), r["replica_id"], me) for r in rows])

    # -- reads ---------------------------------------------------------------------------------
    async def _fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        assert self._pool is not None
        return [dict(r) for r in await self._pool.fetch(sql, *args)]

    async def schema_version(self) -> int:
        return int((await self._fetch("SELECT coalesce(max(version), 0) AS v FROM schema_version"))[0]["v"])

    async def _rows(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        return await self._fetch(sql, *args)

    def _param(self, n: int) -> str:
        return f"${n}"

    def _in_list(self, n: int) -> str:
        return f"= ANY(${n}::text[])"

    def _list(self, values: list[Any]) -> Any:
        return list(values)

    def stats(self) -> dict[str, Any]:
        return super().stats() | {"queued": len(self._pending)}


async def migrate(conn: asyncpg.Connection) -> int:
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
            "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        current = int(await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_version"))
        for m in migrations_for("postgres"):
            if m.version <= current:
                continue
            await conn.execute(m.sql)
            await conn.execute("INSERT INTO schema_version (version, name) VALUES ($1, $2)", m.version, m.name)
            current = m.version
        return current
