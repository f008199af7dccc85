"""PostgreSQL backend (asyncpg): one writer task doing group commit with set-based statements.

Each batch is a handful of statements whatever its size: rows travel as arrays and are expanded
with unnest(), so a batch of 500 StartTransactions is one round trip, not 500. Ids come from the
table's identity column, so replicas sharing the database never hand out the same transactionId.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import asyncpg

from envctl.charger.store.base import (
    BOOT,
    LAZY,
    METER,
    START,
    STOP,
    MeterSample,
    Pending,
    StartRecord,
    group,
)
from envctl.charger.store.reads import ReadQueries
from envctl.charger.store.group_commit import GroupCommitStore, Outcome
from envctl.charger.store.migrations import migrations_for

log = logging.getLogger(__name__)

MAX_BATCH = 5_000
_MIGRATION_LOCK = 0x656E7663746C  # pg_advisory_xact_lock key: serialises replicas migrating together

_BOOT_SQL = """
INSERT INTO chargers (id, vendor, model, serial_number, firmware_version, boot_payload, boot_count,
                      first_boot_at, last_boot_at, last_seen_at, replica_id)
SELECT v.id, v.vendor, v.model, v.serial, v.fw, v.payload::jsonb, 1, v.at, v.at, v.at, $7
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $8::timestamptz[])
     AS v(id, vendor, model, serial, fw, payload, at)
ON CONFLICT (id) DO UPDATE SET vendor = EXCLUDED.vendor, model = EXCLUDED.model,
    serial_number = EXCLUDED.serial_number, firmware_version = EXCLUDED.firmware_version,
    boot_payload = EXCLUDED.boot_payload, boot_count = chargers.boot_count + 1,
    last_boot_at = EXCLUDED.last_boot_at, last_seen_at = EXCLUDED.last_seen_at, replica_id = EXCLUDED.replica_id
"""
# DO UPDATE (a no-op change) rather than DO NOTHING so RETURNING also yields rows that existed.
_START_SQL = """
INSERT INTO transactions (charger_id, connector_id, id_tag, meter_start, started_at, reservation_id, replica_id)
SELECT v.c, v.conn, v.tag, v.m, v.at, v.res, $7
FROM unnest($1::text[], $2::int[], $3::text[], $4::int[], $5::timestamptz[], $6::int[]) AS v(c, conn, tag, m, at, res)
ON CONFLICT (charger_id, connector_id, id_tag, meter_start, started_at) DO UPDATE SET charger_id = EXCLUDED.charger_id
RETURNING id, charger_id, connector_id, id_tag, meter_start, started_at
"""
_STOP_SQL = """
INSERT INTO transaction_stops (transaction_id, charger_id, id_tag, meter_stop, stopped_at, reason)
SELECT * FROM unnest($1::int[], $2::text[], $3::text[], $4::int[], $5::timestamptz[], $6::text[])
ON CONFLICT (transaction_id) DO NOTHING
"""
_METER_SQL = """
INSERT INTO meter_values (charger_id, connector_id, transaction_id, ts, measurand, phase, location, context, unit, value)
SELECT * FROM unnest($1::text[], $2::int[], $3::int[], $4::timestamptz[], $5::text[], $6::text[], $7::text[],
                     $8::text[], $9::text[], $10::text[])
ON CONFLICT DO NOTHING
"""
_SEEN_SQL = """
UPDATE chargers c SET last_seen_at = v.at FROM unnest($1::text[], $2::timestamptz[]) AS v(id, at) WHERE c.id = v.id
"""
_STATUS_SQL = """
INSERT INTO connector_status (charger_id, connector_id, status, error_code, info, updated_at)
SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[], $6::timestamptz[])
ON CONFLICT (charger_id, connector_id) DO UPDATE SET status = EXCLUDED.status, error_code = EXCLUDED.error_code,
    info = EXCLUDED.info, updated_at = EXCLUDED.updated_at
"""


class PostgresStore(ReadQueries, GroupCommitStore):
    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self._pool: asyncpg.Pool | None = None
        self._pending: list[Pending] = []
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._stopping = False

    async def _open_backend(self) -> None:
        self._pool = await self._connect_when_up()
        async with self._pool.acquire() as conn:
            await migrate(conn)
        self._writer = asyncio.get_running_loop().create_task(self._writer_main(), name="pg-writer")

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
            async with self._pool.acquire() as conn, conn.transaction():
                return await self._apply(conn, batch)
        except Exception:
            log.warning("batch of %d writes failed; retrying one by one", len(batch), exc_info=True)
        results: list[Outcome] = []
        for p in batch:
            try:
                async with self._pool.acquire() as conn, conn.transaction():
                    results.extend(await self._apply(conn, [p]))
            except Exception as exc:
                results.append((False, exc))
        return results

    async def _apply(self, conn: asyncpg.Connection, batch: list[Pending]) -> list[Outcome]:
        by_kind = group(batch)
        value: dict[int, Any] = {}
        if by_kind[BOOT]:
            boots = {p.item.charger_id: p.item for p in by_kind[BOOT]}.values()  # one row per charger
            await conn.execute(
                _BOOT_SQL,
                [b.charger_id for b in boots], [b.vendor for b in boots], [b.model for b in boots],
                [b.serial_number for b in boots], [b.firmware_version for b in boots],
                [json.dumps(b.payload) for b in boots], self.replica_id, [b.at for b in boots],
            )
        if by_kind[START]:
            # ON CONFLICT DO UPDATE may touch a row once per statement: send each key once.
            starts: dict[tuple[Any, ...], StartRecord] = {p.item.key(): p.item for p in by_kind[START]}
            rows = await conn.fetch(
                _START_SQL,
                [s.charger_id for s in starts.values()], [s.connector_id for s in starts.values()],
                [s.id_tag for s in starts.values()], [s.meter_start for s in starts.values()],
                [s.started_at for s in starts.values()], [s.reservation_id for s in starts.values()],
                self.replica_id,
            )
            ids = {(r["charger_id"], r["connector_id"], r["id_tag"], r["meter_start"], r["started_at"]): r["id"]
                   for r in rows}
            for p in by_kind[START]:
                value[id(p)] = int(ids[p.item.key()])
        if by_kind[STOP]:
            stops = [p.item for p in by_kind[STOP]]
            await conn.execute(
                _STOP_SQL,
                [s.transaction_id for s in stops], [s.charger_id for s in stops], [s.id_tag for s in stops],
                [s.meter_stop for s in stops], [s.stopped_at for s in stops], [s.reason for s in stops],
            )
        if by_kind[METER]:
            ms: list[MeterSample] = [m for p in by_kind[METER] for m in p.item]
            await conn.execute(
                _METER_SQL,
                [m.charger_id for m in ms], [m.connector_id for m in ms], [m.transaction_id for m in ms],
                [m.ts for m in ms], [m.measurand for m in ms], [m.phase for m in ms], [m.location for m in ms],
                [m.context for m in ms], [m.unit for m in ms], [m.value for m in ms],
            )
        for p in by_kind[LAZY]:
            seen, statuses = p.item
            if seen:
                await conn.execute(_SEEN_SQL, list(seen.keys()), list(seen.values()))
            if statuses:
                await conn.execute(
                    _STATUS_SQL,
                    [s.charger_id for s in statuses], [s.connector_id for s in statuses],
                    [s.status for s in statuses], [s.error_code for s in statuses], [s.info for s in statuses],
                    [s.at for s in statuses],
                )
        return [(True, value.get(id(p))) for p in batch]

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
